//! The process-level runtime: one wasmtime engine and linker, the compile cache, the epoch
//! ticker and the threads guests run on.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::p2::bindings::CommandPre;

use super::bindings::RunnerPre;
use super::bindings::render::RenderPre;
use super::compile::{self, engine_key};
use super::config::{EPOCH_TICK, RuntimeConfig};
use super::error::RuntimeError;
use super::footprint::{Footprint, PER_SLOT};
use super::limits::Limits;
use super::program::{Entry, Program};
use super::state::InstanceState;
use super::{host, imports};

/// The process-level runtime: engine, linker and compile cache. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    pub(super) inner: Arc<RuntimeInner>,
}

pub(super) struct RuntimeInner {
    pub(super) engine: Engine,
    pub(super) linker: Linker<InstanceState>,
    pub(super) config: RuntimeConfig,
    pub(super) engine_key: String,
    pub(super) guests: GuestRuntime,
    pub(super) compiles: CompileCounts,
}

/// How components were had: from the compile cache, or compiled (and how
/// long compiling took).
#[derive(Debug, Default)]
pub(super) struct CompileCounts {
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
pub(super) struct GuestRuntime(Option<tokio::runtime::Runtime>);

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

impl Runtime {
    /// Builds the engine (and the instance pool, when configured) and starts
    /// the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let engine = Engine::new(&engine_config(&config))
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
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

/// What a freed pool slot keeps resident of each linear memory and each table (at most
/// `max_unused_warm_slots`, 100, slots are kept warm).
const KEEP_RESIDENT_MEMORY: usize = 1 << 20;
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

fn engine_config(config: &RuntimeConfig) -> Config {
    // The pool does not change generated code, so the compiler child (which
    // has no pool) makes artifacts this engine loads.
    let mut cfg = compile::code_config();
    // `WEIR_GUEST_PROFILE=perfmap`: guests' compiled functions named in
    // /tmp/perf-<pid>.map, for `perf report` (BENCHMARKS.md has the profiles made so).
    if std::env::var_os("WEIR_GUEST_PROFILE").is_some_and(|v| v == "perfmap") {
        cfg.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
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
            .max_memory_size(config.max_memory_bytes)
            // A freed slot's dirty pages (found with the PAGEMAP_SCAN ioctl where the
            // kernel has it, 6.7+) are reset in place, up to these sizes, instead of
            // decommitted: no madvise, no TLB shootdown across the cores, and no page
            // faults when the slot starts its next instance.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
            .table_keep_resident(KEEP_RESIDENT_TABLE);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    cfg
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
