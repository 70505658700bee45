//! Random well-formed Lua programs (two modules) bundle, with and without
//! dead-code elimination and minification, into code that loads and gives
//! the same result as the sources under real Lua 5.3.
//!
//! The generator reads its decisions from a list of numbers that proptest
//! draws and shrinks (an exhausted list means "the simplest choice"), so a
//! failure shrinks to a short program. It tracks the type of every local it
//! declares, so programs run without type errors, and it favours what a
//! bundler can get wrong: shadowing, reused names, closures, unused locals,
//! constant conditions, `goto`, code after `break`, strings with quotes.

use std::fmt::Write as _;

use ao_bundle::{BundleOptions, Define, MemoryLoader, bundle};
use ao_local::LocalAo;
use proptest::prelude::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    Num,
    Str,
    Bool,
    Table,
    Func,
    /// Declared but never read by generated code (a function's own name
    /// inside its body, which would recurse).
    Hidden,
}

const NAMES: &[&str] = &["a", "b", "value", "count", "x1", "tmp", "a_rather_long_name", "self_", "acc"];
const STRINGS: &[&str] =
    &["'plain'", "\"it's\"", "'say \"hi\"'", "'\\n'", "''", "[[long]]", "'--x'", "\"\\\"\""];

struct Gen<'a> {
    choices: &'a [u32],
    at: usize,
    out: String,
    /// Visible locals by scope: (name, type).
    scopes: Vec<Vec<(String, Ty)>>,
    depth: usize,
    labels: usize,
    loops: usize,
}

impl Gen<'_> {
    fn pick(&mut self, n: u32) -> u32 {
        let c = self.choices.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        c % n
    }

    fn visible(&self, ty: Ty) -> Vec<String> {
        let mut seen: Vec<(String, Ty)> = Vec::new();
        for scope in &self.scopes {
            for (n, t) in scope {
                seen.retain(|(m, _)| m != n);
                seen.push((n.clone(), *t));
            }
        }
        seen.into_iter().filter(|(_, t)| *t == ty).map(|(n, _)| n).collect()
    }

    fn declare(&mut self, name: &str, ty: Ty) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.push((name.to_owned(), ty));
        }
    }

    fn name(&mut self) -> String {
        NAMES[self.pick(NAMES.len() as u32) as usize].to_owned()
    }

    fn expr(&mut self, ty: Ty, depth: usize) -> String {
        let locals = self.visible(ty);
        let leaf = depth >= 3;
        match ty {
            Ty::Num => match self.pick(if leaf { 3 } else { 9 }) {
                0 => format!("{}", i64::from(self.pick(200)) - 50),
                1 if !locals.is_empty() => locals[self.pick(locals.len() as u32) as usize].clone(),
                1 | 2 => ["1.5", "0.25", "1e3", "0x10", "3"][self.pick(5) as usize].to_owned(),
                3 => format!("({} + {})", self.expr(Ty::Num, depth + 1), self.expr(Ty::Num, depth + 1)),
                4 => format!("({} * {})", self.expr(Ty::Num, depth + 1), self.expr(Ty::Num, depth + 1)),
                5 => format!("-({})", self.expr(Ty::Num, depth + 1)),
                6 => format!("#{}", self.expr(Ty::Str, depth + 1)),
                7 => {
                    let c = self.expr(Ty::Bool, depth + 1);
                    format!(
                        "({c} and {} or {})",
                        self.expr(Ty::Num, depth + 1),
                        self.expr(Ty::Num, depth + 1)
                    )
                }
                _ => {
                    let fs = self.visible(Ty::Func);
                    let ts = self.visible(Ty::Table);
                    if !fs.is_empty() && self.pick(2) == 0 {
                        let f = fs[self.pick(fs.len() as u32) as usize].clone();
                        format!("{f}({})", self.expr(Ty::Num, depth + 1))
                    } else if !ts.is_empty() {
                        format!("{}.n", ts[self.pick(ts.len() as u32) as usize])
                    } else {
                        "7".to_owned()
                    }
                }
            },
            Ty::Str => match self.pick(if leaf { 2 } else { 6 }) {
                0 => STRINGS[self.pick(STRINGS.len() as u32) as usize].to_owned(),
                1 if !locals.is_empty() => locals[self.pick(locals.len() as u32) as usize].clone(),
                1 | 2 => format!("({} .. {})", self.expr(Ty::Str, depth + 1), self.expr(Ty::Num, depth + 1)),
                3 => format!("tostring({})", self.expr(Ty::Num, depth + 1)),
                4 => format!("({}):upper()", self.expr(Ty::Str, depth + 1)),
                _ => {
                    let ts = self.visible(Ty::Table);
                    if ts.is_empty() {
                        "'t'".to_owned()
                    } else {
                        format!("{}['s']", ts[self.pick(ts.len() as u32) as usize])
                    }
                }
            },
            Ty::Bool => match self.pick(if leaf { 2 } else { 5 }) {
                0 => ["true", "false"][self.pick(2) as usize].to_owned(),
                1 if !locals.is_empty() => locals[self.pick(locals.len() as u32) as usize].clone(),
                1 | 2 => format!("({} < {})", self.expr(Ty::Num, depth + 1), self.expr(Ty::Num, depth + 1)),
                3 => format!("not {}", self.expr(Ty::Bool, depth + 1)),
                _ => format!("({} == {})", self.expr(Ty::Str, depth + 1), self.expr(Ty::Str, depth + 1)),
            },
            Ty::Table => {
                format!("{{ n = {}, s = {} }}", self.expr(Ty::Num, depth + 1), self.expr(Ty::Str, depth + 1))
            }
            Ty::Hidden => "nil".to_owned(),
            Ty::Func => {
                let p = self.name();
                self.scopes.push(vec![(p.clone(), Ty::Num)]);
                let body = self.expr(Ty::Num, depth + 1);
                self.scopes.pop();
                format!("function({p}) return {body} end")
            }
        }
    }

    fn line(&mut self, s: &str) {
        let _ = writeln!(self.out, "{}{s}", "  ".repeat(self.depth));
    }

    fn block(&mut self, statements: usize) {
        self.scopes.push(Vec::new());
        self.inline(statements);
        self.scopes.pop();
    }

    /// Statements in the current scope, one level deeper in the text.
    fn inline(&mut self, statements: usize) {
        self.depth += 1;
        for _ in 0..statements {
            self.statement();
        }
        self.depth -= 1;
    }

    fn ty(&mut self) -> Ty {
        [Ty::Num, Ty::Str, Ty::Bool, Ty::Table, Ty::Func][self.pick(5) as usize]
    }

    fn statement(&mut self) {
        let nested = self.depth < 4;
        match self.pick(if nested { 12 } else { 4 }) {
            0 | 1 => {
                let ty = self.ty();
                let name = self.name();
                let e = self.expr(ty, 0);
                self.line(&format!("local {name} = {e}"));
                self.declare(&name, ty);
            }
            2 => {
                let ty = [Ty::Num, Ty::Str, Ty::Bool][self.pick(3) as usize];
                let e = self.expr(ty, 0);
                self.line(&format!("emit({e})"));
            }
            3 => {
                // Loop counters (`w1`, ...) are never assigned, so loops end.
                let nums: Vec<String> =
                    self.visible(Ty::Num).into_iter().filter(|n| !n.starts_with('w')).collect();
                if let Some(n) = nums.first().cloned() {
                    let e = self.expr(Ty::Num, 1);
                    self.line(&format!("{n} = {e}"));
                } else {
                    self.line("emit('none')");
                }
            }
            4 => {
                let c = self.expr(Ty::Bool, 0);
                self.line(&format!("if {c} then"));
                self.block(2);
                self.line("else");
                self.block(1);
                self.line("end");
            }
            5 => {
                let v = self.name();
                let limit = self.pick(4);
                self.line(&format!("for {v} = 1, {limit} do"));
                self.scopes.push(vec![(v.clone(), Ty::Num)]);
                self.inline(2);
                self.scopes.pop();
                self.line("end");
            }
            6 => {
                self.line("do");
                self.block(2);
                self.line("end");
            }
            7 => {
                let name = self.name();
                let p = self.name();
                self.line(&format!("local function {name}({p})"));
                self.scopes.push(vec![(name.clone(), Ty::Hidden), (p.clone(), Ty::Num)]);
                self.inline(1);
                let r = self.expr(Ty::Num, 1);
                self.scopes.pop();
                self.line(&format!("  return {r}"));
                self.line("end");
                self.declare(&name, Ty::Func);
            }
            8 => {
                // Dead code, constant or defined.
                let c = ["false", "nil", "DEBUG", "not true", "TARGET == 'full'"][self.pick(5) as usize];
                self.line(&format!("if {c} then"));
                self.block(2);
                self.line("end");
            }
            9 => {
                // A loop with a `continue`-style goto and code after `break`.
                self.labels += 1;
                let label = format!("continue{}", self.labels);
                let c = self.expr(Ty::Bool, 1);
                self.line("for i = 1, 3 do");
                self.scopes.push(vec![("i".to_owned(), Ty::Num)]);
                self.line(&format!("  if {c} then goto {label} end"));
                self.inline(1);
                self.line("  if i == 3 then break; emit('after break') end");
                self.line(&format!("  ::{label}::"));
                self.scopes.pop();
                self.line("end");
            }
            10 => {
                self.loops += 1;
                let k = format!("w{}", self.loops);
                self.line(&format!("local {k} = 0"));
                self.declare(&k, Ty::Num);
                self.line(&format!("while {k} < 2 do"));
                self.line(&format!("  {k} = {k} + 1"));
                self.block(1);
                self.line("end");
            }
            _ => {
                let fs = self.visible(Ty::Func);
                if let Some(f) = fs.last().cloned() {
                    let e = self.expr(Ty::Num, 1);
                    self.line(&format!("emit({f}({e}))"));
                } else {
                    self.line("emit(0)");
                }
            }
        }
    }
}

/// A two-module program: `lib` exports generated functions, `main` uses them.
fn program(choices: &[u32]) -> (String, String) {
    let mut g =
        Gen { choices, at: 0, out: String::new(), scopes: vec![Vec::new()], depth: 0, labels: 0, loops: 0 };
    g.out
        .push_str("-- generated library\nlocal M = {}\nlocal function emit(x) R[#R + 1] = tostring(x) end\n");
    let n = g.pick(3) + 1;
    for k in 0..n {
        g.line(&format!("function M.f{k}(a, b)"));
        g.scopes.push(vec![("a".to_owned(), Ty::Num), ("b".to_owned(), Ty::Num)]);
        g.inline(3);
        let r = g.expr(Ty::Num, 1);
        g.scopes.pop();
        g.line(&format!("  return {r}"));
        g.line("end");
    }
    g.out.push_str("return M\n");
    let lib = std::mem::take(&mut g.out);
    g.scopes = vec![Vec::new()];
    g.out
        .push_str("R = {}\nlocal function emit(x) R[#R + 1] = tostring(x) end\nlocal lib = require('lib')\n");
    let statements = g.pick(12) + 3;
    for _ in 0..statements {
        g.statement();
    }
    for k in 0..n {
        let (x, y) = (g.expr(Ty::Num, 1), g.expr(Ty::Num, 1));
        g.line(&format!("emit(lib.f{k}({x}, {y}))"));
    }
    (lib, g.out)
}

fn long_string(text: &str) -> String {
    let mut level = 0;
    while text.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[\n{text}]{eq}]")
}

/// Runs the sources unbundled: `Ok(result)` or `Err(error)`.
fn run_sources(lib: &str, main: &str) -> Result<String, String> {
    let ao = LocalAo::new();
    let p = ao.spawn_aos("DEBUG = false\nTARGET = 'shard'").map_err(|e| e.to_string())?;
    let load = format!(
        "package.preload['lib'] = assert(load({}, '@lib.lua'))\npackage.preload['main'] = assert(load({}, '@main.lua'))",
        long_string(lib),
        long_string(main)
    );
    let r = ao.eval(&p, &load).map_err(|e| e.to_string())?;
    if let Some(e) = r.error {
        return Err(e);
    }
    run_in(&ao, &p, "require('main')")
}

fn run_in(ao: &LocalAo, p: &ao_transport::ProcessId, code: &str) -> Result<String, String> {
    let r = ao.eval(p, code).map_err(|e| e.to_string())?;
    if let Some(e) = r.error {
        return Err(e);
    }
    let out = ao.eval(p, "table.concat(R, ',')").map_err(|e| e.to_string())?;
    out.error.map_or(Ok(out.output), Err)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn generated_programs_run_the_same_bundled(
        choices in prop::collection::vec(any::<u32>(), 0..300),
        dce in any::<bool>(),
        minify in any::<bool>(),
    ) {
        let (lib, main) = program(&choices);
        let expected = run_sources(&lib, &main);
        let project = MemoryLoader::new().file("lib.lua", lib.clone()).file("main.lua", main.clone());
        let options = BundleOptions::new("main")
            .define("DEBUG", Define::Bool(false))
            .define("TARGET", Define::Str("shard".into()))
            .dce(dce)
            .minify(minify);
        let built = bundle(&project, &options);
        prop_assert!(built.is_ok(), "{:?}\n{lib}\n{main}", built.err().map(|e| e.to_string()));
        let built = built.unwrap_or_else(|_| unreachable!());
        let ao = LocalAo::new();
        let p = ao.spawn_aos("").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got = run_in(&ao, &p, &built.code);
        match (&expected, &got) {
            (Ok(want), Ok(have)) => prop_assert_eq!(want, have, "\n{}\n{}\n--- bundle ---\n{}", lib, main, built.code),
            // Where the sources fail (an integer overflow into a float
            // comparison, say) the bundle must fail too.
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "sources {expected:?}, bundle {got:?}\n{lib}\n{main}\n--- bundle ---\n{}", built.code),
        }
    }
}

#[test]
fn the_generator_makes_programs_that_run() {
    // Most generated programs must run without error, or the property above
    // would test little.
    let mut ran = 0;
    for seed in 0..40u32 {
        let choices: Vec<u32> =
            (0..300u32).map(|i| i.wrapping_mul(2_654_435_761).wrapping_add(seed * 97) ^ seed).collect();
        let (lib, main) = program(&choices);
        if run_sources(&lib, &main).is_ok() {
            ran += 1;
        }
    }
    assert!(ran >= 30, "only {ran} of 40 generated programs ran");
}
