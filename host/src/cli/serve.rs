//! `weir serve`: run the hub.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use super::GrantArgs;
use crate::api::{self, AppState, ConnectionLimits};
use crate::hub::{Hub, HubConfig};
use crate::jobs::Ordering;
use crate::space::{Space, SpaceConfig};

/// Arguments of `weir serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, env = "WEIR_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Directory for packages, compiled components and state.
    #[arg(long, env = "WEIR_DATA_DIR", default_value = "./weir-data")]
    pub data_dir: PathBuf,
    /// Where compiled components are cached (default `<data-dir>/cache`); hubs and `weir
    /// run` on one machine may share one.
    #[arg(long, env = "WEIR_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Most instances alive at once; more answer 503. Default: total RAM /
    /// 16 MiB (a small instance's memory, stacks and stream buffers with room
    /// to spare), at least 16 and at most 10,000 (each instance maps about six
    /// memory areas; Linux allows 65,530 per process). The instance pool is
    /// sized to it.
    #[arg(long, env = "WEIR_MAX_INSTANCES")]
    pub max_instances: Option<usize>,
    /// Memory limit per instance, in MiB.
    #[arg(long, default_value_t = 256)]
    pub instance_memory_mb: usize,
    /// Wall-clock limit per instance, in seconds (default: none). A package's
    /// `timeout_ms` and a start request's `limits.timeoutMs` may only lower it.
    #[arg(long, value_name = "SECS")]
    pub instance_timeout_secs: Option<f64>,
    /// CPU-time limit per instance, in seconds (default: none). A package's
    /// `cpu_ms` and a start request's `limits.cpuMs` may only lower it.
    #[arg(long, value_name = "SECS")]
    pub instance_cpu_secs: Option<f64>,
    /// Longest one upload's component may take to compile, in seconds (an 18 MB Python
    /// component takes 20–30 s alone on 2 cores).
    #[arg(long, default_value_t = 180.0, value_name = "SECS")]
    pub compile_timeout_secs: f64,
    /// Memory (address space) the compiler process may use, in MiB.
    #[arg(long, default_value_t = 2048, value_name = "MIB")]
    pub compile_memory_mb: usize,
    /// Largest package upload, in MiB.
    #[arg(long, default_value_t = 256)]
    pub max_upload_mb: u64,
    /// Seconds an ended instance stays readable.
    #[arg(long, default_value_t = 180)]
    pub instance_retention_secs: u64,
    /// KiB a topic retains for its slowest subscriber before producers wait.
    #[arg(long, default_value_t = 1024)]
    pub topic_buffer_kib: usize,
    /// Render slots of the hub itself (default: one per core; 0 = a pure
    /// manager that leaves rendering to `weir worker` processes).
    #[arg(long, env = "WEIR_SLOTS")]
    pub slots: Option<usize>,
    /// Tags of the hub's own slots: a job with tags runs only on workers
    /// having all of them (untagged slots take untagged jobs).
    #[arg(long, value_delimiter = ',', value_name = "TAG")]
    pub slot_tags: Vec<String>,
    /// Which job's tasks run first.
    #[arg(long, env = "WEIR_ORDERING", value_enum, default_value = "priority")]
    pub ordering: Ordering,
    /// Seconds a remote worker may miss heartbeats before its tasks are requeued.
    #[arg(long, default_value_t = 15.0)]
    pub lease_secs: f64,
    /// Default time limit of one render task, in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub task_timeout_secs: f64,
    /// Default retries of a failed render task.
    #[arg(long, default_value_t = 3)]
    pub max_retries: u32,
    /// Failed tasks of one job after which a worker is blocklisted for it.
    #[arg(long, default_value_t = 3)]
    pub blocklist_after: u32,
    /// Most HTTP connections open at once (WebSockets included); more
    /// clients wait until one closes. Default: three quarters of the
    /// open-file limit (raised to its hard limit at start), at most 10,000.
    #[arg(long, env = "WEIR_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a client may take to send a request's headers, from their
    /// first byte; then the connection is closed.
    #[arg(
        long,
        env = "WEIR_HEADER_TIMEOUT_SECS",
        default_value_t = 10.0,
        value_name = "SECS"
    )]
    pub header_timeout_secs: f64,
    /// Seconds a connection may stay open with no request in progress
    /// (before its first request or kept alive between two); streaming
    /// responses and WebSockets are never cut.
    #[arg(
        long,
        env = "WEIR_IDLE_TIMEOUT_SECS",
        default_value_t = 60.0,
        value_name = "SECS"
    )]
    pub idle_timeout_secs: f64,
    /// What packages may be granted when their manifest asks for it.
    #[command(flatten)]
    pub grants: GrantArgs,
    /// Where the JavaScript and Python runners are, for Scramjet sequences in those
    /// languages (`weir runner build`; default `~/.cache/weir/runners`).
    #[arg(long, env = crate::runners::RUNNERS_DIR_ENV, value_name = "DIR")]
    pub runners_dir: Option<PathBuf>,
    /// A second token that opens the GET routes only (dashboards, scrapers,
    /// viewers); needs --token.
    #[arg(
        long,
        env = "WEIR_READ_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub read_token: Option<String>,
    /// Serve `GET /metrics` without a token (for a Prometheus that scrapes
    /// a private network).
    #[arg(long)]
    pub metrics_open: bool,
    /// How the hub writes its log to stderr: `text` for people, `json` for
    /// log shippers (one object a line; each request with its id, route,
    /// status and duration).
    #[arg(long, env = "WEIR_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Joining a Space of hubs over NATS JetStream.
    #[command(flatten)]
    pub space: SpaceArgs,
}

/// `weir serve` flags of the Space (all unset: a single hub, no NATS).
#[derive(Debug, clap::Args)]
pub struct SpaceArgs {
    /// NATS server URLs (comma-separated; `nats://user:password@host:4222`
    /// carries credentials). The server must run JetStream (`nats-server -js`).
    #[arg(long, env = "WEIR_NATS", value_delimiter = ',', value_name = "URL")]
    pub nats: Vec<String>,
    /// The space to join (letters, digits, - and _).
    #[arg(long, env = "WEIR_SPACE", value_name = "NAME")]
    pub space: Option<String>,
    /// This hub's id in the space (default: a stable id kept in the data dir).
    #[arg(long, env = "WEIR_HUB_ID", value_name = "ID")]
    pub hub_id: Option<String>,
    /// The URL other hubs reach this hub at (default: http://LISTEN-ADDRESS).
    #[arg(long, env = "WEIR_ADVERTISE", value_name = "URL")]
    pub advertise: Option<String>,
    /// Tags for placement of instances started through the space.
    #[arg(long, value_delimiter = ',', value_name = "TAG")]
    pub tags: Vec<String>,
    /// A NATS credentials file.
    #[arg(long, value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// Seconds a silent hub stays listed (as unhealthy) before it is dropped.
    #[arg(long, default_value_t = 600)]
    pub hub_retention_secs: u64,
    /// MiB a space-wide topic holds for its slowest subscriber (or for the
    /// next one, while no one subscribes) before its producers wait.
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub topic_retention_mb: u64,
    /// Render tasks the space's queue holds at most (a bigger submission gets 503). Set by
    /// the hub that makes the queue: the first of the space.
    #[arg(long, default_value_t = crate::jobs::MAX_QUEUED_TASKS, value_name = "N")]
    pub space_max_queued_tasks: i64,
}

impl SpaceArgs {
    /// The space settings, if `--nats` was given (`--space` is then needed).
    fn config(&self, addr: SocketAddr) -> anyhow::Result<Option<SpaceConfig>> {
        let Some(space) = &self.space else {
            anyhow::ensure!(
                self.nats.is_empty(),
                "--nats needs --space NAME: the space to join"
            );
            return Ok(None);
        };
        anyhow::ensure!(
            !self.nats.is_empty(),
            "--space needs --nats URL: the NATS server of the space"
        );
        anyhow::ensure!(
            self.hub_retention_secs > 0,
            "--hub-retention-secs must be at least 1"
        );
        anyhow::ensure!(
            self.topic_retention_mb > 0,
            "--topic-retention-mb must be at least 1"
        );
        let advertise = match &self.advertise {
            Some(url) => url.clone(),
            None if addr.ip().is_unspecified() => {
                anyhow::bail!(
                    "listening on {addr}: say with --advertise http://HOST:PORT where the other hubs reach this one"
                )
            }
            None => format!("http://{addr}"),
        };
        Ok(Some(SpaceConfig {
            servers: self.nats.clone(),
            space: space.clone(),
            hub_id: self.hub_id.clone(),
            advertise,
            tags: self.tags.clone(),
            creds: self.nats_creds.clone(),
            hub_retention: Duration::from_secs(self.hub_retention_secs),
            topic_retention_bytes: self.topic_retention_mb << 20,
            max_queued_tasks: self.space_max_queued_tasks.max(1),
        }))
    }
}

/// How long instances get to stop after Ctrl-C or SIGTERM, and how long open
/// requests may run on once they have.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs the hub until Ctrl-C, SIGTERM or `POST /api/v1/shutdown`.
pub fn serve(args: ServeArgs, token: Option<String>) -> anyhow::Result<ExitCode> {
    init_tracing(args.log_format);
    // An empty token must not quietly mean "no auth".
    anyhow::ensure!(
        token.as_deref().is_none_or(|t| !t.trim().is_empty()),
        "--token (or WEIR_TOKEN) is empty: give a token, or leave both unset to serve without auth"
    );
    if let Some(read) = &args.read_token {
        anyhow::ensure!(
            token.is_some(),
            "--read-token needs --token: without an admin token every route is open anyway"
        );
        anyhow::ensure!(
            !read.trim().is_empty() && Some(read) != token.as_ref(),
            "--read-token (or WEIR_READ_TOKEN) must be non-empty and differ from --token"
        );
    }
    // Before anything opens a descriptor or sizes a limit from it.
    if let Err(e) = api::raise_open_file_limit() {
        tracing::warn!("cannot raise the open-file limit: {e}");
    }
    let connections = connection_limits(&args)?;
    let mut config = HubConfig::new(&args.data_dir);
    if let Some(max_instances) = args.max_instances {
        anyhow::ensure!(max_instances > 0, "--max-instances must be at least 1");
        config.max_instances = max_instances;
    }
    config.runtime.max_wall_time =
        positive_secs("--instance-timeout-secs", args.instance_timeout_secs)?;
    config.runtime.max_cpu_time = positive_secs("--instance-cpu-secs", args.instance_cpu_secs)?;
    config.runtime.compile_timeout =
        positive_secs("--compile-timeout-secs", Some(args.compile_timeout_secs))?
            .unwrap_or(config.runtime.compile_timeout);
    config.runtime.compile_memory_bytes = args.compile_memory_mb << 20;
    // Uploads compile in a child process (this binary) with those limits.
    config.runtime.compiler = Some(std::env::current_exe().context("cannot find the weir binary")?);
    config.runtime.max_memory_bytes = args.instance_memory_mb << 20;
    config.max_upload_bytes = args.max_upload_mb << 20;
    config.instance_retention = Duration::from_secs(args.instance_retention_secs);
    config.topic_capacity = args.topic_buffer_kib.max(1) << 10;
    config.grants = args.grants.policy();
    config.runners_dir = args.runners_dir.clone();
    if let Some(dir) = &args.cache_dir {
        config.runtime.cache_dir = Some(dir.clone());
    }
    if let Some(slots) = args.slots {
        config.jobs.slots = slots;
    }
    config.jobs.ordering = args.ordering;
    config.jobs.slot_tags = args.slot_tags.clone();
    anyhow::ensure!(
        args.lease_secs >= 0.5 && args.lease_secs.is_finite(),
        "--lease-secs must be at least 0.5"
    );
    anyhow::ensure!(
        args.task_timeout_secs > 0.0 && args.task_timeout_secs.is_finite(),
        "--task-timeout-secs must be positive"
    );
    config.jobs.lease = Duration::from_secs_f64(args.lease_secs);
    // Three heartbeats per lease, at most two a second.
    config.jobs.heartbeat = (config.jobs.lease / 3).min(Duration::from_millis(500));
    config.jobs.task_timeout = Duration::from_secs_f64(args.task_timeout_secs);
    config.jobs.max_retries = args.max_retries;
    config.jobs.blocklist_after = args.blocklist_after.max(1);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let hub = Hub::open(config).with_context(|| {
            format!("cannot open the data directory {}", args.data_dir.display())
        })?;
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let space = match args.space.config(addr)? {
            Some(config) => {
                let space = Space::join(config, &hub).await?;
                hub.log_line(
                    "info",
                    &format!("joined space {} as hub {}", space.name(), space.hub_id()),
                );
                Some(space)
            }
            None => None,
        };
        let state = AppState {
            hub: hub.clone(),
            token: token.map(Arc::from),
            read_token: args.read_token.as_deref().map(Arc::from),
            metrics_open: args.metrics_open,
            listen: addr.to_string(),
            space: space.clone(),
        };
        hub.log_line(
            "info",
            &format!(
                "weir {} listening on http://{addr}",
                env!("CARGO_PKG_VERSION")
            ),
        );
        let received = shutdown_signal()?;
        println!("weir listening on http://{addr}");
        println!("dashboard: http://{addr}/");
        api::serve_until_shutdown(listener, state, connections, received, SHUTDOWN_GRACE).await?;
        if let Some(space) = &space {
            space.hand_back(&hub).await;
            space.leave().await;
        }
        hub.log_line("info", "shutting down");
        Ok(ExitCode::SUCCESS)
    })
}

/// The connection cap and timeouts from the flags (defaults: [`ConnectionLimits`]).
fn connection_limits(args: &ServeArgs) -> anyhow::Result<ConnectionLimits> {
    let mut limits = ConnectionLimits::default();
    if let Some(max) = args.max_connections {
        anyhow::ensure!(max > 0, "--max-connections must be at least 1");
        limits.max_connections = max;
    }
    let secs = |name, value| positive_secs(name, Some(value)).map(Option::unwrap_or_default);
    limits.header_timeout = secs("--header-timeout-secs", args.header_timeout_secs)?;
    limits.idle_timeout = secs("--idle-timeout-secs", args.idle_timeout_secs)?;
    Ok(limits)
}

/// A positive, finite number of seconds from flag `name`.
fn positive_secs(name: &str, secs: Option<f64>) -> anyhow::Result<Option<Duration>> {
    let Some(secs) = secs else {
        return Ok(None);
    };
    anyhow::ensure!(
        secs > 0.0 && secs.is_finite() && secs < 1e9,
        "{name} must be a positive number of seconds"
    );
    Ok(Some(Duration::from_secs_f64(secs)))
}

/// Registers the Ctrl-C and SIGTERM handlers now (before the hub says it
/// is listening) and returns a future that completes on either.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// The formats of the hub's own log (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people; requests are not logged one by one (`WEIR_LOG=weir::access=info` does).
    Text,
    /// One JSON object a line, with one line per request.
    Json,
}

fn init_tracing(format: LogFormat) {
    let default = match format {
        LogFormat::Text => "info,tower_http=info,weir::access=warn",
        LogFormat::Json => "info,tower_http=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // Colours only on a terminal: a redirected log gets plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}
