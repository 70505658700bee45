//! `ao-ops bundle` and `ao-ops verify`: build, validate and check bundles.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ao_bundle::{
    BundleOptions, Bundler, Config, FsLoader, Manifest, bundle, size_report, validate, verify, write_atomic,
};

/// What `ao-ops bundle` is asked to do (its command-line arguments).
#[derive(Debug, Clone, clap::Args)]
// Command-line switches are naturally booleans.
#[allow(clippy::struct_excessive_bools)]
pub struct BundleArgs {
    /// Build the targets of this TOML config instead (see ao-bundle's `Config`).
    #[arg(long, conflicts_with_all = ["entries", "out"])]
    pub config: Option<PathBuf>,
    /// With --config: only this target (repeatable).
    #[arg(long = "target", requires = "config")]
    pub targets: Vec<String>,
    /// With --config: write here instead of the config's `out_dir`.
    #[arg(long, requires = "config")]
    pub out_dir: Option<PathBuf>,
    /// Project root: module names resolve from here.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Entry module (repeat for several; they run in order).
    #[arg(long = "entry", required_unless_present = "config")]
    pub entries: Vec<String>,
    /// Output file; the line map and manifest go beside it.
    #[arg(long, required_unless_present = "config")]
    pub out: Option<PathBuf>,
    /// A module the runtime provides, besides aos's own (repeatable).
    #[arg(long = "external")]
    pub externals: Vec<String>,
    /// Refuse computed `require(expr)`.
    #[arg(long)]
    pub strict: bool,
    /// A constant, `NAME=VALUE` (`true`, `false`, an integer, or text); `if`s it
    /// decides are folded away (repeatable).
    #[arg(long = "define", value_parser = parse_define)]
    pub defines: Vec<(String, ao_bundle::Define)>,
    /// Strip comments and whitespace and shorten locals (every line of code
    /// keeps its own line, so error lines still map).
    #[arg(long)]
    pub minify: bool,
    /// Keep dead code (unused locals, constant `if`s, code after `return`).
    #[arg(long)]
    pub no_dce: bool,
    /// Size limit in bytes.
    #[arg(long, default_value_t = ao_bundle::DEFAULT_SIZE_LIMIT)]
    pub limit: usize,
    /// A handler the bundle must register (repeatable).
    #[arg(long = "handler")]
    pub handlers: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ao-ops bundle`: the targets of a config, or one bundle.
pub fn run(args: &BundleArgs, out: &mut impl Write) -> anyhow::Result<()> {
    match &args.config {
        Some(config) => run_targets(config, &args.targets, args.out_dir.as_deref(), args.json, out),
        None => run_bundle(args, out),
    }
}

/// One built bundle as JSON: where it went, its size report, modules,
/// externals, warnings and the handlers validation saw.
fn report_json(
    built: &ao_bundle::Bundle,
    validation: &ao_bundle::Validation,
    out_path: &Path,
) -> anyhow::Result<serde_json::Value> {
    let size = size_report(built);
    Ok(serde_json::json!({
        "size": serde_json::from_str::<serde_json::Value>(&size.to_json())?,
        "bundle": out_path, "bytes": validation.bytes, "limit": validation.limit,
        "modules": built.modules.iter().map(|m| serde_json::json!({
            "name": m.name, "path": m.path, "bytes": m.bytes, "aliases": m.aliases,
            "requires": m.requires, "entry": m.entry, "blake3": m.blake3,
            "required_only_under": m.required_only_under,
        })).collect::<Vec<_>>(),
        "externals": built.externals,
        "warnings": built.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "handlers": validation.handlers,
        "line_map": sibling(out_path, ".map.json"), "manifest": sibling(out_path, ".manifest.json"),
    }))
}

/// The text report of one built bundle, after its first line.
fn report_text(
    built: &ao_bundle::Bundle,
    validation: &ao_bundle::Validation,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    write!(out, "{}", size_report(built))?;
    writeln!(
        out,
        "  runtime modules: {}",
        if built.externals.is_empty() { "none".into() } else { built.externals.join(", ") }
    )?;
    for w in &built.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    writeln!(out, "validated on ao-local: loads cleanly, handlers {}", validation.handlers.join(", "))?;
    Ok(())
}

/// Parses `NAME=VALUE`: `true`/`false`, an integer, or text (quotes optional).
pub fn parse_define(arg: &str) -> Result<(String, ao_bundle::Define), String> {
    let (name, value) = arg.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, got {arg:?}"))?;
    let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(format!("{name:?} is not a Lua name"));
    }
    let value = match value {
        "true" => ao_bundle::Define::Bool(true),
        "false" => ao_bundle::Define::Bool(false),
        v => v.parse::<i64>().map_or_else(
            |_| ao_bundle::Define::Str(v.trim_matches(|c| c == '"' || c == '\'').to_owned()),
            ao_bundle::Define::Int,
        ),
    };
    Ok((name.to_owned(), value))
}

fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(suffix);
    out.with_file_name(name)
}

/// Builds, validates and writes a bundle with its line map and manifest.
pub fn run_bundle(args: &BundleArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut options = BundleOptions::new(args.entries.first().context("at least one --entry is needed")?);
    for e in args.entries.iter().skip(1) {
        options = options.entry(e);
    }
    for x in &args.externals {
        options = options.external(x);
    }
    options = options.strict(args.strict).minify(args.minify).dce(!args.no_dce);
    for (name, value) in &args.defines {
        options = options.define(name, value.clone());
    }
    let loader =
        FsLoader::new(&args.root).with_context(|| format!("opening project root {}", args.root.display()))?;
    let built = bundle(&loader, &options)?;
    let handlers: Vec<&str> = args.handlers.iter().map(String::as_str).collect();
    let validation = validate(&built, args.limit, &handlers)?;

    let out_path = args.out.as_deref().context("--out is needed without --config")?;
    let map_path = sibling(out_path, ".map.json");
    let manifest_path = sibling(out_path, ".manifest.json");
    let manifest = Manifest::new(&built, &options, &out_path.to_string_lossy());
    write_atomic(out_path, built.code.as_bytes())?;
    write_atomic(&map_path, built.line_map.to_json().as_bytes())?;
    write_atomic(&manifest_path, manifest.to_json().as_bytes())?;

    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report_json(&built, &validation, out_path)?)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "bundled {} modules into {} ({} bytes, limit {})",
        built.modules.len(),
        out_path.display(),
        validation.bytes,
        validation.limit
    )?;
    report_text(&built, &validation, out)?;
    writeln!(out, "wrote {} and {}", map_path.display(), manifest_path.display())?;
    Ok(())
}

/// Builds the targets of a config file (all, or those named), sharing one
/// cache, and reports each (as one JSON array with `json`).
pub fn run_targets(
    config: &Path,
    only: &[String],
    out_dir: Option<&Path>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut config = Config::load(config)?;
    if let Some(dir) = out_dir {
        config.out_dir = dir.to_path_buf();
    }
    let mut bundler = match &config.cache_dir {
        Some(dir) => Bundler::with_cache_dir(dir)?,
        None => Bundler::new(),
    };
    let built = bundler.build_targets(&config, only)?;
    if json {
        let reports = built
            .iter()
            .map(|t| {
                let mut r = report_json(&t.bundle, &t.validation, &t.out)?;
                r["target"] = serde_json::Value::from(t.name.clone());
                Ok(r)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        writeln!(out, "{}", serde_json::to_string_pretty(&reports)?)?;
        return Ok(());
    }
    for t in &built {
        writeln!(
            out,
            "target {}: {} modules, {} bytes (limit {}) -> {}",
            t.name,
            t.bundle.modules.len(),
            t.validation.bytes,
            t.validation.limit,
            t.out.display(),
        )?;
        report_text(&t.bundle, &t.validation, out)?;
    }
    let stats = bundler.last_stats();
    writeln!(
        out,
        "cache: {} modules parsed, {} from memory, {} from disk (last target)",
        stats.parsed, stats.from_memory, stats.from_disk
    )?;
    Ok(())
}

/// Checks a bundle against its manifest (and its sources, with a root).
/// Returns an error listing every mismatch.
pub fn run_verify(
    bundle_path: &Path,
    manifest_path: Option<&Path>,
    root: Option<&Path>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let manifest_path =
        manifest_path.map_or_else(|| sibling(bundle_path, ".manifest.json"), Path::to_path_buf);
    let bytes = std::fs::read(bundle_path).with_context(|| format!("reading {}", bundle_path.display()))?;
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = Manifest::from_json(&text)?;
    let loader = root.map(FsLoader::new).transpose()?;
    let mismatches = verify(&bytes, &manifest, loader.as_ref().map(|l| l as &dyn ao_bundle::SourceLoader))?;
    if mismatches.is_empty() {
        let scope = if root.is_some() { "bundle and sources match" } else { "bundle matches" };
        writeln!(out, "ok: {scope} {} ({})", manifest_path.display(), manifest.tool)?;
        return Ok(());
    }
    for m in &mismatches {
        writeln!(out, "mismatch: {m}")?;
    }
    bail!("{} mismatch(es) against {}", mismatches.len(), manifest_path.display())
}

/// Rewrites the error text in `file` (or standard input) through the line map
/// at `map`, for the chunk names given, and prints it.
pub fn run_trace(
    map: &Path,
    chunks: &[String],
    file: Option<&Path>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(map).with_context(|| format!("reading {}", map.display()))?;
    let line_map =
        ao_bundle::LineMap::from_json(&text).with_context(|| format!("reading {}", map.display()))?;
    let input = match file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
        None => std::io::read_to_string(std::io::stdin()).context("reading standard input")?,
    };
    let names: Vec<&str> = chunks.iter().map(String::as_str).collect();
    write!(out, "{}", line_map.rewrite(&input, &names))?;
    Ok(())
}
