//! `ao-ops`: build, deploy, persist and operate AO game processes.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Build, deploy, persist and operate AO game processes.
#[derive(Debug, Parser)]
#[command(name = "ao-ops", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play the arena example on the embedded ao-local AO and show what happens.
    Demo {
        /// Seed of the embedded AO (ids, randomness): the same seed gives the same run.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Bundle a Lua project into one source, validate it on ao-local, and write
    /// it with its line map (`.map.json`) and manifest (`.manifest.json`).
    Bundle {
        /// Build the targets of this TOML config instead (see ao-bundle's `Config`).
        #[arg(long, conflicts_with_all = ["entries", "out"])]
        config: Option<PathBuf>,
        /// With --config: only this target (repeatable).
        #[arg(long = "target", requires = "config")]
        targets: Vec<String>,
        /// With --config: write here instead of the config's `out_dir`.
        #[arg(long, requires = "config")]
        out_dir: Option<PathBuf>,
        /// Project root: module names resolve from here.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Entry module (repeat for several; they run in order).
        #[arg(long = "entry", required_unless_present = "config")]
        entries: Vec<String>,
        /// Output file.
        #[arg(long, required_unless_present = "config")]
        out: Option<PathBuf>,
        /// A module the runtime provides, besides aos's own (repeatable).
        #[arg(long = "external")]
        externals: Vec<String>,
        /// Refuse computed `require(expr)`.
        #[arg(long)]
        strict: bool,
        /// A constant, `NAME=VALUE` (`true`, `false`, an integer, or text); `if`s it
        /// decides are folded away (repeatable).
        #[arg(long = "define", value_parser = ao_ops::bundling::parse_define)]
        defines: Vec<(String, ao_bundle::Define)>,
        /// Strip comments and whitespace (lines are kept, so error lines still map).
        #[arg(long)]
        minify: bool,
        /// Size limit in bytes.
        #[arg(long, default_value_t = ao_bundle::DEFAULT_SIZE_LIMIT)]
        limit: usize,
        /// A handler the bundle must register (repeatable).
        #[arg(long = "handler")]
        handlers: Vec<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a bundle against its manifest, and its sources with --root.
    Verify {
        /// The bundle file.
        bundle: PathBuf,
        /// The manifest (default: beside the bundle).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Project root, to check the sources too.
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { seed } => ao_ops::demo::run(seed, &mut std::io::stdout().lock()),
        Command::Bundle { config: Some(config), targets, out_dir, .. } => ao_ops::bundling::run_targets(
            &config,
            &targets,
            out_dir.as_deref(),
            &mut std::io::stdout().lock(),
        ),
        Command::Bundle {
            root,
            entries,
            out,
            externals,
            strict,
            defines,
            minify,
            limit,
            handlers,
            json,
            ..
        } => {
            let out = out.unwrap_or_default();
            let args = ao_ops::bundling::BundleArgs {
                root,
                entries,
                out,
                externals,
                strict,
                defines,
                minify,
                limit,
                handlers,
                json,
            };
            ao_ops::bundling::run_bundle(&args, &mut std::io::stdout().lock())
        }
        Command::Verify { bundle, manifest, root } => ao_ops::bundling::run_verify(
            &bundle,
            manifest.as_deref(),
            root.as_deref(),
            &mut std::io::stdout().lock(),
        ),
    }
}
