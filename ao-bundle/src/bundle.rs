//! Resolving the require graph and writing the bundle.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::error::{Error, ErrorKind, Warning};
use crate::fold::{self, Define, Folded, Removal};
use crate::linemap::{LineMap, Segment};
use crate::loader::SourceLoader;
use crate::parse::{FunctionInfo, Parsed, RequireForm, RequireSite};

/// Modules an aos process provides at runtime: left as runtime `require`s.
pub const AOS_EXTERNALS: &[&str] = &[
    "json",
    ".json",
    "utils",
    ".utils",
    "base64",
    ".base64",
    "bint",
    ".bint",
    "ao",
    ".ao",
    ".process",
    ".handlers",
    ".handlers-utils",
    ".eval",
    ".default",
    ".dump",
    ".pretty",
    ".stringify",
    ".assignment",
    ".crypto",
    "crypto",
    ".boot",
    "string",
    "table",
    "math",
    "coroutine",
    "os",
    "utf8",
    "package",
];

/// What to bundle and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleOptions {
    /// Entry modules, by the name `require` would use; run in this order.
    pub entries: Vec<String>,
    /// Search templates like `package.path`, `?` standing for the name with dots as `/`.
    pub search: Vec<String>,
    /// Names provided by the runtime, left as runtime requires.
    pub externals: BTreeSet<String>,
    /// Refuse computed `require(expr)` instead of warning.
    pub strict: bool,
    /// Global names replaced by constants, with constant `if`s folded away.
    pub defines: BTreeMap<String, Define>,
    /// Remove dead code: fold constant `if`s, drop statements that can never
    /// run and unused locals (lines are kept). On by default.
    pub dce: bool,
    /// Strip comments and whitespace (lines are kept, so the line map stays exact).
    pub minify: bool,
}

impl BundleOptions {
    /// Bundles `entry`, searching `?.lua` then `?/init.lua`, with aos's modules external.
    pub fn new(entry: impl Into<String>) -> Self {
        Self {
            entries: vec![entry.into()],
            search: vec!["?.lua".into(), "?/init.lua".into()],
            externals: AOS_EXTERNALS.iter().map(|s| (*s).to_owned()).collect(),
            strict: false,
            defines: BTreeMap::new(),
            dce: true,
            minify: false,
        }
    }

    /// Adds another entry, run after the earlier ones.
    #[must_use]
    pub fn entry(mut self, entry: impl Into<String>) -> Self {
        self.entries.push(entry.into());
        self
    }

    /// Adds a runtime-provided module name.
    #[must_use]
    pub fn external(mut self, name: impl Into<String>) -> Self {
        self.externals.insert(name.into());
        self
    }

    /// Defines a constant: the global `name` becomes `value` where it is not
    /// shadowed or assigned, and `if`s it makes constant are folded away.
    #[must_use]
    pub fn define(mut self, name: impl Into<String>, value: Define) -> Self {
        self.defines.insert(name.into(), value);
        self
    }

    /// Sets dead-code elimination (on by default; `define`s apply either way).
    #[must_use]
    pub fn dce(mut self, dce: bool) -> Self {
        self.dce = dce;
        self
    }

    /// Sets minification (comments and whitespace; lines are kept).
    #[must_use]
    pub fn minify(mut self, minify: bool) -> Self {
        self.minify = minify;
        self
    }

    /// Sets strict mode (computed requires are errors).
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
}

/// One module in a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledModule {
    /// The name it is registered under.
    pub name: String,
    /// Other names it is required by (`.a.b` beside `a.b`), registered as aliases.
    pub aliases: Vec<String>,
    /// Its file, relative to the project root.
    pub path: String,
    /// Its source size in bytes.
    pub bytes: usize,
    /// Its size after `define`s and dead-code elimination.
    pub folded_bytes: usize,
    /// Its size as shipped in the bundle (after minification, if on).
    pub shipped_bytes: usize,
    /// BLAKE3 of its source, hex.
    pub blake3: String,
    /// Its functions, in source order.
    pub functions: Vec<FunctionInfo>,
    /// What dead-code elimination removed from it.
    pub removed: Vec<Removal>,
    /// The bundled modules it requires, by registered name.
    pub requires: Vec<String>,
    /// Globals that every `require` of it is conditioned on (`DEBUG` when it
    /// is only required inside `if DEBUG then ... end`), sorted; empty when
    /// some require of it is unconditional. A `define` of one of them could
    /// drop the module.
    pub required_only_under: Vec<String>,
    /// Whether it is an entry.
    pub entry: bool,
}

/// A built bundle: one Lua source and what went into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The bundle's Lua source.
    pub code: String,
    /// Its modules, in registration order (sorted by name).
    pub modules: Vec<BundledModule>,
    /// Names left to the runtime, sorted.
    pub externals: Vec<String>,
    /// Where each bundle line came from.
    pub line_map: LineMap,
    /// What did not stop the build.
    pub warnings: Vec<Warning>,
}

struct Module {
    name: String,
    aliases: BTreeSet<String>,
    path: String,
    source: String,
    /// Source line of each line of `source` (`None`: the same numbers).
    lines: Option<Vec<usize>>,
    /// Resolved requires: (path of the required module, site).
    edges: Vec<(String, RequireSite)>,
    functions: Vec<FunctionInfo>,
    removed: Vec<Removal>,
    raw_bytes: usize,
    folded_bytes: usize,
    source_hash: String,
    entry: bool,
}

/// A stand-in site carrying only a name, for an alias found while resolving.
fn alias_site(name: &str) -> RequireSite {
    RequireSite {
        name: Some(name.to_owned()),
        at: crate::error::Location { file: String::new(), line: 0, column: 0 },
        deferred: true,
        form: RequireForm::Call,
        guards: Vec::new(),
    }
}

/// Maps a module name to the paths it may live at, or refuses names that
/// would leave the project root.
fn candidates(name: &str, search: &[String]) -> Option<Vec<String>> {
    let stripped = name.strip_prefix('.').unwrap_or(name);
    let path = stripped.replace('.', "/");
    let bad_part = |p: &str| p.is_empty() || p == ".." || p == "." || p.contains('\\') || p.contains(':');
    if path.starts_with('/') || path.split('/').any(bad_part) {
        return None;
    }
    Some(search.iter().map(|t| t.replace('?', &path)).collect())
}

/// Resolves the require graph from the entries and writes the bundle.
///
/// Parses every module; a [`Bundler`](crate::Bundler) reuses parses between builds.
pub fn bundle(loader: &dyn SourceLoader, options: &BundleOptions) -> Result<Bundle, Error> {
    bundle_with(loader, options, &mut NoCache)
}

/// One module made ready to ship: its text after `define`s/folding and
/// minification, and what parsing that text found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Prepared {
    pub(crate) shipped: String,
    /// The source line of each line of `shipped`, when they are not simply
    /// line 1, 2, 3, ... (minification drops empty lines).
    #[serde(default)]
    pub(crate) lines: Option<Vec<usize>>,
    pub(crate) folded_bytes: usize,
    pub(crate) removed: Vec<Removal>,
    pub(crate) parsed: Parsed,
}

/// Folds, minifies and parses one module as `options` say.
///
/// Requires and functions are read from the text before minification, so
/// they carry the names and columns a developer wrote; function sizes are
/// then taken from the minified text, so they describe what ships.
pub(crate) fn prepare(path: &str, source: &str, options: &BundleOptions) -> Result<Prepared, Error> {
    let Folded { text: folded, removed, mut parsed, minified } =
        fold::fold(path, source, &options.defines, options.dce, options.minify)?;
    let folded_bytes = folded.len();
    let (shipped, lines) = if let Some(minified) = minified {
        for (f, &(start, end)) in parsed.functions.iter_mut().zip(&parsed.function_spans) {
            if let Some(bytes) = minified.span_len(start, end) {
                f.bytes = bytes;
            }
        }
        (minified.text, Some(minified.lines))
    } else {
        (folded, None)
    };
    parsed.function_spans.clear();
    Ok(Prepared { shipped, lines, folded_bytes, removed, parsed })
}

/// Where prepared modules may be remembered between builds.
pub(crate) trait PrepareCache {
    /// A module prepared earlier from this (root-relative path, source as written).
    fn lookup(&mut self, path: &str, source: &str) -> Option<Prepared>;
    /// Remembers a module just prepared.
    fn store(&mut self, path: &str, source: &str, prepared: &Prepared);
}

/// No memory: every build prepares every module.
struct NoCache;

impl PrepareCache for NoCache {
    fn lookup(&mut self, _: &str, _: &str) -> Option<Prepared> {
        None
    }
    fn store(&mut self, _: &str, _: &str, _: &Prepared) {}
}

/// Prepares modules on every core: they are independent, and parsing is
/// most of a build. Results come back in the order given.
fn prepare_all(jobs: &[(String, String)], options: &BundleOptions) -> Vec<Result<Prepared, Error>> {
    let workers = std::thread::available_parallelism().map_or(1, usize::from).min(jobs.len());
    if workers <= 1 {
        return jobs.iter().map(|(path, source)| prepare(path, source, options)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Prepared, Error>>> = (0..jobs.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, Result<Prepared, Error>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((path, source)) = jobs.get(i) else { break };
                        mine.push((i, prepare(path, source, options)));
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    for (i, r) in done.into_iter().flatten() {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .zip(jobs)
        .map(|(r, (path, _))| {
            r.unwrap_or_else(|| {
                Err(Error::new(ErrorKind::Syntax {
                    at: crate::error::Location { file: path.clone(), line: 1, column: 1 },
                    message: "preparing this module failed".into(),
                }))
            })
        })
        .collect()
}

/// [`bundle`] with the parsing step supplied, so a cache can stand in front of it.
pub(crate) fn bundle_with(
    loader: &dyn SourceLoader,
    options: &BundleOptions,
    cache: &mut dyn PrepareCache,
) -> Result<Bundle, Error> {
    if options.entries.is_empty() {
        return Err(Error::new(ErrorKind::InvalidOptions("no entry module".into())));
    }
    if options.search.is_empty() || options.search.iter().any(|t| !t.contains('?')) {
        return Err(Error::new(ErrorKind::InvalidOptions("every search template needs a '?'".into())));
    }
    let mut modules: BTreeMap<String, Module> = BTreeMap::new(); // by path
    let mut warnings = Vec::new();
    let mut externals = BTreeSet::new();
    // Breadth-first, one wave of newly found modules at a time, each wave in
    // source order; a wave's modules are prepared in parallel.
    let mut wave: Vec<(String, Option<RequireSite>, bool)> =
        options.entries.iter().map(|e| (e.clone(), None, true)).collect();
    let mut edges_to_fill: Vec<(String, String, RequireSite)> = Vec::new(); // (from path, to path, site)

    while !wave.is_empty() {
        // Resolve names to files; collect the files not seen before.
        let mut fresh: Vec<(String, String, String, bool)> = Vec::new(); // (path, source, name, entry)
        for (name, site, entry) in std::mem::take(&mut wave) {
            let required_at = site.as_ref().map(|s| s.at.clone());
            let paths = candidates(&name, &options.search).ok_or_else(|| {
                Error::new(ErrorKind::OutsideRoot { name: name.clone(), required_at: required_at.clone() })
            })?;
            let mut found = None;
            for path in &paths {
                if let Some(m) = modules.get_mut(path) {
                    m.aliases.insert(name.clone());
                    m.entry |= entry;
                    found = Some(path.clone());
                    break;
                }
                if let Some(f) = fresh.iter_mut().find(|f| &f.0 == path) {
                    f.3 |= entry;
                    found = Some(path.clone());
                    // A second name for a file found in this wave: an alias, added below.
                    edges_to_fill.push((String::new(), path.clone(), alias_site(&name)));
                    break;
                }
                let source = loader.load(path).map_err(|e| match e.kind() {
                    ErrorKind::OutsideRoot { .. } => Error::new(ErrorKind::OutsideRoot {
                        name: name.clone(),
                        required_at: required_at.clone(),
                    }),
                    _ => e,
                })?;
                if let Some(source) = source {
                    fresh.push((path.clone(), source, name.clone(), entry));
                    found = Some(path.clone());
                    break;
                }
            }
            let Some(path) = found else {
                // `pcall(require, "x")` expects that `x` may be missing.
                if let Some(site) = site.filter(|s| s.form == RequireForm::Optional) {
                    warnings.push(Warning::OptionalModuleMissing { name, at: site.at, tried: paths });
                    continue;
                }
                return Err(Error::new(ErrorKind::ModuleNotFound { name, required_at, tried: paths }));
            };
            if let Some(site) = site {
                edges_to_fill.push((site.at.file.clone(), path, site));
            }
        }
        // Prepare them: from the cache, or on every core. Folding comes
        // before collecting requires: requires in dead code pull nothing in.
        let mut prepared: Vec<Option<Prepared>> =
            fresh.iter().map(|(path, source, _, _)| cache.lookup(path, source)).collect();
        let jobs: Vec<(String, String)> = fresh
            .iter()
            .zip(&prepared)
            .filter(|(_, p)| p.is_none())
            .map(|((path, source, _, _), _)| (path.clone(), source.clone()))
            .collect();
        let mut made = prepare_all(&jobs, options).into_iter();
        for (slot, (path, source, _, _)) in prepared.iter_mut().zip(&fresh) {
            if slot.is_none() {
                let p = made
                    .next()
                    .unwrap_or_else(|| Err(Error::new(ErrorKind::InvalidOptions("lost a module".into()))))?;
                cache.store(path, source, &p);
                *slot = Some(p);
            }
        }
        for ((path, source, name, entry), p) in fresh.into_iter().zip(prepared) {
            let Some(Prepared { shipped, lines, folded_bytes, removed, parsed }) = p else { continue };
            // Size and hash of the file as written: what a manifest verifies.
            let raw_bytes = source.len();
            let source_hash = blake3::hash(source.as_bytes()).to_hex().to_string();
            let Parsed { requires: sites, functions, .. } = parsed;
            for s in sites {
                match &s.name {
                    None if options.strict => return Err(Error::new(ErrorKind::DynamicRequire { at: s.at })),
                    None if s.form == RequireForm::Value => {
                        warnings.push(Warning::RequireAsValue { at: s.at });
                    }
                    None => warnings.push(Warning::DynamicRequire { at: s.at }),
                    Some(n) if options.externals.contains(n) => {
                        externals.insert(n.clone());
                    }
                    Some(n) => wave.push((n.clone(), Some(s), false)),
                }
            }
            modules.insert(
                path.clone(),
                Module {
                    name: name.clone(),
                    aliases: BTreeSet::from([name]),
                    path,
                    source: shipped,
                    lines,
                    edges: Vec::new(),
                    functions,
                    removed,
                    raw_bytes,
                    folded_bytes,
                    source_hash,
                    entry,
                },
            );
        }
    }
    // Second names of files first found in the same wave.
    edges_to_fill.retain(|(from, to, site)| {
        if from.is_empty() {
            if let (Some(m), Some(name)) = (modules.get_mut(to), site.name.as_ref()) {
                m.aliases.insert(name.clone());
            }
            return false;
        }
        true
    });
    for (from, to, site) in edges_to_fill {
        if let Some(m) = modules.get_mut(&from) {
            m.edges.push((to, site));
        }
    }
    check_cycles(&modules)?;
    let (code, line_map) = emit(&modules, options);
    let names: BTreeMap<&str, &str> = modules.iter().map(|(p, m)| (p.as_str(), m.name.as_str())).collect();
    // Every site requiring each module, to see whether all are conditional.
    let mut incoming: BTreeMap<&str, Vec<&RequireSite>> = BTreeMap::new();
    for m in modules.values() {
        for (to, site) in &m.edges {
            incoming.entry(to.as_str()).or_default().push(site);
        }
    }
    let guarded = |path: &str| -> Vec<String> {
        let sites = incoming.get(path).map(Vec::as_slice).unwrap_or_default();
        if sites.is_empty() || sites.iter().any(|s| s.guards.is_empty()) {
            return Vec::new();
        }
        let mut all: Vec<String> = sites.iter().flat_map(|s| s.guards.iter().cloned()).collect();
        all.sort();
        all.dedup();
        all
    };
    let mut out: Vec<BundledModule> = modules
        .values()
        .map(|m| {
            let mut requires: Vec<String> =
                m.edges.iter().map(|(to, _)| names[to.as_str()].to_owned()).collect();
            requires.dedup();
            BundledModule {
                name: m.name.clone(),
                aliases: m.aliases.iter().filter(|a| **a != m.name).cloned().collect(),
                path: m.path.clone(),
                bytes: m.raw_bytes,
                folded_bytes: m.folded_bytes,
                shipped_bytes: m.source.len(),
                blake3: m.source_hash.clone(),
                functions: m.functions.clone(),
                removed: m.removed.clone(),
                requires,
                required_only_under: if m.entry { Vec::new() } else { guarded(&m.path) },
                entry: m.entry,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Bundle { code, modules: out, externals: externals.into_iter().collect(), line_map, warnings })
}

/// Load-time require cycles recurse forever in Lua 5.3; requires inside
/// functions run later and may form cycles freely.
fn check_cycles(modules: &BTreeMap<String, Module>) -> Result<(), Error> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = modules.keys().map(|k| (k.as_str(), Mark::New)).collect();
    for start in modules.keys() {
        if marks[start.as_str()] != Mark::New {
            continue;
        }
        // Iterative DFS; `path` holds (module, index of next edge, site that led here).
        let mut path: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        marks.insert(start, Mark::Open);
        while let Some((node, i)) = path.last_mut() {
            let edges: Vec<_> = modules[*node].edges.iter().filter(|(_, s)| !s.deferred).collect();
            if *i >= edges.len() {
                marks.insert(node, Mark::Done);
                path.pop();
                continue;
            }
            let (to, _) = edges[*i];
            *i += 1;
            match marks[to.as_str()] {
                Mark::New => {
                    marks.insert(to, Mark::Open);
                    path.push((to.as_str(), 0));
                }
                Mark::Open => {
                    let from = path.iter().position(|(n, _)| *n == to.as_str()).unwrap_or(0);
                    let chain = path[from..]
                        .iter()
                        .map(|(n, i)| {
                            let edges: Vec<_> =
                                modules[*n].edges.iter().filter(|(_, s)| !s.deferred).collect();
                            (modules[*n].name.clone(), edges[*i - 1].1.at.clone())
                        })
                        .collect();
                    return Err(Error::new(ErrorKind::Cycle { chain }));
                }
                Mark::Done => {}
            }
        }
    }
    Ok(())
}

/// A Lua string literal for a module name (names are plain, but quote safely).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes the bundle: every module registered in `package.preload` (so
/// `require` keeps Lua's semantics: once, lazily, in the same order), this
/// bundle's names first cleared from `package.loaded` (so a newer bundle
/// evaluated into a running process replaces its modules), entries run last.
fn emit(modules: &BTreeMap<String, Module>, options: &BundleOptions) -> (String, LineMap) {
    let mut by_name: Vec<&Module> = modules.values().collect();
    by_name.sort_by(|a, b| a.name.cmp(&b.name));
    let all_names: BTreeSet<&str> =
        by_name.iter().flat_map(|m| m.aliases.iter().map(String::as_str)).collect();
    // Minified bundles get minified glue too.
    let (sp, eq) = if options.minify { ("", "=") } else { (" ", " = ") };
    let mut out = String::new();
    let mut segments: Vec<Segment> = Vec::new();
    let (mut lines_before, mut counted) = (0, 0);
    let _ = writeln!(
        out,
        "-- bundled by ao-bundle {}: {} modules; entries: {}",
        env!("CARGO_PKG_VERSION"),
        modules.len(),
        options.entries.join(", ")
    );
    // No locals at chunk level: module code is nested in this chunk and must
    // see exactly the globals it would see unbundled.
    let _ = write!(out, "for _,{sp}name in ipairs({{");
    for (i, n) in all_names.iter().enumerate() {
        if i > 0 {
            out.push(',');
            out.push_str(sp);
        }
        out.push_str(&quote(n));
    }
    let _ = writeln!(out, "}}){sp}do package.loaded[name]{eq}nil end");
    for m in &by_name {
        let _ = writeln!(out, "package.preload[{}]{eq}function(...)", quote(&m.name));
        // A shebang line is not Lua inside a function; keep the line count.
        let source = if m.source.starts_with("#!") {
            m.source.split_once('\n').map_or("", |(_, r)| r)
        } else {
            &m.source
        };
        // Count only what was written since the last module: counting the
        // whole output each time would make emitting quadratic.
        lines_before += out[counted..].matches('\n').count();
        counted = out.len();
        let first_line = lines_before + 1;
        if m.source.starts_with("#!") {
            out.push('\n');
        }
        out.push_str(source);
        // One segment per run of lines that are consecutive in the source too.
        let count = m.source.lines().count().max(1);
        for k in 0..count {
            let line = m.lines.as_ref().map_or(k + 1, |l| l.get(k).copied().unwrap_or(k + 1));
            let bundle_line = first_line + k;
            match segments.last_mut() {
                Some(s)
                    if s.file == m.path
                        && s.bundle_line + s.lines == bundle_line
                        && s.line + s.lines == line =>
                {
                    s.lines += 1;
                }
                _ => segments.push(Segment { bundle_line, lines: 1, file: m.path.clone(), line }),
            }
        }
        if !source.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("end\n");
        for alias in m.aliases.iter().filter(|a| **a != m.name) {
            let _ = writeln!(
                out,
                "package.preload[{}]{eq}function(){sp}return require({}){sp}end",
                quote(alias),
                quote(&m.name)
            );
        }
    }
    for entry in &options.entries {
        let _ = writeln!(out, "require({})", quote(entry));
    }
    (out, LineMap::new(segments))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::MemoryLoader;

    fn project() -> MemoryLoader {
        MemoryLoader::new()
            .file("main.lua", "local a = require('lib.a')\nlocal c = require('.src.constants')\nlocal json = require('json')\nreturn a.f() + c.N")
            .file("lib/a.lua", "local b = require('lib.b-c')\nreturn { f = function() return b end }")
            .file("lib/b-c/init.lua", "return 40")
            .file("src/constants.lua", "return { N = 2 }")
    }

    #[test]
    fn resolves_every_name_form_and_keeps_externals() {
        let b = bundle(&project(), &BundleOptions::new("main")).unwrap();
        let paths: Vec<_> = b.modules.iter().map(|m| (m.name.as_str(), m.path.as_str())).collect();
        assert_eq!(
            paths,
            [
                (".src.constants", "src/constants.lua"),
                ("lib.a", "lib/a.lua"),
                ("lib.b-c", "lib/b-c/init.lua"),
                ("main", "main.lua"),
            ]
        );
        assert_eq!(b.externals, ["json"]);
        assert!(b.warnings.is_empty());
        assert!(b.code.ends_with("require(\"main\")\n"), "{}", b.code);
    }

    #[test]
    fn missing_modules_name_the_requiring_place_and_paths_tried() {
        let p = MemoryLoader::new().file("main.lua", "local x = 1\nlocal m = require('gone.away')");
        let err = bundle(&p, &BundleOptions::new("main")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "main.lua:2:11: module 'gone.away' not found; tried gone/away.lua, gone/away/init.lua"
        );
        let err = bundle(&p, &BundleOptions::new("nope")).unwrap_err();
        assert_eq!(err.to_string(), "entry: module 'nope' not found; tried nope.lua, nope/init.lua");
    }

    #[test]
    fn escapes_from_the_root_are_refused() {
        for name in ["../etc/passwd", "a/../../b", "/abs", "c:x"] {
            let p = MemoryLoader::new().file("main.lua", format!("require('{name}')"));
            let err = bundle(&p, &BundleOptions::new("main")).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::OutsideRoot { .. }), "{name}: {err}");
        }
    }

    #[test]
    fn load_time_cycles_are_errors_with_their_chain_deferred_ones_are_fine() {
        let p = MemoryLoader::new()
            .file("main.lua", "require('a')")
            .file("a.lua", "local b = require('b')\nreturn {}")
            .file("b.lua", "\nlocal a = require('a')\nreturn {}");
        let err = bundle(&p, &BundleOptions::new("main")).unwrap_err();
        assert_eq!(err.to_string(), "require cycle: a (a.lua:1:11) -> b (b.lua:2:11) -> a");

        let p = MemoryLoader::new()
            .file("main.lua", "require('a')")
            .file("a.lua", "local b = require('b')\nreturn {}")
            .file("b.lua", "return { get = function() return require('a') end }");
        assert!(bundle(&p, &BundleOptions::new("main")).is_ok());
    }

    #[test]
    fn dynamic_requires_warn_or_fail_in_strict_mode() {
        let p = MemoryLoader::new().file("main.lua", "local n = 'x'\nreturn require(n)");
        let b = bundle(&p, &BundleOptions::new("main")).unwrap();
        assert_eq!(b.warnings.len(), 1);
        assert_eq!(
            b.warnings[0].to_string(),
            "main.lua:2:8: require with a computed module name is left to the runtime"
        );
        let err = bundle(&p, &BundleOptions::new("main").strict(true)).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::DynamicRequire { .. }));
    }

    #[test]
    fn the_same_file_by_two_names_is_one_module_with_an_alias() {
        let p = MemoryLoader::new()
            .file("main.lua", "require('util.x'); require('.util.x')")
            .file("util/x.lua", "Count = (Count or 0) + 1");
        let b = bundle(&p, &BundleOptions::new("main")).unwrap();
        let x = b.modules.iter().find(|m| m.path == "util/x.lua").unwrap();
        assert_eq!((x.name.as_str(), x.aliases.as_slice()), ("util.x", [".util.x".to_owned()].as_slice()));
        assert!(b.code.contains("package.preload[\".util.x\"] = function() return require(\"util.x\") end"));
    }

    #[test]
    fn output_is_deterministic() {
        let a = bundle(&project(), &BundleOptions::new("main")).unwrap();
        let b = bundle(&project(), &BundleOptions::new("main")).unwrap();
        assert_eq!(a.code, b.code);
    }

    #[test]
    fn options_are_checked() {
        let mut o = BundleOptions::new("main");
        o.entries.clear();
        assert!(matches!(bundle(&project(), &o).unwrap_err().kind(), ErrorKind::InvalidOptions(_)));
        let mut o = BundleOptions::new("main");
        o.search = vec!["src/main.lua".into()];
        assert!(matches!(bundle(&project(), &o).unwrap_err().kind(), ErrorKind::InvalidOptions(_)));
    }
}
