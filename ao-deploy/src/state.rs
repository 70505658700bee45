//! Game state as it moves between processes: the canonical encoding shared with
//! `lua/deploy.lua`, a typed tree to migrate, and the migration hook.
//!
//! Encoding (byte-exact on both sides, so a BLAKE3 of the bytes identifies the state):
//!
//! ```text
//! value  = "T" | "F"                      booleans
//!        | "i" decimal ";"                integers (i64, canonical decimal)
//!        | "d" 16 lowercase hex digits    floats (IEEE-754 bits, big-endian)
//!        | "s" length ":" bytes           strings (any bytes)
//!        | "{" (key value)* "}"           tables, keys strictly ascending:
//!                                         booleans (false first), numbers (by
//!                                         value), strings (bytewise)
//! ```
//!
//! Decoding is strict: anything but the one canonical form is an error naming
//! the byte offset, so `encode(decode(b)) == b` for every accepted `b`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, ErrorKind};
use crate::spec::ReleaseRef;

/// Deepest nesting accepted (the Lua side has the same limit).
pub const MAX_DEPTH: usize = 100;

/// A table key: what Lua allows besides tables (NaN is not a key in Lua; an
/// integral float key would have been normalised to an integer).
#[derive(Debug, Clone)]
pub enum Key {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float that is not integral (bits).
    Float(u64),
    /// A string.
    Str(Vec<u8>),
}

impl Key {
    /// A string key.
    pub fn str(s: impl Into<Vec<u8>>) -> Self {
        Key::Str(s.into())
    }

    fn rank(&self) -> u8 {
        match self {
            Key::Bool(_) => 0,
            Key::Int(_) | Key::Float(_) => 1,
            Key::Str(_) => 2,
        }
    }
}

/// Exact comparison of an integer with a (non-NaN) float, as Lua 5.3 compares them.
/// 2^63 as a float: every i64 is below it.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

fn cmp_int_float(i: i64, f: f64) -> Ordering {
    if f >= TWO_63 {
        return Ordering::Less;
    }
    if f < -TWO_63 {
        return Ordering::Greater;
    }
    let floor = f.floor();
    let fi = floor as i64;
    match i.cmp(&fi) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            (Key::Int(a), Key::Int(b)) => a.cmp(b),
            (Key::Float(a), Key::Float(b)) => f64::from_bits(*a).total_cmp(&f64::from_bits(*b)),
            (Key::Int(a), Key::Float(b)) => cmp_int_float(*a, f64::from_bits(*b)),
            (Key::Float(a), Key::Int(b)) => cmp_int_float(*b, f64::from_bits(*a)).reverse(),
            (Key::Str(a), Key::Str(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

/// A value of the game state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateValue {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (bits, so NaNs compare by their payload).
    Float(u64),
    /// A string (any bytes).
    Str(Vec<u8>),
    /// A table.
    Table(BTreeMap<Key, StateValue>),
}

impl StateValue {
    /// A float value.
    pub fn float(f: f64) -> Self {
        StateValue::Float(f.to_bits())
    }

    /// A string value.
    pub fn str(s: impl Into<Vec<u8>>) -> Self {
        StateValue::Str(s.into())
    }

    /// The table, if this is one.
    pub fn as_table(&self) -> Option<&BTreeMap<Key, StateValue>> {
        match self {
            StateValue::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The table, mutably, if this is one.
    pub fn as_table_mut(&mut self) -> Option<&mut BTreeMap<Key, StateValue>> {
        match self {
            StateValue::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The field `name` of a table.
    pub fn get(&self, name: &str) -> Option<&StateValue> {
        self.as_table()?.get(&Key::str(name))
    }

    /// The field `name` of a table, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut StateValue> {
        self.as_table_mut()?.get_mut(&Key::str(name))
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            StateValue::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl fmt::Display for StateValue {
    /// The canonical encoding, lossy for bytes that are not UTF-8.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&encode(self)))
    }
}

fn encode_key(k: &Key, out: &mut Vec<u8>) {
    match k {
        Key::Bool(b) => out.push(if *b { b'T' } else { b'F' }),
        Key::Int(i) => encode_into(&StateValue::Int(*i), out),
        Key::Float(bits) => encode_into(&StateValue::Float(*bits), out),
        Key::Str(s) => encode_into(&StateValue::Str(s.clone()), out),
    }
}

fn encode_into(v: &StateValue, out: &mut Vec<u8>) {
    match v {
        StateValue::Bool(b) => out.push(if *b { b'T' } else { b'F' }),
        StateValue::Int(i) => {
            out.push(b'i');
            out.extend_from_slice(i.to_string().as_bytes());
            out.push(b';');
        }
        StateValue::Float(bits) => {
            out.push(b'd');
            out.extend_from_slice(format!("{bits:016x}").as_bytes());
        }
        StateValue::Str(s) => {
            out.push(b's');
            out.extend_from_slice(s.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(s);
        }
        StateValue::Table(t) => {
            out.push(b'{');
            for (k, v) in t {
                encode_key(k, out);
                encode_into(v, out);
            }
            out.push(b'}');
        }
    }
}

/// The canonical bytes of a value.
pub fn encode(v: &StateValue) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(v, &mut out);
    out
}

/// BLAKE3 of the canonical bytes, hex.
pub fn state_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

struct Decoder<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn fail<T>(&self, reason: impl Into<String>) -> Result<T, Error> {
        Err(Error::new(ErrorKind::StateCodec { offset: self.pos, reason: reason.into() }))
    }

    fn digits(&mut self, end: u8, signed: bool) -> Result<&[u8], Error> {
        let start = self.pos;
        let Some(len) = self.b[start..].iter().position(|&c| c == end) else {
            return self.fail("unterminated number");
        };
        let text = &self.b[start..start + len];
        let body = if signed && text.first() == Some(&b'-') { &text[1..] } else { text };
        let canonical = !body.is_empty()
            && body.iter().all(u8::is_ascii_digit)
            && (body == b"0" || body[0] != b'0')
            && text != b"-0";
        if !canonical {
            return self.fail(format!("{:?} is not a canonical decimal", String::from_utf8_lossy(text)));
        }
        self.pos = start + len + 1;
        Ok(text)
    }

    fn value(&mut self, depth: usize) -> Result<StateValue, Error> {
        let Some(&c) = self.b.get(self.pos) else { return self.fail("unexpected end") };
        match c {
            b'T' | b'F' => {
                self.pos += 1;
                Ok(StateValue::Bool(c == b'T'))
            }
            b'i' => {
                self.pos += 1;
                let at = self.pos;
                let text = self.digits(b';', true)?;
                // Digits only, so the text is ASCII; out-of-range values fail here.
                if let Some(i) = std::str::from_utf8(text).ok().and_then(|t| t.parse::<i64>().ok()) {
                    Ok(StateValue::Int(i))
                } else {
                    self.pos = at;
                    self.fail("integer out of range")
                }
            }
            b'd' => {
                self.pos += 1;
                let Some(hex) = self.b.get(self.pos..self.pos + 16) else {
                    return self.fail("truncated float");
                };
                if !hex.iter().all(|h| h.is_ascii_digit() || (b'a'..=b'f').contains(h)) {
                    return self.fail("a float is 16 lowercase hex digits");
                }
                let bits = u64::from_str_radix(std::str::from_utf8(hex).unwrap_or("x"), 16);
                let Ok(bits) = bits else { return self.fail("bad float") };
                self.pos += 16;
                Ok(StateValue::Float(bits))
            }
            b's' => {
                self.pos += 1;
                let text = self.digits(b':', false)?;
                let len: usize = match std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()) {
                    Some(n) => n,
                    None => return self.fail("string length out of range"),
                };
                let Some(bytes) = self.pos.checked_add(len).and_then(|end| self.b.get(self.pos..end)) else {
                    return self.fail(format!("string of {len} bytes runs past the end"));
                };
                let s = bytes.to_vec();
                self.pos += len;
                Ok(StateValue::Str(s))
            }
            b'{' => {
                if depth >= MAX_DEPTH {
                    return self.fail(format!("nested deeper than {MAX_DEPTH}"));
                }
                self.pos += 1;
                let mut t = BTreeMap::new();
                let mut prev: Option<Key> = None;
                loop {
                    match self.b.get(self.pos) {
                        None => return self.fail("unterminated table"),
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(StateValue::Table(t));
                        }
                        Some(_) => {}
                    }
                    let at = self.pos;
                    let key = match self.value(depth + 1)? {
                        StateValue::Bool(b) => Key::Bool(b),
                        StateValue::Int(i) => Key::Int(i),
                        StateValue::Float(bits) => {
                            let f = f64::from_bits(bits);
                            if f.is_nan() || (f.fract() == 0.0 && f.abs() < TWO_63) {
                                self.pos = at;
                                return self.fail("a NaN or integral float cannot be a key");
                            }
                            Key::Float(bits)
                        }
                        StateValue::Str(s) => Key::Str(s),
                        StateValue::Table(_) => {
                            self.pos = at;
                            return self.fail("a table cannot be a key");
                        }
                    };
                    if prev.as_ref().is_some_and(|p| p >= &key) {
                        self.pos = at;
                        return self.fail("keys out of canonical order");
                    }
                    let v = self.value(depth + 1)?;
                    prev = Some(key.clone());
                    t.insert(key, v);
                }
            }
            other => self.fail(format!("unexpected byte 0x{other:02x}")),
        }
    }
}

/// Decodes canonical bytes. Errors name the byte offset.
pub fn decode(bytes: &[u8]) -> Result<StateValue, Error> {
    let mut d = Decoder { b: bytes, pos: 0 };
    let v = d.value(0)?;
    if d.pos != bytes.len() {
        return d.fail("trailing bytes");
    }
    Ok(v)
}

/// Changes the game state between two releases. `up` runs when state moves to
/// the new release (blue → green), `down` when a rollback moves it back. Both
/// get the globals table (`{ Arena = ... }`); the ledger is not theirs to touch.
pub trait Migration: Send + Sync {
    /// From `from` (the previous release) to `to` (the new one).
    fn up(&self, from: &ReleaseRef, to: &ReleaseRef, globals: StateValue) -> Result<StateValue, String>;

    /// From `from` (the new release) back to `to` (the previous one). Identity by default.
    fn down(&self, from: &ReleaseRef, to: &ReleaseRef, globals: StateValue) -> Result<StateValue, String> {
        let _ = (from, to);
        Ok(globals)
    }
}

/// No change in either direction.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMigration;

impl Migration for NoMigration {
    fn up(&self, _: &ReleaseRef, _: &ReleaseRef, globals: StateValue) -> Result<StateValue, String> {
        Ok(globals)
    }
}

/// The exported blob split into what migrations see and what they do not.
pub(crate) fn split_blob(v: StateValue) -> Result<(StateValue, StateValue), Error> {
    let StateValue::Table(mut t) = v else {
        return Err(Error::new(ErrorKind::StateCodec {
            offset: 0,
            reason: "the state is not a table".into(),
        }));
    };
    let globals = t.remove(&Key::str("globals"));
    let ledger = t.remove(&Key::str("ledger"));
    match (globals, ledger) {
        (Some(g @ StateValue::Table(_)), Some(l @ StateValue::Table(_))) if t.is_empty() => Ok((g, l)),
        _ => Err(Error::new(ErrorKind::StateCodec {
            offset: 0,
            reason: "the state must be a table of exactly `globals` and `ledger`".into(),
        })),
    }
}

pub(crate) fn join_blob(globals: StateValue, ledger: StateValue) -> StateValue {
    StateValue::Table(BTreeMap::from([(Key::str("globals"), globals), (Key::str("ledger"), ledger)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_encoding() {
        let v = StateValue::Table(BTreeMap::from([
            (Key::str("b"), StateValue::Bool(true)),
            (Key::Int(-3), StateValue::Int(i64::MIN)),
            (Key::Float(1.5f64.to_bits()), StateValue::float(0.1)),
            (Key::Bool(false), StateValue::str("a:b")),
            (Key::Int(2), StateValue::Table(BTreeMap::new())),
        ]));
        let bytes = encode(&v);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "{Fs3:a:bi-3;i-9223372036854775808;d3ff8000000000000d3fb999999999999ai2;{}s1:bT}"
        );
        assert_eq!(decode(&bytes).unwrap(), v);
    }

    #[test]
    fn bad_bytes_name_their_offset() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"", 0, "unexpected end"),
            (b"i01;", 1, "not a canonical decimal"),
            (b"i-0;", 1, "not a canonical decimal"),
            (b"i99999999999999999999;", 1, "out of range"),
            (b"s5:ab", 3, "runs past the end"),
            (b"{i2;Ti1;T}", 5, "canonical order"),
            (b"{i1;Ti1;T}", 5, "canonical order"),
            (b"{d3ff0000000000000T}", 1, "integral float"),
            (b"{{}T}", 1, "table cannot be a key"),
            (b"TT", 1, "trailing"),
            (b"dABCDEF0123456789", 1, "lowercase hex"),
            (b"x", 0, "unexpected byte 0x78"),
            (b"{", 1, "unterminated table"),
        ];
        for (bytes, offset, reason) in cases {
            let err = decode(bytes).unwrap_err();
            match err.kind() {
                ErrorKind::StateCodec { offset: o, reason: r } => {
                    assert_eq!(
                        (*o, r.contains(reason)),
                        (*offset, true),
                        "{:?}: {r}",
                        String::from_utf8_lossy(bytes)
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        let deep = format!("{}{}", "{T".repeat(MAX_DEPTH + 1), "}".repeat(MAX_DEPTH + 1));
        assert!(decode(deep.as_bytes()).unwrap_err().to_string().contains("nested deeper"));
    }

    #[test]
    fn numeric_keys_order_across_ints_and_floats() {
        let mut keys = [
            Key::Float(2.5f64.to_bits()),
            Key::Int(3),
            Key::Int(2),
            Key::Float((-0.5f64).to_bits()),
            Key::Int(-1),
        ];
        keys.sort();
        let order: Vec<String> = keys
            .iter()
            .map(|k| match k {
                Key::Int(i) => i.to_string(),
                Key::Float(b) => f64::from_bits(*b).to_string(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, ["-1", "-0.5", "2", "2.5", "3"]);
        assert_eq!(cmp_int_float(i64::MAX, 9.3e18), Ordering::Less);
        assert_eq!(cmp_int_float(i64::MIN, -9.3e18), Ordering::Greater);
    }
}
