//! `json`: native JSON encode/decode for Lua, as aos programs `require('json')`.
//!
//! Follows the behaviour of the json.lua aos ships, with two deliberate
//! differences that make output deterministic and exact: object keys are
//! written **sorted** (aos iterates `pairs`, whose order varies), and Lua
//! integers are written exactly (aos formats every number with `%.14g`, which
//! rounds integers above 2^53). Floats use `%.14g` like aos.
//!
//! - encode: `nil` → `null`; a table with keys exactly `1..n` → array; the empty
//!   table → `[]`; a table of string keys → object; mixed keys, sparse arrays,
//!   cycles, NaN/infinity, functions and other non-data values are errors.
//! - decode: objects → tables, arrays → sequences, `null` → `nil`, integers
//!   that fit i64 → Lua integers, other numbers → floats. Invalid input is an
//!   error naming line and column.

use std::collections::HashSet;
use std::fmt::Write as _;

use mlua::{Lua, Table, Value};

/// Deepest nesting `encode` accepts (the depth `serde_json` accepts on decode);
/// deeper input is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let module = lua.create_table()?;
    module.set(
        "encode",
        lua.create_function(|lua, value: Value| {
            let mut out = Vec::with_capacity(64);
            Encoder { seen: HashSet::new() }.value(&value, &mut out, 0)?;
            lua.create_string(out)
        })?,
    )?;
    module.set(
        "decode",
        lua.create_function(|lua, text: Value| {
            let bytes = match &text {
                Value::String(s) => s.as_bytes().to_vec(),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "json: expected a string to decode, got {}",
                        other.type_name()
                    )));
                }
            };
            let parsed: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| mlua::Error::runtime(format!("json: invalid input: {e}")))?;
            to_lua(lua, &parsed)
        })?,
    )?;
    Ok(module)
}

fn err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(format!("json: {}", msg.into()))
}

struct Encoder {
    /// Tables on the current path, to refuse cycles.
    seen: HashSet<usize>,
}

impl Encoder {
    fn value(&mut self, v: &Value, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
        match v {
            Value::Nil => out.extend_from_slice(b"null"),
            Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Value::Number(n) => {
                if !n.is_finite() {
                    return Err(err(format!("unexpected number value '{n}'")));
                }
                out.extend_from_slice(format_g14(*n).as_bytes());
            }
            Value::String(s) => escape(&s.as_bytes(), out),
            Value::Table(t) => self.table(t, out, depth)?,
            other => return Err(err(format!("unexpected type '{}'", other.type_name()))),
        }
        Ok(())
    }

    fn table(&mut self, t: &Table, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
        if depth >= MAX_DEPTH {
            return Err(err(format!("nesting deeper than {MAX_DEPTH} tables")));
        }
        let ptr = t.to_pointer() as usize;
        if !self.seen.insert(ptr) {
            return Err(err("circular reference"));
        }
        let mut entries: Vec<(Value, Value)> = Vec::new();
        for pair in t.pairs::<Value, Value>() {
            entries.push(pair?);
        }
        let n = t.raw_len();
        let all_int = entries.iter().all(|(k, _)| matches!(k, Value::Integer(_)));
        if entries.is_empty() {
            out.extend_from_slice(b"[]");
        } else if all_int {
            // An array: keys must be exactly 1..n.
            if entries.len() != n
                || entries
                    .iter()
                    .any(|(k, _)| !matches!(k, Value::Integer(i) if *i >= 1 && (*i as usize) <= n))
            {
                return Err(err("invalid table: sparse array"));
            }
            out.push(b'[');
            for i in 1..=n {
                if i > 1 {
                    out.push(b',');
                }
                let v: Value = t.raw_get(i)?;
                self.value(&v, out, depth + 1)?;
            }
            out.push(b']');
        } else {
            let mut fields = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                match k {
                    Value::String(s) => fields.push((s.as_bytes().to_vec(), v)),
                    _ => return Err(err("invalid table: mixed or invalid key types")),
                }
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            out.push(b'{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                escape(k, out);
                out.push(b':');
                self.value(v, out, depth + 1)?;
            }
            out.push(b'}');
        }
        self.seen.remove(&ptr);
        Ok(())
    }
}

fn escape(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..0x20 => {
                let mut buf = String::new();
                let _ = write!(buf, "\\u{b:04x}");
                out.extend_from_slice(buf.as_bytes());
            }
            // Bytes of UTF-8 (or not) pass through, as aos's encoder does.
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// C's `%.14g`: 14 significant digits, trailing zeros dropped, scientific
/// notation when the exponent is below -4 or at least 14.
pub(crate) fn format_g14(x: f64) -> String {
    const P: i32 = 14;
    if x == 0.0 {
        return if x.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // `{:.13e}` rounds to 14 significant digits and tells the exponent after rounding.
    let sci = format!("{:.*e}", (P - 1) as usize, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..P).contains(&exp) {
        let decimals = (P - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{x:.decimals$}")).to_owned()
    } else {
        let mantissa = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

fn to_lua(lua: &Lua, v: &serde_json::Value) -> mlua::Result<Value> {
    Ok(match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                // `null` leaves a hole at its position, as in aos.
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(fields) => {
            let t = lua.create_table_with_capacity(0, fields.len())?;
            for (k, item) in fields {
                t.raw_set(k.as_str(), to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lua() -> Lua {
        let lua = Lua::new();
        lua.globals().set("json", open(&lua).unwrap()).unwrap();
        lua
    }

    fn run(lua: &Lua, code: &str) -> Result<String, String> {
        lua.load(code).eval::<String>().map_err(|e| e.to_string())
    }

    #[test]
    fn encodes_exactly() {
        let lua = lua();
        let cases = [
            ("nil", "null"),
            ("true", "true"),
            ("42", "42"),
            ("-7", "-7"),
            ("math.maxinteger", "9223372036854775807"),
            ("0.1", "0.1"),
            ("1/3", "0.33333333333333"),
            ("1e300", "1e+300"),
            ("1.5e-7", "1.5e-07"),
            ("3.0", "3"),
            ("'a\"b\\\\c\\n\\1'", r#""a\"b\\c\n\u0001""#),
            ("{}", "[]"),
            ("{1, 2, 'x'}", r#"[1,2,"x"]"#),
            ("{b = 1, a = {c = true}, ['0'] = 0}", r#"{"0":0,"a":{"c":true},"b":1}"#),
            ("{{}, {{}}}", "[[],[[]]]"),
        ];
        for (expr, expected) in cases {
            assert_eq!(run(&lua, &format!("return json.encode({expr})")).unwrap(), expected, "{expr}");
        }
    }

    #[test]
    fn refuses_what_json_cannot_say() {
        let lua = lua();
        let cases = [
            ("{1, 2, nil, 4}", "sparse array"),
            ("{[1] = 1, [3] = 3}", "sparse array"),
            ("{1, x = 2}", "mixed or invalid key types"),
            ("{[true] = 1}", "mixed or invalid key types"),
            ("0/0", "unexpected number value"),
            ("1/0", "unexpected number value"),
            ("print", "unexpected type 'function'"),
            ("(function() local t = {}; t.self = t; return t end)()", "circular reference"),
            (
                "(function() local t = {} for i = 1, 200 do t = {t} end return t end)()",
                "nesting deeper than 128",
            ),
        ];
        for (expr, expected) in cases {
            let e = run(&lua, &format!("return json.encode({expr})")).unwrap_err();
            assert!(e.contains("json: ") && e.contains(expected), "{expr}: {e}");
        }
    }

    #[test]
    fn shared_but_acyclic_tables_are_fine() {
        let lua = lua();
        assert_eq!(run(&lua, "local s = {1}; return json.encode({s, s})").unwrap(), "[[1],[1]]");
    }

    #[test]
    fn decodes_values_and_types() {
        let lua = lua();
        let cases = [
            (r#"json.decode('{"a":[1,2,{"b":null}],"c":"x"}').a[3].b == nil"#, "true"),
            (r#"math.type(json.decode('12'))"#, "integer"),
            (r#"math.type(json.decode('12.0'))"#, "float"),
            (r#"math.type(json.decode('1e2'))"#, "float"),
            (r#"math.type(json.decode('18446744073709551615'))"#, "float"),
            (r#"json.decode('[1,null,3]')[3]"#, "3"),
            (r#"json.decode('"\\u00e9\\n"')"#, "é\n"),
            (r#"json.decode(' {"k" : true} ').k"#, "true"),
        ];
        for (expr, expected) in cases {
            assert_eq!(run(&lua, &format!("return tostring({expr})")).unwrap(), expected, "{expr}");
        }
    }

    #[test]
    fn decode_errors_name_the_place() {
        let lua = lua();
        let e = run(&lua, "return json.decode('{\"a\": 1,\\n  oops}')").unwrap_err();
        assert!(e.contains("json: invalid input") && e.contains("line 2 column 3"), "{e}");
        let e = run(&lua, "return json.decode(42)").unwrap_err();
        assert!(e.contains("expected a string to decode, got integer"), "{e}");
        let deep = format!("return json.decode('{}')", "[".repeat(100_000));
        let e = run(&lua, &deep).unwrap_err();
        assert!(e.contains("recursion limit"), "{e}");
    }

    #[test]
    fn round_trip_is_stable() {
        let lua = lua();
        let code = r#"
            local v = { name = "orc", hp = 41, pos = { x = 1.5, y = -2 }, tags = { "a", "b" }, ok = false }
            local a = json.encode(v)
            local b = json.encode(json.decode(a))
            return a .. "|" .. tostring(a == b)
        "#;
        assert_eq!(
            run(&lua, code).unwrap(),
            r#"{"hp":41,"name":"orc","ok":false,"pos":{"x":1.5,"y":-2},"tags":["a","b"]}|true"#
        );
    }

    #[test]
    fn g14_matches_c_printf() {
        let cases = [
            (100.0, "100"),
            (123_456_789_012_345.0, "1.2345678901234e+14"),
            (12_345_678_901_234.0, "12345678901234"),
            (0.000_1, "0.0001"),
            (0.000_012_5, "1.25e-05"),
            (-2.5, "-2.5"),
            (1e-300, "1e-300"),
        ];
        for (x, expected) in cases {
            assert_eq!(format_g14(x), expected, "{x}");
        }
    }
}
