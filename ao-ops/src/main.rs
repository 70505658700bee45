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
    Bundle(ao_ops::bundling::BundleArgs),
    /// Environments (dev, staging, prod, ...): validate, explain, drift, apply, sync.
    /// Exit codes: 0 clean, 1 error, 2 drift.
    #[command(subcommand)]
    Env(ao_ops::environments::EnvCommand),
    /// Roll a release out to an environment with the strategy its ao-deploy.toml
    /// names (installs the process first if needed); `--plan` prints what would happen.
    #[command(after_help = ao_ops::deploying::EXIT_CODES)]
    Deploy(ao_ops::deploying::DeployArgs),
    /// Go back to the release that ran before (aborts a rollout in progress).
    #[command(after_help = ao_ops::deploying::EXIT_CODES)]
    Rollback(ao_ops::deploying::TargetArgs),
    /// Promote what succeeded in the previous environment into ENV, through its
    /// gates (success, soak time, approvals); or, while a rollout of ENV is in
    /// progress, skip its remaining steps.
    #[command(after_help = ao_ops::deploying::EXIT_CODES)]
    Promote(ao_ops::deploying::PromoteArgs),
    /// Pause the rollout in progress (deferred while a router buffers traffic).
    #[command(after_help = ao_ops::deploying::EXIT_CODES)]
    Pause(ao_ops::deploying::TargetArgs),
    /// Resume a paused or crashed rollout from its journal.
    #[command(after_help = ao_ops::deploying::EXIT_CODES)]
    Resume(ao_ops::deploying::ResumeArgs),
    /// Abort the rollout in progress: roll it back.
    #[command(after_help = ao_ops::deploying::EXIT_CODES)]
    Abort(ao_ops::deploying::TargetArgs),
    /// Every deployment: steps, durations, result, failing step; success rate
    /// and mean times to deploy and to roll back per environment.
    #[command(after_help = ao_ops::deploying::EXIT_CODES)]
    History(ao_ops::deploying::HistoryArgs),
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
    /// Rewrite an AO error message or Lua traceback that names bundle lines
    /// into source files and lines, using the bundle's line map.
    Trace {
        /// The line map (`<bundle>.map.json`).
        #[arg(long)]
        map: PathBuf,
        /// The chunk name the bundle ran under (aos evaluates code as `aos`; repeatable).
        #[arg(long = "chunk", default_value = "aos")]
        chunks: Vec<String>,
        /// A file holding the error text (default: standard input).
        file: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    // clap exits 2 on a bad flag, which the deployment commands use for "rolled
    // back": a bad command line is bad input, 1, like every other error.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                std::process::ExitCode::FAILURE
            } else {
                std::process::ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The chain of causes on one line, no backtrace; a cause whose text its
/// parent already shows (the libraries' errors name their source) is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

/// Runs a deployment command and exits with its code unless it is 0.
fn deploying(f: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<u8>) -> anyhow::Result<()> {
    let code = f(&mut std::io::stdout().lock())?;
    if code != 0 {
        std::process::exit(i32::from(code));
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { seed } => ao_ops::demo::run(seed, &mut std::io::stdout().lock()),
        Command::Bundle(args) => ao_ops::bundling::run(&args, &mut std::io::stdout().lock()),
        Command::Env(command) => {
            let code = ao_ops::environments::run(&command, &mut std::io::stdout().lock())?;
            if code != 0 {
                std::process::exit(i32::from(code));
            }
            Ok(())
        }
        Command::Deploy(args) => deploying(|out| ao_ops::deploying::run_deploy(&args, out)),
        Command::Rollback(args) => deploying(|out| ao_ops::deploying::run_rollback(&args, out)),
        Command::Promote(args) => deploying(|out| ao_ops::deploying::run_promote(&args, out)),
        Command::Pause(args) => deploying(|out| {
            ao_ops::deploying::run_command(&args, Some(ao_deploy::Command::Pause), false, out)
        }),
        Command::Resume(args) => deploying(|out| {
            ao_ops::deploying::run_command(
                &args.target,
                Some(ao_deploy::Command::Resume),
                args.take_over,
                out,
            )
        }),
        Command::Abort(args) => deploying(|out| {
            ao_ops::deploying::run_command(&args, Some(ao_deploy::Command::Abort), false, out)
        }),
        Command::History(args) => deploying(|out| ao_ops::deploying::run_history(&args, out)),
        Command::Verify { bundle, manifest, root } => ao_ops::bundling::run_verify(
            &bundle,
            manifest.as_deref(),
            root.as_deref(),
            &mut std::io::stdout().lock(),
        ),
        Command::Trace { map, chunks, file } => {
            ao_ops::bundling::run_trace(&map, &chunks, file.as_deref(), &mut std::io::stdout().lock())
        }
    }
}
