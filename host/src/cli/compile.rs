//! `weir compile-component IN OUT` (hidden): compile one untrusted component
//! under resource limits. The runtime starts it (see `RuntimeConfig::compiler`);
//! people need not.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rlimit::Resource;

use crate::runtime::{EXIT_COMPILE_ERROR, RuntimeError, compile_component};

/// Arguments of `weir compile-component`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The component (`-` reads it from stdin).
    pub input: PathBuf,
    /// Where the precompiled artifact is written.
    pub output: PathBuf,
    /// The engine key of the runtime that will load the artifact.
    #[arg(long)]
    pub engine_key: String,
    /// Address space this process may use, in MiB.
    #[arg(long)]
    pub memory_mb: u64,
    /// CPU time this process may use, in seconds (all threads together).
    #[arg(long)]
    pub cpu_secs: u64,
}

/// Limits this process, then compiles. Exits 0 with the artifact written,
/// [`EXIT_COMPILE_ERROR`] with the reason on stderr when the component does
/// not compile, or 2 (via `main`) when something else failed.
pub fn compile(args: CompileArgs) -> anyhow::Result<ExitCode> {
    let memory = args.memory_mb.saturating_mul(1 << 20);
    Resource::AS
        .set(memory, memory)
        .context("cannot limit the compiler's memory")?;
    // Past the soft limit the kernel sends SIGXCPU, one second later SIGKILL.
    Resource::CPU
        .set(args.cpu_secs, args.cpu_secs.saturating_add(1))
        .context("cannot limit the compiler's CPU time")?;
    let wasm = if args.input.as_os_str() == "-" {
        let mut wasm = Vec::new();
        std::io::stdin()
            .read_to_end(&mut wasm)
            .context("cannot read the component from stdin")?;
        wasm
    } else {
        std::fs::read(&args.input)
            .with_context(|| format!("cannot read {}", args.input.display()))?
    };
    match compile_component(&wasm, &args.output, &args.engine_key) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(RuntimeError::Compile(message)) => {
            eprintln!("{message}");
            Ok(ExitCode::from(EXIT_COMPILE_ERROR))
        }
        Err(e) => Err(e.into()),
    }
}
