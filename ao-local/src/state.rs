//! Canonical export of a process's data state, for hashing and comparison.
//!
//! Walks `_G` (and the user modules in `package.loaded`) in a fixed order and
//! writes a byte string that is equal for equal data: keys are sorted, shared
//! tables are written once and referenced after, functions and coroutines are
//! written as markers (their code is not state; what they close over is not
//! visible from Lua), userdata as its `tostring`. Standard libraries are skipped.

use std::collections::HashMap;

use mlua::{Lua, Table, Value};

use crate::error::Error;

/// Tables nested deeper than this are refused rather than risk the stack.
const MAX_DEPTH: usize = 200;

/// Globals that are libraries, not state.
const SKIP_GLOBALS: &[&str] = &["_G", "coroutine", "math", "os", "package", "string", "table", "utf8"];

/// Runtime modules in `package.loaded` that are not user state.
const SKIP_MODULES: &[&str] = &[
    "_G",
    "coroutine",
    "math",
    "os",
    "package",
    "string",
    "table",
    "utf8",
    "json",
    ".json",
    "utils",
    ".utils",
    "base64",
    ".base64",
    "bint",
    ".bint",
];

struct Writer {
    out: Vec<u8>,
    seen: HashMap<usize, usize>,
}

pub(crate) fn export(lua: &Lua) -> Result<Vec<u8>, Error> {
    let mut w = Writer { out: Vec::with_capacity(4096), seen: HashMap::new() };
    let globals = lua.globals();
    w.table_filtered(&globals, SKIP_GLOBALS, 0).map_err(Error::runtime)?;
    let loaded: Option<Table> = globals
        .raw_get::<Option<Table>>("package")
        .and_then(|p| p.map(|p| p.raw_get("loaded")).transpose())
        .map_err(Error::runtime)?;
    if let Some(loaded) = loaded {
        w.table_filtered(&loaded, SKIP_MODULES, 0).map_err(Error::runtime)?;
    }
    Ok(w.out)
}

impl Writer {
    fn table_filtered(&mut self, t: &Table, skip: &[&str], depth: usize) -> Result<(), String> {
        let mut entries = Vec::new();
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair.map_err(|e| e.to_string())?;
            if let Value::String(s) = &k
                && skip.iter().any(|name| s.as_bytes() == name.as_bytes())
            {
                continue;
            }
            entries.push((k, v));
        }
        self.entries(entries, depth)
    }

    fn entries(&mut self, entries: Vec<(Value, Value)>, depth: usize) -> Result<(), String> {
        // Encode keys on their own to sort by their canonical bytes.
        let mut keyed = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let mut kw = Writer { out: Vec::new(), seen: HashMap::new() };
            kw.value(&k, depth + 1)?;
            keyed.push((kw.out, v));
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        self.out.push(b'{');
        for (k, v) in keyed {
            self.out.extend_from_slice(&k);
            self.out.push(b'=');
            self.value(&v, depth + 1)?;
            self.out.push(b';');
        }
        self.out.push(b'}');
        Ok(())
    }

    fn value(&mut self, v: &Value, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("state is nested deeper than {MAX_DEPTH} tables"));
        }
        match v {
            Value::Nil => self.out.push(b'n'),
            Value::Boolean(b) => self.out.push(if *b { b't' } else { b'f' }),
            Value::Integer(i) => {
                self.out.push(b'i');
                self.out.extend_from_slice(i.to_string().as_bytes());
            }
            Value::Number(n) => {
                self.out.push(b'd');
                self.out.extend_from_slice(format!("{:016x}", n.to_bits()).as_bytes());
            }
            Value::String(s) => self.bytes(b's', &s.as_bytes()),
            Value::Table(t) => {
                let ptr = t.to_pointer() as usize;
                let next = self.seen.len();
                if let Some(id) = self.seen.get(&ptr) {
                    self.out.extend_from_slice(format!("r{id}").as_bytes());
                    return Ok(());
                }
                self.seen.insert(ptr, next);
                self.out.push(b'T');
                let mut entries = Vec::new();
                for pair in t.pairs::<Value, Value>() {
                    entries.push(pair.map_err(|e| e.to_string())?);
                }
                self.entries(entries, depth)?;
            }
            Value::Function(_) => self.out.push(b'F'),
            Value::Thread(_) => self.out.push(b'C'),
            Value::UserData(_) => {
                // Userdata (a bint, say) is state through what `tostring` shows.
                let text = v.to_string().unwrap_or_else(|_| String::from("userdata"));
                self.bytes(b'u', text.as_bytes());
            }
            Value::LightUserData(_) => self.out.push(b'L'),
            other => self.bytes(b'?', other.type_name().as_bytes()),
        }
        Ok(())
    }

    fn bytes(&mut self, tag: u8, b: &[u8]) {
        self.out.push(tag);
        self.out.extend_from_slice(b.len().to_string().as_bytes());
        self.out.push(b':');
        self.out.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_of(code: &str) -> Result<Vec<u8>, Error> {
        let lua = Lua::new();
        lua.load(code).exec().unwrap();
        export(&lua)
    }

    #[test]
    fn equal_data_gives_equal_bytes_whatever_the_insertion_order() {
        let a = state_of("T = {}; T.b = 1; T.a = {2, 3}; X = 'x'").unwrap();
        let b = state_of("X = 'x'; T = {a = {2, 3}}; T.b = 1").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, state_of("X = 'x'; T = {a = {2, 3}}; T.b = 2").unwrap());
        // Integer and float are different data, as in Lua 5.3.
        assert_ne!(state_of("N = 1").unwrap(), state_of("N = 1.0").unwrap());
    }

    #[test]
    fn shared_and_cyclic_tables_are_written_once() {
        let bytes = state_of("local s = {1}; A = {s, s}; C = {}; C.self = C").unwrap();
        let text = String::from_utf8_lossy(&bytes);
        // The second `s` and `C.self` are back-references, not copies or endless loops.
        assert!(text.contains("s1:A=T{i1=T{i1=i1;};i2=r1;}"), "{text}");
        assert!(text.contains("s1:C=T{s4:self=r2;}"), "{text}");
    }

    #[test]
    fn deep_state_is_refused_not_overflowed() {
        assert!(state_of("local t = {} for i = 1, 150 do t = {t} end Deep = t").is_ok());
        let err = state_of("local t = {} for i = 1, 100000 do t = {t} end Deep = t").unwrap_err();
        assert!(err.to_string().contains("nested deeper than 200"), "{err}");
    }
}
