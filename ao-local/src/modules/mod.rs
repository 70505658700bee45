//! Runtime modules aos programs `require`: `json`, `.utils`, `.base64`, `.bint`.
//!
//! Registered in `package.preload` under both the plain and the leading-dot
//! name (`json` and `.json`), as aos resolves either.

mod base64;
mod bint;
mod json;
mod utils;

use mlua::{Lua, Table, Value};

/// Registers every runtime module as a preload of `lua`.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    let modules: [(&str, Value); 4] = [
        ("json", Value::Table(json::open(lua)?)),
        ("utils", Value::Table(utils::open(lua)?)),
        ("base64", Value::Table(base64::open(lua)?)),
        ("bint", Value::Function(bint::open(lua)?)),
    ];
    for (name, value) in modules {
        let loader = lua.create_function(move |_, ()| Ok(value.clone()))?;
        preload.set(name, loader.clone())?;
        preload.set(format!(".{name}"), loader)?;
    }
    Ok(())
}
