//! `weir run PACKAGE [--config JSON] [-- ARGS...]`: run a sequence locally.
//!
//! stdin is the instance input, stdout its output; the plugin's log, stderr,
//! WASI stdout and emitted events go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::GrantArgs;
use crate::hub::package_limits;
use crate::package::{Package, UnpackLimits};
use crate::runners::Runners;
use crate::runtime::{ConsoleLine, Instance, Program, Runtime, RuntimeConfig, StartOptions};
use crate::streams::Pipe;

/// Arguments of `weir run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The package (.tar.gz) to run.
    pub package: PathBuf,
    /// Configuration as a JSON object, overlaid on the package's `[config]`.
    #[arg(long, value_name = "JSON")]
    pub config: Option<String>,
    /// Memory limit of the instance, in MiB.
    #[arg(long, default_value_t = 256)]
    pub memory_mb: usize,
    /// Where compiled components are cached (default: the user cache dir).
    #[arg(long, env = "WEIR_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Topic NAME's records come from FILE (the topic ends with the file); repeat for more.
    #[arg(long = "topic-in", value_name = "NAME=FILE")]
    pub topic_in: Vec<String>,
    /// What the plugin publishes to topic NAME is written to FILE; repeat for more.
    #[arg(long = "topic-out", value_name = "NAME=FILE")]
    pub topic_out: Vec<String>,
    /// The content type of the input (what `POST /input` would name), e.g.
    /// `application/x-ndjson`: a Scramjet sequence's input is decoded by it.
    #[arg(long, short = 't', value_name = "CT")]
    pub input_type: Option<String>,
    /// Where the JavaScript and Python runners are, for Scramjet sequences in those
    /// languages (`weir runner build`; default `~/.cache/weir/runners`).
    #[arg(long, env = crate::runners::RUNNERS_DIR_ENV, value_name = "DIR")]
    pub runners_dir: Option<PathBuf>,
    /// What the package may be granted when its manifest asks for it.
    #[command(flatten)]
    pub grants: GrantArgs,
    /// Arguments passed to the plugin (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Runs the package and returns the process exit code: 0 when the plugin
/// finished, its exit code (or 1) otherwise.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let overrides = parse_config(args.config.as_deref())?;
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let Local {
        package,
        runtime,
        program,
    } = load_local(
        &args.package,
        work.path(),
        LocalOptions {
            grants: &args.grants,
            memory_mb: args.memory_mb,
            cache_dir: args.cache_dir.clone(),
            runners_dir: args.runners_dir.clone(),
            verb: "run",
        },
        |_| Ok(()),
    )?;
    let mut config = package.manifest.config.clone();
    config.extend(overrides);
    let topics = super::run_topics::FileTopics::new(&args.topic_in, &args.topic_out)?;
    let options = StartOptions {
        id: uuid::Uuid::new_v4().to_string(),
        config,
        args: args.args.into_iter().map(Value::String).collect(),
        topics: Some(std::sync::Arc::new(topics)),
        console: Some(std::sync::Arc::new(print_console)),
        ..StartOptions::default()
    };
    let input_type = args.input_type;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let code = rt.block_on(async move {
        let instance = runtime.start(&program, options);
        if let Some(content_type) = &input_type {
            instance.set_input_content_type(content_type);
        }
        if program.entry_kind() == "sequence" {
            instance.close_stdin();
        }
        attach(instance).await
    });
    // stdin may still be blocked in a read the plugin no longer wants.
    rt.shutdown_background();
    Ok(code)
}

/// A package unpacked on this machine with the program that runs it: what `weir run` and
/// `weir render` share.
pub(super) struct Local {
    pub(super) package: Package,
    pub(super) runtime: Runtime,
    pub(super) program: Program,
}

/// How [`load_local`] loads a package.
pub(super) struct LocalOptions<'a> {
    pub(super) grants: &'a GrantArgs,
    pub(super) memory_mb: usize,
    pub(super) cache_dir: Option<PathBuf>,
    pub(super) runners_dir: Option<PathBuf>,
    /// The command's verb in errors ("PACKAGE cannot run").
    pub(super) verb: &'static str,
}

/// Unpacks the package at `path` into `work`, lets `check` refuse it before anything is
/// compiled, grants what the flags allow and loads its program (its component, or its
/// language's runner), compiling in a child process with a time and memory limit.
pub(super) fn load_local(
    path: &std::path::Path,
    work: &std::path::Path,
    options: LocalOptions<'_>,
    check: impl FnOnce(&Package) -> anyhow::Result<()>,
) -> anyhow::Result<Local> {
    let verb = options.verb;
    let archive =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let package = Package::unpack(archive, &work.join("package"), &UnpackLimits::default())
        .with_context(|| format!("{} is not a valid package", path.display()))?;
    check(&package)?;
    let grants = options
        .grants
        .policy()
        .grant(&package.manifest.grants)
        .with_context(|| format!("{} cannot {verb}", path.display()))?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(options.cache_dir.unwrap_or_else(default_cache_dir)),
        max_memory_bytes: options.memory_mb << 20,
        compiler: std::env::current_exe().ok(),
        ..RuntimeConfig::default()
    })?;
    let runners = Runners::new(
        options
            .runners_dir
            .unwrap_or_else(crate::runners::default_dir),
    );
    let program = runners
        .program(&runtime, &package, grants)
        .with_context(|| format!("{} cannot {verb}", path.display()))?
        .with_limits(package_limits(&package.manifest.limits));
    Ok(Local {
        package,
        runtime,
        program,
    })
}

/// Wires the process's stdio to the instance and waits for it to end.
async fn attach(instance: Instance) -> ExitCode {
    tokio::spawn(feed_stdin(instance.clone()));
    // Log lines, stderr, stdout and events reach stderr through the console
    // hook, in the order the plugin made them; the output goes to stdout.
    let delivered = copy_pipe(instance.output().clone(), tokio::io::stdout()).await;
    if !delivered {
        // Whoever read our stdout is gone (`weir run … | head`): nothing can
        // take the output any more, so stop the plugin instead of letting it
        // wait on a full buffer.
        instance.kill();
    }
    let terminated = instance.wait().await;
    if !delivered {
        return ExitCode::SUCCESS;
    }
    if terminated.exitcode == 0 {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "error: {} (exit code {})",
        terminated.reason, terminated.exitcode
    );
    ExitCode::from(u8::try_from(terminated.exitcode).unwrap_or(1).max(1))
}

async fn feed_stdin(instance: Instance) {
    let Some(input) = instance.input() else {
        return;
    };
    let mut stdin = tokio::io::stdin();
    loop {
        let mut buf = Vec::with_capacity(64 * 1024);
        match stdin.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if input.send(Bytes::from(buf)).await.is_err() {
                    break;
                }
            }
        }
    }
    input.end();
}

/// Copies the pipe to `out` until it ends; `false` when `out` stopped
/// taking data (a closed pipe).
async fn copy_pipe(pipe: Pipe, mut out: impl AsyncWrite + Unpin) -> bool {
    let mut reader = pipe.reader();
    while let Some(chunk) = reader.next().await {
        if out.write_all(&chunk).await.is_err() {
            return false;
        }
    }
    out.flush().await.is_ok()
}

/// Prints what the plugin says on the console to stderr, as it says it: its
/// log lines as `[level] message`, its stderr and stdout as they are, its
/// events as `event NAME: MESSAGE`.
fn print_console(line: ConsoleLine<'_>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = match line {
        ConsoleLine::Log { level, message } => writeln!(err, "[{level}] {message}"),
        ConsoleLine::Stderr(bytes) | ConsoleLine::Stdout(bytes) => err.write_all(bytes),
        ConsoleLine::Event { name, message } => writeln!(err, "event {name}: {message}"),
    };
}

fn parse_config(text: Option<&str>) -> anyhow::Result<Map<String, Value>> {
    let Some(text) = text else {
        return Ok(Map::new());
    };
    match serde_json::from_str(text).context("--config is not valid JSON")? {
        Value::Object(map) => Ok(map),
        _ => bail!("--config must be a JSON object, e.g. '{{\"count\": 3}}'"),
    }
}

pub(super) fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("weir")
        .join("components")
}
