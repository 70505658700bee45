//! Bundle a multi-file Lua project into one small, verified source for AO.
//!
//! An AO process loads one Lua source per `Eval`. `ao-bundle` follows the
//! project's `require` graph from its entry modules and writes one file in
//! which every module is registered in `package.preload`, so `require` keeps
//! Lua's semantics — each module runs once, lazily, on first require, with the
//! same order of side effects as the unbundled sources — and the entries run
//! last. Evaluating a newer bundle into a process that ran an older one first
//! forgets the bundle's own modules, so the new code takes effect (hot reload),
//! while modules the runtime provides (`json`, `.utils`, ...) are left alone.
//!
//! # Build
//!
//! - Names: `require "a.b"`, `require("a.b")`, `require('a.b')`, `require [[a.b]]`,
//!   and the optional-module idiom `pcall(require, "a.b")` (bundled when
//!   present, a warning when not); leading-dot names as aos projects write
//!   them (`require(".src.constants")`) resolve from the root; dashes work.
//!   Search templates work like `package.path`.
//! - Errors name the place: a missing module gives the requiring `file:line:col`
//!   and the paths tried; a load-time cycle gives its chain (cycles through
//!   requires inside functions are allowed, as Lua allows them); a syntax
//!   error gives `file:line:col` and the parser's message; a module name or a
//!   symbolic link leading outside the root is refused; a computed
//!   `require(expr)` or `require` used as a value is a warning, or an error in
//!   strict mode. Nesting deeper than Lua's own limit is refused before parsing.
//! - Output is byte-for-byte deterministic for the same inputs and options.
//!
//! # Shrink
//!
//! - Dead-code elimination ([`BundleOptions::dce`], on by default), on the
//!   syntax tree and conservative about side effects: modules never required
//!   are not bundled; constant `if`/`elseif` chains fold; statements after
//!   `break`, `return` (`do return end`) and `goto` go, up to a label; unused
//!   `local function`s and unused locals whose values can have no effect
//!   (literals, locals, function expressions, tables of those — never calls,
//!   indexing or global reads, which may run metamethods) are removed, to a
//!   fixed point, so helpers used only by removed helpers go too. A module
//!   that uses `debug` is left alone; a local `_ENV` always stays.
//! - `define` constants ([`BundleOptions::define`]) replace unshadowed,
//!   unassigned globals before requires are collected, so debug-only code and
//!   the modules only it requires disappear.
//! - [`BundleOptions::minify`] strips comments and whitespace, writes each
//!   token with only the separators Lua needs (`a- -b`, `1 ..x`, `t[ [[k]]]`),
//!   renames locals to short names — reused wherever nothing can be shadowed,
//!   never capturing a global —, picks the quote that needs fewer escapes,
//!   drops call parentheses around one string or table, writes `t["k"]` as
//!   `t.k`, and joins runs of `local` statements when what moves cannot fail.
//!   Every line of code keeps its own line (Lua reports errors by line only);
//!   empty lines are dropped, and the line map records where each came from.
//!
//! # Know
//!
//! - A [`LineMap`] (JSON) says which source file and line each bundle line came
//!   from, and [`LineMap::rewrite`] turns AO error messages and Lua tracebacks
//!   that name bundle lines into `file:line` (`ao-ops trace` on the command line).
//! - [`size_report`] says where the bytes come from: per module the source,
//!   after-DCE, shipped and zstd sizes and share, what DCE removed (what and
//!   where), the largest functions, and recommendations (a module's share, a
//!   module required only under `if DEBUG`); as a text table or JSON.
//! - [`validate`] re-parses the bundle, holds it to a size limit (500 KB by
//!   default), loads it into a fresh aos process on ao-local and checks the
//!   handlers it registers; a [`Manifest`] records the hashes of the bundle and
//!   of every source, the options and the tool version, and [`verify`]
//!   re-checks them.
//!
//! # Fast
//!
//! - A [`Bundler`] caches each module as prepared (folded, minified, parsed),
//!   keyed by content hash and options, in memory and on disk: after one
//!   module changes, only it is parsed again ([`BuildStats`] says so).
//! - A TOML [`Config`] declares several targets (entries, defines, externals,
//!   size limit, expected handlers), built in one call sharing the cache.
//!
//! Deliberately not done: column-level maps (Lua's messages carry no column),
//! rewriting field names or globals, and inlining (it would move code between
//! lines, so errors could no longer be mapped exactly).
//!
//! # Example
//!
//! ```
//! use ao_bundle::{BundleOptions, MemoryLoader, bundle};
//!
//! let project = MemoryLoader::new()
//!     .file("main.lua", "local greet = require('lib.greet')\nHandlers.add('Hi', 'Hi', greet)")
//!     .file("lib/greet.lua", "local json = require('json')\nreturn function(m) m.reply({ Data = json.encode({ hi = m.From }) }) end");
//! let built = bundle(&project, &BundleOptions::new("main"))?;
//! assert_eq!(built.modules.len(), 2);
//! assert_eq!(built.externals, ["json"]);
//! assert!(built.code.ends_with("require(\"main\")\n"));
//! # Ok::<(), ao_bundle::Error>(())
//! ```

mod analytics;
mod bundle;
mod cache;
mod config;
mod dce;
mod error;
mod fasthash;
mod fold;
mod lex;
mod linemap;
mod loader;
mod minify;
mod parse;
mod rename;
mod scope;
mod verify;

pub use analytics::{FunctionSize, ModuleSize, SizeReport, size_report};
pub use bundle::{AOS_EXTERNALS, Bundle, BundleOptions, BundledModule, bundle};
pub use cache::{BuildStats, Bundler};
pub use config::{Config, Target, TargetBuild};
pub use error::{Error, ErrorKind, Location, Warning};
pub use fold::{Define, Removal};
pub use linemap::{LineMap, Segment, SourceLine};
pub use loader::{FsLoader, MemoryLoader, SourceLoader};
pub use parse::FunctionInfo;
pub use verify::{
    DEFAULT_SIZE_LIMIT, FileHash, Manifest, ManifestOptions, Mismatch, Validation, validate, verify,
    write_atomic,
};
