//! Multi-target builds from one TOML file.
//!
//! ```toml
//! root = "src"                 # project root, relative to this file
//! out_dir = "dist"             # where bundles go
//! cache_dir = ".bundle-cache"  # optional: parse cache shared by all targets
//!
//! [targets.arena]
//! entries = ["main"]
//! out = "arena.lua"
//! handlers = ["Join", "Move"]  # must be registered when the bundle loads
//! size_limit = 512000          # bytes; default 500 KB
//! externals = []               # besides aos's own runtime modules
//! strict = false               # refuse computed requires
//! defines = { DEBUG = false }  # constants; `if`s they decide are folded away
//! dce = true                   # remove dead code (the default)
//! minify = true                # strip comments and whitespace, keeping lines
//! ```
//!
//! Unknown keys are errors, so a typo never silently changes a build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bundle::{Bundle, BundleOptions};
use crate::cache::Bundler;
use crate::error::{Error, ErrorKind};
use crate::fold::Define;
use crate::loader::FsLoader;
use crate::verify::{DEFAULT_SIZE_LIMIT, Manifest, Validation, validate, write_atomic};

/// A parsed config: paths are resolved against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Project root.
    pub root: PathBuf,
    /// Output directory.
    pub out_dir: PathBuf,
    /// Parse cache directory, if any.
    pub cache_dir: Option<PathBuf>,
    /// Targets by name.
    pub targets: BTreeMap<String, Target>,
}

/// One bundle to build.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Entry modules, run in order.
    pub entries: Vec<String>,
    /// Output file name, relative to the output directory.
    pub out: String,
    /// Extra runtime-provided module names.
    #[serde(default)]
    pub externals: Vec<String>,
    /// Refuse computed requires.
    #[serde(default)]
    pub strict: bool,
    /// Size limit in bytes.
    #[serde(default = "default_limit")]
    pub size_limit: usize,
    /// Handlers the bundle must register.
    #[serde(default)]
    pub handlers: Vec<String>,
    /// Constants: `{ DEBUG = false, TARGET = "shard" }`.
    #[serde(default)]
    pub defines: BTreeMap<String, Define>,
    /// Remove dead code (on unless set to `false`).
    #[serde(default = "default_dce")]
    pub dce: bool,
    /// Strip comments and whitespace (lines are kept).
    #[serde(default)]
    pub minify: bool,
}

fn default_dce() -> bool {
    true
}

fn default_limit() -> usize {
    DEFAULT_SIZE_LIMIT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    root: String,
    out_dir: String,
    cache_dir: Option<String>,
    targets: BTreeMap<String, Target>,
}

impl Config {
    /// Parses config text; `base` is the directory relative paths start from,
    /// `file` names the config in errors.
    pub fn from_toml(text: &str, base: &Path, file: &str) -> Result<Self, Error> {
        let invalid =
            |message: String| Error::new(ErrorKind::InvalidConfig { file: file.to_owned(), message });
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_owned()))?;
        if raw.targets.is_empty() {
            return Err(invalid("no [targets.NAME] table".into()));
        }
        for (name, t) in &raw.targets {
            if t.entries.is_empty() {
                return Err(invalid(format!("targets.{name}.entries is empty")));
            }
            let out = Path::new(&t.out);
            if out.is_absolute() || out.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(invalid(format!("targets.{name}.out must stay inside out_dir")));
            }
        }
        Ok(Self {
            root: base.join(raw.root),
            out_dir: base.join(raw.out_dir),
            cache_dir: raw.cache_dir.map(|d| base.join(d)),
            targets: raw.targets,
        })
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::new(ErrorKind::Io { path: path.to_path_buf(), source }))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, base, &path.display().to_string())
    }
}

/// One built target.
#[derive(Debug, Clone)]
pub struct TargetBuild {
    /// The target's name.
    pub name: String,
    /// The bundle.
    pub bundle: Bundle,
    /// What validation found.
    pub validation: Validation,
    /// Where the bundle was written (its line map and manifest are beside it).
    pub out: PathBuf,
}

impl Bundler {
    /// Builds, validates and writes every target of `config` (or only those
    /// named in `only`), sharing this bundler's cache between them.
    pub fn build_targets(&mut self, config: &Config, only: &[String]) -> Result<Vec<TargetBuild>, Error> {
        if let Some(unknown) = only.iter().find(|n| !config.targets.contains_key(*n)) {
            return Err(Error::new(ErrorKind::InvalidOptions(format!("no target named {unknown:?}"))));
        }
        let loader = FsLoader::new(&config.root)?;
        std::fs::create_dir_all(&config.out_dir)
            .map_err(|source| Error::new(ErrorKind::Io { path: config.out_dir.clone(), source }))?;
        let mut built = Vec::new();
        for (name, t) in config.targets.iter().filter(|(n, _)| only.is_empty() || only.contains(n)) {
            let mut options = BundleOptions::new(&t.entries[0]).strict(t.strict);
            options.defines.clone_from(&t.defines);
            options.minify = t.minify;
            options.dce = t.dce;
            for e in &t.entries[1..] {
                options = options.entry(e);
            }
            for x in &t.externals {
                options = options.external(x);
            }
            let bundle = self.bundle(&loader, &options)?;
            let handlers: Vec<&str> = t.handlers.iter().map(String::as_str).collect();
            let validation = validate(&bundle, t.size_limit, &handlers)
                .map_err(|e| Error::new(ErrorKind::Validation(format!("target {name}: {e}"))))?;
            let out = config.out_dir.join(&t.out);
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|source| Error::new(ErrorKind::Io { path: dir.to_path_buf(), source }))?;
            }
            let beside = |suffix: &str| {
                let mut name = out.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
                name.push(suffix);
                out.with_file_name(name)
            };
            let manifest = Manifest::new(&bundle, &options, &t.out);
            write_atomic(&out, bundle.code.as_bytes())?;
            write_atomic(&beside(".map.json"), bundle.line_map.to_json().as_bytes())?;
            write_atomic(&beside(".manifest.json"), manifest.to_json().as_bytes())?;
            built.push(TargetBuild { name: name.clone(), bundle, validation, out });
        }
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets_with_defaults_and_resolves_paths() {
        let text = "root = \"src\"\nout_dir = \"dist\"\n[targets.a]\nentries = [\"main\"]\nout = \"a.lua\"\n";
        let c = Config::from_toml(text, Path::new("/p"), "b.toml").unwrap();
        assert_eq!((c.root.as_path(), c.out_dir.as_path()), (Path::new("/p/src"), Path::new("/p/dist")));
        assert_eq!(c.targets["a"].size_limit, DEFAULT_SIZE_LIMIT);
        assert!(!c.targets["a"].strict);
    }

    #[test]
    fn bad_configs_name_file_and_field() {
        let cases = [
            (
                "root = \"s\"\nout_dir = \"d\"\n[targets.a]\nentries = [\"m\"]\nout = \"a\"\nsize_limt = 1\n",
                "size_limt",
            ),
            (
                "root = \"s\"\nout_dir = \"d\"\n[targets.a]\nentries = []\nout = \"a\"\n",
                "targets.a.entries is empty",
            ),
            (
                "root = \"s\"\nout_dir = \"d\"\n[targets.a]\nentries = [\"m\"]\nout = \"../x\"\n",
                "must stay inside out_dir",
            ),
            ("root = \"s\"\nout_dir = \"d\"\n", "targets"),
            ("root = = 1", "b.toml"),
        ];
        for (text, expected) in cases {
            let err = Config::from_toml(text, Path::new("."), "b.toml").unwrap_err();
            assert!(err.to_string().starts_with("b.toml: ") && err.to_string().contains(expected), "{err}");
        }
    }
}
