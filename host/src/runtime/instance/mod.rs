//! One running instance: a tokio task that owns the `Store`, and a handle
//! the rest of the hub uses to feed input, read streams, send events, stop
//! and kill it.

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::cli::AsyncStdinStream;

use super::bindings::{Signal, StopRequest, WitEvent};
use super::console::ConsoleStream;
use super::engine::Runtime;
use super::event_bus::EventBus;
use super::io::{ChannelReader, InputWriter, input_channel};
use super::limits::{Hit, Limits, arm_epoch, metered, wall_clock};
use super::program::{Entry, Program};
use super::state::{InstanceState, KeepAlive, Limiter, log_line};
use super::stdio::{PipeStream, Tail};
use super::topics::TopicBus;
use super::trap::{panic_message, trap_message};
use super::usage::{MemoryUse, Usage};
use crate::streams::{Overflow, Pipe};

mod control;
mod drive;

use drive::{Exceeded, Outcome, RunError, drive};

/// Exit code of an instance that finished by itself.
pub const EXIT_COMPLETED: i32 = 0;
/// Exit code of an instance killed without a prior stop, or past its
/// wall-clock limit (then it ends `errored`, with the limit as the reason).
pub const EXIT_KILLED: i32 = 137;
/// Exit code of an instance that ended after a stop request.
pub const EXIT_STOPPED: i32 = 138;
/// Exit code of a source package whose `main` names no file (set by its runner).
pub const EXIT_NO_MAIN: i32 = 21;
/// Exit code of an instance that failed to instantiate, or of a source package whose
/// code failed to load.
pub const EXIT_START_FAILED: i32 = 22;
/// Exit code of an instance whose `run` returned an error.
pub const EXIT_FAILED: i32 = 23;
/// Exit code of an instance that trapped (panic, unreachable, stack
/// overflow, or its memory or CPU-time limit).
pub const EXIT_TRAPPED: i32 = 101;

/// Signals (events, stop) queued for the guest.
const SIGNAL_QUEUE: usize = 256;

/// Instance states, as in the Scramjet hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceStatus {
    /// Created, not yet instantiating.
    Initializing,
    /// Instantiating the component.
    Starting,
    /// Running its entry point.
    Running,
    /// A stop was requested.
    Stopping,
    /// A kill was requested.
    Killing,
    /// Ended: finished, stopped or killed.
    Completed,
    /// Ended with an error or trap.
    Errored,
}

impl InstanceStatus {
    /// Every state, in the order an instance goes through them.
    pub const ALL: [InstanceStatus; 7] = [
        InstanceStatus::Initializing,
        InstanceStatus::Starting,
        InstanceStatus::Running,
        InstanceStatus::Stopping,
        InstanceStatus::Killing,
        InstanceStatus::Completed,
        InstanceStatus::Errored,
    ];

    /// The state's name, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Initializing => "initializing",
            InstanceStatus::Starting => "starting",
            InstanceStatus::Running => "running",
            InstanceStatus::Stopping => "stopping",
            InstanceStatus::Killing => "killing",
            InstanceStatus::Completed => "completed",
            InstanceStatus::Errored => "errored",
        }
    }

    /// Whether the instance has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, InstanceStatus::Completed | InstanceStatus::Errored)
    }
}

/// How an instance ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Terminated {
    /// 0 completed, 137 killed, 138 stopped, 22 start failed, 23 failed,
    /// 101 trapped, or the code a WASI command exited with.
    pub exitcode: i32,
    /// A sentence saying why.
    pub reason: String,
}

/// What an instance is started with.
#[derive(Clone, Default)]
pub struct StartOptions {
    /// Instance id (a UUID unless the client chose one).
    pub id: String,
    /// Configuration object given to the guest.
    pub config: Map<String, Value>,
    /// Start arguments given to the guest.
    pub args: Vec<Value>,
    /// Memory limit for this instance, if tighter than the runtime's.
    pub max_memory_bytes: Option<usize>,
    /// Wall-clock limit for this instance, if tighter than the runtime's and
    /// the package's; past it the instance is killed (137, errored).
    pub max_wall_time: Option<Duration>,
    /// CPU-time limit for this instance, if tighter than the runtime's and
    /// the package's; past it the instance traps (101).
    pub max_cpu_time: Option<Duration>,
    /// The hub's topics, for plugins that publish or subscribe at run time.
    pub topics: Option<Arc<dyn TopicBus>>,
    /// Receives the guest's log lines, stderr, (an SDK plugin's) stdout and events in
    /// the order it made them (`weir run`). With it, stderr and that stdout go to the
    /// hook only, not to their pipes.
    pub console: Option<super::console::ConsoleHook>,
    /// Called once the instance has ended (its status and how it ended set), on the thread
    /// that ran it — or with [`EXIT_TRAPPED`] if its task was dropped before it ended. The
    /// hub does its bookkeeping here instead of in a task per instance waiting for the end.
    pub on_end: Option<EndHook>,
}

/// See [`StartOptions::on_end`].
pub type EndHook = Arc<dyn Fn(&Instance, &Terminated) + Send + Sync>;

#[derive(Debug, Clone)]
struct Phase {
    status: InstanceStatus,
    terminated: Option<Terminated>,
    started: Option<SystemTime>,
    ended: Option<SystemTime>,
}

struct Shared {
    id: String,
    created: SystemTime,
    input: InputWriter,
    /// For a WASI command, the same writer as `input`.
    stdin: InputWriter,
    stdin_is_input: bool,
    output: Pipe,
    stdout: Pipe,
    stderr: Pipe,
    log: Pipe,
    signals: mpsc::Sender<Signal>,
    events: EventBus,
    keep_alive: Arc<Mutex<KeepAlive>>,
    phase: watch::Sender<Phase>,
    /// Set to the exit code the instance gets when killed.
    kill: watch::Sender<Option<i32>>,
    /// When a stop was requested (for the exit code and keep-alive).
    stop_requested: Mutex<Option<Instant>>,
    /// The input's content type, as the first input request named it.
    input_content_type: Arc<std::sync::OnceLock<String>>,
    /// Nanoseconds spent running the guest.
    cpu_nanos: Arc<AtomicU64>,
    memory: Arc<MemoryUse>,
    /// The limits in force, once the instance started.
    limits: std::sync::OnceLock<Limits>,
}

/// A handle to a running (or ended) instance. Cheap to clone.
#[derive(Clone)]
pub struct Instance {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An instance made but not yet started: [`launch`](Self::launch) it. Dropped
/// unlaunched, it starts where guests run.
#[must_use = "an instance starts when launched (or dropped)"]
pub struct Launch {
    task: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    runtime: Runtime,
}

impl Launch {
    /// Instantiates the instance on the calling thread, within a tokio runtime, then
    /// hands it to the guests' runtime once it runs (or once its start yields: a
    /// start function runs here for at most one epoch tick). The caller then sees it
    /// running without waiting for another thread to pick it up.
    pub fn launch(mut self) {
        let Some(mut task) = self.task.take() else {
            return;
        };
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if task.as_mut().poll(&mut cx).is_pending() {
            // Polled again there at once: what the no-op waker missed is seen then.
            self.runtime.spawn_guest(task);
        }
    }

    /// Starts the instance where guests run, all of it there.
    pub fn spawn(mut self) {
        self.spawn_rest();
    }

    fn spawn_rest(&mut self) {
        if let Some(task) = self.task.take() {
            self.runtime.spawn_guest(task);
        }
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        self.spawn_rest();
    }
}

impl Runtime {
    /// Starts an instance of `program` where guests run.
    pub fn start(&self, program: &Program, options: StartOptions) -> Instance {
        let (instance, launch) = self.prepare(program, options);
        launch.spawn();
        instance
    }

    /// Makes an instance of `program`, to be started by [`Launch::launch`] once the
    /// caller has recorded it.
    pub fn prepare(&self, program: &Program, options: StartOptions) -> (Instance, Launch) {
        let capacity = self.config().pipe_capacity;
        // Input and stdin hold at most a pipe's worth of bytes, however big
        // the chunks that come in.
        let (input, input_rx) = input_channel(capacity);
        // A WASI command reads its input on stdin: both routes feed it.
        let is_command = matches!(program.entry, Entry::Command(_));
        let (stdin, stdin_rx) = if is_command {
            (input.clone(), None)
        } else {
            let (stdin, stdin_rx) = input_channel(capacity);
            (stdin, Some(stdin_rx))
        };
        let (signal_tx, signal_rx) = mpsc::channel(SIGNAL_QUEUE);
        let shared = Arc::new(Shared {
            id: options.id.clone(),
            created: SystemTime::now(),
            input,
            stdin,
            stdin_is_input: is_command,
            output: Pipe::new(capacity, Overflow::Block),
            stdout: Pipe::new(capacity, Overflow::Block),
            stderr: Pipe::new(capacity, Overflow::DropOldest),
            log: Pipe::new(capacity, Overflow::DropOldest),
            signals: signal_tx,
            events: EventBus::new(capacity),
            keep_alive: Arc::default(),
            phase: watch::channel(Phase {
                status: InstanceStatus::Initializing,
                terminated: None,
                started: None,
                ended: None,
            })
            .0,
            kill: watch::channel(None).0,
            stop_requested: Mutex::new(None),
            input_content_type: Arc::default(),
            cpu_nanos: Arc::default(),
            memory: Arc::default(),
            limits: std::sync::OnceLock::new(),
        });
        let instance = Instance { shared };
        let runtime = self.clone();
        let program = program.clone();
        let task_instance = instance.clone();
        let task = Box::pin(drive(
            runtime,
            program,
            options,
            task_instance,
            input_rx,
            stdin_rx,
            signal_rx,
        ));
        let launch = Launch {
            task: Some(task),
            runtime: self.clone(),
        };
        (instance, launch)
    }
}

/// Why an event could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The guest is not reading its events fast enough.
    #[error("the instance's event queue is full")]
    Full,
    /// The instance has ended.
    #[error("the instance has ended")]
    Ended,
}
