//! The wasm runtime: one wasmtime `Engine` and `Linker` per process, one
//! compiled [`Program`] per package, one task per running [`Instance`].
//!
//! Components are compiled once and the artifact is cached on disk keyed by
//! the component's SHA-256 and the engine's configuration, so a restart or a
//! second upload of the same bytes loads in about a millisecond. Instances
//! start from an `InstancePre` (with the pooling allocator when configured),
//! run on tokio with epoch interruption so no guest can hold a core, and talk
//! to the rest of the hub only over bounded channels and [`Pipe`]s. A render
//! component is not started as an instance: [`Runtime::render`] renders each
//! frame in a fresh one. Instances and frames reach nothing of the host but
//! what their program's [`Grants`] allow ([`Program::with_grants`]).
//!
//! [`Pipe`]: crate::streams::Pipe

mod cache;
mod compile;
mod console;
mod footprint;
mod host;
mod imports;
mod instance;
mod io;
mod limits;
mod render;
mod sandbox;
mod topics;
mod trap;
mod usage;

use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::package::Grants;
pub use cache::CachePrune;
pub use compile::{EXIT_COMPILE_ERROR, compile_component};
pub use footprint::{Footprint, PER_SLOT};
pub use imports::exported_world;

pub use console::{ConsoleHook, ConsoleLine};
pub use host::{EmittedEvent, EventBus, EventStream, MemoryLimitExceeded};
pub use instance::{
    EXIT_COMPLETED, EXIT_FAILED, EXIT_KILLED, EXIT_NO_MAIN, EXIT_START_FAILED, EXIT_STOPPED,
    EXIT_TRAPPED, Instance, InstanceStatus, SendError, StartOptions, Terminated,
};
pub use io::{ChannelReader, INPUT_PIECE, InputError, InputWriter};
pub use limits::{CpuLimitExceeded, Limits, TimeLimitExceeded};
pub use render::{
    Artifact, FrameRequest, LogHook, MAX_ARTIFACT_BYTES, ProgressHook, RenderError, RenderOptions,
    is_valid_artifact_name,
};
pub use sandbox::{PACKAGE_DIR, SCRATCH_DIR};
pub use topics::{BoxFuture, TopicBus, TopicPublisher, TopicSubscriber};
pub use usage::{RenderUsage, Usage};

pub(crate) use host::log_line;
use host::{InstanceState, Runner, RunnerPre};
use render::RenderPre;

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

/// Why a component could not be loaded or an instance not started.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The component does not validate or compile (the uploader's fault, 422).
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// The component imports something weir does not provide (422).
    #[error("the component imports what weir does not provide: {0}")]
    Imports(String),
    /// The component needs more than an instance may have: more core instances, memories
    /// or tables than a pool slot, or more memory at start than its limit (422).
    #[error("the component does not fit: {0}")]
    TooLarge(String),
    /// The component exports neither a weir entry point nor `wasi:cli/run` (422).
    #[error(
        "the component exports neither `run` (the weir:plugin sequence world), `render` (the render world) nor `wasi:cli/run` (a WASI command)"
    )]
    NoEntryPoint,
    /// The engine could not be set up (500).
    #[error("the wasm engine could not start: {0}")]
    Engine(String),
    /// Reading the component or the cache failed (500).
    #[error("runtime storage failed: {0}")]
    Io(#[from] std::io::Error),
}

impl RuntimeError {
    /// Whether the component's author caused the error (4xx).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            RuntimeError::Compile(_)
                | RuntimeError::Imports(_)
                | RuntimeError::TooLarge(_)
                | RuntimeError::NoEntryPoint
        )
    }
}

/// The process-level runtime: engine, linker and compile cache. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<InstanceState>,
    config: RuntimeConfig,
    engine_key: String,
    guests: GuestRuntime,
    compiles: CompileCounts,
}

/// How components were had: from the compile cache, or compiled (and how
/// long compiling took).
#[derive(Debug, Default)]
struct CompileCounts {
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
    nanos: std::sync::atomic::AtomicU64,
}

/// [`Runtime::compile_stats`]: the compile cache's hits and misses so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Components loaded compiled from the cache.
    pub hits: u64,
    /// Components compiled.
    pub misses: u64,
    /// Time spent compiling them.
    pub time: Duration,
}

/// The tokio runtime guests run on, when they have their own.
struct GuestRuntime(Option<tokio::runtime::Runtime>);

impl GuestRuntime {
    fn new(threads: Option<usize>) -> Result<GuestRuntime, RuntimeError> {
        let Some(threads) = threads else {
            return Ok(GuestRuntime(None));
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("weir-guest")
            .enable_all()
            .build()
            .map_err(|e| RuntimeError::Engine(format!("cannot start the guest threads: {e}")))?;
        Ok(GuestRuntime(Some(runtime)))
    }

    /// Spawns `task` where guests run.
    fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.0 {
            Some(runtime) => runtime.spawn(task),
            None => tokio::spawn(task),
        }
    }
}

impl Drop for GuestRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// How a program is entered.
#[derive(Clone)]
pub(crate) enum Entry {
    /// Exports `run` from the `weir:plugin` sequence world.
    Sequence(RunnerPre<InstanceState>),
    /// A plain WASI command (`wasi:cli/run`).
    Command(CommandPre<InstanceState>),
    /// Exports `render` from the `weir:plugin` render world.
    Render(RenderPre<InstanceState>),
}

/// A compiled component, ready to instantiate any number of times, and the
/// capabilities its instances get (none unless [`Program::with_grants`]).
#[derive(Clone)]
pub struct Program {
    pub(crate) entry: Entry,
    /// SHA-256 of the component bytes (hex).
    pub digest: String,
    pub(crate) sandbox: Arc<sandbox::Sandbox>,
    /// The package's own limits, applied to every instance and frame.
    limits: Limits,
    /// What one instance takes from the pool.
    footprint: Footprint,
}

impl Program {
    /// The same program with the package's limits (`[limits]` in its
    /// manifest). They tighten the runtime's and the start options' limits
    /// for every instance and render frame; they never loosen them.
    pub fn with_limits(self, limits: Limits) -> Program {
        Program { limits, ..self }
    }

    /// The package's limits (see [`Program::with_limits`]).
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// What one instance of this program needs: core instances, memories, tables and the
    /// memory it starts with.
    pub fn footprint(&self) -> Footprint {
        self.footprint
    }

    /// Refuses `limits` when their memory limit (which `limit` names in the message, e.g.
    /// "the package's limits.memory_mb") is below what the component starts with.
    pub fn check_limits(&self, limits: &Limits, limit: &str) -> Result<(), RuntimeError> {
        self.footprint.check_memory(limits.memory_bytes, limit)
    }

    /// `"sequence"` for the weir sequence world, `"render"` for the render
    /// world, `"command"` for a WASI command.
    pub fn entry_kind(&self) -> &'static str {
        match self.entry {
            Entry::Sequence(_) => "sequence",
            Entry::Command(_) => "command",
            Entry::Render(_) => "render",
        }
    }

    /// Whether this is a render component (see [`Runtime::render`]).
    pub fn is_render(&self) -> bool {
        matches!(self.entry, Entry::Render(_))
    }

    /// The same program with `grants` for every instance and frame;
    /// `package_dir` is what a `files` grant shows at [`PACKAGE_DIR`].
    pub fn with_grants(self, grants: Grants, package_dir: &Path) -> Program {
        let sandbox = sandbox::Sandbox {
            grants,
            package_dir: Some(package_dir.to_path_buf()),
            source: false,
        };
        Program {
            sandbox: Arc::new(sandbox),
            ..self
        }
    }

    /// This language runner as the program of the source package in `package_dir`: its
    /// instances read the package's files (their code) through `source-package.read-file` and at
    /// [`PACKAGE_DIR`], read-only, and get `grants` as any program.
    pub fn with_source(self, grants: Grants, package_dir: &Path) -> Program {
        let sandbox = sandbox::Sandbox {
            grants,
            package_dir: Some(package_dir.to_path_buf()),
            source: true,
        };
        Program {
            sandbox: Arc::new(sandbox),
            ..self
        }
    }

    /// The same program with its package's files now in `package_dir` (the package moved).
    pub fn with_package_dir(self, package_dir: &Path) -> Program {
        let sandbox = sandbox::Sandbox {
            package_dir: Some(package_dir.to_path_buf()),
            ..(*self.sandbox).clone()
        };
        Program {
            sandbox: Arc::new(sandbox),
            ..self
        }
    }

    /// Whether this program runs a source package (see [`Program::with_source`]).
    pub fn is_source(&self) -> bool {
        self.sandbox.source
    }

    /// What this program's instances are granted.
    pub fn grants(&self) -> &Grants {
        &self.sandbox.grants
    }
}

impl Runtime {
    /// Builds the engine (and the instance pool, when configured) and starts
    /// the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let engine = Engine::new(&engine_config(&config))
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        Runner::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        // The render world shares `log` (and `types`) with the sequence world.
        render::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let engine_key = engine_key(&engine);
        spawn_epoch_ticker(&engine);
        let guests = GuestRuntime::new(config.guest_threads)?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                config,
                engine_key,
                guests,
                compiles: CompileCounts::default(),
            }),
        })
    }

    /// Spawns a task on the guests' runtime (see [`RuntimeConfig::guest_threads`]).
    pub(crate) fn spawn_guest<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.guests.spawn(task)
    }

    /// The settings this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Compiles (or loads from the cache) the component at `path` and checks
    /// that weir can link and enter it. Blocking: call it off the async
    /// executor (`spawn_blocking`).
    pub fn load(&self, path: &Path) -> Result<Program, RuntimeError> {
        let bytes = fs::read(path)?;
        let digest = hex::encode(Sha256::digest(&bytes));
        // What can be refused from the bytes is refused before the (long) compile.
        imports::check(&bytes)?;
        let footprint = Footprint::of(&bytes)?;
        footprint.check_slot()?;
        footprint.check_memory(
            Some(self.inner.config.max_memory_bytes),
            "the memory limit of an instance here",
        )?;
        let component = self.compile_cached(&bytes, &digest)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::Imports(format!("{e:#}")))?;
        let entry = if let Ok(pre) = RunnerPre::new(pre.clone()) {
            Entry::Sequence(pre)
        } else if let Ok(pre) = RenderPre::new(pre.clone()) {
            Entry::Render(pre)
        } else if let Ok(pre) = CommandPre::new(pre) {
            Entry::Command(pre)
        } else {
            return Err(RuntimeError::NoEntryPoint);
        };
        Ok(Program {
            entry,
            digest,
            sandbox: Arc::default(),
            limits: Limits::default(),
            footprint,
        })
    }

    /// The compile cache's hits and misses so far.
    pub fn compile_stats(&self) -> CompileStats {
        use std::sync::atomic::Ordering::Relaxed;
        let counts = &self.inner.compiles;
        CompileStats {
            hits: counts.hits.load(Relaxed),
            misses: counts.misses.load(Relaxed),
            time: Duration::from_nanos(counts.nanos.load(Relaxed)),
        }
    }

    fn compile_cached(&self, wasm: &[u8], digest: &str) -> Result<Component, RuntimeError> {
        use std::sync::atomic::Ordering::Relaxed;
        let started = Instant::now();
        let cached = self.compile_or_load(wasm, digest);
        let counts = &self.inner.compiles;
        match &cached {
            Ok((_, true)) => {
                counts.hits.fetch_add(1, Relaxed);
            }
            Ok((_, false)) => {
                counts.misses.fetch_add(1, Relaxed);
                let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                counts.nanos.fetch_add(nanos, Relaxed);
            }
            Err(_) => {}
        }
        cached.map(|(component, _)| component)
    }

    /// The component and whether it came from the cache.
    fn compile_or_load(
        &self,
        wasm: &[u8],
        digest: &str,
    ) -> Result<(Component, bool), RuntimeError> {
        let engine = &self.inner.engine;
        let Some(dir) = &self.inner.config.cache_dir else {
            let component = match self.compiler() {
                Some(compiler) => {
                    let scratch = compile::scratch_artifact()?;
                    compiler.compile(wasm, scratch.path())?;
                    load_compiled(engine, scratch.path())
                }
                None => Component::new(engine, wasm)
                    .map_err(|e| RuntimeError::Compile(format!("{e:#}"))),
            };
            return component.map(|c| (c, false));
        };
        let path = dir.join(format!("{digest}-{}.cwasm", self.inner.engine_key));
        if path.is_file() {
            match load_artifact(engine, &path) {
                Ok(component) => return Ok((component, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached component");
                    let _ = fs::remove_file(&path);
                }
            }
        }
        fs::create_dir_all(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        match self.compiler() {
            Some(compiler) => compiler.compile(wasm, tmp.path())?,
            None => {
                let artifact = engine
                    .precompile_component(wasm)
                    .map_err(|e| RuntimeError::Compile(format!("{e:#}")))?;
                fs::write(tmp.path(), &artifact)?;
            }
        }
        // Loaded before it enters the cache: an artifact that does not load
        // (a compiler from another build) never gets there.
        let component = load_compiled(engine, tmp.path())?;
        tmp.persist(&path).map_err(|e| RuntimeError::Io(e.error))?;
        Ok((component, false))
    }

    /// The child-process compiler, when configured.
    fn compiler(&self) -> Option<compile::Compiler<'_>> {
        let config = &self.inner.config;
        Some(compile::Compiler {
            program: config.compiler.as_deref()?,
            timeout: config.compile_timeout,
            memory_bytes: config.compile_memory_bytes,
            engine_key: &self.inner.engine_key,
        })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Where scratch directories are made.
    pub(crate) fn scratch_root(&self) -> PathBuf {
        self.inner
            .config
            .scratch_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir)
    }
}

/// Loads an artifact just compiled for this engine.
fn load_compiled(engine: &Engine, path: &Path) -> Result<Component, RuntimeError> {
    load_artifact(engine, path)
        .map_err(|e| RuntimeError::Engine(format!("the compiled component does not load: {e:#}")))
}

/// Loads a precompiled component that this runtime wrote into its own cache.
#[allow(unsafe_code)]
fn load_artifact(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts its input to be a wasmtime artifact.
    // The cache directory is written only by `compile_cached` (atomically,
    // via rename) from components that this engine, or `weir
    // compile-component` (this same binary, started by `compile_cached` with
    // the same code settings), compiled; artifacts are never taken from
    // uploads. Files from another wasmtime version or configuration are
    // keyed differently and also rejected by wasmtime's header check.
    unsafe { Component::deserialize_file(engine, path) }
}

fn engine_config(config: &RuntimeConfig) -> Config {
    // The pool does not change generated code, so the compiler child (which
    // has no pool) makes artifacts this engine loads.
    let mut cfg = compile::code_config();
    if let Some(n) = config.pool_instances {
        let mut pool = PoolingAllocationConfig::default();
        // One slot per instance, each sized for the largest component weir runs (a Python
        // one: 14 core instances); `Runtime::load` refuses a component larger than a slot.
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(PER_SLOT.core_instances))
            .total_memories(n.saturating_mul(PER_SLOT.memories))
            .total_tables(n.saturating_mul(PER_SLOT.tables))
            .max_core_instances_per_component(PER_SLOT.core_instances)
            .max_memories_per_component(PER_SLOT.memories)
            .max_tables_per_component(PER_SLOT.tables)
            .table_elements(PER_SLOT.max_table_elements as usize)
            .total_stacks(n)
            .max_memory_size(config.max_memory_bytes);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    cfg
}

/// A stable key for "artifacts this engine can load": wasmtime's own
/// compatibility hash plus the crate version.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Increments the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("weir-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the epoch ticker; guests will not be preempted");
    }
}
