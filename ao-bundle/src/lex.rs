//! A lean Lua 5.3 lexer for the minifier: token boundaries, kinds and lines,
//! nothing else.
//!
//! It runs only on text `full_moon` has already parsed, so it need not report
//! errors; on such text its token boundaries are exactly `full_moon`'s (a
//! test checks that on every corpus file). It is here because lexing with
//! `full_moon` a second time, only to walk the tokens, was most of the
//! minifier's cost.

/// One token: its byte range, the line it starts on, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tok {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) line: usize,
    pub(crate) kind: Kind,
    /// Trivia holding a line break.
    pub(crate) newline: bool,
}

/// What a token is, as far as the minifier cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Number,
    String,
    Trivia,
    Other,
}

/// Lua's multi-character symbols, longest first.
const SYMBOLS: &[&str] = &["...", "..", "==", "~=", "<=", ">=", "//", "::", "<<", ">>"];

/// The tokens of `text`, trivia included, in order.
pub(crate) fn tokens(text: &str) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(text.len() / 4);
    let (mut i, mut line) = (0usize, 1usize);
    // A shebang line is trivia to the parser.
    if b.starts_with(b"#!") {
        i = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
        out.push(Tok { start: 0, end: i, line, kind: Kind::Trivia, newline: false });
    }
    while i < b.len() {
        let start = i;
        let c = b[i];
        let kind = if c.is_ascii_whitespace() || c == 0x0b {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == 0x0b) {
                i += 1;
            }
            Kind::Trivia
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            i += 2;
            match long_bracket(b, i) {
                Some(level) => i = long_end(b, i, level),
                None => {
                    while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                        i += 1;
                    }
                }
            }
            Kind::Trivia
        } else if c == b'[' && long_bracket(b, i).is_some() {
            let level = long_bracket(b, i).unwrap_or(0);
            i = long_end(b, i, level);
            Kind::String
        } else if c == b'"' || c == b'\'' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            Kind::String
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            i = numeral_end(b, i);
            Kind::Number
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            Kind::Other
        } else {
            let rest = &text[i..];
            i += SYMBOLS.iter().find(|s| rest.starts_with(**s)).map_or_else(
                // One character (whatever its width, so slicing stays on boundaries).
                || rest.chars().next().map_or(1, char::len_utf8),
                |s| s.len(),
            );
            Kind::Other
        };
        let lines_inside = text.get(start..i).map_or(0, |s| s.matches('\n').count());
        out.push(Tok { start, end: i, line, kind, newline: kind == Kind::Trivia && lines_inside > 0 });
        line += lines_inside;
    }
    out
}

/// The level of a long bracket `[==[` opening at `at`.
fn long_bracket(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) != Some(&b'[') {
        return None;
    }
    let level = b[at + 1..].iter().take_while(|&&c| c == b'=').count();
    (b.get(at + 1 + level) == Some(&b'[')).then_some(level)
}

/// Where a long string or comment of `level` opened at `at` ends.
fn long_end(b: &[u8], at: usize, level: usize) -> usize {
    let mut i = at + level + 2;
    while i < b.len() {
        if b[i] == b']'
            && b.get(i + 1 + level) == Some(&b']')
            && b[i + 1..i + 1 + level].iter().all(|&c| c == b'=')
        {
            return i + level + 2;
        }
        i += 1;
    }
    b.len()
}

/// Where a numeral starting at `at` ends, as Lua reads it: digits (hex
/// digits after `0x`), dots, and an exponent with an optional sign.
fn numeral_end(b: &[u8], at: usize) -> usize {
    let hex = b.get(at) == Some(&b'0') && matches!(b.get(at + 1), Some(b'x' | b'X'));
    let mut i = if hex { at + 2 } else { at };
    let exponent: &[u8] = if hex { b"Pp" } else { b"Ee" };
    while i < b.len() {
        let c = b[i];
        if exponent.contains(&c) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
        } else if c.is_ascii_hexdigit() || c == b'.' {
            i += 1;
        } else {
            break;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `full_moon`'s tokens of `text`, as (start, end, line, is trivia).
    fn full_moon_tokens(text: &str) -> Vec<(usize, usize, usize, bool)> {
        let lexed = full_moon::tokenizer::Lexer::new(text, full_moon::LuaVersion::lua53()).collect();
        let full_moon::tokenizer::LexerResult::Ok(tokens) = lexed else { panic!("lexes") };
        tokens
            .iter()
            .filter(|t| !matches!(t.token_type(), full_moon::tokenizer::TokenType::Eof))
            .map(|t| {
                (
                    t.start_position().bytes(),
                    t.end_position().bytes(),
                    t.start_position().line(),
                    t.token_type().is_trivia(),
                )
            })
            .collect()
    }

    fn ours(text: &str) -> Vec<(usize, usize, usize, bool)> {
        // Runs of whitespace may be split differently; compare significant tokens.
        tokens(text).iter().map(|t| (t.start, t.end, t.line, t.kind == Kind::Trivia)).collect()
    }

    fn significant(v: Vec<(usize, usize, usize, bool)>) -> Vec<(usize, usize, usize)> {
        v.into_iter().filter(|t| !t.3).map(|t| (t.0, t.1, t.2)).collect()
    }

    fn agree(text: &str) {
        assert_eq!(significant(ours(text)), significant(full_moon_tokens(text)), "{text}");
        // Every byte is covered once.
        let all = tokens(text);
        assert!(all.windows(2).all(|w| w[0].end == w[1].start), "{text}");
        assert_eq!(all.last().map_or(0, |t| t.end), text.len());
    }

    #[test]
    fn agrees_with_full_moon_on_hand_written_cases() {
        for text in [
            "local x = 1 -- c\nreturn x",
            "a = 0x1F + 0xA.8p1 + 1e10 + 3.5E-2 + .5 + 5. + 0x.1",
            "s = 'it\\'s' .. \"q\\\"\" .. [[long]] .. [==[a]]b]==]",
            "--[[ long\ncomment ]] x = 1 --[==[ x ]==] y = 2",
            "t = { a = 1; b = 2 } f(...) g(a..b) h(a...b)",
            "x = a // b >> 2 << 1 ~= c == d <= e >= f ::lbl:: goto lbl",
            "s = 'a\\\nb' t = 'x\\z\n   y'",
            "s = '\u{20AC}' -- é\nz = 1",
            "x = #t & ~y | z ~ w",
        ] {
            agree(text);
        }
    }

    #[test]
    fn agrees_with_full_moon_on_every_corpus_file_and_the_arena() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("tests/corpus"), root.join("../examples/arena/src")];
        let mut n = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "lua") {
                    agree(&std::fs::read_to_string(&path).unwrap());
                    n += 1;
                }
            }
        }
        assert!(n >= 20, "{n} files");
    }

    #[test]
    fn lines_and_newlines() {
        let t = tokens("a\n\n--c\nb [[x\ny]] c");
        let lines: Vec<(usize, bool)> = t.iter().map(|t| (t.line, t.newline)).collect();
        assert_eq!(
            lines,
            [
                (1, false),
                (1, true),
                (3, false),
                (3, true),
                (4, false),
                (4, false),
                (4, false),
                (5, false),
                (5, false)
            ]
        );
    }
}
