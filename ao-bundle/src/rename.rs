//! Renaming locals to short names, for the minifier.
//!
//! A scope resolver binds every local where Lua binds it — after a `local`
//! statement's initialisers, a `local function` before its body, parameters
//! and loop variables inside the body only, and `repeat ... until` keeping the
//! body's locals visible in its condition — and resolves every name to its
//! binding or to a global. A binding is renamed only when that saves bytes;
//! its new name is distinct from every other new name in the module, from
//! every keyword, every global the module uses and every local name as
//! written, so no renamed or kept local can shadow or capture anything. Names
//! that change meaning when renamed (`_ENV`, and `self`, which methods declare
//! implicitly) are never bound to new names.

use std::collections::{BTreeSet, HashMap, HashSet};

use full_moon::ast::{
    Block, FunctionBody, FunctionDeclaration, GenericFor, LocalAssignment, LocalFunction, NumericFor,
    Parameter, Prefix, Repeat, Var,
};
use full_moon::node::Node;
use full_moon::tokenizer::{Position, TokenReference};
use full_moon::visitors::Visitor;

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local",
    "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// New names by the byte offset of each identifier token to rename.
pub(crate) fn plan(ast: &full_moon::ast::Ast) -> HashMap<usize, String> {
    let mut r = Resolver::default();
    r.scopes.push(HashMap::new());
    r.visit_ast(ast);
    // New names avoid keywords, globals and every local name as written, so a
    // local may also keep its own name: nothing can collide either way.
    let mut taken: BTreeSet<String> = r.globals.clone();
    taken.extend(KEYWORDS.iter().map(|k| (*k).to_owned()));
    taken.extend(["self", "_ENV"].map(str::to_owned));
    taken.extend(r.bindings.iter().map(|b| b.name.clone()));
    let mut names = ShortNames::default();
    let mut renamed = HashMap::new();
    for binding in &r.bindings {
        if binding.keep {
            continue;
        }
        // Rename only when it saves bytes; otherwise the name is used up for nothing.
        let mut probe = ShortNames { n: names.n };
        let new = probe.next_free(&taken);
        if new.len() >= binding.name.len() {
            continue;
        }
        names = probe;
        taken.insert(new.clone());
        for &at in &binding.sites {
            renamed.insert(at, new.clone());
        }
    }
    renamed
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

struct Binding {
    /// The name as written.
    name: String,
    /// Byte offsets of the declaration and every reference.
    sites: Vec<usize>,
    /// Never renamed (`_ENV`, `self`).
    keep: bool,
}

#[derive(Default)]
struct Resolver {
    scopes: Vec<HashMap<String, usize>>,
    bindings: Vec<Binding>,
    globals: BTreeSet<String>,
    /// Names to bind when the given block (by address) opens: parameters and
    /// loop variables, whose scope is the body only.
    pending: HashMap<usize, Vec<TokenReference>>,
    /// Blocks whose scope stays open until their `repeat ... until` ends.
    repeat_blocks: HashSet<usize>,
}

fn addr(block: &Block) -> usize {
    std::ptr::from_ref(block) as usize
}

fn offset(token: &TokenReference) -> Option<usize> {
    token.start_position().map(Position::bytes)
}

fn name(token: &TokenReference) -> String {
    token.token().to_string()
}

impl Resolver {
    fn bind(&mut self, token: &TokenReference) {
        let Some(at) = offset(token) else { return };
        let n = name(token);
        let keep = n == "_ENV" || n == "self";
        let id = self.bindings.len();
        self.bindings.push(Binding { name: n.clone(), sites: vec![at], keep });
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(n, id);
        }
    }

    fn reference(&mut self, token: &TokenReference) {
        let n = name(token);
        let Some(at) = offset(token) else { return };
        match self.scopes.iter().rev().find_map(|s| s.get(&n)) {
            Some(&id) => self.bindings[id].sites.push(at),
            None => {
                self.globals.insert(n);
            }
        }
    }

    fn defer(&mut self, block: &Block, tokens: impl IntoIterator<Item = TokenReference>) {
        self.pending.entry(addr(block)).or_default().extend(tokens);
    }
}

impl Visitor for Resolver {
    fn visit_block(&mut self, block: &Block) {
        self.scopes.push(HashMap::new());
        if let Some(names) = self.pending.remove(&addr(block)) {
            for t in &names {
                self.bind(t);
            }
        }
    }

    fn visit_block_end(&mut self, block: &Block) {
        if !self.repeat_blocks.contains(&addr(block)) {
            self.scopes.pop();
        }
    }

    fn visit_repeat(&mut self, node: &Repeat) {
        self.repeat_blocks.insert(addr(node.block()));
    }

    fn visit_repeat_end(&mut self, node: &Repeat) {
        // The condition has been resolved inside the body's scope; close it now.
        if self.repeat_blocks.remove(&addr(node.block())) {
            self.scopes.pop();
        }
    }

    fn visit_local_assignment_end(&mut self, node: &LocalAssignment) {
        // Bound after the initialisers: `local x = x` reads the outer `x`.
        for t in node.names() {
            self.bind(t);
        }
    }

    fn visit_local_function(&mut self, node: &LocalFunction) {
        // Bound before the body: a local function may call itself.
        self.bind(node.name());
    }

    fn visit_function_body(&mut self, node: &FunctionBody) {
        let params: Vec<TokenReference> = node
            .parameters()
            .iter()
            .filter_map(|p| match p {
                Parameter::Name(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        self.defer(node.block(), params);
    }

    fn visit_numeric_for(&mut self, node: &NumericFor) {
        self.defer(node.block(), [node.index_variable().clone()]);
    }

    fn visit_generic_for(&mut self, node: &GenericFor) {
        self.defer(node.block(), node.names().iter().cloned().collect::<Vec<_>>());
    }

    fn visit_function_declaration(&mut self, node: &FunctionDeclaration) {
        // `function a.b:c()` assigns into `a`, which may be a local.
        if let Some(first) = node.name().names().iter().next() {
            self.reference(first);
        }
    }

    fn visit_var(&mut self, var: &Var) {
        if let Var::Name(t) = var {
            self.reference(t);
        }
    }

    fn visit_prefix(&mut self, prefix: &Prefix) {
        if let Prefix::Name(t) = prefix {
            self.reference(t);
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
            ("local long_name, a = 1, 2 return long_name + a", "local b,a=1,2 return b+a"),
        ];
        for (src, expected) in cases {
            assert_eq!(renamed(src), expected, "{src}");
        }
    }
}
