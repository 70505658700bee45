//! The only module that touches `full_moon`: parses a source and reports its
//! `require` sites. Nothing of `full_moon`'s tree leaves this file.

use full_moon::ast::Ast;
use full_moon::ast::{
    AnonymousFunction, Call, ElseIf, Expression, FunctionArgs, FunctionBody, FunctionCall,
    FunctionDeclaration, If, LocalFunction, Prefix, Suffix, Var,
};
use full_moon::node::Node;
use full_moon::tokenizer::{TokenReference, TokenType};
use full_moon::visitors::Visitor;

use crate::error::{Error, ErrorKind, Location};

/// Stack for the parser thread: `full_moon` recurses per nesting level, and a
/// pathological input must end in an error, never a stack overflow.
const PARSER_STACK: usize = 256 << 20;

/// One `require` call in a source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RequireSite {
    /// The module name when it is a plain string literal; `None` when computed.
    pub(crate) name: Option<String>,
    /// Where the call is.
    pub(crate) at: Location,
    /// Inside a function body: it runs when the function is called, not while
    /// the module loads, so it cannot take part in a load-time cycle.
    pub(crate) deferred: bool,
    /// How the call is written.
    #[serde(default)]
    pub(crate) form: RequireForm,
    /// Globals named in the conditions of the `if`s around it (`DEBUG` in
    /// `if DEBUG then require('tools') end`), sorted.
    #[serde(default)]
    pub(crate) guards: Vec<String>,
}

/// How a `require` is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum RequireForm {
    /// `require "x"`, `require("x")` (or a computed argument).
    #[default]
    Call,
    /// `pcall(require, "x")`: an optional module, which may be missing.
    Optional,
    /// `require` passed or stored as a value: what it loads cannot be known.
    Value,
}

/// Lua 5.3's own limit on nested syntax levels (`LUAI_MAXCCALLS`): deeper
/// sources do not load in Lua, so refusing them loses nothing.
const MAX_DEPTH: usize = 200;

/// Most operators in one expression run; right-associative chains (`..`, `^`)
/// recurse once per operator in the parser.
const MAX_CHAIN: usize = 5000;

/// A function in a source, for size analytics.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FunctionInfo {
    /// Its name as declared (`M.go`, `helper`), or `(anonymous)`.
    pub name: String,
    /// The line it starts on.
    pub line: usize,
    /// Its size in bytes, `function` to `end`.
    pub bytes: usize,
}

/// What parsing one module found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Parsed {
    /// `require` sites in source order.
    pub(crate) requires: Vec<RequireSite>,
    /// Functions in source order.
    pub(crate) functions: Vec<FunctionInfo>,
    /// Each function's byte range, `function` to `end`, in the parsed text.
    pub(crate) function_spans: Vec<(usize, usize)>,
}

/// Parses `source` as Lua 5.3 and returns its `require` sites in source order.
#[cfg(test)]
pub(crate) fn requires(file: &str, source: &str) -> Result<Vec<RequireSite>, Error> {
    parse_module(file, source).map(|p| p.requires)
}

/// Parses `source` as Lua 5.3: its `require` sites and its functions.
pub(crate) fn parse_module(file: &str, source: &str) -> Result<Parsed, Error> {
    with_ast(file, source, |file, _, ast| scan(file, ast, &crate::scope::resolve(ast)))
}

/// The `require` sites and functions of a parsed module.
pub(crate) fn scan(file: &str, ast: &Ast, scopes: &crate::scope::Scopes) -> Parsed {
    let mut finder = Finder {
        file,
        depth: 0,
        locals: &scopes.by_site,
        guards: Vec::new(),
        claimed: crate::fasthash::FastSet::default(),
        sites: Vec::new(),
        functions: Vec::new(),
        spans: Vec::new(),
    };
    finder.visit_ast(ast);
    Parsed { requires: finder.sites, functions: finder.functions, function_spans: finder.spans }
}

/// Parses `source` and runs `f(file, text, tree)` on a thread with a large
/// stack, after the lexical pre-check; a parser panic becomes a syntax error.
/// `text` is what the tree's byte positions index: the source with each
/// `break` written `do break end` (see [`normalize_breaks`]). The only way
/// into a `full_moon` tree for the rest of the crate.
pub(crate) fn with_ast<T, F>(file: &str, source: &str, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&str, &str, &Ast) -> T + Send + 'static,
{
    precheck(file, source)?;
    let (file_owned, source_owned) = (file.to_owned(), source.to_owned());
    let worker = std::thread::Builder::new()
        .name("ao-bundle-parse".into())
        .stack_size(PARSER_STACK)
        .spawn(move || parse_ast(&file_owned, &source_owned).map(|(text, ast)| f(&file_owned, &text, &ast)))
        .map_err(|e| Error::new(ErrorKind::Io { path: file.into(), source: e }))?;
    worker.join().unwrap_or_else(|_| {
        Err(Error::new(ErrorKind::Syntax {
            at: Location { file: file.to_owned(), line: 1, column: 1 },
            message: "the parser failed on this input".into(),
        }))
    })
}

/// A lexical pass that bounds how deep the parser will recurse: bracket and
/// block nesting, and operator runs. Strings and comments are skipped.
fn precheck(file: &str, source: &str) -> Result<(), Error> {
    let b = source.as_bytes();
    let (mut i, mut line, mut line_start) = (0usize, 1usize, 0usize);
    let (mut depth, mut chain) = (0usize, 0usize);
    let fail = |i: usize, line: usize, line_start: usize, what: String| {
        Err(Error::new(ErrorKind::Syntax {
            at: Location { file: file.to_owned(), line, column: i - line_start + 1 },
            message: what,
        }))
    };
    // Length of a long bracket opener `[==[` at `j`, if there is one.
    let long_open = |j: usize| -> Option<usize> {
        let mut k = j + 1;
        while b.get(k) == Some(&b'=') {
            k += 1;
        }
        (b.get(j) == Some(&b'[') && b.get(k) == Some(&b'[')).then_some(k - j - 1)
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                line_start = i + 1;
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i += 2;
                if let Some(level) = long_open(i) {
                    i = skip_long(b, i, level, &mut line, &mut line_start);
                } else {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' | b'\'' => {
                i += 1;
                // An unfinished string ends at either newline character, as in Lua.
                while i < b.len() && b[i] != c && b[i] != b'\n' && b[i] != b'\r' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            b'[' if long_open(i).is_some() => {
                let level = long_open(i).unwrap_or(0);
                i = skip_long(b, i, level, &mut line, &mut line_start);
                continue;
            }
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            b'=' if b.get(i + 1) == Some(&b'=') => {
                chain += 1;
                i += 1;
            }
            // Separators and assignment end an expression.
            b',' | b';' | b'=' => chain = 0,
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'#' | b'<' | b'>' | b'~' | b'&' | b'|' | b'.' => {
                chain += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                match &source[start..i] {
                    "function" | "do" | "repeat" | "if" => {
                        depth += 1;
                        chain = 0;
                    }
                    "end" | "until" => {
                        depth = depth.saturating_sub(1);
                        chain = 0;
                    }
                    "and" | "or" | "not" => chain += 1,
                    "local" | "return" | "then" | "else" | "elseif" | "while" | "for" | "in" | "break"
                    | "goto" => {
                        chain = 0;
                    }
                    _ => {}
                }
                if depth > MAX_DEPTH {
                    return fail(
                        start,
                        line,
                        line_start,
                        format!("nesting deeper than {MAX_DEPTH} levels (Lua's own limit)"),
                    );
                }
                continue;
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        if depth > MAX_DEPTH {
            return fail(
                i,
                line,
                line_start,
                format!("nesting deeper than {MAX_DEPTH} levels (Lua's own limit)"),
            );
        }
        if chain > MAX_CHAIN {
            return fail(i, line, line_start, format!("more than {MAX_CHAIN} operators in one expression"));
        }
        i += 1;
    }
    Ok(())
}

/// Skips a long string or comment opened at `i` with `level` equals signs.
fn skip_long(b: &[u8], mut i: usize, level: usize, line: &mut usize, line_start: &mut usize) -> usize {
    i += level + 2;
    while i < b.len() {
        if b[i] == b'\n' {
            *line += 1;
            *line_start = i + 1;
        }
        if b[i] == b']'
            && b.get(i + 1 + level) == Some(&b']')
            && b[i + 1..i + 1 + level].iter().all(|&c| c == b'=')
        {
            return i + level + 2;
        }
        i += 1;
    }
    i
}

/// `full_moon` 3.0's lexer reaches an `unreachable!` on a backtick (a string
/// quote in another dialect). `$` is as invalid outside strings and as
/// harmless inside them, and the same length, so positions still hold.
fn hide_backticks(text: &str) -> Option<String> {
    text.contains('`').then(|| text.replace('`', "$"))
}

/// `full_moon` parses `break` as the last statement of a block, as Lua 5.1 did;
/// Lua 5.3 allows statements after it. `do break end` means the same wherever
/// `break` is legal and may be followed by anything, so every `break` token
/// (found by `full_moon`'s own lexer, which knows strings and comments) is
/// written that way. Lines stay where they were.
fn normalize_breaks(source: &str) -> Option<String> {
    if !source.contains("break") {
        return None;
    }
    let hidden = hide_backticks(source);
    let lexed =
        full_moon::tokenizer::Lexer::new(hidden.as_deref().unwrap_or(source), full_moon::LuaVersion::lua53())
            .collect();
    let tokens = match lexed {
        full_moon::tokenizer::LexerResult::Ok(t) | full_moon::tokenizer::LexerResult::Recovered(t, _) => t,
        full_moon::tokenizer::LexerResult::Fatal(_) => return None,
    };
    let mut out = String::with_capacity(source.len() + 64);
    let mut at = 0;
    // Significant tokens only, so `do break end` already written that way
    // (by the user, or by an earlier pass over this text) is left as it is.
    let significant: Vec<&full_moon::tokenizer::Token> =
        tokens.iter().filter(|t| !t.token_type().is_trivia()).collect();
    let is = |i: Option<&&full_moon::tokenizer::Token>, s: full_moon::tokenizer::Symbol| {
        i.is_some_and(|t| matches!(t.token_type(), TokenType::Symbol { symbol } if *symbol == s))
    };
    for (i, t) in significant.iter().enumerate() {
        if matches!(t.token_type(), TokenType::Symbol { symbol: full_moon::tokenizer::Symbol::Break }) {
            let wrapped = i > 0
                && is(significant.get(i - 1), full_moon::tokenizer::Symbol::Do)
                && is(significant.get(i + 1), full_moon::tokenizer::Symbol::End);
            if wrapped {
                continue;
            }
            let (start, end) = (t.start_position().bytes(), t.end_position().bytes());
            out.push_str(&source[at..start]);
            out.push_str("do break end");
            at = end;
        }
    }
    if at == 0 {
        return None;
    }
    out.push_str(&source[at..]);
    Some(out)
}

fn parse_ast(file: &str, source: &str) -> Result<(String, Ast), Error> {
    let normalized = normalize_breaks(source).unwrap_or_else(|| source.to_owned());
    let sanitized = hide_backticks(&normalized);
    let text = sanitized.as_deref().unwrap_or(&normalized);
    let ast =
        full_moon::parse_fallible(text, full_moon::LuaVersion::lua53()).into_result().map_err(|errors| {
            let first = &errors[0];
            let (start, _) = first.range();
            let mut message = first.error_message().into_owned();
            if sanitized.is_some() {
                message = message.replace('$', "`");
            }
            Error::new(ErrorKind::Syntax {
                at: Location { file: file.to_owned(), line: start.line(), column: start.character() },
                message,
            })
        })?;
    Ok((normalized, ast))
}

struct Finder<'a> {
    file: &'a str,
    depth: usize,
    /// Identifier tokens that name locals (the rest name globals).
    locals: &'a crate::fasthash::FastMap<usize, usize>,
    /// Globals in the conditions of the enclosing `if`s, one entry per `if`.
    guards: Vec<Vec<String>>,
    /// `require` tokens a recognised pattern already accounts for.
    claimed: crate::fasthash::FastSet<usize>,
    sites: Vec<RequireSite>,
    functions: Vec<FunctionInfo>,
    spans: Vec<(usize, usize)>,
}

impl Finder<'_> {
    fn function(&mut self, name: String, node: &impl Node) {
        if let Some((start, end)) = node.range() {
            self.functions.push(FunctionInfo {
                name,
                line: start.line(),
                bytes: end.bytes().saturating_sub(start.bytes()),
            });
            self.spans.push((start.bytes(), end.bytes()));
        }
    }

    fn site(&self, name: Option<String>, token: &TokenReference, form: RequireForm) -> RequireSite {
        let mut guards: Vec<String> = self.guards.iter().flatten().cloned().collect();
        guards.sort();
        guards.dedup();
        RequireSite { name, at: self.location(token), deferred: self.depth > 0, form, guards }
    }

    fn location(&self, token: &TokenReference) -> Location {
        let pos = token.token().start_position();
        Location { file: self.file.to_owned(), line: pos.line(), column: pos.character() }
    }
}

/// The text of a string literal token, if it is one without escapes.
fn literal(token: &TokenReference) -> Option<String> {
    match token.token_type() {
        TokenType::StringLiteral { literal, multi_line_depth, .. } => {
            let text = literal.to_string();
            // Escapes would need decoding; module names never use them.
            (*multi_line_depth > 0 || !text.contains('\\')).then_some(text)
        }
        _ => None,
    }
}

/// The plain names an expression reads (not field names).
#[derive(Default)]
struct NamesIn(Vec<TokenReference>);

impl Visitor for NamesIn {
    fn visit_var(&mut self, var: &Var) {
        if let Var::Name(t) = var {
            self.0.push(t.clone());
        }
    }

    fn visit_prefix(&mut self, prefix: &Prefix) {
        if let Prefix::Name(t) = prefix {
            self.0.push(t.clone());
        }
    }
}

impl Visitor for Finder<'_> {
    fn visit_function_declaration(&mut self, f: &FunctionDeclaration) {
        self.function(f.name().to_string().trim().to_owned(), f);
    }

    fn visit_local_function(&mut self, f: &LocalFunction) {
        self.function(f.name().token().to_string(), f);
    }

    fn visit_anonymous_function(&mut self, f: &AnonymousFunction) {
        self.function("(anonymous)".to_owned(), f);
    }

    fn visit_if(&mut self, node: &If) {
        let mut names = Vec::new();
        let conditions = std::iter::once(node.condition())
            .chain(node.else_if().into_iter().flatten().map(ElseIf::condition));
        for condition in conditions {
            let mut found = NamesIn::default();
            full_moon::visitors::Visit::visit(condition, &mut found);
            for t in found.0 {
                if !self.locals.contains_key(&t.token().start_position().bytes()) {
                    names.push(t.token().to_string());
                }
            }
        }
        self.guards.push(names);
    }

    fn visit_if_end(&mut self, _: &If) {
        self.guards.pop();
    }

    fn visit_function_body(&mut self, _: &FunctionBody) {
        self.depth += 1;
    }

    fn visit_function_body_end(&mut self, _: &FunctionBody) {
        self.depth -= 1;
    }

    fn visit_var(&mut self, var: &Var) {
        // `require` anywhere but in call position, unless `pcall(require, "x")`
        // claimed it.
        if let Var::Name(t) = var
            && t.token().to_string() == "require"
            && !self.claimed.contains(&t.token().start_position().bytes())
        {
            self.sites.push(self.site(None, t, RequireForm::Value));
        }
    }

    fn visit_function_call(&mut self, call: &FunctionCall) {
        let Prefix::Name(name) = call.prefix() else { return };
        if name.token().to_string() == "pcall" {
            self.optional(call);
            return;
        }
        if name.token().to_string() != "require" {
            return;
        }
        // Only the first suffix is the require call itself: `require("x").y()` still requires "x".
        let Some(Suffix::Call(Call::AnonymousCall(args))) = call.suffixes().next() else { return };
        let module = match args.as_ref() {
            FunctionArgs::String(token) => literal(token),
            FunctionArgs::Parentheses { arguments, .. } if arguments.len() == 1 => {
                match arguments.iter().next() {
                    Some(Expression::String(token)) => literal(token),
                    _ => None,
                }
            }
            _ => None,
        };
        self.sites.push(self.site(module, name, RequireForm::Call));
    }
}

impl Finder<'_> {
    /// `pcall(require, "x")`: the optional-module idiom.
    fn optional(&mut self, call: &FunctionCall) {
        let Some(Suffix::Call(Call::AnonymousCall(args))) = call.suffixes().next() else { return };
        let FunctionArgs::Parentheses { arguments, .. } = args.as_ref() else { return };
        let mut args = arguments.iter();
        let (Some(Expression::Var(Var::Name(req))), Some(Expression::String(token)), None) =
            (args.next(), args.next(), args.next())
        else {
            return;
        };
        if req.token().to_string() != "require" {
            return;
        }
        let Some(module) = literal(token) else { return };
        self.claimed.insert(req.token().start_position().bytes());
        self.sites.push(self.site(Some(module), req, RequireForm::Optional));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<(Option<String>, usize, usize, bool)> {
        requires("t.lua", src)
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.at.line, s.at.column, s.deferred))
            .collect()
    }

    #[test]
    fn finds_every_literal_form_with_positions() {
        let src = "local a = require \"a.b\"\nlocal b = require('c-d')\nlocal c = require(\".src.e\")\nlocal d = require [[f]]\n";
        assert_eq!(
            names(src),
            vec![
                (Some("a.b".into()), 1, 11, false),
                (Some("c-d".into()), 2, 11, false),
                (Some(".src.e".into()), 3, 11, false),
                (Some("f".into()), 4, 11, false),
            ]
        );
    }

    #[test]
    fn marks_computed_and_deferred_requires() {
        let src = "local n = 'x'\nlocal m = require(n)\nlocal function later() return require('late') end\nrequire('a' .. 'b')";
        assert_eq!(
            names(src),
            vec![(None, 2, 11, false), (Some("late".into()), 3, 31, true), (None, 4, 1, false)]
        );
    }

    #[test]
    fn ignores_other_calls_and_methods() {
        assert!(names("local x = myrequire('a'); obj:require('b'); local t = { require = 1 }").is_empty());
        assert_eq!(names("require('a').setup()"), vec![(Some("a".into()), 1, 1, false)]);
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let err = requires("src/bad.lua", "local x = 1\nlocal y = = 2\n").unwrap_err();
        match err.kind() {
            ErrorKind::Syntax { at, .. } => assert_eq!((at.file.as_str(), at.line), ("src/bad.lua", 2)),
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().starts_with("src/bad.lua:2:"), "{err}");
    }

    #[test]
    fn a_backtick_is_a_syntax_error_not_a_parser_crash() {
        // Found by the bundle_source fuzz target: full_moon panicked on it.
        let err = requires("t.lua", "`13\0").unwrap_err();
        assert!(
            err.to_string().starts_with("t.lua:1:1: syntax error: ") && err.to_string().contains('`'),
            "{err}"
        );
        assert!(requires("t.lua", "local s = '`' -- `").is_ok(), "inside strings and comments it is fine");
        // Also found by fuzzing: a string cut by a carriage return does not hide what follows.
        assert!(requires("t.lua", "\"\r\0\0\0FFFF`FF\0").is_err());
        let third = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fuzz/regressions/bundle_source/backtick_after_escapes"
        ))
        .unwrap();
        assert!(requires("t.lua", &String::from_utf8_lossy(&third)).is_err());
        assert_eq!(requires("t.lua", "require('a') local s = '`x`'").unwrap().len(), 1);
    }

    #[test]
    fn functions_are_found_with_names_lines_and_sizes() {
        let src = "local M = {}\nfunction M.go(x)\n  return x\nend\nlocal function helper() end\nM.f = function() end\nreturn M";
        let p = parse_module("f.lua", src).unwrap();
        let found: Vec<(&str, usize, usize)> =
            p.functions.iter().map(|f| (f.name.as_str(), f.line, f.bytes)).collect();
        assert_eq!(found, [("M.go", 2, 31), ("helper", 5, 27), ("(anonymous)", 6, 14)]);
    }

    #[test]
    fn statements_after_break_parse_as_in_lua_53() {
        // full_moon alone rejects these; Lua 5.3 accepts them.
        let src = "for i = 1, 2 do break print(i) end\nwhile true do break; local x = require('y') end\nlocal s = 'break'";
        let p = parse_module("t.lua", src).unwrap();
        assert_eq!(p.requires.len(), 1);
        assert_eq!(p.requires[0].at.line, 2);
    }

    #[test]
    fn lua53_syntax_parses() {
        let src = "local a = 7 // 2; local b = 1 << 3 | 2 & ~0; goto done; ::done:: return a, b";
        assert!(requires("x.lua", src).unwrap().is_empty());
    }

    #[test]
    fn deeply_nested_input_is_an_error_never_a_crash() {
        let cases = [
            format!("local x = {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            format!("local x = {}", "{".repeat(300_000)),
            "do ".repeat(50_000),
            format!("local s = 'a'{}", " .. 'a'".repeat(100_000)),
            format!("local n = {}1", "- ".repeat(100_000)),
        ];
        for src in &cases {
            let err = requires("deep.lua", src).unwrap_err();
            assert!(err.to_string().starts_with("deep.lua:1:"), "{err}");
        }
        // Brackets and block words inside strings and comments do not count.
        let quiet = format!(
            "local s = '{}' -- {}\nlocal t = [[{}]]",
            "(".repeat(500),
            "do ".repeat(500),
            "{".repeat(500)
        );
        assert!(requires("ok.lua", &quiet).is_ok());
        // Nesting just under Lua's limit parses.
        let fine = format!("local x = {}1{}", "(".repeat(150), ")".repeat(150));
        assert!(requires("ok.lua", &fine).is_ok());
    }
}
