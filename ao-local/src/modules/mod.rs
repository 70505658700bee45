//! Runtime modules aos programs `require`: `json`, `.utils`, `.base64`, `.bint`.
//!
//! Registered in `package.preload` under both the plain and the leading-dot
//! name (`json` and `.json`), as aos resolves either.

mod base64;
mod bint;
mod json;
mod utils;

use mlua::{Lua, Table};

/// Registers every runtime module as a preload of `lua`.
///
/// Loaders build their module when first required and capture no Lua value:
/// a Rust closure holding a reference into its own Lua state is a cycle that
/// leaks the state's memory when it is dropped (ao-local drops states on every
/// dry run and restart).
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    preload.set("json", lua.create_function(|lua, ()| json::open(lua))?)?;
    preload.set("utils", lua.create_function(|lua, ()| utils::open(lua))?)?;
    preload.set("base64", lua.create_function(|lua, ()| base64::open(lua))?)?;
    preload.set("bint", lua.create_function(|lua, ()| bint::open(lua))?)?;
    // The dotted names aos programs use resolve to the same module instance.
    lua.load(
        r#"
        for _, name in ipairs({ "json", "utils", "base64", "bint" }) do
            package.preload["." .. name] = function() return require(name) end
        end
    "#,
    )
    .set_name("=ao-local/modules")
    .exec()
}
