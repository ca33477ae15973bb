//! `weir worker`: run a render worker for a job manager (the daemon is `crate::worker`), or
//! see and steer the manager's workers (`weir worker list|info|drain|…`).

mod admin;

pub use admin::WorkerCommand;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{HubClient, WorkerRegistration};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::space::SpaceWorker;
use crate::worker::{Worker, stable_id};

/// Arguments of `weir worker`: run a worker, or with a subcommand see and
/// steer the manager's workers.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WorkerArgs {
    /// See and steer the manager's workers instead of running one.
    #[command(subcommand)]
    pub command: Option<WorkerCommand>,
    /// URL of the job manager, a `weir serve` (default: --hub).
    #[arg(long, env = "WEIR_MANAGER", value_name = "URL")]
    pub manager: Option<String>,
    /// Tasks run at once (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub slots: Option<u32>,
    /// This worker's tags (comma-separated): it takes untagged jobs and jobs
    /// whose every tag it has.
    #[arg(long, value_delimiter = ',', value_name = "TAGS")]
    pub tags: Vec<String>,
    /// The name the manager shows (default: the host name).
    #[arg(long)]
    pub name: Option<String>,
    /// Where packages and compiled components are cached (default: the user cache dir).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Exit (signing off) after this many seconds without a task.
    #[arg(long, value_name = "SECS")]
    pub exit_when_idle: Option<u64>,
    /// Memory limit of each frame's instance, in MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub memory_mb: usize,
    /// Take tasks from a space's JetStream queue instead of a manager: the NATS server
    /// URLs (comma-separated; needs --space).
    #[arg(long, env = "WEIR_NATS", value_delimiter = ',', value_name = "URL")]
    pub nats: Vec<String>,
    /// The space whose render jobs to work on (with --nats).
    #[arg(long, env = "WEIR_SPACE", value_name = "NAME")]
    pub space: Option<String>,
    /// A NATS credentials file (with --nats).
    #[arg(long, value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
}

/// Runs the worker until it is interrupted, drained or idle long enough
/// (or, with a subcommand, lists or steers the manager's workers).
pub fn worker(
    mut args: WorkerArgs,
    hub: &str,
    token: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(command) = args.command.take() {
        let manager = args.manager.as_deref().unwrap_or(hub);
        let remote = super::remote::Remote::new(manager, token, json)?;
        return admin::run(command, remote).map(|()| ExitCode::SUCCESS);
    }
    init_tracing();
    anyhow::ensure!(
        args.nats.is_empty() == args.space.is_none(),
        "--nats and --space go together: a worker of a space needs both"
    );
    let manager = args.manager.as_deref().unwrap_or(hub);
    let client = HubClient::new(manager, token)?;
    let cache = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let slots = args.slots.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
    });
    let name = args
        .name
        .clone()
        .or_else(|| sysinfo::System::host_name().ok())
        .unwrap_or_else(|| "worker".into());
    // Held (locked) for the worker's life.
    let (id, _id_lock) = stable_id(&cache, &name)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let render = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.join("compiled")),
            max_memory_bytes: args.memory_mb << 20,
            // Compile downloaded components in a child process with limits.
            compiler: std::env::current_exe().ok(),
            // Renders on their own threads: heartbeats stay on time.
            guest_threads: Some(slots.max(1) as usize),
            ..RuntimeConfig::default()
        })?;
        let idle = args.exit_when_idle.map(Duration::from_secs);
        if let Some(space) = args.space.clone() {
            let worker = SpaceWorker {
                servers: args.nats.clone(),
                space,
                creds: args.nats_creds.clone(),
                id,
                name,
                slots: slots as usize,
                tags: args.tags.clone(),
                cache,
            };
            return worker.run(render, idle).await;
        }
        let registration = WorkerRegistration {
            name: Some(name),
            slots: Some(slots as usize),
            tags: args.tags.clone(),
            id: Some(id),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        };
        let worker = Arc::new(Worker::new(client, render, cache, registration));
        worker.run(idle).await
    })
}

/// `$XDG_CACHE_HOME/weir/worker` (`~/.cache/weir/worker` on Linux).
fn default_cache_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("weir")
        .join("worker")
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
