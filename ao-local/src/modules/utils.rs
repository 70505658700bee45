//! `.utils`: aos's functional helpers (`local utils = require('.utils')`),
//! written in Lua (`utils.lua`) because they mostly call back into Lua.
//!
//! Same functions and curried forms as aos (`utils.map(fn)(t)` and
//! `utils.map(fn, t)`), plus `isArray` and `capitalize`. Differences from aos:
//! - Results that follow table order (`keys`, `values`, `find` on a non-array,
//!   table patterns) use a fixed key order (numbers, then strings bytewise)
//!   instead of `pairs` order, which changes between runs.
//! - `isArray` counts keys (exactly `1..n`) instead of trusting `#`.
//! - `curry` keeps every argument held back by a partial call (aos's keeps only
//!   the first, so `utils.reduce(fn, 0)(t)` loses the `0`) and counts explicit
//!   nils; its default arity comes from a native helper, as processes have no
//!   `debug` library.
//! - `matchesPattern` returns `false` for a Lua pattern against a non-string
//!   value (aos raises an error from `string.match`), and `matchesSpec` only
//!   tries the message field and the tag that are present.

use mlua::{Function, Lua, Table};

/// The module's Lua source.
const SOURCE: &str = include_str!("utils.lua");

/// Builds the `.utils` module table.
pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    // `curry`'s default arity: a function's declared parameter count (0 for
    // native functions), what aos reads through `debug.getinfo(fn, 'u')`.
    let nparams = lua.create_function(|_, f: Function| Ok(f.info().num_params))?;
    lua.load(SOURCE).set_name("=.utils").call(nparams)
}

#[cfg(test)]
mod tests {
    use mlua::{Lua, Table};

    use super::open;

    /// A state with `utils` and `show(value)`, which renders values as text
    /// (tables with sorted keys) so expectations can be compared as strings.
    fn lua() -> Lua {
        let lua = Lua::new();
        let preload: Table = lua.globals().get::<Table>("package").unwrap().get("preload").unwrap();
        preload.set(".utils", lua.create_function(|lua, ()| open(lua)).unwrap()).unwrap();
        lua.load(
            r"
            utils = require('.utils')
            function show(v)
              if type(v) ~= 'table' then
                return type(v) == 'string' and string.format('%q', v) or tostring(v)
              end
              local keys = {}
              for k in pairs(v) do keys[#keys + 1] = k end
              table.sort(keys, function(a, b)
                if type(a) ~= type(b) then return type(a) == 'number' end
                return a < b
              end)
              local parts = {}
              for i, k in ipairs(keys) do
                parts[i] = (k == i and '' or tostring(k) .. '=') .. show(v[k])
              end
              return '{' .. table.concat(parts, ',') .. '}'
            end
            ",
        )
        .exec()
        .unwrap();
        lua
    }

    /// Each case: a Lua expression, and `show` of its value.
    fn check(lua: &Lua, cases: &[(&str, &str)]) {
        for (expr, expected) in cases {
            let got: String =
                lua.load(format!("return show({expr})")).eval().unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(&got, expected, "{expr}");
        }
    }

    /// Each case: Lua code that must fail, and a fragment of its error.
    fn check_errors(lua: &Lua, cases: &[(&str, &str)]) {
        for (code, fragment) in cases {
            let (ok, msg): (bool, String) = lua
                .load(format!("local ok, e = pcall(function() {code} end) return ok, tostring(e)"))
                .eval()
                .unwrap();
            assert!(!ok, "{code} should fail");
            assert!(msg.contains(fragment), "{code}: {msg}");
        }
    }

    #[test]
    fn list_functions_direct_and_curried() {
        let lua = lua();
        check(
            &lua,
            &[
                ("utils.concat({1, 2}, {3, 4})", "{1,2,3,4}"),
                ("utils.concat({1, 2})({3})", "{1,2,3}"),
                ("utils.concat({}, {})", "{}"),
                ("utils.reduce(function(acc, x) return acc + x end, 0, {1, 2, 3})", "6"),
                ("utils.reduce(function(acc, x) return acc + x end)(10)({1, 2, 3})", "16"),
                ("utils.reduce(function(acc, x) return acc + x end, 5)({1, 2})", "8"),
                ("utils.reduce(function(acc, x) return acc .. x end, nil, {'a', 'b', 'c'})", "\"abc\""),
                ("utils.reduce(function(acc, x, i) return acc + i end, 0, {'a', 'b', 'c'})", "6"),
                ("utils.reduce(function(acc, x) return acc + x end, 0, {})", "0"),
                ("utils.map(function(x) return x * 2 end, {1, 2, 3})", "{2,4,6}"),
                ("utils.map(function(x) return x * 2 end)({1, 2, 3})", "{2,4,6}"),
                ("utils.map(function(x, i) return x .. i end, {'a', 'b'})", "{\"a1\",\"b2\"}"),
                ("utils.map(function(x) return x end, {})", "{}"),
                ("utils.filter(function(x) return x > 1 end, {1, 2, 3})", "{2,3}"),
                ("utils.filter(function(x) return x % 2 == 1 end)({1, 2, 3, 4, 5})", "{1,3,5}"),
                ("utils.filter(function(x) return false end, {1, 2})", "{}"),
                ("utils.find(function(x) return x > 1 end, {1, 2, 3})", "2"),
                ("utils.find(function(x) return x > 1 end)({1, 5, 3})", "5"),
                ("utils.find(function(x) return x > 9 end, {1, 2, 3})", "nil"),
                (
                    "utils.find(function(x) return x.ok end, {a = {ok = false}, b = {ok = true, n = 1}})",
                    "{n=1,ok=true}",
                ),
                ("utils.find(function(x) return x > 0 end, {z = 1, a = 2, [3] = 3})", "3"),
                ("utils.find(function(x) return x > 0 end, {z = 1, a = 2})", "2"),
                ("utils.reverse({1, 2, 3})", "{3,2,1}"),
                ("utils.reverse({})", "{}"),
                ("utils.includes(2, {1, 2, 3})", "true"),
                ("utils.includes(2)({1, 3})", "false"),
                ("utils.includes('a')({'a'})", "true"),
                ("utils.isArray({1, 2, 3})", "true"),
                ("utils.isArray({})", "true"),
                ("utils.isArray({1, nil, 3})", "false"),
                ("utils.isArray({[1] = 1, [2.0] = 2})", "true"),
                ("utils.isArray({1, a = 2})", "false"),
                ("utils.isArray({[0] = 1})", "false"),
                ("utils.isArray({[1.5] = 1})", "false"),
                ("utils.isArray('abc')", "false"),
                ("utils.isArray(nil)", "false"),
            ],
        );
    }

    #[test]
    fn object_functions_direct_and_curried() {
        let lua = lua();
        check(
            &lua,
            &[
                ("utils.propEq('name', 'Lua', {name = 'Lua'})", "true"),
                ("utils.propEq('name')('Lua')({name = 'Lua'})", "true"),
                ("utils.propEq('name', 'Lua')({name = 'C'})", "false"),
                ("utils.propEq('name')('Lua', {})", "false"),
                ("utils.prop('name', {name = 'Lua'})", "\"Lua\""),
                ("utils.prop('name')({name = 'Lua'})", "\"Lua\""),
                ("utils.prop('missing')({})", "nil"),
                ("utils.keys({b = 1, a = 2, [2] = 'x', [1] = 'y', [10] = 'z'})", "{1,2,10,\"a\",\"b\"}"),
                ("utils.keys({})", "{}"),
                ("utils.values({b = 1, a = 2, [1] = 'y'})", "{\"y\",2,1}"),
                ("utils.values({10, 20, 30})", "{10,20,30}"),
                ("utils.capitalize('hELLO')", "\"Hello\""),
                ("utils.capitalize('')", "\"\""),
                ("utils.capitalize(5)", "5"),
            ],
        );
        // keys() comes out the same however the table was built.
        let same: bool = lua
            .load(
                r"
                local a, b = {}, {}
                for i = 1, 200 do a['k' .. i] = i end
                for i = 200, 1, -1 do b['k' .. i] = i end
                return table.concat(utils.keys(a), ',') == table.concat(utils.keys(b), ',')
                    and table.concat(utils.values(a), ',') == table.concat(utils.values(b), ',')
            ",
            )
            .eval()
            .unwrap();
        assert!(same);
    }

    #[test]
    fn curry_and_compose() {
        let lua = lua();
        lua.load(
            r"
            add3 = function(a, b, c) return a + b + c end
            pack3 = function(a, b, c) return {a = a, b = b, c = c} end
            inc = function(x) return x + 1 end
            dbl = function(x) return x * 2 end
            ",
        )
        .exec()
        .unwrap();
        check(
            &lua,
            &[
                ("utils.curry(add3)(1)(2)(3)", "6"),
                ("utils.curry(add3)(1, 2)(3)", "6"),
                ("utils.curry(add3)(1)(2, 3)", "6"),
                ("utils.curry(add3)(1, 2, 3)", "6"),
                ("utils.curry(add3)()(1)()(2)(3)", "6"),
                ("utils.curry(pack3)(nil)(2)(3)", "{b=2,c=3}"),
                ("utils.curry(pack3)(1, nil)(3)", "{a=1,c=3}"),
                ("utils.curry(function(...) return select('#', ...) end, 3)(1)(2)(3, 4)", "4"),
                ("utils.curry(inc) == inc", "true"),
                // Native functions declare no parameters: returned as they are.
                ("utils.curry(math.max) == math.max", "true"),
                ("utils.compose(inc, dbl)(3)", "7"),
                ("utils.compose(dbl, inc)(3)", "8"),
                ("utils.compose(inc)(dbl)(3)", "7"),
                ("utils.compose(inc, dbl, inc)(3)", "9"),
                (
                    "utils.compose(utils.map(dbl), utils.filter(function(x) return x > 1 end))({1, 2, 3})",
                    "{4,6}",
                ),
            ],
        );
    }

    #[test]
    fn argument_errors() {
        let lua = lua();
        check_errors(
            &lua,
            &[
                ("utils.curry(5)", "function is required as first argument"),
                ("utils.concat({1}, 'x')", "second argument should be a table that is an array"),
                ("utils.concat({a = 1}, {})", "first argument should be a table"),
                ("utils.map(5, {})", "first argument should be a unary function"),
                ("utils.map(print, {a = 1})", "second argument should be an Array"),
                ("utils.filter(print, {1, nil, 3})", "second argument should be an Array"),
                ("utils.reduce(print, 0, {a = 1})", "third argument should be a table that is an array"),
                ("utils.find(print, 'x')", "second argument should be a table"),
                ("utils.propEq(1, 'a', {})", "first argument should be a string"),
                ("utils.propEq('a', 1, {})", "second argument should be a string"),
                ("utils.propEq('a', 'b', 'c')", "third argument should be a table<object>"),
                ("utils.reverse({a = 1})", "argument needs to be a table that is an array"),
                ("utils.compose(print, 5)", "each argument needs to be a function"),
                ("utils.includes(1, {a = 1})", "argument should be a table that is an array"),
                ("utils.keys(5)", "argument needs to be a table"),
                ("utils.values(nil)", "argument needs to be a table"),
            ],
        );
    }

    #[test]
    fn matches_pattern() {
        let lua = lua();
        check(
            &lua,
            &[
                ("utils.matchesPattern('_', nil, {})", "true"),
                ("utils.matchesPattern('_', 'x', {})", "true"),
                ("utils.matchesPattern(nil, 'x', {})", "false"),
                ("utils.matchesPattern(false, 'x', {})", "false"),
                ("utils.matchesPattern('Balance', 'Balance', {})", "true"),
                ("utils.matchesPattern('Balance', 'Balances', {})", "false"),
                // '-' alone is not pattern syntax: compared exactly.
                ("utils.matchesPattern('Credit-Notice', 'Credit-Notice', {})", "true"),
                ("utils.matchesPattern('Credit-Notice', 'CreditNotice', {})", "false"),
                ("utils.matchesPattern('^Bal', 'Balance', {})", "true"),
                ("utils.matchesPattern('^Bal', 'NoBalance', {})", "false"),
                ("utils.matchesPattern('ance$', 'Balance', {})", "true"),
                ("utils.matchesPattern('B.l', 'Bxl', {})", "true"),
                ("utils.matchesPattern('%d+', 'abc123', {})", "true"),
                ("utils.matchesPattern('%d+', 123, {})", "true"),
                ("utils.matchesPattern('[xy]', 'y', {})", "true"),
                ("utils.matchesPattern('a*', 'bbb', {})", "true"),
                ("utils.matchesPattern('^a+$', 'bbb', {})", "false"),
                ("utils.matchesPattern('^(%a+)$', 'abc', {})", "true"),
                ("utils.matchesPattern('colou?r', 'color', {})", "true"),
                ("utils.matchesPattern('^Bal', nil, {})", "false"),
                ("utils.matchesPattern('^Bal', {}, {})", "false"),
                ("utils.matchesPattern('5', 5, {})", "false"),
                ("utils.matchesPattern(function(v, m) return v == m.want end, 'x', {want = 'x'})", "true"),
                ("utils.matchesPattern(function(v) return v end, 'x', {})", "true"),
                ("utils.matchesPattern(function(v) return nil end, 'x', {})", "false"),
                ("utils.matchesPattern({'A', 'B'}, 'B', {})", "true"),
                ("utils.matchesPattern({'A', 'B'}, 'C', {})", "false"),
                ("utils.matchesPattern({'A', '^C'}, 'Cat', {})", "true"),
                ("utils.matchesPattern({x = 'A', y = function(v) return v == 'Z' end}, 'Z', {})", "true"),
                ("utils.matchesPattern({}, 'x', {})", "false"),
                ("utils.matchesPattern(5, 5, {})", "false"),
            ],
        );
    }

    #[test]
    fn matches_spec() {
        let lua = lua();
        lua.load(
            r"
            msg = {Action = 'Transfer', From = 'abc', Quantity = '10',
                   Tags = {Action = 'Transfer', ['X-Only-Tag'] = 'yes', Quantity = '10'}}
            ",
        )
        .exec()
        .unwrap();
        check(
            &lua,
            &[
                ("utils.matchesSpec(msg, 'Transfer')", "true"),
                ("utils.matchesSpec(msg, 'Balance')", "false"),
                ("utils.matchesSpec({}, 'Transfer')", "false"),
                ("utils.matchesSpec(msg, {Action = 'Transfer'})", "true"),
                ("utils.matchesSpec(msg, {Action = 'Transfer', From = 'abc'})", "true"),
                ("utils.matchesSpec(msg, {Action = 'Transfer', From = 'xyz'})", "false"),
                ("utils.matchesSpec(msg, {Action = '^Trans'})", "true"),
                ("utils.matchesSpec(msg, {Quantity = '%d+'})", "true"),
                ("utils.matchesSpec(msg, {Quantity = '_'})", "true"),
                ("utils.matchesSpec(msg, {Missing = '_'})", "false"),
                ("utils.matchesSpec(msg, {Missing = function() return true end})", "false"),
                ("utils.matchesSpec(msg, {['X-Only-Tag'] = 'yes'})", "true"),
                ("utils.matchesSpec(msg, {['X-Only-Tag'] = '^y'})", "true"),
                ("utils.matchesSpec(msg, {From = '^abc'})", "true"),
                ("utils.matchesSpec(msg, {From = '^xyz'})", "false"),
                ("utils.matchesSpec(msg, {Action = {'Balance', 'Transfer'}})", "true"),
                ("utils.matchesSpec(msg, {Action = function(v, m) return v == m.Tags.Action end})", "true"),
                ("utils.matchesSpec(msg, {})", "true"),
                ("utils.matchesSpec(msg, function(m) return m.From == 'abc' end)", "true"),
                // A function spec's result is passed through unchanged.
                ("utils.matchesSpec(msg, function() return 'continue' end)", "\"continue\""),
                ("utils.matchesSpec(msg, function() return -1 end)", "-1"),
                ("utils.matchesSpec(msg, function() end)", "nil"),
                ("utils.matchesSpec(msg, nil)", "false"),
                ("utils.matchesSpec(msg, 5)", "false"),
                ("utils.matchesSpec({Action = 'A', Tags = 'not a table'}, {Action = 'A'})", "true"),
                ("utils.matchesSpec({Action = 'A'}, {Action = 'A'})", "true"),
            ],
        );
    }

    #[test]
    fn bad_patterns_raise_and_globals_do_not_matter() {
        let lua = lua();
        // A malformed Lua pattern is the program's error, raised as in aos.
        let msg: String = lua
            .load("local ok, e = pcall(utils.matchesPattern, '[', 'x', {}) return tostring(e)")
            .eval()
            .unwrap();
        assert!(msg.contains("malformed pattern"), "{msg}");
        // The module keeps its own references to the standard library.
        let ok: bool = lua
            .load("type = nil; pairs = nil; table = nil; return utils.includes(2, {1, 2}) and #utils.keys({a = 1}) == 1")
            .eval()
            .unwrap();
        assert!(ok);
    }
}
