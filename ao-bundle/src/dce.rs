//! Removing unused locals: `local function`s nothing calls and locals nothing
//! reads, when their initialisers have no side effects.
//!
//! Every name is resolved to its binding ([`crate::scope`]). A declaration is
//! *live* when a use of one of its names sits in code that runs regardless
//! (outside any removable declaration) or inside another live declaration;
//! liveness spreads along those uses until nothing changes, so a helper used
//! only by an unused helper goes too, and so do mutually recursive functions
//! nothing else calls. What is not live is removed, its lines kept as empty
//! lines so the line map stays exact.
//!
//! Conservative by design: an initialiser is removable only when it is
//! *pure* — literals, `...`, function expressions, reads of locals, `not`,
//! `and`/`or`, arithmetic and `..` on literals, and table constructors of
//! those with literal keys. Reading a global goes through `_ENV`, which may
//! have an `__index` metamethod, and indexing or calling anything may run
//! code, so none of those are pure. A local named `_ENV` is always kept (every
//! global access reads it), and a module that mentions the global `debug` is
//! left alone entirely (`debug.getlocal` can observe any local).

use full_moon::ast::punctuated::Punctuated;
use full_moon::ast::{Ast, BinOp, Expression, Field, LocalAssignment, LocalFunction, UnOp, Var};
use full_moon::node::Node;
use full_moon::tokenizer::TokenReference;
use full_moon::visitors::Visitor;

use crate::fold::{Edit, Removal, end_of, line_of, newlines, removed_statement, start_of};
use crate::scope::{self, Scopes};

/// Edits that remove every unused declaration of `ast` (whose text is `text`).
pub(crate) fn plan(ast: &Ast, text: &str, scopes: &Scopes) -> Vec<Edit> {
    if scopes.globals.contains("debug") {
        return Vec::new();
    }
    let mut finder = Finder { scopes, units: Vec::new(), regions: Vec::new(), decls: Vec::new() };
    finder.visit_ast(ast);
    let Finder { units, regions, decls, .. } = finder;
    let live = liveness(scopes, &units, regions);
    let mut edits = Vec::new();
    for decl in &decls {
        decl.edits(text, &live, &mut edits);
    }
    edits
}

/// A group of bindings that is removed or kept as one.
struct Unit {
    bindings: Vec<usize>,
    /// Kept whatever is used (a local `_ENV`).
    pinned: bool,
}

/// A byte range whose uses belong to a unit: using a name there makes that
/// name live only if the unit is live.
#[derive(Clone, Copy)]
struct Region {
    start: usize,
    end: usize,
    unit: usize,
}

/// A removable declaration statement.
enum Decl {
    /// `local function name ... end`: one unit.
    Function { unit: usize, name: String, start: usize, end: usize, line: usize },
    /// `local a, b = x, y`: one unit per name when names and values pair up,
    /// else one unit for the whole statement.
    Locals {
        /// Each name's token range and unit.
        names: Vec<(usize, usize, usize, String)>,
        /// Each value's range.
        values: Vec<(usize, usize)>,
        /// Whether names pair with values one to one (else all share one unit).
        paired: bool,
        start: usize,
        end: usize,
        line: usize,
    },
}

struct Finder<'a> {
    scopes: &'a Scopes,
    units: Vec<Unit>,
    regions: Vec<Region>,
    decls: Vec<Decl>,
}

impl Finder<'_> {
    fn binding(&self, token: &TokenReference) -> Option<usize> {
        scope::offset(token).and_then(|at| self.scopes.by_site.get(&at).copied())
    }

    fn unit(&mut self, bindings: Vec<usize>) -> usize {
        let pinned = bindings.iter().any(|&b| self.scopes.bindings[b].name == "_ENV");
        self.units.push(Unit { bindings, pinned });
        self.units.len() - 1
    }

    /// Whether evaluating `e` can have no effect and raise no error.
    fn pure(&self, e: &Expression) -> bool {
        match e {
            Expression::Symbol(_)
            | Expression::Number(_)
            | Expression::String(_)
            | Expression::Function(_) => true,
            Expression::Parentheses { expression, .. } => self.pure(expression),
            Expression::Var(Var::Name(t)) => self.binding(t).is_some(),
            Expression::TableConstructor(t) => t.fields().iter().all(|f| match f {
                Field::NameKey { value, .. } => self.pure(value),
                Field::NoKey(value) => self.pure(value),
                Field::ExpressionKey { key, value, .. } => {
                    matches!(unparen(key), Expression::Number(_) | Expression::String(_)) && self.pure(value)
                }
                _ => false,
            }),
            Expression::UnaryOperator { unop, expression } => match unop {
                UnOp::Not(_) => self.pure(expression),
                UnOp::Minus(_) => is_number(expression),
                UnOp::Hash(_) => matches!(unparen(expression), Expression::String(_)),
                _ => false,
            },
            Expression::BinaryOperator { lhs, binop, rhs } => match binop {
                BinOp::And(_) | BinOp::Or(_) => self.pure(lhs) && self.pure(rhs),
                BinOp::TwoEqual(_) | BinOp::TildeEqual(_) => is_literal(lhs) && is_literal(rhs),
                // Float arithmetic never raises; `//` and `%` do on an integer zero.
                BinOp::Plus(_) | BinOp::Minus(_) | BinOp::Star(_) | BinOp::Slash(_) | BinOp::Caret(_) => {
                    is_number(lhs) && is_number(rhs)
                }
                BinOp::TwoDots(_) => is_concatenable(lhs) && is_concatenable(rhs),
                _ => false,
            },
            _ => false,
        }
    }
}

fn unparen(e: &Expression) -> &Expression {
    match e {
        Expression::Parentheses { expression, .. } => unparen(expression),
        other => other,
    }
}

/// A number literal, or negation and float-safe arithmetic of them.
fn is_number(e: &Expression) -> bool {
    match unparen(e) {
        Expression::Number(_) => true,
        Expression::UnaryOperator { unop: UnOp::Minus(_), expression } => is_number(expression),
        Expression::BinaryOperator {
            lhs,
            binop: BinOp::Plus(_) | BinOp::Minus(_) | BinOp::Star(_) | BinOp::Slash(_) | BinOp::Caret(_),
            rhs,
        } => is_number(lhs) && is_number(rhs),
        _ => false,
    }
}

fn is_literal(e: &Expression) -> bool {
    is_number(e) || matches!(unparen(e), Expression::String(_) | Expression::Symbol(_))
}

fn is_concatenable(e: &Expression) -> bool {
    match unparen(e) {
        Expression::String(_) => true,
        Expression::BinaryOperator { lhs, binop: BinOp::TwoDots(_), rhs } => {
            is_concatenable(lhs) && is_concatenable(rhs)
        }
        other => is_number(other),
    }
}

/// Token ranges of a list's elements.
fn ranges<T: Node>(list: &Punctuated<T>) -> Option<Vec<(usize, usize)>> {
    list.iter().map(|item| Some((start_of(item)?, end_of(item)?))).collect()
}

impl Visitor for Finder<'_> {
    fn visit_local_function(&mut self, node: &LocalFunction) {
        let (Some(binding), Some(start), Some(end), Some(body_start)) =
            (self.binding(node.name()), start_of(node), end_of(node), start_of(node.body()))
        else {
            return;
        };
        let unit = self.unit(vec![binding]);
        // The body's uses (also of the function's own name) count only if it is live.
        self.regions.push(Region { start: body_start, end, unit });
        self.decls.push(Decl::Function {
            unit,
            name: node.name().token().to_string(),
            start,
            end,
            line: line_of(node),
        });
    }

    fn visit_local_assignment(&mut self, node: &LocalAssignment) {
        if !node.expressions().iter().all(|e| self.pure(e)) {
            return;
        }
        let (Some(start), Some(end), Some(name_ranges), Some(values)) =
            (start_of(node), end_of(node), ranges(node.names()), ranges(node.expressions()))
        else {
            return;
        };
        let Some(bindings): Option<Vec<usize>> = node.names().iter().map(|t| self.binding(t)).collect()
        else {
            return;
        };
        let texts: Vec<String> = node.names().iter().map(|t| t.token().to_string()).collect();
        // `local a, b = ...` spreads one value over several names; more values
        // than names are evaluated and dropped. Either way, all or nothing.
        let multi = node
            .expressions()
            .iter()
            .last()
            .is_some_and(|e| matches!(e, Expression::Symbol(t) if t.token().to_string() == "..."));
        let paired = (values.len() == bindings.len() || values.is_empty()) && !multi;
        let mut names = Vec::new();
        if paired {
            for (i, &b) in bindings.iter().enumerate() {
                let unit = self.unit(vec![b]);
                if let Some(&(s, e)) = values.get(i) {
                    self.regions.push(Region { start: s, end: e, unit });
                }
                names.push((name_ranges[i].0, name_ranges[i].1, unit, texts[i].clone()));
            }
        } else {
            let unit = self.unit(bindings);
            for &(s, e) in &values {
                self.regions.push(Region { start: s, end: e, unit });
            }
            for (i, &(s, e)) in name_ranges.iter().enumerate() {
                names.push((s, e, unit, texts[i].clone()));
            }
        }
        self.decls.push(Decl::Locals { names, values, paired, start, end, line: line_of(node) });
    }
}

/// Which units are live.
fn liveness(scopes: &Scopes, units: &[Unit], mut regions: Vec<Region>) -> Vec<bool> {
    let mut unit_of = vec![None; scopes.bindings.len()];
    for (u, unit) in units.iter().enumerate() {
        for &b in &unit.bindings {
            unit_of[b] = Some(u);
        }
    }
    // Every use, with the unit its place belongs to (innermost region).
    let mut uses: Vec<(usize, usize)> = scopes
        .bindings
        .iter()
        .enumerate()
        .flat_map(|(b, binding)| binding.uses().iter().map(move |&at| (at, b)))
        .collect();
    uses.sort_unstable();
    regions.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); units.len()];
    let mut live = vec![false; units.len()];
    let mut work: Vec<usize> = Vec::new();
    for (u, unit) in units.iter().enumerate() {
        if unit.pinned {
            live[u] = true;
            work.push(u);
        }
    }
    let mut open: Vec<Region> = Vec::new();
    let mut next = 0;
    for &(at, b) in &uses {
        while next < regions.len() && regions[next].start <= at {
            let r = regions[next];
            while open.last().is_some_and(|o| o.end <= r.start) {
                open.pop();
            }
            open.push(r);
            next += 1;
        }
        while open.last().is_some_and(|o| o.end <= at) {
            open.pop();
        }
        let Some(target) = unit_of[b] else { continue };
        match open.last() {
            Some(owner) => edges[owner.unit].push(target),
            None => {
                if !live[target] {
                    live[target] = true;
                    work.push(target);
                }
            }
        }
    }
    while let Some(u) = work.pop() {
        for &t in &edges[u] {
            if !live[t] {
                live[t] = true;
                work.push(t);
            }
        }
    }
    live
}

impl Decl {
    fn edits(&self, text: &str, live: &[bool], out: &mut Vec<Edit>) {
        match self {
            Decl::Function { unit, name, start, end, line } => {
                if !live[*unit] {
                    out.push(removed_statement(
                        text,
                        *start,
                        *end,
                        Removal {
                            what: format!("unused local function {name}"),
                            line: *line,
                            bytes: end - start,
                        },
                    ));
                }
            }
            Decl::Locals { names, values, paired, start, end, line } => {
                let dead: Vec<bool> = names.iter().map(|n| !live[n.2]).collect();
                if dead.iter().all(|d| *d) {
                    let list: Vec<&str> = names.iter().map(|n| n.3.as_str()).collect();
                    out.push(removed_statement(
                        text,
                        *start,
                        *end,
                        Removal {
                            what: format!("unused local {}", list.join(", ")),
                            line: *line,
                            bytes: end - start,
                        },
                    ));
                    return;
                }
                if !*paired || !dead.iter().any(|d| *d) {
                    return;
                }
                let name_ranges: Vec<(usize, usize)> = names.iter().map(|n| (n.0, n.1)).collect();
                let first = out.len();
                drop_elements(text, &name_ranges, &dead, out);
                if !values.is_empty() {
                    drop_elements(text, values, &dead, out);
                }
                // Each dropped name's edit records what went.
                for (i, n) in names.iter().enumerate().filter(|(i, _)| dead[*i]) {
                    let bytes = (n.1 - n.0) + values.get(i).map_or(0, |v| v.1 - v.0);
                    if let Some(edit) = out[first..].iter_mut().find(|e| e.start == n.0) {
                        edit.removal =
                            Some(Removal { what: format!("unused local {}", n.3), line: *line, bytes });
                    }
                }
            }
        }
    }
}

/// Edits that drop the `dead` elements of a comma-separated list (element
/// ranges given), keeping the others and one comma between each kept pair.
/// Lines stay where they were.
fn drop_elements(text: &str, elements: &[(usize, usize)], dead: &[bool], out: &mut Vec<Edit>) {
    for (i, &(s, e)) in elements.iter().enumerate() {
        if dead[i] {
            out.push(Edit { start: s, end: e, text: newlines(&text[s..e]), removal: None });
        }
        if let Some(&(next, _)) = elements.get(i + 1) {
            // The separator before the next element: a comma only if a kept
            // element comes before it and the next one is kept.
            let kept_before = dead[..=i].iter().any(|d| !*d);
            let sep = &text[e..next];
            let new = if kept_before && !dead[i + 1] { format!(",{}", newlines(sep)) } else { newlines(sep) };
            if new != sep {
                out.push(Edit { start: e, end: next, text: new, removal: None });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::fold::fold;

    fn dce(src: &str) -> String {
        let out = fold("t.lua", src, &BTreeMap::new(), true, false).unwrap().text;
        assert_eq!(out.matches('\n').count(), src.matches('\n').count(), "lines kept:\n{src}\n---\n{out}");
        out
    }

    #[test]
    fn table_of_removals() {
        let cases = [
            ("local unused = 1\nreturn 2", "\nreturn 2"),
            ("local used = 1\nreturn used", "local used = 1\nreturn used"),
            ("local function helper() return 1 end\nreturn 2", "\nreturn 2"),
            // Liveness spreads: a helper used only by an unused helper goes too.
            ("local function a() return 1 end\nlocal function b() return a() end\nreturn 0", "\n\nreturn 0"),
            ("local function r(n) return r(n - 1) end\nreturn 0", "\nreturn 0"),
            ("local big = {}\nlocal f = function() return big end\nreturn 1", "\n\nreturn 1"),
            ("local a, b = 1, 2\nreturn b", "local b = 2\nreturn b"),
            ("local a, b, c = 1, 2, 3\nreturn a + c", "local a,c = 1,3\nreturn a + c"),
            ("local a, b\nreturn a", "local a\nreturn a"),
            ("local x = ...\nreturn 1", "\nreturn 1"),
            ("local t = { a = 1, [2] = 3, 's', { -4.5 } }\nreturn 0", "\nreturn 0"),
            ("local s = 1 .. 'a' .. 2.5\nreturn 0", "\nreturn 0"),
            ("return function() local tmp = not true return 2 end", "return function()  return 2 end"),
            ("local x = 1\ndo local x = 2 end\nreturn x", "local x = 1\ndo  end\nreturn x"),
            // A `(` after a removed statement must not become a call of what came before.
            ("f = g\nlocal x = 1\n(print)(2)", "f = g\n;\n(print)(2)"),
            ("f = g\nlocal x = 1 -- c\n--[[ x ]] (print)(2)", "f = g\n; -- c\n--[[ x ]] (print)(2)"),
        ];
        for (src, expected) in cases {
            assert_eq!(dce(src), expected, "{src}");
        }
    }

    #[test]
    fn anything_with_an_effect_stays() {
        for src in [
            "local x = f()\nreturn 1",
            "local x = g\nreturn 1",
            "local x = t.k\nreturn 1",
            "local t = { [k] = 1 }\nreturn 1",
            "local x = 'a' + 1\nreturn 1",
            "local x = 1 // 0\nreturn 1",
            "local x = #t\nreturn 1",
            "local a, b = ...\nreturn a",
            "local a, b = 1, f()\nreturn a",
            "local x = 1\nx = 2",
            "local _ENV = { print = print }\nprint(1)",
            "local x = 1\nlocal d = debug.getlocal(1, 1)\nreturn d",
        ] {
            assert_eq!(dce(src), src);
        }
    }

    #[test]
    fn records_names_and_lines() {
        let src = "local M = {}\nlocal function unused() end\nlocal a, b = 1, 2\nreturn M, a";
        let removed = fold("t.lua", src, &BTreeMap::new(), true, false).unwrap().removed;
        let got: Vec<(&str, usize)> = removed.iter().map(|r| (r.what.as_str(), r.line)).collect();
        assert_eq!(got, [("unused local function unused", 2), ("unused local b", 3)]);
    }

    #[test]
    fn off_means_untouched() {
        let src = "local unused = 1\nif false then x() end\nreturn 2";
        assert_eq!(fold("t.lua", src, &BTreeMap::new(), false, false).unwrap().text, src);
    }
}
