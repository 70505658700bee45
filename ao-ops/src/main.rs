//! `ao-ops`: build, deploy, persist and operate AO game processes.

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { seed } => ao_ops::demo::run(seed, &mut std::io::stdout().lock()),
    }
}
