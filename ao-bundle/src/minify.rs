//! Minification that keeps lines: comments and indentation go, each token is
//! written with only the separators Lua needs, and every newline stays where
//! it was, so the line map remains exact. Strings are written as they were.

use full_moon::node::Node;
use full_moon::tokenizer::{Token, TokenReference, TokenType};

use crate::error::Error;
use crate::parse;

/// The minified text of `source` (a module), same line count, locals renamed.
pub(crate) fn minify(file: &str, source: &str) -> Result<String, Error> {
    minify_with(file, source, true)
}

/// [`minify`], choosing whether locals are renamed.
pub(crate) fn minify_with(file: &str, source: &str, rename: bool) -> Result<String, Error> {
    parse::with_ast(file, source, move |_, text, ast| {
        let renames = if rename { crate::rename::plan(ast) } else { std::collections::HashMap::new() };
        // `tokens()` is not in source order (a bracketed span yields both
        // brackets before its contents), so sort by position.
        let mut tokens: Vec<&TokenReference> = ast.nodes().tokens().collect();
        tokens.sort_by_key(|t| t.token().start_position().bytes());
        let mut w = Writer { out: String::new(), prev: None, text, renames: &renames };
        let mut i = 0;
        while i < tokens.len() {
            // The parser sees every `break` as `do break end`; Lua 5.3 accepts a
            // bare `break` anywhere that is legal, so write the short form.
            if let [d, b, e, ..] = &tokens[i..]
                && [d, b, e].iter().map(|t| symbol(t)).eq(["do", "break", "end"].map(Some))
            {
                w.trivia(d);
                w.token(b);
                w.trivia(e);
                i += 3;
                continue;
            }
            w.token(tokens[i]);
            i += 1;
        }
        w.token(ast.eof());
        w.out
    })
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
    renames: &'a std::collections::HashMap<usize, String>,
}

/// The keyword a token is, if it is one of `do`, `break`, `end`.
fn symbol(t: &TokenReference) -> Option<&'static str> {
    match t.token_type() {
        TokenType::Symbol { symbol } => match symbol.to_string().as_str() {
            "do" => Some("do"),
            "break" => Some("break"),
            "end" => Some("end"),
            _ => None,
        },
        _ => None,
    }
}

impl Writer<'_> {
    /// Only the newlines around a token that is not written.
    fn trivia(&mut self, t: &TokenReference) {
        for trivia in t.leading_trivia().chain(t.trailing_trivia()) {
            self.newlines_of(trivia);
        }
    }

    fn newlines_of(&mut self, trivia: &Token) {
        for _ in trivia.to_string().matches('\n') {
            self.out.push('\n');
        }
    }

    fn token(&mut self, t: &TokenReference) {
        for trivia in t.leading_trivia() {
            self.newlines_of(trivia);
        }
        let (start, end) = (t.token().start_position().bytes(), t.token().end_position().bytes());
        let text = match self.renames.get(&start) {
            Some(new) => new.clone(),
            None => shortest_quotes(self.text.get(start..end).unwrap_or_default()),
        };
        if let Some(first) = text.chars().next() {
            if let Some(prev) = self.prev
                && !self.out.ends_with('\n')
                && needs_space(prev, first)
            {
                self.out.push(' ');
            }
            self.out.push_str(&text);
            let number = matches!(t.token_type(), TokenType::Number { .. });
            self.prev = text.chars().last().map(|last| Prev { last, number });
        }
        for trivia in t.trailing_trivia() {
            self.newlines_of(trivia);
        }
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
        let out = minify_with("t.lua", src, false).unwrap();
        assert_eq!(out.matches('\n').count(), src.matches('\n').count(), "lines kept:\n{src}\n---\n{out}");
        out
    }

    #[test]
    fn table_of_minifications() {
        let cases = [
            ("local  x  =  1 -- one\n", "local x=1\n"),
            ("  if a then\n    b()\n  end\n", "if a then\nb()\nend\n"),
            ("--[[ long\ncomment ]] x = 1", "\nx=1"),
            ("local s = 'a -- not a comment'", "local s='a -- not a comment'"),
            ("local n = a - -b", "local n=a- -b"),
            ("local n = a - (-b)", "local n=a-(-b)"),
            ("local s = 1 .. x", "local s=1 ..x"),
            ("local s = x .. .5", "local s=x.. .5"),
            ("local v = t[ [[k]] ]", "local v=t[ [[k]]]"),
            ("local v = t[ [=[k]=] ]", "local v=t[ [=[k]=]]"),
            ("local f = function ( a , ... ) return a , ... end", "local f=function(a,...)return a,...end"),
            ("return \"x\"", "return\"x\""),
            ("local t = { 1 , 2 ; x = 3 }", "local t={1,2;x=3}"),
            ("goto  done\n::done::", "goto done\n::done::"),
            ("local a = 0x10 + 1e3 + 2 // 3", "local a=0x10+1e3+2//3"),
            ("-- only a comment", ""),
            (r#"local s = "say \"hi\"""#, r#"local s='say "hi"'"#),
            (r#"local s = 'it\'s'"#, r#"local s="it's""#),
            (r#"local s = "it's \"x\" and \"y\"""#, r#"local s='it\'s "x" and "y"'"#),
            (r#"local s = "a\\" .. "b""#, r#"local s="a\\".."b""#),
            (r#"local s = "plain""#, r#"local s="plain""#),
            ("local s = 'a `b` c'", "local s='a `b` c'"),
            ("while x do break  f() end", "while x do break f()end"),
            ("while x do do break end end", "while x do do break end end"),
            ("while x do\n  break\nend", "while x do\nbreak\nend"),
        ];
        for (src, expected) in cases {
            assert_eq!(min(src), expected, "{src}");
        }
    }
}
