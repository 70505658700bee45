//! Renaming locals to short names, for the minifier.
//!
//! Every name is resolved to its binding or to a global (see [`crate::scope`]).
//! Names are handed out most-used first, shortest first, and a name is reused
//! wherever that cannot change what any name refers to: two locals may share
//! a name unless the later-declared one is visible at a use of the earlier
//! one (it would shadow it there). New names never equal a keyword or a
//! global the module uses, so no local can capture a global. A local keeps
//! its own name when nothing shorter is free. Names that change meaning when
//! renamed (`_ENV`, and `self`, which methods declare implicitly) are kept.

use std::collections::BTreeSet;

use crate::fasthash::FastMap;

use crate::scope::{Binding, Scopes};

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local",
    "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// How many candidate names to try for one local before keeping its own.
const MAX_TRIES: usize = 4096;

/// New names by the byte offset of each identifier token to rename.
pub(crate) fn plan(scopes: &Scopes) -> FastMap<usize, String> {
    let bindings = &scopes.bindings;
    let mut reserved: BTreeSet<String> = scopes.globals.clone();
    reserved.extend(KEYWORDS.iter().map(|k| (*k).to_owned()));
    reserved.extend(["self", "_ENV"].map(str::to_owned));
    // Final names so far, and who holds each.
    let mut holders: FastMap<String, Vec<usize>> = FastMap::default();
    let mut order: Vec<usize> = (0..bindings.len()).collect();
    let fixed = |b: &Binding| b.name == "_ENV" || b.name == "self";
    for (id, b) in bindings.iter().enumerate().filter(|(_, b)| fixed(b)) {
        holders.entry(b.name.clone()).or_default().push(id);
    }
    // Most-used first (they get the shortest names); ties in declaration order.
    order.sort_by(|&x, &y| bindings[y].sites.len().cmp(&bindings[x].sites.len()).then(x.cmp(&y)));
    let mut renamed = FastMap::default();
    for id in order.into_iter().filter(|&id| !fixed(&bindings[id])) {
        let b = &bindings[id];
        let free = |name: &str, holders: &FastMap<String, Vec<usize>>| {
            holders.get(name).is_none_or(|hs| hs.iter().all(|&h| !conflict(&bindings[h], b)))
        };
        let mut names = ShortNames::default();
        let mut chosen = None;
        for _ in 0..MAX_TRIES {
            let candidate = names.next_free(&reserved);
            if candidate.len() >= b.name.len() {
                break;
            }
            if free(&candidate, &holders) {
                chosen = Some(candidate);
                break;
            }
        }
        let name = match chosen {
            Some(name) => name,
            None if free(&b.name, &holders) => b.name.clone(),
            // Its own name is held by a local it would clash with: take the
            // first free name of any length (never a keyword or global).
            None => std::iter::repeat_with({
                let (mut names, reserved) = (ShortNames::default(), &reserved);
                move || names.next_free(reserved)
            })
            .find(|n| free(n, &holders))
            .unwrap_or_else(|| b.name.clone()),
        };
        if name != b.name {
            for &at in &b.sites {
                renamed.insert(at, name.clone());
            }
        }
        holders.entry(name).or_default().push(id);
    }
    renamed
}

/// Whether two locals cannot share a name: the later-declared one is visible
/// at a use (or the declaration) of the earlier one, so it would shadow it.
fn conflict(x: &Binding, y: &Binding) -> bool {
    let (earlier, later) = if x.sites[0] <= y.sites[0] { (x, y) } else { (y, x) };
    let from = later.visible_from;
    let to = later.scope_end;
    // Sites are in source order: is any in (from, to)?
    let i = earlier.sites.partition_point(|&s| s < from);
    earlier.sites.get(i).is_some_and(|&s| s < to)
}

/// `a`..`z`, `A`..`Z`, `_`, then two characters, and so on.
#[derive(Default)]
struct ShortNames {
    n: usize,
}

impl ShortNames {
    fn next_free(&mut self, taken: &BTreeSet<String>) -> String {
        const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
        const REST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789";
        loop {
            let mut k = self.n;
            self.n += 1;
            let mut name = String::new();
            name.push(FIRST[k % FIRST.len()] as char);
            k /= FIRST.len();
            while k > 0 {
                k -= 1;
                name.push(REST[k % REST.len()] as char);
                k /= REST.len();
            }
            if !taken.contains(&name) {
                return name;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::minify::minify_with;

    fn renamed(src: &str) -> String {
        minify_with("t.lua", src, true).unwrap()
    }

    #[test]
    fn table_of_renames() {
        // Locals are renamed only to something shorter; one-letter names stay.
        let cases = [
            ("local count = 1\nreturn count + 1", "local a=1\nreturn a+1"),
            ("local x = 1\nlocal x = x + 1\nreturn x", "local x=1\nlocal x=x+1\nreturn x"),
            (
                "local function fact(n) if n < 2 then return 1 end return n * fact(n - 1) end",
                "local function a(n)if n<2 then return 1 end return n*a(n-1)end",
            ),
            ("for index = 1, limit do total = total + index end", "for a=1,limit do total=total+a end"),
            (
                "local t = {}\nfunction t.run(self) return self end",
                "local t={}\nfunction t.run(self)return self end",
            ),
            ("local a, b = print, a", "local a,b=print,a"),
            (
                "local i = 0 repeat local done = i > 3 i = i + 1 until done",
                "local i=0 repeat local a=i>3 i=i+1 until a",
            ),
            ("local _ENV = { print = print }", "local _ENV={print=print}"),
            ("local M = {} function M:go() return self end", "local M={}function M:go()return self end"),
            ("local s = 'local x' local x = s", "local s='local x'local x=s"),
            ("local long_name, a = 1, 2 return long_name + a", "local a,b=1,2 return a+b"),
            // Names are reused wherever nothing can be hidden: no body uses its
            // function's own name, so a parameter may take it.
            (
                "local function first(alpha) return alpha end\nlocal function second(beta) return beta end\nreturn first, second",
                "local function a(a)return a end\nlocal function b(a)return a end\nreturn a,b",
            ),
            // ... but not where the inner one would hide the outer one from a use.
            (
                "local outer = 1\nlocal function f(inner) return inner + outer end\nreturn f",
                "local a=1\nlocal function f(b)return b+a end\nreturn f",
            ),
        ];
        for (src, expected) in cases {
            assert_eq!(renamed(src), expected, "{src}");
        }
    }
}
