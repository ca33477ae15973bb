//! The `weir` command line: one module per subcommand.

mod pack;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use pack::{PackArgs, pack};
pub use run::RunArgs;

/// weir: a hub for WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Package a plugin directory as a .tar.gz (building it first if it is a Cargo crate).
    Pack(PackArgs),
    /// Run a sequence package locally: stdin is its input, stdout its output, stderr its log.
    Run(RunArgs),
}

/// Parses the command line, runs the command and turns errors into a message
/// on stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Pack(args) => pack(&args).map(|path| {
            eprintln!("packed {}", path.display());
            ExitCode::SUCCESS
        }),
        Command::Run(args) => run::run(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
