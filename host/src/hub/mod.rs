//! The hub's services: stored sequences, chunked uploads, running instances,
//! the hub log, and the hub's shutdown and gc. The HTTP layer (`api`) calls
//! these; nothing here knows about HTTP.

mod instances;
mod limits;
mod metrics;
mod ops;
mod sequences;
mod shared;
mod slots;
pub mod topics;
mod uploads;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::wire::TopicInfo;
pub use crate::wire::UploadRequest;
pub use crate::wire::{SessionToken, StartLimits, StartRequest};
pub use instances::{InstanceRecord, SessionKey};
pub use limits::{check_package_limits, default_max_instances, package_limits};
pub use ops::{DEFAULT_SHUTDOWN_TIMEOUT, GcReport, load_check, prime_load_check, resident_bytes};
pub use sequences::{Listed, Sequence};
pub use shared::{CatalogChange, CatalogEntry, SharedPackages};
pub use topics::Topic;
pub use uploads::UploadInfo;

use crate::jobs::{JobManager, JobsConfig};
use crate::package::{GrantPolicy, PackageError, UnpackLimits};
use crate::runners::Runners;
use crate::runtime::{Runtime, RuntimeConfig, RuntimeError};
use crate::streams::Pipe;

/// Hub settings, with the defaults `weir serve` uses.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Where packages, compiled components and state live.
    pub data_dir: PathBuf,
    /// Most instances alive at once; starting more answers 503 (default
    /// [`default_max_instances`]: sized to the machine's memory).
    pub max_instances: usize,
    /// Largest package upload, in bytes.
    pub max_upload_bytes: u64,
    /// Largest chunk of a chunked upload, in bytes (default 16 MiB).
    pub upload_chunk_bytes: u64,
    /// Most chunked uploads in flight at once; more answer 503 (default 16).
    pub max_uploads: usize,
    /// How long a chunked upload may sit idle before it is discarded
    /// (default 1 hour).
    pub upload_idle: Duration,
    /// How long an ended instance stays readable.
    pub instance_retention: Duration,
    /// The runtime's settings: memory, wall-clock and CPU limits per instance, the compiler
    /// process and its limits, the guests' threads (default: one per core, which keeps the
    /// API responsive while guests are busy) and the compile cache (`cache_dir`; `None`:
    /// `<data_dir>/cache`, a hub always caches). The hub sets the instance pool (from
    /// `max_instances`) and the scratch directory (under `data_dir`) itself.
    pub runtime: RuntimeConfig,
    /// Limits applied while unpacking uploads.
    pub unpack: UnpackLimits,
    /// Bytes a topic retains for its slowest subscriber before producers wait.
    pub topic_capacity: usize,
    /// Render-job manager settings (slots, ordering, leases, retries).
    pub jobs: JobsConfig,
    /// Capabilities packages may be granted (default: none). A package
    /// asking for more is refused at upload.
    pub grants: GrantPolicy,
    /// Where the JavaScript and Python runners are (default
    /// [`runners::default_dir`](crate::runners::default_dir)).
    pub runners_dir: Option<PathBuf>,
}

impl HubConfig {
    /// Defaults for a hub storing its data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        HubConfig {
            data_dir: data_dir.into(),
            max_instances: default_max_instances(),
            max_upload_bytes: 256 << 20,
            upload_chunk_bytes: 16 << 20,
            max_uploads: 16,
            upload_idle: Duration::from_secs(3600),
            instance_retention: Duration::from_secs(180),
            runtime: RuntimeConfig {
                guest_threads: Some(std::thread::available_parallelism().map_or(1, |n| n.get())),
                ..RuntimeConfig::default()
            },
            unpack: UnpackLimits::default(),
            topic_capacity: 1 << 20,
            jobs: JobsConfig::default(),
            grants: GrantPolicy::default(),
            runners_dir: None,
        }
    }

    /// The public settings (`GET /config`) of a hub listening on `listen`, with or without
    /// a token.
    pub fn settings(&self, listen: &str, auth: bool) -> crate::wire::HubSettings {
        use crate::wire;
        let (runtime, jobs) = (&self.runtime, &self.jobs);
        let millis = |d: Duration| d.as_millis() as u64;
        wire::HubSettings {
            host: wire::HostSettings {
                api_base: "/api/v1".into(),
                listen: listen.to_string(),
            },
            max_instances: self.max_instances as u64,
            max_upload_bytes: self.max_upload_bytes,
            instance_retention_ms: millis(self.instance_retention),
            instance_memory_bytes: runtime.max_memory_bytes as u64,
            instance_timeout_ms: runtime.max_wall_time.map(millis),
            instance_cpu_ms: runtime.max_cpu_time.map(millis),
            compile: wire::CompileSettings {
                in_child_process: runtime.compiler.is_some(),
                timeout_ms: millis(runtime.compile_timeout),
                memory_bytes: runtime.compile_memory_bytes as u64,
            },
            auth,
            render: wire::RenderSettings {
                slots: jobs.slots as u64,
                ordering: serde_json::to_value(jobs.ordering)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                lease_ms: millis(jobs.lease),
                heartbeat_ms: millis(jobs.heartbeat),
                task_timeout_ms: millis(jobs.task_timeout),
                max_retries: jobs.max_retries,
                blocklist_after: jobs.blocklist_after,
            },
            unpack: wire::UnpackSettings {
                max_entries: self.unpack.max_entries as u64,
                max_unpacked_bytes: self.unpack.max_unpacked_bytes,
                max_ratio: self.unpack.max_ratio,
            },
            extra: serde_json::Map::new(),
        }
    }
}

/// Why a hub operation failed; the API maps each to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No such sequence or instance (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but cannot be processed (422).
    #[error("{0}")]
    Invalid(String),
    /// The content type does not match the topic's (415).
    #[error("{0}")]
    Mismatch(String),
    /// The upload is larger than allowed (413).
    #[error("{0}")]
    TooLarge(String),
    /// The hub takes no more of this work now: it is at capacity or
    /// shutting down (503).
    #[error("{0}")]
    Capacity(String),
    /// A package was refused (422) or could not be stored (500).
    #[error(transparent)]
    Package(#[from] PackageError),
    /// A component was refused (422) or the runtime failed (500).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The hub's own storage failed (500).
    #[error("storage failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<crate::jobs::JobError> for HubError {
    fn from(err: crate::jobs::JobError) -> Self {
        use crate::jobs::JobError;
        match err {
            JobError::NotFound(m) => HubError::NotFound(m),
            JobError::BadRequest(m) => HubError::BadRequest(m),
            JobError::Conflict(m) => HubError::Conflict(m),
            JobError::Invalid(m) => HubError::Invalid(m),
            JobError::Capacity(m) => HubError::Capacity(m),
            JobError::TooLarge(m) => HubError::TooLarge(m),
            JobError::Io(e) => HubError::Io(e),
        }
    }
}

impl From<crate::runners::RunnerError> for HubError {
    fn from(err: crate::runners::RunnerError) -> Self {
        use crate::runners::RunnerError;
        match err {
            RunnerError::Package(e) => HubError::Package(e),
            RunnerError::Runtime(e) => HubError::Runtime(e),
            RunnerError::NotARunner(m) => HubError::Invalid(m),
        }
    }
}

/// `<data_dir>/scratch`, emptied of what a previous run left behind:
/// instances' scratch directories live there while they run.
fn scratch_dir(data_dir: &std::path::Path) -> std::io::Result<PathBuf> {
    let dir = data_dir.join("scratch");
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The hub: runtime, sequences, instances and the hub log. Cheap to share
/// behind an `Arc`.
pub struct Hub {
    config: HubConfig,
    runtime: Runtime,
    /// The JavaScript and Python runners, for source packages.
    runners: Arc<Runners>,
    sequences: sequences::SequenceStore,
    /// The space the hub shares its packages with, once it joined one.
    shared: std::sync::OnceLock<sequences::SharedStore>,
    instances: instances::InstanceRegistry,
    topics: topics::TopicRegistry,
    jobs: Arc<JobManager>,
    /// The hub-wide change feed (`GET /events`): jobs, tasks and workers from the job
    /// manager, instances from the hub.
    events: Arc<crate::events::Feed>,
    uploads: uploads::UploadStore,
    /// Held (read) by uploads from staging to commit, (write) by `gc`.
    staging_gate: tokio::sync::RwLock<()>,
    /// The instances' stop deadline, once a shutdown was asked for.
    shutdown: tokio::sync::watch::Sender<Option<Duration>>,
    log: Pipe,
    started: Instant,
    metrics: crate::metrics::Metrics,
    /// What forgotten instances moved, for the metrics.
    retired: metrics::Retired,
}

impl Hub {
    /// Opens the data directory (loading stored sequences) and builds the runtime.
    pub fn open(config: HubConfig) -> Result<Arc<Hub>, HubError> {
        std::fs::create_dir_all(&config.data_dir)?;
        ops::prime_load_check();
        let runtime = Runtime::new(RuntimeConfig {
            pool_instances: Some(u32::try_from(config.max_instances).unwrap_or(u32::MAX)),
            cache_dir: Some(
                config
                    .runtime
                    .cache_dir
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("cache")),
            ),
            scratch_dir: Some(scratch_dir(&config.data_dir)?),
            ..config.runtime.clone()
        })?;
        let log = Pipe::replay(4 << 20);
        let runners = Arc::new(Runners::new(
            config
                .runners_dir
                .clone()
                .unwrap_or_else(crate::runners::default_dir),
        ));
        let sequences = sequences::SequenceStore::open(
            &config.data_dir,
            &runtime,
            &runners,
            &config.grants,
            &log,
        )?;
        let events = Arc::new(crate::events::Feed::new());
        let jobs = JobManager::open(&config.data_dir, config.jobs.clone(), events.clone())?;
        let uploads = uploads::UploadStore::open(&config.data_dir)?;
        let hub = Arc::new(Hub {
            instances: instances::InstanceRegistry::default(),
            topics: topics::TopicRegistry::default(),
            sequences,
            shared: std::sync::OnceLock::new(),
            runtime,
            runners,
            config,
            jobs: jobs.clone(),
            events,
            uploads,
            staging_gate: tokio::sync::RwLock::new(()),
            shutdown: tokio::sync::watch::Sender::new(None),
            log,
            started: Instant::now(),
            metrics: crate::metrics::Metrics::new(jobs.task_metrics()),
            retired: metrics::Retired::default(),
        });
        // The job sweeper and the local render slots run on the caller's
        // tokio runtime (`weir serve`, tests); without one the hub is a
        // library handle and runs no jobs.
        if tokio::runtime::Handle::try_current().is_ok() {
            hub.jobs.spawn_sweeper();
            slots::spawn_local_slots(&hub);
            hub.spawn_upload_sweeper();
        }
        Ok(hub)
    }

    /// The render-job manager.
    pub fn jobs(&self) -> &Arc<JobManager> {
        &self.jobs
    }

    /// The hub-wide change feed: every job, task, worker and instance change, resumable
    /// by event id (`GET /events`).
    pub fn events(&self) -> &Arc<crate::events::Feed> {
        &self.events
    }

    /// The wasm runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The language runners source packages run on.
    pub fn runners(&self) -> &Runners {
        &self.runners
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// The hub log: JSON lines, replayed to each new reader.
    pub fn log(&self) -> &Pipe {
        &self.log
    }

    /// Time since the hub started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Writes a line to the hub log (and to tracing).
    pub fn log_line(&self, level: &str, message: &str) {
        tracing::info!(target: "weir::hub", "{message}");
        crate::runtime::log_line(&self.log, level, "hub", message);
    }
}
