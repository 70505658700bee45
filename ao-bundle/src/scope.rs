//! Scope resolution: which declaration every name in a module refers to.
//!
//! Locals are bound where Lua binds them — after a `local` statement's
//! initialisers, a `local function` before its body, parameters and loop
//! variables inside the body only, and `repeat ... until` keeping the body's
//! locals visible in its condition — and every other name is a global. The
//! minifier renames through this, and dead-code elimination counts uses with it.

use std::collections::BTreeSet;

use crate::fasthash::{FastMap, FastSet};

use full_moon::ast::{
    Ast, Block, FunctionBody, FunctionDeclaration, GenericFor, LocalAssignment, LocalFunction, NumericFor,
    Parameter, Prefix, Repeat, Var,
};
use full_moon::node::Node;
use full_moon::tokenizer::{Position, TokenReference};
use full_moon::visitors::Visitor;

/// One local variable.
#[derive(Debug)]
pub(crate) struct Binding {
    /// The name as written.
    pub(crate) name: String,
    /// Byte offsets of the declaring token, then of every reference (reads
    /// and writes) in source order.
    pub(crate) sites: Vec<usize>,
    /// Where it becomes visible: after its `local` statement, or (a
    /// conservative start) at its declaring token.
    pub(crate) visible_from: usize,
    /// Where its scope ends (exclusive byte offset).
    pub(crate) scope_end: usize,
}

impl Binding {
    /// Offsets of the references, without the declaration.
    pub(crate) fn uses(&self) -> &[usize] {
        &self.sites[1..]
    }
}

/// What resolution found in one module.
#[derive(Debug, Default)]
pub(crate) struct Scopes {
    /// Every local, in declaration order.
    pub(crate) bindings: Vec<Binding>,
    /// Every global name the module reads or writes.
    pub(crate) globals: BTreeSet<String>,
    /// The binding each identifier token (by byte offset) belongs to.
    pub(crate) by_site: FastMap<usize, usize>,
}

/// Resolves every name in `ast`.
pub(crate) fn resolve(ast: &Ast) -> Scopes {
    let mut r = Resolver::default();
    r.scopes.push(FastMap::default());
    r.ends.push(usize::MAX);
    r.visit_ast(ast);
    let mut by_site = FastMap::default();
    for (id, b) in r.bindings.iter().enumerate() {
        for &site in &b.sites {
            by_site.insert(site, id);
        }
    }
    Scopes { bindings: r.bindings, globals: r.globals, by_site }
}

pub(crate) fn offset(token: &TokenReference) -> Option<usize> {
    token.start_position().map(Position::bytes)
}

fn name(token: &TokenReference) -> String {
    token.token().to_string()
}

fn addr(block: &Block) -> usize {
    std::ptr::from_ref(block) as usize
}

#[derive(Default)]
struct Resolver {
    scopes: Vec<FastMap<String, usize>>,
    /// Where each open scope ends, parallel to `scopes`.
    ends: Vec<usize>,
    /// Where a repeat block's scope ends: after its `until` condition.
    repeat_ends: FastMap<usize, usize>,
    bindings: Vec<Binding>,
    globals: BTreeSet<String>,
    /// Names to bind when the given block (by address) opens: parameters and
    /// loop variables, whose scope is the body only.
    pending: FastMap<usize, Vec<TokenReference>>,
    /// Blocks whose scope stays open until their `repeat ... until` ends.
    repeat_blocks: FastSet<usize>,
}

impl Resolver {
    fn bind(&mut self, token: &TokenReference, visible_from: Option<usize>) {
        let Some(at) = offset(token) else { return };
        let n = name(token);
        let id = self.bindings.len();
        let scope_end = self.ends.last().copied().unwrap_or(usize::MAX).max(at + 1);
        let visible_from = visible_from.unwrap_or(at);
        self.bindings.push(Binding { name: n.clone(), sites: vec![at], visible_from, scope_end });
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
        self.scopes.push(FastMap::default());
        let end =
            self.repeat_ends.get(&addr(block)).copied().or_else(|| block.end_position().map(Position::bytes));
        // An empty block holds no uses; its parameters need no room.
        self.ends.push(end.unwrap_or(0));
        if let Some(names) = self.pending.remove(&addr(block)) {
            for t in &names {
                self.bind(t, None);
            }
        }
    }

    fn visit_block_end(&mut self, block: &Block) {
        if !self.repeat_blocks.contains(&addr(block)) {
            self.scopes.pop();
            self.ends.pop();
        }
    }

    fn visit_repeat(&mut self, node: &Repeat) {
        self.repeat_blocks.insert(addr(node.block()));
        if let Some(end) = node.until().end_position() {
            self.repeat_ends.insert(addr(node.block()), end.bytes());
        }
    }

    fn visit_repeat_end(&mut self, node: &Repeat) {
        // The condition has been resolved inside the body's scope; close it now.
        if self.repeat_blocks.remove(&addr(node.block())) {
            self.scopes.pop();
            self.ends.pop();
        }
    }

    fn visit_local_assignment_end(&mut self, node: &LocalAssignment) {
        // Bound after the initialisers: `local x = x` reads the outer `x`.
        let end = node.end_position().map(Position::bytes);
        for t in node.names() {
            self.bind(t, end);
        }
    }

    fn visit_local_function(&mut self, node: &LocalFunction) {
        // Bound before the body: a local function may call itself.
        self.bind(node.name(), None);
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
    use super::*;

    /// Each binding as (name, declaring line, lines of its uses).
    fn resolved(src: &str) -> (Vec<(String, Vec<usize>)>, Vec<String>) {
        crate::parse::with_ast("t.lua", src, |_, text, ast| {
            let s = resolve(ast);
            let line = |at: usize| text[..at].matches('\n').count() + 1;
            let bindings = s
                .bindings
                .iter()
                .map(|b| (b.name.clone(), b.sites.iter().map(|&at| line(at)).collect()))
                .collect();
            (bindings, s.globals.into_iter().collect())
        })
        .unwrap()
    }

    #[test]
    fn binds_where_lua_binds() {
        let src = "local x = x\nlocal function f() return f, x end\nfor i = 1, i do print(i) end\nrepeat local d = 1 until d\nlocal a\na = 1";
        let (bindings, globals) = resolved(src);
        let named =
            |n: &str| bindings.iter().filter(|(b, _)| b == n).map(|(_, l)| l.clone()).collect::<Vec<_>>();
        // `local x = x` reads the global x; the local is read on line 2.
        assert_eq!(named("x"), [vec![1, 2]]);
        assert_eq!(named("f"), [vec![2, 2]]);
        assert_eq!(named("i"), [vec![3, 3]]);
        assert_eq!(named("d"), [vec![4, 4]]);
        assert_eq!(named("a"), [vec![5, 6]]);
        assert_eq!(globals, ["i", "print", "x"]);
    }
}
