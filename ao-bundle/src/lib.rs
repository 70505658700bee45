//! Bundle a multi-file Lua project into one source for AO.
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
//! - Names: `require "a.b"`, `require("a.b")`, `require('a.b')`, `require [[a.b]]`;
//!   leading-dot names as aos projects write them (`require(".src.constants")`)
//!   resolve from the root; dashes work. Search templates work like `package.path`.
//! - Errors name the place: a missing module gives the requiring `file:line:col`
//!   and the paths tried; a load-time cycle gives its chain (cycles through
//!   requires inside functions are allowed, as Lua allows them); a syntax
//!   error gives `file:line:col` and the parser's message; a module name or a
//!   symbolic link leading outside the root is refused; a computed
//!   `require(expr)` is a warning, or an error in strict mode.
//! - Output is byte-for-byte deterministic for the same inputs and options.
//!
//! - A [`LineMap`] says which source file and line each bundle line came from,
//!   and rewrites Lua error messages and tracebacks that name bundle lines.
//!
//! - [`validate`] re-parses the bundle, holds it to a size limit (500 KB by
//!   default), loads it into a fresh aos process on ao-local and checks the
//!   handlers it registers; a [`Manifest`] records the hashes of the bundle and
//!   of every source, and [`verify`] re-checks them.
//!
//! - A [`Bundler`] caches each module's parse by content hash, in memory and
//!   on disk: after one module changes, only it is parsed again.
//!
//! - A TOML [`Config`] declares several targets (entries, externals, size
//!   limit, expected handlers), built in one call sharing the cache.
//!
//! - [`size_report`] says where the bytes come from: per module raw and zstd
//!   size and share, the largest functions with their location, and
//!   recommendations; as a text table or JSON.
//!
//! - `define` constants ([`BundleOptions::define`]) replace unshadowed
//!   globals, and `if`s they make constant are folded away before requires are
//!   collected, so debug-only code and the modules only it requires disappear;
//!   edits keep every line in place, so the line map stays exact.
//!
//! - [`BundleOptions::minify`] strips comments and whitespace, writing each
//!   token with only the separators Lua needs (`a- -b`, `1 ..x`, `t[ [[k]]]`),
//!   renames locals to shorter names that can neither shadow nor capture
//!   anything, writes each string with the quote that needs fewer escapes, and
//!   keeps every newline, so errors still map to the right lines.
//! - Statements after a `break` are removed, and Lua 5.3's statements after
//!   `break` are accepted (the parser underneath only knew 5.1's rule).
//!
//! Not yet: removing unused locals and local functions, and column-exact maps
//! (see the project's issue list).
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
mod fold;
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
