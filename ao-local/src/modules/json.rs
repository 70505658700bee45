//! `json`: native JSON encode/decode for aos programs (`local json = require('json')`).
//!
//! aos ships a pure-Lua JSON module (rxi's json.lua). This one is written in Rust
//! and keeps its API (`json.encode(value)`, `json.decode(text)`) and its value
//! mapping, with these deliberate differences:
//!
//! - Object keys are written **sorted** (bytewise), so the same table always
//!   encodes to the same text; aos follows `pairs` order, which varies between
//!   runs. ao-local hashes state and replays logs, so it needs stable output.
//! - Lua integers are written exactly; floats like `string.format('%.14g')`.
//!   aos writes every number with `%.14g`, which turns integers of more than
//!   14 digits into rounded floats.
//! - Strings are escaped as aos escapes them: `\"`, `\\`, the short forms
//!   `\b \f \n \r \t`, other control characters as `\u00XX`; `/` and bytes
//!   from 0x80 up are written unchanged.
//! - Nesting deeper than [`MAX_DEPTH`] is an error both ways, so a hostile or
//!   runaway value never overflows a stack.
//! - Decode follows the JSON grammar strictly (aos accepts anything `tonumber`
//!   does, such as `0x10`), rejects numbers beyond the float range, and reads
//!   `-0` as the float `-0.0` so that it re-encodes unchanged. Like aos it keeps
//!   string bytes as they are (no UTF-8 check) and turns a lone `\ud800`-style
//!   escape into its three-byte form, so binary strings round-trip.
//! - Tables are read raw: metatables (`__index`, `__pairs`) are ignored.
//! - Errors are plain Lua strings starting with `json: ` (no chunk position), so
//!   `'bad: ' .. err` works as it does on aos. Seen from Rust they are
//!   `mlua::Error::RuntimeError`. An output that could not fit in the state's
//!   memory limit is a memory error instead.

use std::collections::HashSet;
use std::io::Write as _;
use std::ops::Range;

use mlua::{Lua, Table, Value};

/// Deepest nesting of tables that `encode` writes and of arrays and objects that
/// `decode` reads. The same both ways, so whatever `encode` writes, `decode` reads.
pub(crate) const MAX_DEPTH: usize = 512;

/// Turns the natives' `(ok, result)` into a return or a string error: an error
/// raised from Rust would reach Lua as userdata, which `..` cannot concatenate.
const GLUE: &str = r"
local encode_native, decode_native = ...
local error = error
return {
  encode = function(value)
    local ok, result = encode_native(value)
    if not ok then error(result, 0) end
    return result
  end,
  decode = function(text)
    local ok, result = decode_native(text)
    if not ok then error(result, 0) end
    return result
  end,
}
";

/// Builds the `json` module table.
pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let encode_native = lua.create_function(|lua, value: Value| {
        let outcome = encode(lua, &value).and_then(|bytes| Ok(lua.create_string(bytes)?));
        settle(lua, outcome.map(Value::String))
    })?;
    let decode_native = lua.create_function(|lua, text: Value| {
        let outcome = match &text {
            Value::String(s) => Parser { lua, src: &s.as_bytes(), pos: 0, scratch: Vec::new() }.parse(),
            other => {
                Err(Failure::Json(format!("json: expected a string to decode, got {}", lua_type(other))))
            }
        };
        settle(lua, outcome)
    })?;
    lua.load(GLUE).set_name("=json").call((encode_native, decode_native))
}

/// Why an encode or decode stopped.
enum Failure {
    /// Bad input: reported to Lua as a string error.
    Json(String),
    /// The Lua state failed (out of memory, ...): propagated unchanged.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(e: mlua::Error) -> Self {
        Self::Lua(e)
    }
}

fn json_error(what: impl std::fmt::Display) -> Failure {
    Failure::Json(format!("json: {what}"))
}

/// The `(ok, result)` pair the glue expects.
fn settle(lua: &Lua, outcome: Result<Value, Failure>) -> mlua::Result<(bool, Value)> {
    match outcome {
        Ok(value) => Ok((true, value)),
        Err(Failure::Json(msg)) => Ok((false, Value::String(lua.create_string(msg)?))),
        Err(Failure::Lua(e)) => Err(e),
    }
}

/// The name Lua's `type()` gives a value (mlua names integers and light
/// userdata differently).
fn lua_type(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) | Value::Number(_) => "number",
        Value::LightUserData(_) | Value::UserData(_) | Value::Error(_) | Value::Other(_) => "userdata",
        other => other.type_name(),
    }
}

// ---------------------------------------------------------------------------
// Encode

fn encode(lua: &Lua, value: &Value) -> Result<Vec<u8>, Failure> {
    let budget = memory_limit(lua).map_or(usize::MAX, |limit| limit.saturating_sub(lua.used_memory()));
    let mut encoder = Encoder { lua, out: Vec::with_capacity(64), path: HashSet::new(), pending: 0, budget };
    encoder.value(value)?;
    Ok(encoder.out)
}

/// The state's memory limit, if it has one. mlua has no getter, so the limit is
/// swapped out and straight back; nothing allocates in between.
fn memory_limit(lua: &Lua) -> Option<usize> {
    let limit = lua.set_memory_limit(0).ok().filter(|&limit| limit > 0)?;
    lua.set_memory_limit(limit).ok()?;
    Some(limit)
}

struct Encoder<'a> {
    lua: &'a Lua,
    out: Vec<u8>,
    /// Tables on the path from the root to the current value: meeting one again
    /// is a cycle. A table reached twice by different paths is fine.
    path: HashSet<usize>,
    /// Bytes held in the [`Members`] of open tables: all of them end up in the output.
    pending: usize,
    /// Bytes the result may take before it could not become a Lua string;
    /// checked as output grows so repeated references cannot exhaust host memory.
    budget: usize,
}

/// A table's members, gathered in one pass over it. Keys and scalar values are
/// copied out as bytes rather than held as Lua references, so a huge table
/// cannot exhaust mlua's reference slots; only nested tables are fetched again
/// when their turn comes.
#[derive(Default)]
struct Members {
    /// String keys and encoded scalar values, end to end.
    bytes: Vec<u8>,
    indexed: Vec<(i64, Slot)>,
    named: Vec<(Range<usize>, Slot)>,
}

enum Key {
    Index(i64),
    /// The key's bytes, in [`Members::bytes`].
    Name(Range<usize>),
}

enum Slot {
    /// The value's JSON, in [`Members::bytes`].
    Encoded(Range<usize>),
    /// A table, fetched by key when written.
    Nested,
}

/// A table being written: array or object, and how many members are written.
/// The encoder keeps these on a heap stack instead of recursing, as a debug
/// build's frames are large enough that 512 nested calls can overflow a
/// thread's stack.
struct Open {
    table: Table,
    id: usize,
    members: Members,
    is_array: bool,
    written: usize,
}

impl Encoder<'_> {
    fn value(&mut self, root: &Value) -> Result<(), Failure> {
        let mut stack: Vec<Open> = Vec::new();
        if !write_scalar(&mut self.out, root)? {
            self.open(root, &mut stack)?;
        }
        while let Some(top) = stack.last_mut() {
            let Members { bytes, indexed, named } = &top.members;
            let (key, slot) = if top.is_array {
                let Some((index, slot)) = indexed.get(top.written) else {
                    self.out.push(b']');
                    self.close(&mut stack);
                    continue;
                };
                if top.written > 0 {
                    self.out.push(b',');
                }
                (Value::Integer(*index), slot)
            } else {
                let Some((name, slot)) = named.get(top.written) else {
                    self.out.push(b'}');
                    self.close(&mut stack);
                    continue;
                };
                if top.written > 0 {
                    self.out.push(b',');
                }
                let name = &bytes[name.clone()];
                write_string(&mut self.out, name);
                self.out.push(b':');
                let key = match slot {
                    Slot::Nested => Value::String(self.lua.create_string(name)?),
                    Slot::Encoded(_) => Value::Nil,
                };
                (key, slot)
            };
            top.written += 1;
            match slot {
                Slot::Encoded(range) => self.out.extend_from_slice(&bytes[range.clone()]),
                Slot::Nested => {
                    let nested: Value = top.table.raw_get(key)?;
                    self.open(&nested, &mut stack)?;
                }
            }
        }
        Ok(())
    }

    fn close(&mut self, stack: &mut Vec<Open>) {
        if let Some(open) = stack.pop() {
            self.path.remove(&open.id);
            self.pending -= open.members.bytes.len();
        }
    }

    /// Gathers a table's members, checks that it is an array or an object,
    /// writes its opening bracket and pushes it.
    fn open(&mut self, value: &Value, stack: &mut Vec<Open>) -> Result<(), Failure> {
        let Value::Table(table) = value else { return Ok(()) };
        if stack.len() >= MAX_DEPTH {
            return Err(json_error(format_args!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let id = table.to_pointer() as usize;
        if !self.path.insert(id) {
            return Err(json_error("cannot encode circular reference"));
        }
        let mut members = Members::default();
        // `for_each` walks the table in one protected call, much faster than
        // `pairs`; a problem stops it through an error and is returned as is.
        let mut problem = None;
        let walked = table.for_each::<Value, Value>(|key, value| {
            self.gather(&mut members, key, &value).map_err(|failure| match failure {
                Failure::Lua(e) => e,
                json @ Failure::Json(_) => {
                    problem = Some(json);
                    mlua::Error::runtime("json: stopped")
                }
            })
        });
        if let Some(problem) = problem {
            return Err(problem);
        }
        walked?;

        let Members { bytes, indexed, named } = &mut members;
        let is_array = named.is_empty();
        if is_array {
            // The array part is walked in order, so this is usually sorted already.
            indexed.sort_unstable_by_key(|&(index, _)| index);
            if indexed.iter().zip(1..).any(|(&(index, _), expected)| index != expected) {
                return Err(json_error("cannot encode sparse array (integer keys are not exactly 1..n)"));
            }
            self.out.push(b'[');
        } else {
            if !indexed.is_empty() {
                return Err(json_error("cannot encode table with mixed key types (string and integer keys)"));
            }
            named.sort_unstable_by(|(a, _), (b, _)| bytes[a.clone()].cmp(&bytes[b.clone()]));
            self.out.push(b'{');
        }
        self.pending += bytes.len();
        stack.push(Open { table: table.clone(), id, members, is_array, written: 0 });
        Ok(())
    }

    /// Adds one member: its key, and its value encoded unless it is a table.
    fn gather(&self, members: &mut Members, key: Value, value: &Value) -> Result<(), Failure> {
        let Members { bytes, indexed, named } = members;
        let key = match key {
            Value::Integer(index) => Key::Index(index),
            Value::String(s) => {
                let start = bytes.len();
                bytes.extend_from_slice(&s.as_bytes());
                Key::Name(start..bytes.len())
            }
            Value::Number(n) => {
                let mut shown = Vec::new();
                write_float(&mut shown, n);
                return Err(json_error(format_args!(
                    "cannot encode table key {} (not an integer)",
                    String::from_utf8_lossy(&shown)
                )));
            }
            other => {
                return Err(json_error(format_args!(
                    "cannot encode table key of type '{}'",
                    lua_type(&other)
                )));
            }
        };
        let start = bytes.len();
        let slot = if write_scalar(bytes, value)? { Slot::Encoded(start..bytes.len()) } else { Slot::Nested };
        match key {
            Key::Index(index) => indexed.push((index, slot)),
            Key::Name(name) => named.push((name, slot)),
        }
        self.check_budget(bytes.len())
    }

    /// Refuses output that could not become a Lua string: everything written so
    /// far, or everything gathered (all of which is written in the end, with
    /// `gathering` bytes of the table being gathered), is over budget.
    fn check_budget(&self, gathering: usize) -> Result<(), Failure> {
        if self.out.len().max(self.pending + gathering) > self.budget {
            return Err(Failure::Lua(mlua::Error::MemoryError(
                "not enough memory (json: encoded output exceeds the memory limit)".into(),
            )));
        }
        Ok(())
    }
}

/// Writes a non-table value's JSON; `Ok(false)` (nothing written) for a table.
fn write_scalar(out: &mut Vec<u8>, value: &Value) -> Result<bool, Failure> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => write_integer(out, *i),
        Value::Number(n) => {
            if !n.is_finite() {
                return Err(json_error(format_args!("cannot encode number {}", non_finite_name(*n))));
            }
            write_float(out, *n);
        }
        Value::String(s) => write_string(out, &s.as_bytes()),
        Value::Table(_) => return Ok(false),
        other => return Err(json_error(format_args!("unexpected type '{}'", lua_type(other)))),
    }
    Ok(true)
}

fn non_finite_name(n: f64) -> &'static str {
    if n.is_nan() {
        "nan"
    } else if n > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

fn write_integer(out: &mut Vec<u8>, i: i64) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{i}");
}

/// Writes a finite float as C's `printf("%.14g")` does (Lua's `%.14g`): 14
/// significant digits, trailing zeros dropped, exponent form outside 1e-4..1e14.
fn write_float(out: &mut Vec<u8>, n: f64) {
    // Rust's `{:.13e}` rounds to the same 14 significant digits as C, and its
    // exponent (taken after rounding) picks the style exactly as C does; the
    // fixed style only moves the point.
    let sci = format!("{n:.13e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mantissa = match mantissa.strip_prefix('-') {
        Some(unsigned) => {
            out.push(b'-');
            unsigned
        }
        None => mantissa,
    };
    let digits: Vec<u8> = mantissa.bytes().filter(|&b| b != b'.').collect();
    let significant = |d: &[u8]| d.len() - d.iter().rev().take_while(|&&b| b == b'0').count();
    if (0..14).contains(&exponent) {
        let whole_digits = exponent.unsigned_abs() as usize + 1;
        let (whole, fraction) = digits.split_at(whole_digits.min(digits.len()));
        out.extend_from_slice(whole);
        let fraction = &fraction[..significant(fraction)];
        if !fraction.is_empty() {
            out.push(b'.');
            out.extend_from_slice(fraction);
        }
    } else if (-4..0).contains(&exponent) {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', exponent.unsigned_abs() as usize - 1));
        out.extend_from_slice(&digits[..significant(&digits)]);
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.extend_from_slice(first);
        let rest = &rest[..significant(rest)];
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    }
}

/// Writes a JSON string. Bytes from 0x80 up pass through unchanged, as in aos,
/// so a Lua byte string round-trips whether or not it is UTF-8.
fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut run_start = 0;
    for (i, &b) in s.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[run_start..i]);
        if short.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(short);
        }
        run_start = i + 1;
    }
    out.extend_from_slice(&s[run_start..]);
    out.push(b'"');
}

// ---------------------------------------------------------------------------
// Decode

/// An array or object being filled. The parser keeps these on a heap stack
/// instead of recursing, so depth is bounded by [`MAX_DEPTH`] alone.
enum Frame {
    Array { table: Table, next: i64 },
    Object { table: Table, key: mlua::LuaString },
}

/// What follows a value inside an open container.
enum Next {
    /// Another element or member: parse a value.
    Value,
    /// The container closed: it is the value just completed.
    Close,
}

struct Parser<'a> {
    lua: &'a Lua,
    src: &'a [u8],
    pos: usize,
    /// Reused buffer for strings with escapes.
    scratch: Vec<u8>,
}

impl Parser<'_> {
    fn parse(&mut self) -> Result<Value, Failure> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let Some(mut value) = self.start_value(&mut stack)? else { continue };
            // A completed value goes into its container, which may complete too.
            loop {
                let Some(frame) = stack.last_mut() else {
                    self.skip_whitespace();
                    if self.pos < self.src.len() {
                        return Err(self.error_at(self.pos, "trailing characters"));
                    }
                    return Ok(value);
                };
                let next = match frame {
                    Frame::Array { table, next } => {
                        table.raw_set(*next, value)?;
                        *next += 1;
                        self.after_item(b']', "an array")?
                    }
                    Frame::Object { table, key } => {
                        table.raw_set(&*key, value)?;
                        let next = self.after_item(b'}', "an object")?;
                        if let Next::Value = next {
                            *key = self.object_key()?;
                        }
                        next
                    }
                };
                match next {
                    Next::Value => break,
                    Next::Close => {
                        value = match stack.pop() {
                            Some(Frame::Array { table, .. } | Frame::Object { table, .. }) => {
                                Value::Table(table)
                            }
                            None => Value::Nil,
                        };
                    }
                }
            }
        }
    }

    /// Parses a scalar, or opens a container: pushes it and returns `None`, or
    /// returns it when it is empty.
    fn start_value(&mut self, stack: &mut Vec<Frame>) -> Result<Option<Value>, Failure> {
        self.skip_whitespace();
        let Some(&b) = self.src.get(self.pos) else {
            return Err(self.error_at(self.pos, "unexpected end of input, expected a value"));
        };
        Ok(Some(match b {
            b'[' | b'{' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(
                        self.error_at(self.pos, format_args!("nesting deeper than {MAX_DEPTH} levels"))
                    );
                }
                self.pos += 1;
                let table = self.lua.create_table()?;
                self.skip_whitespace();
                let close = if b == b'[' { b']' } else { b'}' };
                if self.src.get(self.pos) == Some(&close) {
                    self.pos += 1;
                    return Ok(Some(Value::Table(table)));
                }
                if b == b'[' {
                    stack.push(Frame::Array { table, next: 1 });
                } else {
                    let key = self.object_key()?;
                    stack.push(Frame::Object { table, key });
                }
                return Ok(None);
            }
            b'"' => Value::String(self.string()?),
            b't' => self.literal(b"true", Value::Boolean(true))?,
            b'f' => self.literal(b"false", Value::Boolean(false))?,
            b'n' => self.literal(b"null", Value::Nil)?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return Err(self.unexpected(self.pos, "expected a value")),
        }))
    }

    /// After an element or member: a comma (then another item must follow) or
    /// the container's closing bracket.
    fn after_item(&mut self, close: u8, container: &str) -> Result<Next, Failure> {
        self.skip_whitespace();
        match self.src.get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                self.skip_whitespace();
                if self.src.get(self.pos) == Some(&close) {
                    return Err(self.error_at(self.pos, "trailing comma"));
                }
                Ok(Next::Value)
            }
            Some(&b) if b == close => {
                self.pos += 1;
                Ok(Next::Close)
            }
            Some(_) => {
                Err(self
                    .unexpected(self.pos, format_args!("expected ',' or '{}' in {container}", close as char)))
            }
            None => Err(self.error_at(self.pos, format_args!("unexpected end of input in {container}"))),
        }
    }

    /// A member's key and its colon.
    fn object_key(&mut self) -> Result<mlua::LuaString, Failure> {
        self.skip_whitespace();
        match self.src.get(self.pos) {
            Some(b'"') => {}
            Some(_) => return Err(self.unexpected(self.pos, "expected a string key")),
            None => return Err(self.error_at(self.pos, "unexpected end of input in an object")),
        }
        let key = self.string()?;
        self.skip_whitespace();
        match self.src.get(self.pos) {
            Some(b':') => {
                self.pos += 1;
                Ok(key)
            }
            Some(_) => Err(self.unexpected(self.pos, "expected ':' after an object key")),
            None => Err(self.error_at(self.pos, "unexpected end of input in an object")),
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.src.get(self.pos) {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, Failure> {
        for (i, &expected) in word.iter().enumerate() {
            match self.src.get(self.pos + i) {
                Some(&b) if b == expected => {}
                Some(_) => return Err(self.unexpected(self.pos + i, "invalid literal")),
                None => return Err(self.error_at(self.pos + i, "unexpected end of input in a literal")),
            }
        }
        self.pos += word.len();
        Ok(value)
    }

    /// A string starting at the opening quote. Bytes other than escapes and
    /// control characters are kept as they are.
    fn string(&mut self) -> Result<mlua::LuaString, Failure> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escape, so the bytes are borrowed straight from the input.
        while let Some(&b) = self.src.get(self.pos) {
            match b {
                b'"' => {
                    let s = self.lua.create_string(&self.src[start..self.pos])?;
                    self.pos += 1;
                    return Ok(s);
                }
                b'\\' => break,
                0..=0x1f => return Err(self.error_at(self.pos, "control character in string")),
                _ => self.pos += 1,
            }
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(&self.src[start..self.pos]);
        let result = self.escaped_string(&mut buf);
        self.scratch = buf;
        result
    }

    fn escaped_string(&mut self, buf: &mut Vec<u8>) -> Result<mlua::LuaString, Failure> {
        loop {
            let Some(&b) = self.src.get(self.pos) else {
                return Err(self.error_at(self.pos, "unexpected end of input in a string"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(self.lua.create_string(&*buf)?);
                }
                b'\\' => {
                    let escape_pos = self.pos;
                    let Some(&e) = self.src.get(self.pos + 1) else {
                        return Err(self.error_at(self.pos + 1, "unexpected end of input in a string"));
                    };
                    self.pos += 2;
                    let byte = match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let unit = self.hex4(escape_pos)?;
                            push_code_point(buf, self.surrogate_pair(unit)?);
                            continue;
                        }
                        _ => return Err(self.error_at(escape_pos + 1, "invalid escape in string")),
                    };
                    buf.push(byte);
                }
                0..=0x1f => return Err(self.error_at(self.pos, "control character in string")),
                _ => {
                    buf.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// The four hex digits of a `\u` escape, at `self.pos`.
    fn hex4(&mut self, escape_pos: usize) -> Result<u32, Failure> {
        let mut unit = 0;
        for i in 0..4 {
            let digit = self.src.get(self.pos + i).and_then(|&b| char::from(b).to_digit(16));
            let Some(digit) = digit else {
                return Err(self.error_at(escape_pos, "invalid \\u escape in string"));
            };
            unit = unit * 16 + digit;
        }
        self.pos += 4;
        Ok(unit)
    }

    /// Joins a high surrogate with the low one escaped right after it. A lone
    /// surrogate is kept as its own code point (as aos does), not refused.
    fn surrogate_pair(&mut self, high: u32) -> Result<u32, Failure> {
        if !(0xd800..0xdc00).contains(&high) || !self.src[self.pos..].starts_with(b"\\u") {
            return Ok(high);
        }
        let resume = self.pos;
        self.pos += 2;
        let low = self.hex4(resume)?;
        if (0xdc00..0xe000).contains(&low) {
            Ok(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))
        } else {
            // Not a pair: the second escape is read on its own.
            self.pos = resume;
            Ok(high)
        }
    }

    /// A number per the JSON grammar: an integer literal that fits `i64`
    /// becomes a Lua integer, anything else a float.
    fn number(&mut self) -> Result<Value, Failure> {
        let start = self.pos;
        let negative = self.src[self.pos] == b'-';
        if negative {
            self.pos += 1;
        }
        match self.src.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.error_at(self.pos.min(self.src.len()), "invalid number")),
        }
        let int_end = self.pos;
        let mut is_integer = true;
        if self.src.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.require_digit()?;
            is_integer = false;
        }
        if let Some(b'e' | b'E') = self.src.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.src.get(self.pos) {
                self.pos += 1;
            }
            self.require_digit()?;
            is_integer = false;
        }
        let text = &self.src[start..self.pos];
        if is_integer {
            let digits = &self.src[start + usize::from(negative)..int_end];
            if let Some(i) = parse_i64(digits, negative) {
                // -0 has no integer form: the float keeps its sign, so it
                // re-encodes as the same text.
                return Ok(if i == 0 && negative { Value::Number(-0.0) } else { Value::Integer(i) });
            }
        }
        let parsed = std::str::from_utf8(text).ok().and_then(|t| t.parse::<f64>().ok());
        match parsed {
            Some(f) if f.is_finite() => Ok(Value::Number(f)),
            _ => Err(self.error_at(start, "number out of range")),
        }
    }

    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.src.get(self.pos) {
            self.pos += 1;
        }
    }

    fn require_digit(&mut self) -> Result<(), Failure> {
        if let Some(b'0'..=b'9') = self.src.get(self.pos) {
            self.skip_digits();
            Ok(())
        } else {
            Err(self.error_at(self.pos.min(self.src.len()), "invalid number"))
        }
    }

    /// "`what`, found 'x'" at `pos`.
    fn unexpected(&self, pos: usize, what: impl std::fmt::Display) -> Failure {
        let b = self.src[pos];
        if b.is_ascii_graphic() || b == b' ' {
            self.error_at(pos, format_args!("{what}, found '{}'", b as char))
        } else {
            self.error_at(pos, format_args!("{what}, found byte 0x{b:02x}"))
        }
    }

    /// An error at byte `pos`, placed by line and column as `serde_json` does:
    /// the column counts the bytes of the line up to and including the
    /// offending one (at the end of input, up to the last byte).
    fn error_at(&self, pos: usize, what: impl std::fmt::Display) -> Failure {
        let pos = pos.min(self.src.len());
        let before = &self.src[..pos];
        let line = before.split(|&b| b == b'\n').count();
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = pos - line_start + usize::from(pos < self.src.len());
        json_error(format_args!("{what} at line {line} column {column}"))
    }
}

/// Parses ASCII digits as an `i64` with the given sign, `None` on overflow.
/// Accumulates negatively so `i64::MIN` fits.
fn parse_i64(digits: &[u8], negative: bool) -> Option<i64> {
    let mut acc: i64 = 0;
    for &d in digits {
        acc = acc.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative { Some(acc) } else { acc.checked_neg() }
}

/// Appends a code point as UTF-8. Surrogates (from lone `\u` escapes) get the
/// same three-byte form as other code points below 0x10000.
fn push_code_point(buf: &mut Vec<u8>, cp: u32) {
    // Masked to its low bits, each value below fits a byte.
    let byte = |v: u32| v.to_le_bytes()[0];
    let tail = |shift: u32| byte(0x80 | ((cp >> shift) & 0x3f));
    match cp {
        0..=0x7f => buf.push(byte(cp)),
        0x80..=0x7ff => buf.extend_from_slice(&[byte(0xc0 | (cp >> 6)), tail(0)]),
        0x800..=0xffff => buf.extend_from_slice(&[byte(0xe0 | (cp >> 12)), tail(6), tail(0)]),
        _ => buf.extend_from_slice(&[byte(0xf0 | (cp >> 18)), tail(12), tail(6), tail(0)]),
    }
}

#[cfg(test)]
mod tests {
    use mlua::{FromLuaMulti, Lua, Table};

    use super::{MAX_DEPTH, open, write_float};

    fn lua() -> Lua {
        let lua = Lua::new();
        let preload: Table = lua.globals().get::<Table>("package").unwrap().get("preload").unwrap();
        preload.set("json", lua.create_function(|lua, ()| open(lua)).unwrap()).unwrap();
        lua.load("json = require('json')").exec().unwrap();
        lua
    }

    fn eval<T: FromLuaMulti>(lua: &Lua, code: &str) -> T {
        lua.load(code).eval().unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    /// The error `code` raises, checked to reach Lua as a plain string.
    fn lua_error(lua: &Lua, code: &str) -> String {
        let (ok, kind, msg): (bool, String, String) =
            eval(lua, &format!("local ok, e = pcall(function() {code} end) return ok, type(e), tostring(e)"));
        assert!(!ok, "{code} should fail");
        assert_eq!(kind, "string", "{code}: error should be a string: {msg}");
        msg
    }

    #[test]
    fn encodes_exact_text() {
        let lua = lua();
        let cases: &[(&str, &str)] = &[
            ("nil", "null"),
            ("true", "true"),
            ("false", "false"),
            ("0", "0"),
            ("-7", "-7"),
            ("math.maxinteger", "9223372036854775807"),
            ("math.mininteger", "-9223372036854775808"),
            ("1.5", "1.5"),
            ("0.1", "0.1"),
            ("1/3", "0.33333333333333"),
            ("3.0", "3"),
            ("-0.0", "-0"),
            ("2^53", "9.007199254741e+15"),
            ("1e100", "1e+100"),
            ("1e-5", "1e-05"),
            ("0.0001", "0.0001"),
            ("123456.789", "123456.789"),
            ("'plain'", r#""plain""#),
            (r#"'a"b\\c/d'"#, r#""a\"b\\c/d""#),
            (r"'\n\t\r\b\f'", r#""\n\t\r\b\f""#),
            (r"'\0\1\31\127'", "\"\\u0000\\u0001\\u001f\u{7f}\""),
            (r"'caf\195\169'", "\"caf\u{e9}\""),
            ("{}", "[]"),
            ("{1, 2, 3}", "[1,2,3]"),
            ("{[1] = 'a', [2.0] = 'b'}", r#"["a","b"]"#),
            ("{b = 1, a = 2, c = {}}", r#"{"a":2,"b":1,"c":[]}"#),
            ("{B = 1, a = 2, A = 3, aa = 4, [''] = 5}", r#"{"":5,"A":3,"B":1,"a":2,"aa":4}"#),
            ("{list = {1, {x = true}}, n = 1.25}", r#"{"list":[1,{"x":true}],"n":1.25}"#),
            ("{{}, {{}}}", "[[],[[]]]"),
            ("(function() local s = {1} return {s, s} end)()", "[[1],[1]]"),
            ("setmetatable({}, {__index = {a = 1}})", "[]"),
        ];
        for (expr, expected) in cases {
            let got: String = eval(&lua, &format!("return json.encode({expr})"));
            assert_eq!(&got, expected, "encode({expr})");
        }
    }

    #[test]
    fn encodes_bytes_above_0x7f_unchanged() {
        let lua = lua();
        let got: mlua::LuaString = eval(&lua, r"return json.encode('\255\128x')");
        assert_eq!(&*got.as_bytes(), b"\"\xff\x80x\"");
    }

    #[test]
    fn encode_errors_name_the_problem() {
        let lua = lua();
        let cases: &[(&str, &str)] = &[
            ("{1, 2, nil, 4}", "json: cannot encode sparse array (integer keys are not exactly 1..n)"),
            ("{[0] = 'a'}", "json: cannot encode sparse array (integer keys are not exactly 1..n)"),
            ("{[2] = 'a'}", "json: cannot encode sparse array (integer keys are not exactly 1..n)"),
            ("{[-1] = 1, [1] = 2}", "json: cannot encode sparse array (integer keys are not exactly 1..n)"),
            ("{1, a = 2}", "json: cannot encode table with mixed key types (string and integer keys)"),
            ("{[true] = 1}", "json: cannot encode table key of type 'boolean'"),
            ("{[{}] = 1}", "json: cannot encode table key of type 'table'"),
            ("{[1.5] = 1}", "json: cannot encode table key 1.5 (not an integer)"),
            ("print", "json: unexpected type 'function'"),
            ("{f = print}", "json: unexpected type 'function'"),
            ("{coroutine.create(print)}", "json: unexpected type 'thread'"),
            ("io.stdout", "json: unexpected type 'userdata'"),
            ("0/0", "json: cannot encode number nan"),
            ("{x = math.huge}", "json: cannot encode number inf"),
            ("-math.huge", "json: cannot encode number -inf"),
            ("(function() local t = {} t.self = t return t end)()", "json: cannot encode circular reference"),
            (
                "(function() local a = {} local b = {a} a[1] = b return {b} end)()",
                "json: cannot encode circular reference",
            ),
        ];
        for (expr, expected) in cases {
            assert_eq!(&lua_error(&lua, &format!("return json.encode({expr})")), expected, "encode({expr})");
        }
    }

    #[test]
    fn encode_depth_is_limited() {
        let lua = lua();
        lua.load(
            r"
            function nested(depth)
                local root = {}
                local cur = root
                for _ = 2, depth do local inner = {} cur[1] = inner cur = inner end
                return root
            end
        ",
        )
        .exec()
        .unwrap();
        let ok: String = eval(&lua, &format!("return json.encode(nested({MAX_DEPTH}))"));
        assert_eq!(ok, format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH)));
        let limit = format!("json: nesting deeper than {MAX_DEPTH} levels");
        for depth in [MAX_DEPTH + 1, 100_000] {
            assert_eq!(lua_error(&lua, &format!("return json.encode(nested({depth}))")), limit);
        }
    }

    #[test]
    fn decodes_values_and_types() {
        let lua = lua();
        // Each snippet returns true when the decoded value is as expected.
        let cases: &[&str] = &[
            "return math.type(json.decode('5')) == 'integer'",
            "return math.type(json.decode('5.0')) == 'float' and json.decode('5.0') == 5",
            "return math.type(json.decode('1e2')) == 'float' and json.decode('1e2') == 100",
            "return json.decode('-1.5E-3') == -0.0015",
            "return json.decode('-9223372036854775808') == math.mininteger",
            "return math.type(json.decode('-9223372036854775808')) == 'integer'",
            "return math.type(json.decode('9223372036854775808')) == 'float'",
            "return math.type(json.decode('-0')) == 'float' and 1 / json.decode('-0') == -math.huge",
            "return math.type(json.decode('0')) == 'integer'",
            "return json.decode('true') == true and json.decode('false') == false",
            "return select('#', json.decode('null')) == 1 and json.decode('null') == nil",
            "return json.decode(' \\t\\r\\n \"x\" \\n') == 'x'",
            r"local t = json.decode('[1,null,3]') return t[1] == 1 and t[2] == nil and t[3] == 3",
            r"local t = json.decode('[null]') return next(t) == nil",
            r#"local t = json.decode('{"a":null,"b":1}') return t.a == nil and t.b == 1"#,
            r#"local t = json.decode('{"a":1,"a":2}') return t.a == 2"#,
            r"local t = json.decode('{}') return type(t) == 'table' and next(t) == nil",
            r"local t = json.decode('[]') return type(t) == 'table' and next(t) == nil",
            r#"local t = json.decode('{"1":"x"}') return t["1"] == "x" and t[1] == nil"#,
            r#"local t = json.decode('{"a":[1,{"b":[true]}]}') return t.a[2].b[1] == true"#,
            r#"return json.decode('"\\u00e9\\ud83d\\ude00\\n\\/\\"\\\\\\b\\f\\r\\t"') == "\u{e9}\u{1F600}\n/\"\\\b\f\r\t""#,
            r#"return json.decode('"\\u0000"') == "\0""#,
            r#"return json.decode('"\\ud800"') == "\237\160\128""#,
            r#"return json.decode('"\\ud800\\u0041"') == "\237\160\128A""#,
            r#"return json.decode('"\255\128"') == "\255\128""#,
            r#"return json.decode('"caf\195\169"') == "caf\195\169""#,
        ];
        for code in cases {
            assert!(eval::<bool>(&lua, code), "{code}");
        }
    }

    #[test]
    fn decode_errors_name_problem_and_position() {
        let lua = lua();
        let cases: &[(&str, &str)] = &[
            ("''", "unexpected end of input, expected a value at line 1 column 0"),
            ("'   '", "unexpected end of input, expected a value at line 1 column 3"),
            ("'{'", "unexpected end of input in an object at line 1 column 1"),
            ("'['", "unexpected end of input, expected a value at line 1 column 1"),
            ("'[1'", "unexpected end of input in an array at line 1 column 2"),
            ("'[1,]'", "trailing comma at line 1 column 4"),
            (r#"'{"a":1,}'"#, "trailing comma at line 1 column 8"),
            ("'[1 2]'", "expected ',' or ']' in an array, found '2' at line 1 column 4"),
            (r#"'{"a":1 "b":2}'"#, "expected ',' or '}' in an object, found '\"' at line 1 column 8"),
            (r#"'{"a" 1}'"#, "expected ':' after an object key, found '1' at line 1 column 6"),
            ("'{1:2}'", "expected a string key, found '1' at line 1 column 2"),
            ("'tru'", "unexpected end of input in a literal at line 1 column 3"),
            ("'trux'", "invalid literal, found 'x' at line 1 column 4"),
            ("'nul'", "unexpected end of input in a literal at line 1 column 3"),
            ("'01'", "trailing characters at line 1 column 2"),
            ("'1.'", "invalid number at line 1 column 2"),
            ("'1.e5'", "invalid number at line 1 column 3"),
            ("'1e'", "invalid number at line 1 column 2"),
            ("'-'", "invalid number at line 1 column 1"),
            ("'-a'", "invalid number at line 1 column 2"),
            ("'+1'", "expected a value, found '+' at line 1 column 1"),
            ("'.5'", "expected a value, found '.' at line 1 column 1"),
            ("'1e999'", "number out of range at line 1 column 1"),
            ("'\"abc'", "unexpected end of input in a string at line 1 column 4"),
            ("'\"a\\\\'", "unexpected end of input in a string at line 1 column 3"),
            ("'\"a\\1\"'", "control character in string at line 1 column 3"),
            ("'\"a\\n\"'", "control character in string at line 1 column 3"),
            (r#"'"\\x"'"#, "invalid escape in string at line 1 column 3"),
            (r#"'"\\u12G4"'"#, "invalid \\u escape in string at line 1 column 2"),
            (r#"'"\\ud800\\u12"'"#, "invalid \\u escape in string at line 1 column 8"),
            ("'[1]\\n  x'", "trailing characters at line 2 column 3"),
            ("'\\n\\n  @'", "expected a value, found '@' at line 3 column 3"),
            ("'\\255'", "expected a value, found byte 0xff at line 1 column 1"),
            ("5", "expected a string to decode, got number"),
            ("nil", "expected a string to decode, got nil"),
            ("{}", "expected a string to decode, got table"),
        ];
        for (arg, expected) in cases {
            let msg = lua_error(&lua, &format!("return json.decode({arg})"));
            assert_eq!(msg, format!("json: {expected}"), "decode({arg})");
        }
    }

    #[test]
    fn decode_depth_is_limited() {
        let lua = lua();
        let ok: bool = eval(
            &lua,
            &format!(
                "local t = json.decode(string.rep('[', {MAX_DEPTH}) .. string.rep(']', {MAX_DEPTH})) \
                 return type(t[1][1]) == 'table'"
            ),
        );
        assert!(ok);
        let too_deep =
            format!("json: nesting deeper than {MAX_DEPTH} levels at line 1 column {}", MAX_DEPTH + 1);
        for text in [
            format!("string.rep('[', {})", MAX_DEPTH + 1),
            "string.rep('[', 100000)".to_string(),
            format!("string.rep('[', {}) .. string.rep(']', {})", MAX_DEPTH + 1, MAX_DEPTH + 1),
        ] {
            assert_eq!(lua_error(&lua, &format!("return json.decode({text})")), too_deep, "{text}");
        }
        let objects =
            format!("json: nesting deeper than {MAX_DEPTH} levels at line 1 column {}", MAX_DEPTH * 5 + 1);
        assert_eq!(lua_error(&lua, r#"return json.decode(string.rep('{"a":', 100000))"#), objects);
    }

    #[test]
    fn round_trips() {
        let lua = lua();
        // Canonical texts (sorted keys, no spaces) decode and re-encode unchanged.
        let texts = [
            r#"{"a":[1,2.5,"x",true,false],"b":{"c":{"d":[]}},"e":-0,"f":"\u0001\n\"\\"}"#,
            r#"[1,[2,[3,[4]]],{"k":"v"}]"#,
            r"[9223372036854775807,-9223372036854775808,1e+300,1.5e-07,0.1]",
            "\"\u{1F600} caf\u{e9}\"",
            "\"\\ud800 lone\"",
            "-0",
            "12",
        ];
        for text in texts {
            let once: mlua::LuaString = lua
                .load("local t = ... return json.encode(json.decode(t))")
                .call(text)
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            let twice: mlua::LuaString =
                lua.load("local t = ... return json.encode(json.decode(t))").call(&once).unwrap();
            assert_eq!(*once.as_bytes(), *twice.as_bytes(), "{text}");
            if !text.contains("\\ud800") {
                assert_eq!(&*once.as_bytes(), text.as_bytes());
            }
        }
        // Every byte value survives encode then decode.
        let ok: bool = eval(
            &lua,
            r"local b = {} for i = 0, 255 do b[#b + 1] = string.char(i) end
               local s = table.concat(b)
               local back = json.decode(json.encode({s = s, list = {s, s}}))
               return back.s == s and back.list[2] == s",
        );
        assert!(ok);
    }

    #[test]
    fn encoding_is_deterministic() {
        let lua = lua();
        let (a, b, c): (String, String, String) = eval(
            &lua,
            r"
            local forward, backward = {}, {}
            for i = 1, 300 do forward['key' .. i] = {i, tostring(i)} end
            for i = 300, 1, -1 do backward['key' .. i] = {i, tostring(i)} end
            for i = 1, 300, 2 do forward['key' .. i] = nil; forward['key' .. i] = {i, tostring(i)} end
            return json.encode(forward), json.encode(forward), json.encode(backward)
        ",
        );
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert!(a.starts_with(r#"{"key1":[1,"1"],"key10":[10,"10"],"key100":[100,"100"],"key101""#), "{a}");
    }

    #[test]
    fn floats_match_lua_format() {
        let lua = Lua::new();
        let format: mlua::Function =
            lua.load("return function(x) return string.format('%.14g', x) end").eval().unwrap();
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            0.5,
            1e14,
            1e15,
            99_999_999_999_999.5,
            123_456_789_012_345.0,
            0.000_1,
            0.000_099_999_999_999_999_9,
            1e-320,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            2.5,
            0.125,
            1.000_000_000_000_05,
            9.999_999_999_999_95,
        ];
        // A fixed pseudo-random sweep over bit patterns (an LCG, so every run
        // checks the same values), plus short decimals near each power of ten.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let x = f64::from_bits(state);
            if x.is_finite() {
                values.push(x);
            }
        }
        for exp in -30..30 {
            for m in [1.0, 1.5, 2.5, 9.999_999_999_999_9, 3.202_592_653_589_79] {
                values.push(m * 10f64.powi(exp));
            }
        }
        for x in values {
            let mut ours = Vec::new();
            write_float(&mut ours, x);
            let theirs: String = format.call(x).unwrap();
            assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{x:e}");
        }
    }

    #[test]
    fn errors_seen_from_rust_are_runtime_errors() {
        let lua = lua();
        // mlua appends a traceback to a chunk's error: the message is the first line.
        let cases = [
            ("return json.encode(print)", "json: unexpected type 'function'"),
            ("return json.decode('[')", "json: unexpected end of input, expected a value at line 1 column 1"),
        ];
        for (code, expected) in cases {
            match lua.load(code).eval::<mlua::Value>() {
                Err(mlua::Error::RuntimeError(msg)) => assert_eq!(msg.lines().next(), Some(expected)),
                other => panic!("{code}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn output_beyond_the_memory_limit_is_a_memory_error() {
        let lua = lua();
        lua.set_memory_limit(32 << 20).unwrap();
        let err = lua
            .load("local s = string.rep('x', 1 << 20) local t = {} for i = 1, 64 do t[i] = s end return json.encode(t)")
            .eval::<String>()
            .unwrap_err();
        let mut cause = &err;
        while let mlua::Error::CallbackError { cause: inner, .. } = cause {
            cause = inner;
        }
        assert!(matches!(cause, mlua::Error::MemoryError(_)), "{err:?}");
        // The limit is back in place and smaller output still encodes.
        assert_eq!(lua.set_memory_limit(32 << 20).unwrap(), 32 << 20);
        let small: String = eval(&lua, "return json.encode({string.rep('y', 10)})");
        assert_eq!(small, format!("[\"{}\"]", "y".repeat(10)));
        // Output that fits is not refused: 8 MiB of distinct strings under a 32 MiB limit.
        let len: i64 = eval(
            &lua,
            "local t = {} for i = 1, 8 do t[i] = string.rep(string.char(64 + i), 1 << 20) end \
             return #json.encode(t)",
        );
        assert_eq!(len, 8 * ((1 << 20) + 3) + 1);
    }
}
