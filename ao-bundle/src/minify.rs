//! Minification that keeps every line of code on its own line.
//!
//! Comments and whitespace go and each token is written with only the
//! separators Lua needs. Lines left empty are dropped, and the output records
//! which source line each of its lines came from, so the line map stays exact:
//! Lua reports errors by line only, so a line of code never shares a line with
//! code from another source line. On top of that, rewrites that mean the same
//! in Lua 5.3:
//!
//! - locals are renamed to short names ([`crate::rename`]);
//! - each quoted string takes the quote that needs fewer escapes;
//! - a call with one string or table argument drops its parentheses
//!   (`f("x")` → `f"x"`, `f({...})` → `f{...}`);
//! - an index or key that is a plain name is written as one
//!   (`t["x"]` → `t.x`, `{["x"] = 1}` → `{x=1}`);
//! - `local a = nil` → `local a`;
//! - a run of `local` statements joins the first one when what it moves can
//!   raise no error (constants, locals, tables of those, on one line) and
//!   reads none of the names declared before it in the run:
//!   `local a = f()` + `local b = 0` → `local a,b=f(),0`. Lua attributes the
//!   moved instructions to the first line, which is fine because they cannot fail.

use crate::fasthash::{FastMap, FastSet};

use full_moon::ast::{
    Block, Call, Expression, Field, FunctionArgs, Index, LocalAssignment, MethodCall, Stmt, Suffix,
};
use full_moon::node::Node;
use full_moon::tokenizer::{TokenReference, TokenType};
use full_moon::visitors::Visitor;

#[cfg(test)]
use crate::error::Error;
#[cfg(test)]
use crate::parse;
use crate::scope::{self, Scopes};

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local",
    "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// A minified module, and where its tokens and lines came from.
#[derive(Debug)]
pub(crate) struct Minified {
    pub(crate) text: String,
    /// For each output line, the (1-based) input line it came from.
    pub(crate) lines: Vec<usize>,
    /// For each token written, sorted by input start: (input start, input
    /// end, output start, output end), input offsets into the parsed text.
    tokens: Vec<(usize, usize, usize, usize)>,
}

impl Minified {
    /// The output size of the input range `start..end` that begins and ends
    /// at token boundaries (a function, say).
    pub(crate) fn span_len(&self, start: usize, end: usize) -> Option<usize> {
        let first = self.tokens.binary_search_by_key(&start, |t| t.0).ok()?;
        let last = self.tokens[first..].iter().position(|t| t.1 == end)? + first;
        Some(self.tokens[last].3.saturating_sub(self.tokens[first].2))
    }
}

/// Minifies `source`, choosing whether locals are renamed; the text only.
#[cfg(test)]
pub(crate) fn minify_with(file: &str, source: &str, rename: bool) -> Result<String, Error> {
    minify_tracked(file, source, rename).map(|m| m.text)
}

#[cfg(test)]
fn minify_tracked(file: &str, source: &str, rename: bool) -> Result<Minified, Error> {
    parse::with_ast(file, source, move |_, text, ast| minify_ast(text, ast, &scope::resolve(ast), rename))
}

/// Minifies a parsed module; `text` is what the tree indexes.
pub(crate) fn minify_ast(text: &str, ast: &full_moon::ast::Ast, scopes: &Scopes, rename: bool) -> Minified {
    {
        let renames = if rename { crate::rename::plan(scopes) } else { FastMap::default() };
        let mut shapes = Shapes { text, scopes: Some(scopes), ..Shapes::default() };
        shapes.visit_ast(ast);
        let mut w = Writer {
            out: String::new(),
            prev: None,
            text,
            renames: &renames,
            tokens: Vec::new(),
            lines: Vec::new(),
            line_has_code: false,
        };
        // The token stream from a lean lexer (the text parsed, so it lexes);
        // the tree's own token walks skip some punctuation and are slower.
        let tokens = crate::lex::tokens(text);
        for t in &tokens {
            if t.kind == Kind::Trivia {
                if t.newline {
                    w.newline();
                }
                continue;
            }
            if !shapes.skip.contains(&t.start) {
                w.text_of(t, shapes.replace.get(&t.start).map(String::as_str));
            }
            if let Some(moved) = shapes.after.get(&t.start) {
                for item in moved {
                    match item {
                        Moved::Comma => w.raw(","),
                        Moved::Token(offset) => {
                            if let Ok(j) = tokens.binary_search_by_key(offset, |t| t.start) {
                                w.text_of(&tokens[j], None);
                            }
                        }
                    }
                }
            }
        }
        w.tokens.sort_unstable();
        Minified { text: w.out, lines: w.lines, tokens: w.tokens }
    }
}

use crate::lex::{Kind, Tok};

/// What goes right after a token when a `local` statement joins an earlier one.
#[derive(Debug)]
enum Moved {
    Comma,
    /// A token of the joining statement, by input offset.
    Token(usize),
}

/// Rewrites found on the tree, by the input offset of the tokens involved.
#[derive(Default)]
struct Shapes<'a> {
    text: &'a str,
    scopes: Option<&'a Scopes>,
    /// Tokens not written (their newlines still are).
    skip: FastSet<usize>,
    /// Tokens written with other text.
    replace: FastMap<usize, String>,
    /// Tokens written after a token's text, moved there from a later statement.
    after: FastMap<usize, Vec<Moved>>,
    /// `local` tokens of statements in a joined run.
    grouped: FastSet<usize>,
}

impl Shapes<'_> {
    fn skip_token(&mut self, t: &TokenReference) {
        self.skip.insert(t.token().start_position().bytes());
    }
}

/// A string literal's contents when they form a Lua name (not a keyword),
/// written without escapes.
fn plain_name(t: &TokenReference) -> Option<String> {
    let TokenType::StringLiteral { literal, .. } = t.token_type() else { return None };
    let s = literal.to_string();
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !KEYWORDS.contains(&s.as_str()))
        .then_some(s)
}

fn offsets_in(text_range: (usize, usize), node: &impl Node) -> Vec<usize> {
    let mut v: Vec<usize> = node
        .tokens()
        .map(|t| t.token().start_position().bytes())
        .filter(|&o| o >= text_range.0 && o < text_range.1)
        .collect();
    v.sort_unstable();
    v
}

impl Shapes<'_> {
    fn call_args(&mut self, args: &FunctionArgs) {
        if let FunctionArgs::Parentheses { parentheses, arguments } = args
            && arguments.len() == 1
            && matches!(
                arguments.iter().next(),
                Some(Expression::String(_) | Expression::TableConstructor(_))
            )
        {
            let (open, close) = parentheses.tokens();
            self.skip_token(open);
            self.skip_token(close);
        }
    }

    /// Whether `e` can raise no error, defines no function and reads none of
    /// the locals in `declared`: what may move to an earlier line.
    fn movable(&self, e: &Expression, declared: &FastSet<usize>) -> bool {
        let Some(scopes) = self.scopes else { return false };
        match e {
            // A function expression is left out too: it would move its `linedefined`.
            Expression::Parentheses { expression, .. } => self.movable(expression, declared),
            Expression::TableConstructor(t) => t.fields().iter().all(|f| match f {
                Field::NameKey { value, .. } => self.movable(value, declared),
                Field::NoKey(value) => self.movable(value, declared),
                Field::ExpressionKey { key, value, .. } => {
                    matches!(**key, Expression::Number(_) | Expression::String(_))
                        && self.movable(value, declared)
                }
                _ => false,
            }),
            Expression::Var(full_moon::ast::Var::Name(t)) => {
                scope::offset(t).and_then(|o| scopes.by_site.get(&o)).is_some_and(|b| !declared.contains(b))
            }
            Expression::Symbol(_) | Expression::Number(_) | Expression::String(_) => true,
            _ => false,
        }
    }

    fn one_line(&self, node: &impl Node) -> bool {
        match (node.start_position(), node.end_position()) {
            (Some(s), Some(e)) => !self.text[s.bytes()..e.bytes()].contains('\n'),
            _ => false,
        }
    }

    /// Joins runs of `local` statements in `block` (see the module docs).
    fn group_locals(&mut self, block: &Block) {
        let Some(scopes) = self.scopes else { return };
        let stmts: Vec<&(Stmt, Option<TokenReference>)> = block.stmts_with_semicolon().collect();
        let mut i = 0;
        while i < stmts.len() {
            let (Stmt::LocalAssignment(first), semi) = stmts[i] else {
                i += 1;
                continue;
            };
            if semi.is_some() || all_nil(first) {
                i += 1;
                continue;
            }
            if first.expressions().is_empty() {
                self.group_bare(&stmts, &mut i, first);
                continue;
            }
            let (Some(name_anchor), Some(value_anchor)) = (
                first.names().iter().last().map(|t| t.token().start_position().bytes()),
                first.expressions().iter().last().and_then(last_token_offset),
            ) else {
                i += 1;
                continue;
            };
            if first.names().len() != first.expressions().len() {
                i += 1;
                continue;
            }
            let bindings = |l: &LocalAssignment| -> Vec<usize> {
                l.names()
                    .iter()
                    .filter_map(|t| scope::offset(t).and_then(|o| scopes.by_site.get(&o).copied()))
                    .collect()
            };
            let mut declared: FastSet<usize> = bindings(first).into_iter().collect();
            let mut names_seen: FastSet<String> =
                first.names().iter().map(|t| t.token().to_string()).collect();
            let mut j = i + 1;
            while let Some((Stmt::LocalAssignment(next), next_semi)) = stmts.get(j) {
                if next_semi.is_some() || all_nil(next) || !self.joinable(next, true, &declared, &names_seen)
                {
                    break;
                }
                self.move_statement(next, name_anchor, Some(value_anchor));
                self.grouped.insert(first.local_token().token().start_position().bytes());
                declared.extend(bindings(next));
                names_seen.extend(next.names().iter().map(|t| t.token().to_string()));
                j += 1;
            }
            i = j;
        }
    }

    /// Joins `local a` `local b` (no values) into `local a,b`.
    fn group_bare(
        &mut self,
        stmts: &[&(Stmt, Option<TokenReference>)],
        i: &mut usize,
        first: &LocalAssignment,
    ) {
        let Some(anchor) = first.names().iter().last().map(|t| t.token().start_position().bytes()) else {
            *i += 1;
            return;
        };
        let mut names_seen: FastSet<String> = first.names().iter().map(|t| t.token().to_string()).collect();
        let declared = FastSet::default();
        let mut j = *i + 1;
        while let Some((Stmt::LocalAssignment(next), next_semi)) = stmts.get(j) {
            if next_semi.is_some() || !self.joinable(next, false, &declared, &names_seen) {
                break;
            }
            self.move_statement(next, anchor, None);
            self.grouped.insert(first.local_token().token().start_position().bytes());
            names_seen.extend(next.names().iter().map(|t| t.token().to_string()));
            j += 1;
        }
        *i = j.max(*i + 1);
    }

    fn joinable(
        &self,
        next: &LocalAssignment,
        with_values: bool,
        declared: &FastSet<usize>,
        names_seen: &FastSet<String>,
    ) -> bool {
        let values = next.expressions();
        if with_values == values.is_empty() || (with_values && values.len() != next.names().len()) {
            return false;
        }
        if next.names().iter().any(|t| names_seen.contains(&t.token().to_string())) {
            return false;
        }
        self.one_line(next) && values.iter().all(|e| self.movable(e, declared))
    }

    /// Moves `next`'s names after `name_anchor` and its values after
    /// `value_anchor`, each with a comma; its own tokens are skipped in place.
    fn move_statement(&mut self, next: &LocalAssignment, name_anchor: usize, value_anchor: Option<usize>) {
        let Some((start, end)) = next.start_position().zip(next.end_position()) else { return };
        let range = (start.bytes(), end.bytes());
        let names = offsets_in(range, next.names());
        let values = offsets_in(range, next.expressions());
        for &o in names.iter().chain(&values) {
            self.skip.insert(o);
        }
        self.skip_token(next.local_token());
        self.grouped.insert(next.local_token().token().start_position().bytes());
        if let Some(eq) = next.equal_token() {
            self.skip_token(eq);
        }
        let after = self.after.entry(name_anchor).or_default();
        after.push(Moved::Comma);
        after.extend(names.into_iter().map(Moved::Token));
        if let Some(anchor) = value_anchor {
            let after = self.after.entry(anchor).or_default();
            after.push(Moved::Comma);
            after.extend(values.into_iter().map(Moved::Token));
        }
    }
}

/// `local a, b = nil, nil`.
fn all_nil(node: &LocalAssignment) -> bool {
    let values = node.expressions();
    !values.is_empty()
        && values.iter().all(|e| matches!(e, Expression::Symbol(t) if t.token().to_string() == "nil"))
}

/// The offset of the last token of `e`.
fn last_token_offset(e: &Expression) -> Option<usize> {
    e.tokens().map(|t| t.token().start_position().bytes()).max()
}

impl Visitor for Shapes<'_> {
    fn visit_block(&mut self, block: &Block) {
        self.group_locals(block);
    }

    fn visit_do(&mut self, node: &full_moon::ast::Do) {
        let block = node.block();
        if block.stmts().next().is_none()
            && matches!(block.last_stmt(), Some(full_moon::ast::LastStmt::Break(_)))
        {
            // The parser sees every `break` as `do break end`; Lua 5.3
            // accepts a bare `break` wherever it is legal.
            self.skip_token(node.do_token());
            self.skip_token(node.end_token());
        }
    }

    fn visit_suffix(&mut self, suffix: &Suffix) {
        match suffix {
            Suffix::Call(Call::AnonymousCall(args)) => self.call_args(args),
            Suffix::Call(Call::MethodCall(m)) => self.method(m),
            Suffix::Index(Index::Brackets { brackets, expression }) => {
                if let Expression::String(s) = &**expression
                    && let Some(name) = plain_name(s)
                {
                    let (open, close) = brackets.tokens();
                    self.skip_token(open);
                    self.skip_token(close);
                    self.replace.insert(s.token().start_position().bytes(), format!(".{name}"));
                }
            }
            _ => {}
        }
    }

    fn visit_field(&mut self, field: &Field) {
        if let Field::ExpressionKey { brackets, key, .. } = field
            && let Expression::String(s) = &**key
            && let Some(name) = plain_name(s)
        {
            let (open, close) = brackets.tokens();
            self.skip_token(open);
            self.skip_token(close);
            self.replace.insert(s.token().start_position().bytes(), name);
        }
    }

    fn visit_local_assignment(&mut self, node: &LocalAssignment) {
        // `local a, b = nil, nil` means `local a, b`.
        let values = node.expressions();
        if all_nil(node)
            && !self.grouped.contains(&node.local_token().token().start_position().bytes())
            && let Some(eq) = node.equal_token()
        {
            self.skip_token(eq);
            for pair in values.pairs() {
                for t in pair.tokens() {
                    self.skip_token(t);
                }
            }
        }
    }
}

impl Shapes<'_> {
    fn method(&mut self, m: &MethodCall) {
        self.call_args(m.args());
    }
}

/// What the previous token ended with, to decide whether a space is needed.
#[derive(Clone, Copy)]
struct Prev {
    last: char,
    number: bool,
}

struct Writer<'a> {
    out: String,
    prev: Option<Prev>,
    /// The text the tree indexes: token text is sliced from here, so strings
    /// keep exactly the bytes they were written with.
    text: &'a str,
    /// New names of renamed locals, by token offset.
    renames: &'a FastMap<usize, String>,
    /// Where each token went: see [`Minified`].
    tokens: Vec<(usize, usize, usize, usize)>,
    /// The input line of each output line.
    lines: Vec<usize>,
    /// Whether the current output line has anything on it yet.
    line_has_code: bool,
}

impl Writer<'_> {
    /// A line break, unless the line is empty: empty lines are dropped.
    fn newline(&mut self) {
        if self.line_has_code {
            self.out.push('\n');
            self.line_has_code = false;
        }
    }

    /// Text the tree does not hold (a comma joining two statements).
    fn raw(&mut self, text: &str) {
        self.put(text, false, None);
    }

    /// A token's text, renamed, re-quoted or replaced, with a separator if needed.
    fn text_of(&mut self, t: &Tok, replacement: Option<&str>) {
        let (start, end) = (t.start, t.end);
        let written = self.text.get(start..end).unwrap_or_default();
        let text = match (replacement, self.renames.get(&start)) {
            (Some(r), _) => std::borrow::Cow::Borrowed(r),
            (None, Some(new)) => std::borrow::Cow::Borrowed(new.as_str()),
            (None, None) if t.kind == Kind::String => std::borrow::Cow::Owned(shortest_quotes(written)),
            (None, None) => std::borrow::Cow::Borrowed(written),
        };
        let number = t.kind == Kind::Number;
        let line = t.line;
        let at = self.out.len();
        self.put(&text, number, Some(line));
        if !text.is_empty() {
            self.tokens.push((start, end, at + usize::from(self.out[at..].starts_with(' ')), self.out.len()));
        }
    }

    fn put(&mut self, text: &str, number: bool, line: Option<usize>) {
        let Some(first) = text.chars().next() else { return };
        if let Some(prev) = self.prev
            && self.line_has_code
            && needs_space(prev, first)
        {
            self.out.push(' ');
        }
        if !self.line_has_code {
            let origin = line.or_else(|| self.lines.last().copied()).unwrap_or(1);
            self.lines.push(origin);
            self.line_has_code = true;
        }
        self.out.push_str(text);
        // A token spanning lines (a long string) continues on the next input lines.
        let inner = text.matches('\n').count();
        if inner > 0 {
            let base = self.lines.last().copied().unwrap_or(1);
            let base = line.map_or(base, |l| l.max(base));
            for k in 1..=inner {
                self.lines.push(base + k);
            }
        }
        self.prev = text.chars().last().map(|last| Prev { last, number });
    }
}

/// A quoted string written with whichever quote needs fewer escapes:
/// `"say \"hi\""` becomes `'say "hi"'`. Other tokens pass through unchanged.
fn shortest_quotes(token: &str) -> String {
    let (q, other) = match token.as_bytes() {
        [b'"', .., b'"'] if token.len() >= 2 => ('"', '\''),
        [b'\'', .., b'\''] if token.len() >= 2 => ('\'', '"'),
        _ => return token.to_owned(),
    };
    let body = &token[1..token.len() - 1];
    // Walk escapes as pairs, so `\\"` (an escaped backslash, then a quote) is read right.
    let (mut escaped_q, mut bare_other) = (0usize, 0usize);
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if chars.next() == Some(q) {
                escaped_q += 1;
            }
        } else if c == other {
            bare_other += 1;
        }
    }
    if bare_other >= escaped_q {
        return token.to_owned();
    }
    let mut out = String::with_capacity(token.len());
    out.push(other);
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) if n == q => out.push(q),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            if c == other {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push(other);
    out
}

fn word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether two tokens written side by side would read as something else.
fn needs_space(prev: Prev, next: char) -> bool {
    (word(prev.last) && word(next))
        // `- -x` is not a comment
        || (prev.last == '-' && next == '-')
        // `.. .5` and `1 ..x` are not a malformed number or `...`
        || (prev.last == '.' && (next == '.' || next.is_ascii_digit()))
        || (prev.number && next == '.')
        // `t[ [[s]] ]` and `t[ [=[s]=] ]` do not open a long string
        || (prev.last == '[' && (next == '[' || next == '='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min(src: &str) -> String {
        // Renaming has its own table (rename.rs); these cases check the layout.
        minify_with("t.lua", src, false).unwrap()
    }

    #[test]
    fn table_of_minifications() {
        let cases = [
            ("local  x  =  1 -- one\n", "local x=1\n"),
            ("  if a then\n    b()\n  end\n", "if a then\nb()\nend\n"),
            ("--[[ long\ncomment ]] x = 1", "x=1"),
            ("local s = 'a -- not a comment'", "local s='a -- not a comment'"),
            ("local n = a - -b", "local n=a- -b"),
            ("local n = a - (-b)", "local n=a-(-b)"),
            ("local s = 1 .. x", "local s=1 ..x"),
            ("local s = x .. .5", "local s=x.. .5"),
            ("local v = t[ [[k]] ]", "local v=t.k"),
            ("local v = t[ [[a b]] ]", "local v=t[ [[a b]]]"),
            ("local v = t[ [=[a b]=] ]", "local v=t[ [=[a b]=]]"),
            ("local f = function ( a , ... ) return a , ... end", "local f=function(a,...)return a,...end"),
            ("return \"x\"", "return\"x\""),
            ("local t = { 1 , 2 ; x = 3 }", "local t={1,2;x=3}"),
            ("goto  done\n::done::", "goto done\n::done::"),
            ("local a = 0x10 + 1e3 + 2 // 3", "local a=0x10+1e3+2//3"),
            ("-- only a comment", ""),
            ("a()\n\n\n-- c\nb()\n", "a()\nb()\n"),
            (r#"local s = "say \"hi\"""#, r#"local s='say "hi"'"#),
            (r#"local s = 'it\'s'"#, r#"local s="it's""#),
            (r#"local s = "it's \"x\" and \"y\"""#, r#"local s='it\'s "x" and "y"'"#),
            (r#"local s = "a\\" .. "b""#, r#"local s="a\\".."b""#),
            (r#"local s = "plain""#, r#"local s="plain""#),
            ("local s = 'a `b` c'", "local s='a `b` c'"),
            ("while x do break  f() end", "while x do break f()end"),
            ("while x do do break end end", "while x do break end"),
            ("while x do\n  break\nend", "while x do\nbreak\nend"),
            ("while x do break end", "while x do break end"),
            ("for i = 1, 2 do break end", "for i=1,2 do break end"),
            // Calls with one string or table argument.
            ("require('a.b')", "require'a.b'"),
            ("m.reply({ Data = 1 })", "m.reply{Data=1}"),
            ("obj:send(\"x\")", "obj:send\"x\""),
            ("f(('x'))", "f(('x'))"),
            ("f('a', 'b')", "f('a','b')"),
            ("f([[x]])", "f[[x]]"),
            // Names written as names.
            ("x = t['key'] + t[\"end\"] + t['a b']", "x=t.key+t[\"end\"]+t['a b']"),
            ("x = { ['k'] = 1, [\"2\"] = 2 }", "x={k=1,[\"2\"]=2}"),
            ("local a, b = nil, nil", "local a,b"),
            // Joining locals.
            (
                "local a = f()\nlocal b = 0\nlocal c = { 1, 'x' }\nreturn a, b, c",
                "local a,b,c=f(),0,{1,'x'}\nreturn a,b,c",
            ),
            ("local a = 1\nlocal b = a\nreturn b", "local a=1\nlocal b=a\nreturn b"),
            ("local a = 1\nlocal b = g\nreturn b", "local a=1\nlocal b=g\nreturn b"),
            ("local a = 1\nlocal b = t.x", "local a=1\nlocal b=t.x"),
            ("local a = 1\nlocal f = function() end", "local a=1\nlocal f=function()end"),
            ("local a, b = f()\nlocal c = 1", "local a,b=f()\nlocal c=1"),
            ("local a\nlocal b\nlocal c = 1", "local a,b\nlocal c=1"),
            ("local a = 1\nlocal a = 2", "local a=1\nlocal a=2"),
            ("local t = {\n  x = 1,\n}\nlocal n = 0", "local t,n={\nx=1,\n},0\n"),
            ("local a = nil\nlocal b = 0", "local a\nlocal b=0"),
            ("local a = f('x')\nlocal b = 0", "local a,b=f'x',0\n"),
        ];
        for (src, expected) in cases {
            assert_eq!(min(src), expected, "{src}");
        }
    }

    #[test]
    fn every_output_line_knows_its_source_line() {
        let src =
            "-- header\n\nlocal a = f()\nlocal b = 0\n\nprint(a,\n  b)\nlocal s = [[one\ntwo]]\nreturn s";
        let m = minify_tracked("t.lua", src, false).unwrap();
        assert_eq!(m.text, "local a,b=f(),0\nprint(a,\nb)\nlocal s=[[one\ntwo]]\nreturn s");
        assert_eq!(m.lines, [3, 6, 7, 8, 9, 10]);
        assert_eq!(m.lines.len(), m.text.lines().count());
    }
}
