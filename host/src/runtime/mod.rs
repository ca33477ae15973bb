//! The wasm runtime: one wasmtime `Engine` and `Linker` per process, one
//! compiled [`Program`] per package, one task per running [`Instance`].
//!
//! Components are compiled once and the artifact is cached on disk keyed by
//! the component's SHA-256 and the engine's configuration, so a restart or a
//! second upload of the same bytes loads in about a millisecond. Instances
//! start from an `InstancePre` (with the pooling allocator when configured),
//! run on tokio with epoch interruption so no guest can hold a core, and talk
//! to the rest of the hub only over bounded channels and [`Pipe`]s.
//!
//! [`Pipe`]: crate::streams::Pipe

mod host;
mod instance;
mod io;
mod render;
mod topics;

use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::p2::bindings::CommandPre;

pub use host::{EmittedEvent, EventBus, EventStream, MemoryLimitExceeded};
pub use instance::{
    EXIT_COMPLETED, EXIT_FAILED, EXIT_KILLED, EXIT_START_FAILED, EXIT_STOPPED, EXIT_TRAPPED,
    Instance, InstanceStatus, SendError, StartOptions, Terminated,
};
pub use io::ChannelReader;
pub use render::{
    Artifact, FrameRequest, LogHook, MAX_ARTIFACT_BYTES, ProgressHook, RenderError, RenderOptions,
    is_valid_artifact_name,
};
pub use topics::{BoxFuture, TopicBus, TopicPublisher, TopicSubscriber};

pub(crate) use host::log_line;
use host::{InstanceState, Sequence, SequencePre};
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
    /// Linear memory allowed per instance, in bytes (default 256 MiB).
    pub max_memory_bytes: usize,
    /// Bytes buffered per instance stream before the writer waits (default 1 MiB).
    pub pipe_capacity: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            pool_instances: None,
            cache_dir: None,
            max_memory_bytes: 256 << 20,
            pipe_capacity: 1 << 20,
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
            RuntimeError::Compile(_) | RuntimeError::Imports(_) | RuntimeError::NoEntryPoint
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
}

/// How a program is entered.
#[derive(Clone)]
pub(crate) enum Entry {
    /// Exports `run` from the `weir:plugin` sequence world.
    Sequence(SequencePre<InstanceState>),
    /// A plain WASI command (`wasi:cli/run`).
    Command(CommandPre<InstanceState>),
    /// Exports `render` from the `weir:plugin` render world.
    Render(RenderPre<InstanceState>),
}

/// A compiled component, ready to instantiate any number of times.
#[derive(Clone)]
pub struct Program {
    pub(crate) entry: Entry,
    /// SHA-256 of the component bytes (hex).
    pub digest: String,
}

impl Program {
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
        Sequence::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        // The render world shares `log` (and `types`) with the sequence world.
        render::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let engine_key = engine_key(&engine);
        spawn_epoch_ticker(&engine);
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                config,
                engine_key,
            }),
        })
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
        let component = self.compile_cached(&bytes, &digest)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::Imports(format!("{e:#}")))?;
        let entry = if let Ok(pre) = SequencePre::new(pre.clone()) {
            Entry::Sequence(pre)
        } else if let Ok(pre) = RenderPre::new(pre.clone()) {
            Entry::Render(pre)
        } else if let Ok(pre) = CommandPre::new(pre) {
            Entry::Command(pre)
        } else {
            return Err(RuntimeError::NoEntryPoint);
        };
        Ok(Program { entry, digest })
    }

    fn compile_cached(&self, wasm: &[u8], digest: &str) -> Result<Component, RuntimeError> {
        let engine = &self.inner.engine;
        let Some(dir) = &self.inner.config.cache_dir else {
            return Component::new(engine, wasm)
                .map_err(|e| RuntimeError::Compile(format!("{e:#}")));
        };
        let path = dir.join(format!("{digest}-{}.cwasm", self.inner.engine_key));
        if path.is_file() {
            match load_artifact(engine, &path) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached component");
                    let _ = fs::remove_file(&path);
                }
            }
        }
        let artifact = engine
            .precompile_component(wasm)
            .map_err(|e| RuntimeError::Compile(format!("{e:#}")))?;
        fs::create_dir_all(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        fs::write(tmp.path(), &artifact)?;
        tmp.persist(&path).map_err(|e| RuntimeError::Io(e.error))?;
        load_artifact(engine, &path).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

/// Loads a precompiled component that this runtime wrote into its own cache.
#[allow(unsafe_code)]
fn load_artifact(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts its input to be a wasmtime artifact.
    // The cache directory is written only by `compile_cached` (atomically,
    // via rename) from components this engine compiled itself; artifacts are
    // never taken from uploads. Files from another wasmtime version or
    // configuration are keyed differently and also rejected by wasmtime's
    // header check.
    unsafe { Component::deserialize_file(engine, path) }
}

fn engine_config(config: &RuntimeConfig) -> Config {
    let mut cfg = Config::new();
    cfg.epoch_interruption(true);
    cfg.wasm_memory64(false);
    cfg.max_wasm_stack(512 * 1024);
    if let Some(n) = config.pool_instances {
        let mut pool = PoolingAllocationConfig::default();
        // A Rust wasm32-wasip2 component needs one memory, two tables and a
        // handful of core instances.
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(8))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(8))
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
