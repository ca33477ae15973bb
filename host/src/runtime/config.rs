//! Process-wide runtime settings.

use std::path::PathBuf;
use std::time::Duration;

use super::limits::Limits;

/// How often the epoch ticks; also the longest a guest runs between yields.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Process-wide runtime settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Pre-reserve slots for this many concurrent instances (pooling
    /// allocator); `None` allocates each instance on demand.
    pub pool_instances: Option<u32>,
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Linear memory allowed per instance and render frame, in bytes (default 256 MiB).
    pub max_memory_bytes: usize,
    /// Wall-clock time an instance may run (default: no limit). Render
    /// frames have their own timeouts ([`RenderOptions::timeout`]).
    pub max_wall_time: Option<Duration>,
    /// CPU time an instance may use (default: no limit); see [`Limits::cpu_time`].
    pub max_cpu_time: Option<Duration>,
    /// The `weir` binary that compiles components in a child process with
    /// the limits below; `None` compiles in this process, unbounded.
    pub compiler: Option<PathBuf>,
    /// Wall-clock time one compilation may take (default 180 s: a 12–18 MB JavaScript or
    /// Python component compiles in 20–30 s alone, several times that on a busy 2-core machine).
    pub compile_timeout: Duration,
    /// Address space the compiler process may use, in bytes (default 2 GiB).
    pub compile_memory_bytes: usize,
    /// Bytes buffered per instance stream before the writer waits (default 1 MiB).
    pub pipe_capacity: usize,
    /// Where granted scratch directories are made (default: the system's
    /// temporary directory).
    pub scratch_dir: Option<PathBuf>,
    /// Run guests on their own tokio runtime with this many threads, so the
    /// caller's runtime (the HTTP API) stays responsive however busy the
    /// guests are: the OS, not tokio, shares the cores between them. `None`
    /// runs guests on the caller's runtime.
    pub guest_threads: Option<usize>,
}

impl RuntimeConfig {
    /// The runtime's own limits for an instance.
    pub fn instance_limits(&self) -> Limits {
        Limits {
            memory_bytes: Some(self.max_memory_bytes),
            wall_time: self.max_wall_time,
            cpu_time: self.max_cpu_time,
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            pool_instances: None,
            cache_dir: None,
            max_memory_bytes: 256 << 20,
            max_wall_time: None,
            max_cpu_time: None,
            compiler: None,
            compile_timeout: Duration::from_secs(180),
            compile_memory_bytes: 2048 << 20,
            pipe_capacity: 1 << 20,
            scratch_dir: None,
            guest_threads: None,
        }
    }
}
