//! `define` constants and constant folding of `if` statements, as text edits
//! that keep every line where it was, so the line map stays exact.
//!
//! A define substitutes a global name (`DEBUG = false`, `TARGET = "shard"`) in
//! a module only where that is safe: a module that declares a local, a
//! parameter or a loop variable of that name, or assigns the global, is left
//! alone. Then `if` chains whose conditions are constant (literals, defines,
//! `not`, `==`, `~=`, `and`, `or`, parentheses) are folded: branches that can
//! never run are removed, a branch that always runs becomes `do ... end` (its
//! locals keep their scope). Statements after a `break` in the same block
//! are removed too, up to a label (a `goto` may still reach what follows it).
//! Folding runs to a fixed point, so nested constant `if`s fold too. It runs
//! before `require`s are collected, so modules required only from dead code
//! are not bundled.

use std::collections::{BTreeMap, BTreeSet};

use full_moon::ast::{
    Assignment, Ast, BinOp, Block, Expression, FunctionBody, GenericFor, If, LastStmt, LocalAssignment,
    LocalFunction, NumericFor, Parameter, Stmt, UnOp, Var,
};
use full_moon::node::Node;
use full_moon::tokenizer::{Position, TokenReference, TokenType};
use full_moon::visitors::Visitor;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::parse::{self, Parsed};

/// Most folding passes per module; each removes at least one `if`, so real
/// sources finish long before.
const MAX_PASSES: usize = 64;

/// A constant value for a `define`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Define {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
}

impl Define {
    fn lua(&self) -> String {
        match self {
            Define::Bool(b) => b.to_string(),
            // Parenthesised when negative: `-LEVEL` must not become `--5`, a comment.
            Define::Int(i) if *i < 0 => format!("({i})"),
            Define::Int(i) => i.to_string(),
            Define::Str(s) => format!("{s:?}"),
        }
    }
}

/// Something folding removed, for the size report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// What was removed (`if branch`, `if statement`).
    pub what: String,
    /// The line it started on.
    pub line: usize,
    /// Bytes removed.
    pub bytes: usize,
}

/// A value known while folding.
#[derive(Debug, Clone, PartialEq)]
enum Const {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
}

impl Const {
    fn truthy(&self) -> bool {
        !matches!(self, Const::Nil | Const::Bool(false))
    }
}

/// A replacement of `source[start..end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
    pub(crate) removal: Option<Removal>,
}

/// An edit removing the statement at `start..end`, keeping its lines. When
/// the next token opens a parenthesis, a `;` stays behind: without it,
/// `x = f` followed by `(g)()` would read as the call `f(g)()`.
pub(crate) fn removed_statement(text: &str, start: usize, end: usize, removal: Removal) -> Edit {
    let mut new = newlines(&text[start..end]);
    if next_significant(text, end) == Some(b'(') {
        new.insert(0, ';');
    }
    Edit { start, end, text: new, removal: Some(removal) }
}

/// The first byte at or after `at` that is not whitespace or a comment.
fn next_significant(text: &str, mut at: usize) -> Option<u8> {
    let b = text.as_bytes();
    loop {
        while b.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        if !(b.get(at) == Some(&b'-') && b.get(at + 1) == Some(&b'-')) {
            return b.get(at).copied();
        }
        at += 2;
        let level = long_bracket(b, at);
        match level {
            Some(level) => {
                let close = format!("]{}]", "=".repeat(level));
                at = text[at..].find(&close).map_or(b.len(), |i| at + i + close.len());
            }
            None => at = text[at..].find('\n').map_or(b.len(), |i| at + i),
        }
    }
}

/// The level of a long bracket `[==[` opening at `at`.
fn long_bracket(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) != Some(&b'[') {
        return None;
    }
    let level = b[at + 1..].iter().take_while(|&&c| c == b'=').count();
    (b.get(at + 1 + level) == Some(&b'[')).then_some(level)
}

/// One module after [`fold`]: its new text, what was removed, and what
/// parsing that text found.
#[derive(Debug)]
pub(crate) struct Folded {
    pub(crate) text: String,
    pub(crate) removed: Vec<Removal>,
    pub(crate) parsed: Parsed,
    /// The text minified, when asked for: made from the same tree as `parsed`.
    pub(crate) minified: Option<crate::minify::Minified>,
}

/// Applies `defines` to one module and, with `dce`, removes dead code:
/// constant `if`s folded, statements after `break`/`return`/`goto` removed,
/// unused locals removed, all to a fixed point. The text keeps its line count.
pub(crate) fn fold(
    file: &str,
    source: &str,
    defines: &BTreeMap<String, Define>,
    dce: bool,
    minify: bool,
) -> Result<Folded, Error> {
    let mut text = source.to_owned();
    let mut removed = Vec::new();
    let mut pass = 0;
    loop {
        let defines = defines.clone();
        let last = pass + 1 >= MAX_PASSES;
        // Edits index the text the tree was parsed from, which is returned with them.
        let (edits, base, done) = parse::with_ast(file, &text, move |file, base, ast| {
            let mut edits = if last { Vec::new() } else { plan(ast, base, &defines, dce) };
            // One resolution serves dead-code elimination, the scan and the minifier.
            let scopes = edits.is_empty().then(|| crate::scope::resolve(ast));
            if let Some(scopes) = scopes.as_ref().filter(|_| edits.is_empty() && dce && !last) {
                edits = outermost(crate::dce::plan(ast, base, scopes));
            }
            match scopes.filter(|_| edits.is_empty()) {
                // A fixed point: this tree is the final text's.
                Some(scopes) => {
                    let parsed = parse::scan(file, ast, &scopes);
                    let minified = minify.then(|| crate::minify::minify_ast(base, ast, &scopes, true));
                    (edits, String::new(), Some((parsed, minified)))
                }
                None => (edits, base.to_owned(), None),
            }
        })?;
        if let Some((parsed, minified)) = done {
            return Ok(Folded { text, removed, parsed, minified });
        }
        text = apply(&base, &edits, &mut removed);
        pass += 1;
    }
}

/// The edits of one pass: non-overlapping, sorted by position. Without `dce`
/// only `defines` are substituted.
fn plan(ast: &Ast, source: &str, defines: &BTreeMap<String, Define>, dce: bool) -> Vec<Edit> {
    let mut names = Names::default();
    names.visit_ast(ast);
    let active: BTreeMap<&str, &Define> = defines
        .iter()
        .filter(|(n, _)| !names.locals.contains(n.as_str()) && !names.assigned.contains(n.as_str()))
        .map(|(n, d)| (n.as_str(), d))
        .collect();
    let mut planner = Planner { source, active, dce, edits: Vec::new() };
    planner.visit_ast(ast);
    outermost(planner.edits)
}

/// Outer edits first; inner ones inside an edited range wait for the next pass.
fn outermost(mut edits: Vec<Edit>) -> Vec<Edit> {
    edits.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept: Vec<Edit> = Vec::new();
    for e in edits {
        if kept.last().is_none_or(|k| e.start >= k.end) {
            kept.push(e);
        }
    }
    kept
}

fn apply(source: &str, edits: &[Edit], removed: &mut Vec<Removal>) -> String {
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    for e in edits {
        out.push_str(&source[at..e.start]);
        out.push_str(&e.text);
        at = e.end;
        if let Some(r) = &e.removal {
            removed.push(r.clone());
        }
    }
    out.push_str(&source[at..]);
    out
}

/// Only the newlines of `s`: what a removed range leaves so lines stay put.
pub(crate) fn newlines(s: &str) -> String {
    s.chars().filter(|&c| c == '\n').collect()
}

pub(crate) fn start_of(node: &impl Node) -> Option<usize> {
    node.start_position().map(Position::bytes)
}

pub(crate) fn end_of(node: &impl Node) -> Option<usize> {
    node.end_position().map(Position::bytes)
}

pub(crate) fn line_of(node: &impl Node) -> usize {
    node.start_position().map_or(0, Position::line)
}

/// Names a module declares as locals anywhere, and globals it assigns.
#[derive(Default)]
struct Names {
    locals: BTreeSet<String>,
    assigned: BTreeSet<String>,
}

fn name_of(token: &TokenReference) -> String {
    token.token().to_string()
}

impl Visitor for Names {
    fn visit_local_assignment(&mut self, node: &LocalAssignment) {
        self.locals.extend(node.names().iter().map(name_of));
    }
    fn visit_local_function(&mut self, node: &LocalFunction) {
        self.locals.insert(name_of(node.name()));
    }
    fn visit_function_body(&mut self, node: &FunctionBody) {
        for p in node.parameters() {
            if let Parameter::Name(t) = p {
                self.locals.insert(name_of(t));
            }
        }
    }
    fn visit_numeric_for(&mut self, node: &NumericFor) {
        self.locals.insert(name_of(node.index_variable()));
    }
    fn visit_generic_for(&mut self, node: &GenericFor) {
        self.locals.extend(node.names().iter().map(name_of));
    }
    fn visit_assignment(&mut self, node: &Assignment) {
        for v in node.variables() {
            if let Var::Name(t) = v {
                self.assigned.insert(name_of(t));
            }
        }
    }
}

struct Planner<'a> {
    source: &'a str,
    active: BTreeMap<&'a str, &'a Define>,
    /// Fold `if`s and remove unreachable code (else only substitute defines).
    dce: bool,
    edits: Vec<Edit>,
}

impl Planner<'_> {
    fn eval(&self, e: &Expression) -> Option<Const> {
        match e {
            Expression::Symbol(t) => match t.token().to_string().as_str() {
                "true" => Some(Const::Bool(true)),
                "false" => Some(Const::Bool(false)),
                "nil" => Some(Const::Nil),
                _ => None,
            },
            Expression::Number(t) => t.token().to_string().parse::<i64>().ok().map(Const::Int),
            Expression::String(t) => match t.token_type() {
                TokenType::StringLiteral { literal, .. } if !literal.contains('\\') => {
                    Some(Const::Str(literal.to_string()))
                }
                _ => None,
            },
            Expression::Var(Var::Name(t)) => self.active.get(name_of(t).as_str()).map(|d| match d {
                Define::Bool(b) => Const::Bool(*b),
                Define::Int(i) => Const::Int(*i),
                Define::Str(s) => Const::Str(s.clone()),
            }),
            Expression::Parentheses { expression, .. } => self.eval(expression),
            Expression::UnaryOperator { unop: UnOp::Not(_), expression } => {
                self.eval(expression).map(|c| Const::Bool(!c.truthy()))
            }
            Expression::BinaryOperator { lhs, binop, rhs } => match binop {
                BinOp::And(_) => {
                    let l = self.eval(lhs)?;
                    if l.truthy() { self.eval(rhs) } else { Some(l) }
                }
                BinOp::Or(_) => {
                    let l = self.eval(lhs)?;
                    if l.truthy() { Some(l) } else { self.eval(rhs) }
                }
                BinOp::TwoEqual(_) => Some(Const::Bool(self.eval(lhs)? == self.eval(rhs)?)),
                BinOp::TildeEqual(_) => Some(Const::Bool(self.eval(lhs)? != self.eval(rhs)?)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Whether control never continues past `stmt`: a `goto`, or a `do` block
/// ending in `break` or `return` (the parser sees every `break` as
/// `do break end`, and `do return end` is how Lua returns early).
fn is_terminator(stmt: &Stmt) -> bool {
    match stmt {
        Stmt::Goto(_) => true,
        Stmt::Do(d) => matches!(d.block().last_stmt(), Some(LastStmt::Break(_) | LastStmt::Return(_))),
        _ => false,
    }
}

impl Visitor for Planner<'_> {
    fn visit_block(&mut self, block: &Block) {
        if !self.dce {
            return;
        }
        let stmts: Vec<&Stmt> = block.stmts().collect();
        let Some(at) = stmts.iter().position(|s| is_terminator(s)) else { return };
        let mut dead: Vec<(usize, usize)> = Vec::new();
        let mut reached_label = false;
        for stmt in &stmts[at + 1..] {
            if matches!(stmt, Stmt::Label(_)) {
                reached_label = true;
                break;
            }
            if let (Some(s), Some(e)) = (start_of(*stmt), end_of(*stmt)) {
                dead.push((s, e));
            }
        }
        if !reached_label
            && let Some(last) = block.last_stmt()
            && let (Some(s), Some(e)) = (start_of(last), end_of(last))
        {
            dead.push((s, e));
        }
        let (Some(&(start, _)), Some(&(_, end))) = (dead.first(), dead.last()) else { return };
        let what = match stmts[at] {
            Stmt::Goto(_) => "goto",
            Stmt::Do(d) if matches!(d.block().last_stmt(), Some(LastStmt::Return(_))) => "return",
            _ => "break",
        };
        self.edits.push(removed_statement(
            self.source,
            start,
            end,
            Removal {
                what: format!("unreachable code after {what}"),
                line: line_of(stmts[at]),
                bytes: end - start,
            },
        ));
    }

    fn visit_expression(&mut self, e: &Expression) {
        if let Expression::Var(Var::Name(t)) = e
            && let Some(d) = self.active.get(name_of(t).as_str())
            && let (Some(start), Some(end)) = (start_of(t), end_of(t))
        {
            self.edits.push(Edit { start, end, text: d.lua(), removal: None });
        }
    }

    fn visit_if(&mut self, node: &If) {
        if !self.dce {
            return;
        }
        // The branches: (condition or None for else, the token starting it, the token ending its header).
        let mut branches: Vec<(Option<&Expression>, usize, usize)> = Vec::new();
        let (Some(if_start), Some(then_end), Some(if_end)) =
            (start_of(node.if_token()), end_of(node.then_token()), end_of(node.end_token()))
        else {
            return;
        };
        branches.push((Some(node.condition()), if_start, then_end));
        for ei in node.else_if().into_iter().flatten() {
            let (Some(s), Some(e)) = (start_of(ei.else_if_token()), end_of(ei.then_token())) else { return };
            branches.push((Some(ei.condition()), s, e));
        }
        if let Some(tok) = node.else_token() {
            let (Some(s), Some(e)) = (start_of(tok), end_of(tok)) else { return };
            branches.push((None, s, e));
        }
        let Some(end_start) = start_of(node.end_token()) else { return };
        // Where each branch's body ends: at the next branch's header, or at `end`.
        let body_end = |i: usize| branches.get(i + 1).map_or(end_start, |b| b.1);
        let values: Vec<Option<Const>> =
            branches.iter().map(|(c, _, _)| c.map_or(Some(Const::Bool(true)), |c| self.eval(c))).collect();
        let first_live = values.iter().position(|v| v.as_ref().is_none_or(Const::truthy));
        let src = self.source;
        let removal = |what: &str, from: usize, to: usize, line: usize| Removal {
            what: what.to_owned(),
            line,
            bytes: to - from,
        };
        match first_live {
            // Every branch is constant false: the statement goes.
            None => self.edits.push(removed_statement(
                src,
                if_start,
                if_end,
                removal("if statement", if_start, if_end, line_of(node)),
            )),
            Some(i) => {
                let (_, head_start, head_end) = branches[i];
                if values[i].as_ref().is_some_and(Const::truthy) {
                    // Always taken: `do <body> end`, everything else removed.
                    let body_stop = body_end(i);
                    let head = format!("do{}", newlines(&src[if_start..head_end]));
                    let tail = format!("end{}", newlines(&src[body_stop..if_end]));
                    let dropped = (head_end - if_start) + (if_end - body_stop);
                    self.edits.push(Edit {
                        start: if_start,
                        end: head_end,
                        text: head,
                        removal: Some(Removal {
                            what: "if branch".into(),
                            line: line_of(node),
                            bytes: dropped,
                        }),
                    });
                    self.edits.push(Edit { start: body_stop, end: if_end, text: tail, removal: None });
                } else if i > 0 {
                    // Leading dead branches go; the first live one becomes the `if`.
                    let cond_start = branches[i].0.and_then(start_of).unwrap_or(head_start);
                    self.edits.push(Edit {
                        start: if_start,
                        end: cond_start,
                        text: format!("if {}", newlines(&src[if_start..cond_start])),
                        removal: Some(removal("if branch", if_start, cond_start, line_of(node))),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defines() -> BTreeMap<String, Define> {
        BTreeMap::from([
            ("DEBUG".to_owned(), Define::Bool(false)),
            ("TARGET".to_owned(), Define::Str("shard".into())),
            ("LEVEL".to_owned(), Define::Int(2)),
            ("DEPTH".to_owned(), Define::Int(-3)),
        ])
    }

    fn folded(src: &str) -> String {
        let out = fold("t.lua", src, &defines(), true, false).unwrap().text;
        assert_eq!(out.matches('\n').count(), src.matches('\n').count(), "lines kept:\n{src}\n---\n{out}");
        out
    }

    #[test]
    fn table_of_folds() {
        let cases = [
            ("if DEBUG then print('d') end\nx = 1", "\nx = 1"),
            ("if DEBUG then\n  a()\nelse\n  b()\nend", "do\n\n\n  b()\nend"),
            ("if not DEBUG then a() end", "do a() end"),
            ("if TARGET == 'shard' then a() else b() end", "do a() end"),
            ("if TARGET ~= 'shard' then a() elseif LEVEL == 2 then b() end", "do b() end"),
            ("if DEBUG then a() elseif x then b() else c() end", "if x then b() else c() end"),
            ("if DEBUG and x then a() end", ""),
            ("if x and DEBUG then a() end", "if x and false then a() end"),
            ("if DEBUG or x then a() end", "if false or x then a() end"),
            ("return TARGET", "return \"shard\""),
            ("return -DEPTH + 1", "return -(-3) + 1"),
            ("if DEBUG then if LEVEL then a() end end\nb()", "\nb()"),
            ("if true then if not DEBUG then a() end end", "do do a() end end"),
        ];
        for (src, expected) in cases {
            assert_eq!(folded(src), expected, "{src}");
        }
    }

    #[test]
    fn code_after_break_return_or_goto_goes_up_to_a_label() {
        let none = BTreeMap::new();
        let cases = [
            ("while x do break; f() g() end", "while x do do break end;  end"),
            ("while x do\n  break\n  f()\n  return 1\nend", "while x do\n  do break end\n  \n\nend"),
            ("for i = 1, 2 do break ::l:: f() end", "for i = 1, 2 do break ::l:: f() end"),
            ("while x do if y then break end f() end", "while x do if y then break end f() end"),
            ("do return end\nf()\ng()", "do return end\n\n"),
            ("f()\ndo log('x') return 1 end\ng()", "f()\ndo log('x') return 1 end\n"),
            (
                "for i = 1, 3 do\n  if i == 2 then goto continue end\n  goto continue\n  f(i)\n  ::continue::\nend",
                "for i = 1, 3 do\n  if i == 2 then goto continue end\n  goto continue\n  \n  ::continue::\nend",
            ),
            ("do return end\n(f)()", "do return end\n"),
        ];
        for (src, expected) in cases {
            let out = fold("t.lua", src, &none, true, false).unwrap().text;
            assert_eq!(out, expected, "{src}");
            assert_eq!(out.matches('\n').count(), src.matches('\n').count());
        }
        let removed = fold("t.lua", "while x do\n  break\n  f()\nend", &none, true, false).unwrap().removed;
        assert_eq!(removed, [Removal { what: "unreachable code after break".into(), line: 2, bytes: 3 }]);
    }

    #[test]
    fn shadowed_or_assigned_names_are_left_alone() {
        for src in [
            "local DEBUG = true\nif DEBUG then a() end",
            "function f(DEBUG) if DEBUG then a() end end",
            "for DEBUG = 1, 2 do if DEBUG then a() end end",
            "DEBUG = true\nif DEBUG then a() end",
        ] {
            assert_eq!(folded(src), src, "{src}");
        }
    }

    #[test]
    fn records_what_was_removed() {
        let removed =
            fold("t.lua", "x = 1\nif DEBUG then\n  heavy()\nend\n", &defines(), true, false).unwrap().removed;
        assert_eq!(removed, [Removal { what: "if statement".into(), line: 2, bytes: 27 }]);
    }

    #[test]
    fn no_defines_no_change() {
        let src = "if DEBUG then a() end";
        assert_eq!(fold("t.lua", src, &BTreeMap::new(), true, false).unwrap().text, src);
    }
}
