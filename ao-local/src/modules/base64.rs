//! `.base64`: native base64 for Lua, with the API of the lbase64 module aos ships:
//! `encode(str [, encoder])`, `decode(str [, decoder])`, `makeencoder(s62, s63, spad)`,
//! `makedecoder(s62, s63, spad)`. Binary-safe (Lua strings are bytes).
//!
//! An encoder or decoder is a small table naming its three special characters;
//! `makeencoder('-', '_')` gives url-safe base64. The default pads with `=`;
//! decoding accepts input with or without padding and refuses other characters
//! with an error (lbase64 skips them silently).

use base64::Engine as _;
use base64::alphabet::Alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use mlua::{Lua, Table, Value};

const BASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

struct Coder {
    s62: char,
    s63: char,
    pad: Option<char>,
}

impl Coder {
    fn standard() -> Self {
        Self { s62: '+', s63: '/', pad: Some('=') }
    }

    fn from_table(t: Option<Table>) -> mlua::Result<Self> {
        let Some(t) = t else { return Ok(Self::standard()) };
        let one = |key: &str| -> mlua::Result<Option<char>> {
            let s: Option<String> = t.get(key)?;
            Ok(s.and_then(|s| s.chars().next()))
        };
        Ok(Self { s62: one("s62")?.unwrap_or('+'), s63: one("s63")?.unwrap_or('/'), pad: one("spad")? })
    }

    fn engine(&self) -> mlua::Result<GeneralPurpose> {
        let alphabet = Alphabet::new(&format!("{BASE}{}{}", self.s62, self.s63))
            .map_err(|e| mlua::Error::runtime(format!("base64: invalid alphabet: {e}")))?;
        let config = GeneralPurposeConfig::new()
            .with_encode_padding(self.pad == Some('='))
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true);
        Ok(GeneralPurpose::new(&alphabet, config))
    }
}

fn make(lua: &Lua, s62: Option<String>, s63: Option<String>, spad: Option<String>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("s62", s62.unwrap_or_else(|| "+".into()))?;
    t.set("s63", s63.unwrap_or_else(|| "/".into()))?;
    t.set("spad", spad.unwrap_or_else(|| "=".into()))?;
    Ok(t)
}

fn bytes_of(v: &Value, what: &str) -> mlua::Result<Vec<u8>> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Integer(i) => Ok(i.to_string().into_bytes()),
        Value::Number(n) => Ok(n.to_string().into_bytes()),
        other => {
            Err(mlua::Error::runtime(format!("base64: {what} expects a string, got {}", other.type_name())))
        }
    }
}

pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let module = lua.create_table()?;
    module.set(
        "encode",
        lua.create_function(|lua, (input, encoder): (Value, Option<Table>)| {
            let coder = Coder::from_table(encoder)?;
            let mut text = coder.engine()?.encode(bytes_of(&input, "encode")?);
            if let Some(pad) = coder.pad.filter(|&p| p != '=') {
                text = text.replace('=', &pad.to_string());
            }
            lua.create_string(text)
        })?,
    )?;
    module.set(
        "decode",
        lua.create_function(|lua, (input, decoder): (Value, Option<Table>)| {
            let coder = Coder::from_table(decoder)?;
            let mut text = String::from_utf8_lossy(&bytes_of(&input, "decode")?).into_owned();
            if let Some(pad) = coder.pad {
                text = text.trim_end_matches(pad).to_owned();
            }
            let bytes = coder
                .engine()?
                .decode(text.trim_end())
                .map_err(|e| mlua::Error::runtime(format!("base64: invalid input: {e}")))?;
            lua.create_string(bytes)
        })?,
    )?;
    module.set(
        "makeencoder",
        lua.create_function(|lua, (a, b, c): (Option<String>, Option<String>, Option<String>)| {
            make(lua, a, b, c)
        })?,
    )?;
    module.set(
        "makedecoder",
        lua.create_function(|lua, (a, b, c): (Option<String>, Option<String>, Option<String>)| {
            make(lua, a, b, c)
        })?,
    )?;
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(code: &str) -> Result<String, String> {
        let lua = Lua::new();
        lua.globals().set("base64", open(&lua).unwrap()).unwrap();
        lua.load(code).eval::<String>().map_err(|e| e.to_string())
    }

    #[test]
    fn rfc4648_vectors_both_ways() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(eval(&format!("return base64.encode('{plain}')")).unwrap(), enc);
            assert_eq!(eval(&format!("return base64.decode('{enc}')")).unwrap(), plain);
        }
        assert_eq!(eval("return base64.decode('Zg')").unwrap(), "f", "padding is optional on decode");
    }

    #[test]
    fn binary_round_trip_and_url_safe_coder() {
        let code = r#"
            local s = {} for i = 0, 255 do s[#s + 1] = string.char(i) end
            s = table.concat(s)
            local enc = base64.makeencoder('-', '_')
            local dec = base64.makedecoder('-', '_')
            local e = base64.encode(s, enc)
            return tostring(base64.decode(base64.encode(s)) == s) .. tostring(base64.decode(e, dec) == s)
                .. tostring(e:find('[+/]') == nil)
        "#;
        assert_eq!(eval(code).unwrap(), "truetruetrue");
        assert_eq!(eval("return base64.encode('\\251\\255', base64.makeencoder('-', '_'))").unwrap(), "-_8=");
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(eval("return base64.decode('Zm9v!!')").unwrap_err().contains("base64: invalid input"));
        assert!(eval("return base64.encode({})").unwrap_err().contains("expects a string, got table"));
    }
}
