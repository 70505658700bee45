//! `.utils`: aos's functional helpers (`map`, `filter`, `reduce`, `matchesSpec`, ...),
//! written in Lua (`utils.lua`) because they mostly call back into Lua.
//!
//! Differs from aos only where aos depends on table layout: `keys` and `values`
//! return their results sorted by key, so programs behave the same on every run.

use mlua::{Lua, Table};

const SOURCE: &str = include_str!("utils.lua");

pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    lua.load(SOURCE).set_name("=.utils").call(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(code: &str) -> String {
        let lua = Lua::new();
        lua.globals().set("utils", open(&lua).unwrap()).unwrap();
        lua.load(code).eval::<String>().unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    #[test]
    fn helpers_direct_and_curried() {
        let cases = [
            ("table.concat(utils.map(function(v) return v * 2 end, {1, 2, 3}), ',')", "2,4,6"),
            ("table.concat(utils.map(function(v) return v * 2 end)({1, 2}), ',')", "2,4"),
            ("table.concat(utils.filter(function(v) return v > 1 end, {1, 2, 3}), ',')", "2,3"),
            ("table.concat(utils.filter(function(v) return v > 2 end)({1, 2, 3}), ',')", "3"),
            ("tostring(utils.reduce(function(a, b) return a + b end, 0, {1, 2, 3}))", "6"),
            ("tostring(utils.reduce(function(a, b) return a + b end)(10)({1, 2}))", "13"),
            ("tostring(utils.reduce(function(a, b) return a .. b end, nil, {'x', 'y'}))", "xy"),
            ("utils.find(function(v) return v.id == 2 end, {{id = 1}, {id = 2, n = 'b'}}).n", "b"),
            ("tostring(utils.find(function(v) return false end)({1}))", "nil"),
            ("tostring(utils.propEq('a', 1, {a = 1}))", "true"),
            ("tostring(utils.propEq('a')(2)({a = 1}))", "false"),
            ("table.concat(utils.reverse({1, 2, 3}), ',')", "3,2,1"),
            ("table.concat(utils.concat({1}, {2, 3}), ',')", "1,2,3"),
            ("table.concat(utils.concat({1})({2}), ',')", "1,2"),
            ("tostring(utils.compose(function(x) return x + 1 end, function(x) return x * 10 end)(2))", "21"),
            ("tostring(utils.prop('k', {k = 'v'}))", "v"),
            ("tostring(utils.prop('k')({k = 5}))", "5"),
            ("tostring(utils.includes(2, {1, 2}))", "true"),
            ("tostring(utils.includes(9)({1, 2}))", "false"),
            ("table.concat(utils.keys({b = 1, a = 2, c = 3}), ',')", "a,b,c"),
            ("table.concat(utils.values({b = 1, a = 2, c = 3}), ',')", "2,1,3"),
            (
                "tostring(utils.isArray({1, 2})) .. tostring(utils.isArray({1, x = 2})) .. tostring(utils.isArray({}))",
                "truefalsetrue",
            ),
            ("tostring(utils.curry(function(a, b, c) return a + b + c end, 3)(1)(2)(3))", "6"),
        ];
        for (code, expected) in cases {
            assert_eq!(eval(&format!("return {code}")), expected, "{code}");
        }
    }

    #[test]
    fn matches_pattern_and_spec() {
        let cases = [
            ("utils.matchesPattern('_', 'anything')", "true"),
            ("utils.matchesPattern('Ping', 'Ping')", "true"),
            ("utils.matchesPattern('Ping', 'Pong')", "false"),
            ("utils.matchesPattern('^P.ng$', 'Pong')", "true"),
            ("utils.matchesPattern({'A', 'B'}, 'B')", "true"),
            ("utils.matchesPattern({'A', 'B'}, 'C')", "false"),
            ("utils.matchesPattern(function(v, m) return v == m.x end, 1, {x = 1})", "true"),
            ("utils.matchesSpec({Action = 'Ping'}, 'Ping')", "true"),
            ("utils.matchesSpec({Action = 'Ping'}, 'Pong')", "false"),
            ("utils.matchesSpec({Action = 'Move', Dir = 'N'}, {Action = 'Move', Dir = '^[NS]$'})", "true"),
            ("utils.matchesSpec({Action = 'Move'}, {Action = 'Move', Dir = '_'})", "false"),
            ("utils.matchesSpec({Data = 'x'}, function(m) return m.Data == 'x' end)", "true"),
        ];
        for (code, expected) in cases {
            assert_eq!(eval(&format!("return tostring({code})")), expected, "{code}");
        }
    }

    #[test]
    fn wrong_arguments_are_named() {
        let lua = Lua::new();
        lua.globals().set("utils", open(&lua).unwrap()).unwrap();
        let e = lua.load("return utils.map(1, {})").exec().unwrap_err().to_string();
        assert!(e.contains("utils.map: function expected"), "{e}");
    }
}
