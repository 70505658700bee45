//! `.base64`: native base64 for aos programs (`local base64 = require('.base64')`).
//!
//! aos ships lbase64 (pure Lua); this module keeps its API in Rust:
//! `encode(str [, encoder [, usecache]])`, `decode(str [, decoder [, usecache]])`,
//! `makeencoder(s62, s63, spad)` and `makedecoder(s62, s63, spad)`. Encoders and
//! decoders are plain tables in lbase64's layout (`encoder[0..63]` and
//! `encoder[64]` = pad are character codes; `decoder[code]` = 0..63, or 64 for
//! the pad), so a hand-made table in that layout works too. Strings are bytes:
//! any binary string round-trips.
//!
//! Differences from lbase64:
//! - `decode` skips bytes outside the alphabet (line breaks, spaces), accepts
//!   input without padding, and treats a pad as the end of a group, so
//!   concatenated encodings decode; leftover bits that make no whole byte are
//!   dropped. lbase64 fails or returns garbage on such input.
//! - `makeencoder`/`makedecoder` check their characters (one byte each, all
//!   distinct); `spad = ''` makes an encoder that writes no padding.
//! - `usecache` is accepted and ignored (native code needs no cache).
//! - Errors are plain Lua strings starting with `base64: `.

use mlua::{Lua, Table, Value};

/// The standard alphabet's first 62 symbols, shared by every encoder.
const SYMBOLS: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The alphabet `encode` and `decode` use when given no table (RFC 4648 §4).
const STANDARD: Alphabet = Alphabet::new(b'+', b'/', Some(b'='));

/// Wraps each native's `(ok, result)` into a return or a string error: an error
/// raised from Rust would reach Lua as userdata, which `..` cannot concatenate.
const GLUE: &str = r"
local natives = ...
local error = error
local module = {}
for name, native in pairs(natives) do
  module[name] = function(...)
    local ok, result = native(...)
    if not ok then error(result, 0) end
    return result
  end
end
return module
";

/// Builds the `.base64` module table.
pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let natives = lua.create_table()?;
    natives.set(
        "encode",
        lua.create_function(|lua, (input, encoder): (Value, Value)| {
            settle(lua, encode_call(lua, &input, &encoder))
        })?,
    )?;
    natives.set(
        "decode",
        lua.create_function(|lua, (input, decoder): (Value, Value)| {
            settle(lua, decode_call(lua, &input, &decoder))
        })?,
    )?;
    natives.set(
        "makeencoder",
        lua.create_function(|lua, args: (Value, Value, Value)| settle(lua, make_encoder(lua, &args)))?,
    )?;
    natives.set(
        "makedecoder",
        lua.create_function(|lua, args: (Value, Value, Value)| settle(lua, make_decoder(lua, &args)))?,
    )?;
    lua.load(GLUE).set_name("=.base64").call(natives)
}

fn encode_call(lua: &Lua, input: &Value, encoder: &Value) -> Result<Value, Failure> {
    let input = string_arg("encode", input)?;
    let alphabet = match encoder {
        Value::Nil => STANDARD,
        Value::Table(t) => Alphabet::from_encoder(t)?,
        other => return Err(type_error("encode", "an encoder table from makeencoder", other)),
    };
    Ok(Value::String(lua.create_string(alphabet.encode(&input.as_bytes()))?))
}

fn decode_call(lua: &Lua, input: &Value, decoder: &Value) -> Result<Value, Failure> {
    let input = string_arg("decode", input)?;
    let table = match decoder {
        Value::Nil => STANDARD.decode_table(),
        Value::Table(t) => decode_table_from(t)?,
        other => return Err(type_error("decode", "a decoder table from makedecoder", other)),
    };
    Ok(Value::String(lua.create_string(decode(&table, &input.as_bytes()))?))
}

fn make_encoder(lua: &Lua, args: &(Value, Value, Value)) -> Result<Value, Failure> {
    let alphabet = Alphabet::from_args("makeencoder", args)?;
    let table = lua.create_table_with_capacity(64, 1)?;
    for (code, &byte) in alphabet.symbols.iter().enumerate() {
        table.raw_set(code, byte)?;
    }
    if let Some(pad) = alphabet.pad {
        table.raw_set(64, pad)?;
    }
    Ok(Value::Table(table))
}

fn make_decoder(lua: &Lua, args: &(Value, Value, Value)) -> Result<Value, Failure> {
    let alphabet = Alphabet::from_args("makedecoder", args)?;
    let table = lua.create_table_with_capacity(0, 65)?;
    for (code, &byte) in alphabet.symbols.iter().enumerate() {
        table.raw_set(byte, code)?;
    }
    if let Some(pad) = alphabet.pad {
        table.raw_set(pad, PAD)?;
    }
    Ok(Value::Table(table))
}

/// Why a call stopped: bad arguments (a string error in Lua), or a failure of
/// the Lua state itself (propagated unchanged).
enum Failure {
    Usage(String),
    Lua(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(e: mlua::Error) -> Self {
        Self::Lua(e)
    }
}

fn usage(msg: impl std::fmt::Display) -> Failure {
    Failure::Usage(format!("base64: {msg}"))
}

/// The `(ok, result)` pair the glue expects.
fn settle(lua: &Lua, outcome: Result<Value, Failure>) -> mlua::Result<(bool, Value)> {
    match outcome {
        Ok(value) => Ok((true, value)),
        Err(Failure::Usage(msg)) => Ok((false, Value::String(lua.create_string(msg)?))),
        Err(Failure::Lua(e)) => Err(e),
    }
}

/// The name Lua's `type()` gives a value.
fn lua_type(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) | Value::Number(_) => "number",
        Value::LightUserData(_) | Value::UserData(_) | Value::Error(_) | Value::Other(_) => "userdata",
        other => other.type_name(),
    }
}

fn type_error(function: &str, expected: &str, got: &Value) -> Failure {
    usage(format_args!("{function} expects {expected}, got {}", lua_type(got)))
}

fn string_arg<'a>(function: &str, value: &'a Value) -> Result<&'a mlua::LuaString, Failure> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(type_error(function, "a string", other)),
    }
}

/// A character given as an integer code (lbase64 ≥ 1.5 tables) or a
/// one-character string (lbase64 1.0 tables and `makeencoder` arguments).
fn as_byte(value: &Value) -> Option<u8> {
    match value {
        Value::Integer(i) => u8::try_from(*i).ok(),
        Value::String(s) => match *s.as_bytes() {
            [b] => Some(b),
            _ => None,
        },
        _ => None,
    }
}

/// Value of the pad character in a decoder table.
const PAD: u8 = 64;
/// Marks a byte outside the alphabet in a decode table.
const SKIP: u8 = 0xff;

/// The 64 symbols and the optional pad character of one base64 variant.
#[derive(Clone, Copy)]
struct Alphabet {
    symbols: [u8; 64],
    pad: Option<u8>,
}

impl Alphabet {
    const fn new(s62: u8, s63: u8, pad: Option<u8>) -> Self {
        let mut symbols = [0; 64];
        let mut i = 0;
        while i < 62 {
            symbols[i] = SYMBOLS[i];
            i += 1;
        }
        symbols[62] = s62;
        symbols[63] = s63;
        Self { symbols, pad }
    }

    /// From `makeencoder`/`makedecoder`'s `(s62, s63, spad)`: each one
    /// character or nil for the default; `spad` may be `''` for no padding.
    fn from_args(function: &str, (s62, s63, spad): &(Value, Value, Value)) -> Result<Self, Failure> {
        let one_char = |name: &str, value: &Value, default: u8| -> Result<u8, Failure> {
            match value {
                Value::Nil => Ok(default),
                Value::String(s) => match *s.as_bytes() {
                    [b] => Ok(b),
                    _ => Err(usage(format_args!(
                        "{function}: {name} must be one character, got '{}'",
                        s.to_string_lossy()
                    ))),
                },
                other => Err(type_error(function, &format!("{name} to be a string"), other)),
            }
        };
        let s62 = one_char("s62", s62, b'+')?;
        let s63 = one_char("s63", s63, b'/')?;
        let pad = match spad {
            Value::String(s) if s.as_bytes().is_empty() => None,
            other => Some(one_char("spad", other, b'=')?),
        };
        let alphabet = Self::new(s62, s63, pad);
        // A character used twice would make decoding ambiguous.
        let mut seen = [false; 256];
        for byte in alphabet.symbols.iter().chain(&alphabet.pad) {
            if std::mem::replace(&mut seen[usize::from(*byte)], true) {
                return Err(usage(format_args!(
                    "{function}: character '{}' is used twice",
                    char::from(*byte).escape_default()
                )));
            }
        }
        Ok(alphabet)
    }

    /// From an encoder table: entries 0..63 are the symbols, 64 the pad.
    fn from_encoder(table: &Table) -> Result<Self, Failure> {
        let mut symbols = [0; 64];
        for (code, slot) in symbols.iter_mut().enumerate() {
            let entry: Value = table.raw_get(code)?;
            *slot = as_byte(&entry)
                .ok_or_else(|| usage(format_args!("invalid encoder: entry {code} is not a character")))?;
        }
        let pad = match table.raw_get::<Value>(64)? {
            Value::Nil | Value::Boolean(false) => None,
            entry => {
                Some(as_byte(&entry).ok_or_else(|| usage("invalid encoder: entry 64 is not a character"))?)
            }
        };
        Ok(Self { symbols, pad })
    }

    fn encode(&self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
        let symbol = |v: u32| self.symbols[(v & 0x3f) as usize];
        let mut chunks = input.chunks_exact(3);
        for chunk in &mut chunks {
            let v = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
            out.extend_from_slice(&[symbol(v >> 18), symbol(v >> 12), symbol(v >> 6), symbol(v)]);
        }
        match *chunks.remainder() {
            [a] => {
                let v = u32::from(a) << 16;
                out.extend_from_slice(&[symbol(v >> 18), symbol(v >> 12)]);
                out.extend(self.pad.iter().chain(&self.pad));
            }
            [a, b] => {
                let v = u32::from(a) << 16 | u32::from(b) << 8;
                out.extend_from_slice(&[symbol(v >> 18), symbol(v >> 12), symbol(v >> 6)]);
                out.extend(self.pad);
            }
            _ => {}
        }
        out
    }

    fn decode_table(&self) -> [u8; 256] {
        let mut table = [SKIP; 256];
        for (code, &byte) in (0u8..).zip(&self.symbols) {
            table[usize::from(byte)] = code;
        }
        if let Some(pad) = self.pad {
            table[usize::from(pad)] = PAD;
        }
        table
    }
}

/// A decode table (byte -> 0..63, [`PAD`] or [`SKIP`]) from a decoder table.
fn decode_table_from(decoder: &Table) -> Result<[u8; 256], Failure> {
    let mut table = [SKIP; 256];
    for pair in decoder.pairs::<Value, Value>() {
        let (key, value) = pair?;
        let byte = as_byte(&key).ok_or_else(|| usage("invalid decoder: a key is not a character"))?;
        let code = match value {
            Value::Integer(code) => u8::try_from(code).ok().filter(|&code| code <= PAD),
            _ => None,
        };
        let code =
            code.ok_or_else(|| usage(format_args!("invalid decoder: the value for {byte} is not 0..64")))?;
        table[usize::from(byte)] = code;
    }
    Ok(table)
}

/// Decodes leniently: bytes outside the alphabet are skipped, a pad ends the
/// current group, and bits that make no whole byte are dropped.
fn decode(table: &[u8; 256], input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &byte in input {
        match table[usize::from(byte)] {
            SKIP => {}
            PAD => {
                acc = 0;
                bits = 0;
            }
            code => {
                acc = (acc << 6 | u32::from(code)) & 0xffff;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    // The byte is the 8 bits above the `bits` left over.
                    out.push((acc >> bits).to_le_bytes()[0]);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use mlua::{FromLuaMulti, Lua, LuaString, Table};

    use super::open;

    fn lua() -> Lua {
        let lua = Lua::new();
        let preload: Table = lua.globals().get::<Table>("package").unwrap().get("preload").unwrap();
        preload.set(".base64", lua.create_function(|lua, ()| open(lua)).unwrap()).unwrap();
        lua.load("base64 = require('.base64')").exec().unwrap();
        lua
    }

    fn eval<T: FromLuaMulti>(lua: &Lua, code: &str) -> T {
        lua.load(code).eval().unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    fn call(lua: &Lua, code: &str, input: &[u8]) -> Vec<u8> {
        let f: mlua::Function = eval(lua, &format!("return function(s) return {code} end"));
        let out: LuaString = f.call(lua.create_string(input).unwrap()).unwrap();
        out.as_bytes().to_vec()
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
    fn rfc4648_vectors() {
        let lua = lua();
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(
                call(&lua, "base64.encode(s)", plain.as_bytes()),
                encoded.as_bytes(),
                "encode {plain:?}"
            );
            assert_eq!(
                call(&lua, "base64.decode(s)", encoded.as_bytes()),
                plain.as_bytes(),
                "decode {encoded:?}"
            );
        }
    }

    #[test]
    fn binary_round_trip_matches_the_base64_crate() {
        let lua = lua();
        let all: Vec<u8> = (0..=255).collect();
        // Every length 0..=300 over a byte pattern that covers all 256 values.
        let pattern: Vec<u8> = (0..300u32).map(|i| (i * 97 + 13).to_le_bytes()[0]).collect();
        let mut inputs = vec![all.clone(), all.iter().rev().copied().collect()];
        inputs.extend((0..=pattern.len()).map(|n| pattern[..n].to_vec()));
        for input in inputs {
            let encoded = call(&lua, "base64.encode(s)", &input);
            assert_eq!(encoded, STANDARD.encode(&input).into_bytes());
            assert_eq!(call(&lua, "base64.decode(s)", &encoded), input);
            let url = call(&lua, "base64.encode(s, base64.makeencoder('-', '_'))", &input);
            assert_eq!(url, URL_SAFE.encode(&input).into_bytes());
            assert_eq!(call(&lua, "base64.decode(s, base64.makedecoder('-', '_'))", &url), input);
        }
    }

    #[test]
    fn custom_alphabets() {
        let lua = lua();
        let cases: &[(&str, &[u8], &[u8])] = &[
            ("base64.encode(s, base64.makeencoder('-', '_'))", b"\xfb\xff\xbf", b"-_-_"),
            ("base64.encode(s, base64.makeencoder('-', '_'))", b"\xfb\xff", b"-_8="),
            ("base64.encode(s, base64.makeencoder('-', '_', ''))", b"\xfb\xff", b"-_8"),
            ("base64.encode(s, base64.makeencoder(nil, nil, '.'))", b"f", b"Zg.."),
            ("base64.encode(s, nil, true)", b"foo", b"Zm9v"),
            ("base64.decode(s, base64.makedecoder('-', '_'))", b"-_8=", b"\xfb\xff"),
            ("base64.decode(s, base64.makedecoder(nil, nil, '.'))", b"Zg..", b"f"),
            // lbase64 1.0 kept symbols as strings: such tables work too.
            (
                "base64.encode(s, (function() local e = base64.makeencoder('-', '_') \
                 for i = 0, 64 do e[i] = string.char(e[i]) end return e end)())",
                b"\xfb\xff",
                b"-_8=",
            ),
        ];
        for (code, input, expected) in cases {
            assert_eq!(&call(&lua, code, input), expected, "{code}");
        }
        let (e62, e64, d45): (i64, i64, i64) = eval(
            &lua,
            "local e, d = base64.makeencoder('-', '_'), base64.makedecoder('-', '_') return e[62], e[64], d[45]",
        );
        assert_eq!((e62, e64, d45), (i64::from(b'-'), i64::from(b'='), 62));
    }

    #[test]
    fn decode_is_lenient() {
        let lua = lua();
        let cases: &[(&[u8], &[u8])] = &[
            (b"Zm9v\nYmFy", b"foobar"),
            (b" Zm9v YmFy \r\n", b"foobar"),
            (b"Zm8", b"fo"),
            (b"Zg", b"f"),
            (b"Z", b""),
            (b"Zg==Zg==", b"ff"),
            (b"Zm9v!!*", b"foo"),
            (b"====", b""),
            // URL-safe symbols are outside the standard alphabet: skipped.
            (b"-_8=", b""),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &call(&lua, "base64.decode(s)", input),
                expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn errors_are_strings_naming_the_problem() {
        let lua = lua();
        let cases = [
            ("base64.encode()", "base64: encode expects a string, got nil"),
            ("base64.encode(12)", "base64: encode expects a string, got number"),
            ("base64.decode({})", "base64: decode expects a string, got table"),
            ("base64.encode('x', 5)", "base64: encode expects an encoder table from makeencoder, got number"),
            (
                "base64.decode('x', 'y')",
                "base64: decode expects a decoder table from makedecoder, got string",
            ),
            ("base64.encode('x', {})", "base64: invalid encoder: entry 0 is not a character"),
            ("base64.decode('x', {[1.5] = 1})", "base64: invalid decoder: a key is not a character"),
            ("base64.decode('x', {A = 99})", "base64: invalid decoder: the value for 65 is not 0..64"),
            ("base64.makeencoder('ab')", "base64: makeencoder: s62 must be one character, got 'ab'"),
            ("base64.makedecoder(nil, '')", "base64: makedecoder: s63 must be one character, got ''"),
            ("base64.makeencoder(1)", "base64: makeencoder expects s62 to be a string, got number"),
            ("base64.makeencoder('A')", "base64: makeencoder: character 'A' is used twice"),
            ("base64.makeencoder('-', '-')", "base64: makeencoder: character '-' is used twice"),
            ("base64.makedecoder('-', '_', '_')", "base64: makedecoder: character '_' is used twice"),
        ];
        for (code, expected) in cases {
            assert_eq!(lua_error(&lua, &format!("return {code}")), expected, "{code}");
        }
    }
}
