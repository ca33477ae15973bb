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
use wasmtime_wasi::cli::{AsyncStdinStream, AsyncStdoutStream};

use super::bindings::{Signal, StopRequest, WitEvent};
use super::console::ConsoleStream;
use super::engine::Runtime;
use super::event_bus::EventBus;
use super::io::{
    ChannelReader, InputWriter, Tail, input_channel, pump_into, pump_into_keeping_tail,
};
use super::limits::{Hit, Limits, arm_epoch, metered, wall_clock};
use super::program::{Entry, Program};
use super::state::{InstanceState, KeepAlive, Limiter, log_line};
use super::topics::TopicBus;
use super::trap::{panic_message, trap_message};
use super::usage::{MemoryUse, Usage};
use crate::streams::{Overflow, Pipe};

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
/// Bytes in flight from the guest's WASI stdout/stderr to their pump.
const STDIO_BUDGET: usize = 64 * 1024;

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
}

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

impl Runtime {
    /// Starts an instance of `program` on the current tokio runtime.
    pub fn start(&self, program: &Program, options: StartOptions) -> Instance {
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
        self.spawn_guest(async move {
            drive(
                runtime,
                program,
                options,
                task_instance,
                input_rx,
                stdin_rx,
                signal_rx,
            )
            .await;
        });
        instance
    }
}

/// Runs the instance to its end and records how it ended.
async fn drive(
    runtime: Runtime,
    program: Program,
    options: StartOptions,
    instance: Instance,
    input_rx: ChannelReader,
    stdin_rx: Option<ChannelReader>,
    signal_rx: mpsc::Receiver<Signal>,
) {
    let shared = &instance.shared;
    // A WASI command reads its input on stdin and writes its output on stdout.
    let (stdin_source, input, stdout_pipe) = match stdin_rx {
        None => (input_rx, None, shared.output.clone()),
        Some(stdin_rx) => (stdin_rx, Some(input_rx), shared.stdout.clone()),
    };
    let is_command = input.is_none();
    let mut wasi = WasiCtx::builder();
    wasi.stdin(AsyncStdinStream::new(stdin_source))
        .args(&[options.id.as_str()]);
    let console_tail = Arc::new(Mutex::new(Tail::default()));
    let mut stdout_pump = None;
    let mut stderr_pump = None;
    match &options.console {
        Some(hook) => {
            wasi.stderr(ConsoleStream::stderr(hook.clone(), console_tail.clone()));
            if is_command {
                let (stdout_w, stdout_r) = tokio::io::duplex(STDIO_BUDGET);
                wasi.stdout(AsyncStdoutStream::new(STDIO_BUDGET, stdout_w));
                stdout_pump = Some(pump_into(stdout_r, stdout_pipe));
            } else {
                wasi.stdout(ConsoleStream::stdout(hook.clone()));
            }
        }
        None => {
            let (stdout_w, stdout_r) = tokio::io::duplex(STDIO_BUDGET);
            let (stderr_w, stderr_r) = tokio::io::duplex(STDIO_BUDGET);
            wasi.stdout(AsyncStdoutStream::new(STDIO_BUDGET, stdout_w))
                .stderr(AsyncStdoutStream::new(STDIO_BUDGET, stderr_w));
            stdout_pump = Some(pump_into(stdout_r, stdout_pipe));
            stderr_pump = Some(pump_into_keeping_tail(stderr_r, shared.stderr.clone()));
        }
    }
    // Granted files, scratch, env and hosts; an error fails the start.
    let (sandbox, sandbox_error) = match program
        .sandbox
        .apply(&mut wasi, &runtime.scratch_root())
        .await
    {
        Ok((guard, warnings)) => {
            for warning in warnings {
                log_line(&shared.log, "warn", "hub", &warning);
            }
            (Some(guard), None)
        }
        Err(e) => (None, Some(e)),
    };
    let limits = runtime
        .config()
        .instance_limits()
        .tightest(program.limits())
        .tightest(Limits {
            memory_bytes: options.max_memory_bytes,
            wall_time: options.max_wall_time,
            cpu_time: options.max_cpu_time,
        });
    let _ = shared.limits.set(limits);
    let memory_bytes = limits.memory_bytes.unwrap_or(usize::MAX);
    let state = InstanceState {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        limiter: Limiter {
            memory_bytes,
            table_elements: 100_000,
            memory_exceeded: false,
            memory: shared.memory.clone(),
        },
        input,
        output: shared.output.clone(),
        log: shared.log.clone(),
        signals: signal_rx,
        events: shared.events.clone(),
        keep_alive: shared.keep_alive.clone(),
        instance_id: options.id.clone(),
        config: Value::Object(options.config).to_string(),
        args: Value::Array(options.args).to_string(),
        topics: options.topics,
        publishers: Default::default(),
        subscriptions: Default::default(),
        render: None,
        package_files: program.sandbox.package_files(),
        exit_code: None,
        input_content_type: shared.input_content_type.clone(),
        console: options.console.clone(),
    };
    let mut store = Store::new(runtime.engine(), state);
    store.limiter(|state| &mut state.limiter);
    let meter = arm_epoch(&mut store, &limits, &shared.cpu_nanos);

    instance.set_status(InstanceStatus::Starting);
    let mut kill_rx = shared.kill.subscribe();
    let outcome = {
        let run = async {
            if let Some(e) = &sandbox_error {
                return Err(RunError::Start(wasmtime::format_err!("{e}")));
            }
            run_entry(&program.entry, &mut store, &instance).await
        };
        let run = metered(run, meter.clone(), shared.cpu_nanos.clone());
        tokio::select! {
            result = run => Outcome::Finished(result),
            code = wait_for_kill(&mut kill_rx) => Outcome::Killed(code),
            limit = wall_clock(limits.wall_time) => Outcome::TimedOut(limit),
        }
    };
    let hit = meter.and_then(|meter| meter.hit());
    let outcome = match (outcome, hit) {
        // Trapped by the meter at its wall-clock limit while running (or
        // while its start function ran).
        (
            Outcome::Finished(Err(RunError::Trap(_) | RunError::Start(_))),
            Some(Hit::Wall(limit)),
        ) => Outcome::TimedOut(limit),
        // A limit hit in the start function ends the instance as in `run`.
        (Outcome::Finished(Err(RunError::Start(e))), Some(Hit::Cpu(_))) => {
            Outcome::Finished(Err(RunError::Trap(e)))
        }
        (Outcome::Finished(Err(RunError::Start(e))), _) if store.data().limiter.memory_exceeded => {
            Outcome::Finished(Err(RunError::Trap(e)))
        }
        (outcome, _) => outcome,
    };
    let exceeded = match hit {
        _ if store.data().limiter.memory_exceeded => Exceeded::Memory(memory_bytes),
        Some(Hit::Cpu(limit)) => Exceeded::Cpu(limit),
        _ => Exceeded::Nothing,
    };
    let failure_code = store.data().exit_code;
    let publishers = std::mem::take(&mut store.data_mut().publishers);
    drop(store); // closes the guest's stdio so the pumps drain and end
    drop(sandbox); // removes the scratch directory
    for (_, publisher) in publishers {
        publisher.finish().await;
    }
    if let Some(pump) = stdout_pump {
        let _ = pump.await;
    }
    let stderr_tail = match stderr_pump {
        Some(pump) => pump.await.unwrap_or_default(),
        None => std::mem::take(&mut *lock(&console_tail)).finish(),
    };
    // A command's stdout pipe is its output; the unused one must end too.
    shared.output.close();
    shared.stdout.close();
    // A limit ends the instance errored, even with the killed exit code.
    let by_limit = matches!(outcome, Outcome::TimedOut(_));
    let terminated = instance.classify(outcome, exceeded, failure_code, &stderr_tail);
    log_line(
        &shared.log,
        if terminated.exitcode == 0 {
            "info"
        } else {
            "error"
        },
        "hub",
        &format!(
            "instance ended: {} (exit code {})",
            terminated.reason, terminated.exitcode
        ),
    );
    shared.log.close();
    shared.stderr.close();
    shared.events.close();
    let status = match terminated.exitcode {
        _ if by_limit => InstanceStatus::Errored,
        EXIT_COMPLETED | EXIT_KILLED | EXIT_STOPPED => InstanceStatus::Completed,
        _ => InstanceStatus::Errored,
    };
    shared.phase.send_modify(|phase| {
        phase.status = status;
        phase.terminated = Some(terminated);
        phase.ended = Some(SystemTime::now());
    });
}

enum Outcome {
    Finished(Result<Result<(), String>, RunError>),
    Killed(i32),
    /// Ran past its wall-clock limit.
    TimedOut(Duration),
}

/// The limit that made the guest trap, if any.
enum Exceeded {
    Nothing,
    Memory(usize),
    Cpu(Duration),
}

enum RunError {
    Start(wasmtime::Error),
    Trap(wasmtime::Error),
}

async fn run_entry(
    entry: &Entry,
    store: &mut Store<InstanceState>,
    instance: &Instance,
) -> Result<Result<(), String>, RunError> {
    match entry {
        Entry::Sequence(pre) => {
            let bindings = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(RunError::Start)?;
            instance.mark_running();
            bindings.call_run(&mut *store).await.map_err(RunError::Trap)
        }
        Entry::Render(_) => Err(RunError::Start(wasmtime::format_err!(
            "a render component renders frames in render jobs; it cannot run as an instance"
        ))),
        Entry::Command(pre) => {
            let command = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(RunError::Start)?;
            instance.mark_running();
            let result = command
                .wasi_cli_run()
                .call_run(&mut *store)
                .await
                .map_err(RunError::Trap)?;
            Ok(result.map_err(|()| "the command exited with an error".to_string()))
        }
    }
}

async fn wait_for_kill(rx: &mut watch::Receiver<Option<i32>>) -> i32 {
    loop {
        if let Some(code) = *rx.borrow_and_update() {
            return code;
        }
        if rx.changed().await.is_err() {
            // The handle is gone; keep running until the guest ends.
            std::future::pending::<()>().await;
        }
    }
}

impl Instance {
    /// The instance id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The current state.
    pub fn status(&self) -> InstanceStatus {
        self.shared.phase.borrow().status
    }

    /// How the instance ended, once it has.
    pub fn terminated(&self) -> Option<Terminated> {
        self.shared.phase.borrow().terminated.clone()
    }

    /// When the handle was created, when the guest started running and when it ended.
    pub fn times(&self) -> (SystemTime, Option<SystemTime>, Option<SystemTime>) {
        let phase = self.shared.phase.borrow();
        (self.shared.created, phase.started, phase.ended)
    }

    /// Waits until the guest is running (or has already ended).
    pub async fn wait_started(&self) -> InstanceStatus {
        let mut rx = self.shared.phase.subscribe();
        let phase = rx
            .wait_for(|p| {
                !matches!(
                    p.status,
                    InstanceStatus::Initializing | InstanceStatus::Starting
                )
            })
            .await;
        phase.map(|p| p.status).unwrap_or(InstanceStatus::Errored)
    }

    /// Waits for the instance to end and says how it did.
    pub async fn wait(&self) -> Terminated {
        let mut rx = self.shared.phase.subscribe();
        let phase = rx.wait_for(|p| p.terminated.is_some()).await;
        phase
            .ok()
            .and_then(|p| p.terminated.clone())
            .unwrap_or_else(|| Terminated {
                exitcode: EXIT_TRAPPED,
                reason: "the instance task vanished".into(),
            })
    }

    /// A writer of the instance input (`None` once the input ended).
    pub fn input(&self) -> Option<InputWriter> {
        let input = &self.shared.input;
        (!input.is_ended()).then(|| input.clone())
    }

    /// A writer of the guest's WASI stdin (`None` once it ended). For a
    /// WASI command, stdin is the input: the same writer as [`input`](Self::input).
    pub fn stdin(&self) -> Option<InputWriter> {
        let stdin = &self.shared.stdin;
        (!stdin.is_ended()).then(|| stdin.clone())
    }

    /// Whether stdin is the input (a WASI command).
    pub fn stdin_is_input(&self) -> bool {
        self.shared.stdin_is_input
    }

    /// Records the input's content type (`context.input-content-type`); the first one
    /// given stays, as in the Scramjet hub.
    pub fn set_input_content_type(&self, content_type: &str) {
        let first = self.shared.input_content_type.set(content_type.to_string());
        // Bytes in, bytes out: lines would mean nothing, and counting them
        // costs a pass over every byte.
        if first.is_ok() && content_type.starts_with("application/octet-stream") {
            let shared = &self.shared;
            shared.input.bytes_only();
            shared.stdin.bytes_only();
            shared.output.bytes_only();
            shared.stdout.bytes_only();
        }
    }

    /// Ends the instance input for every writer: the guest reads what was
    /// taken, then EOF.
    pub fn close_input(&self) {
        self.shared.input.end();
    }

    /// Ends the guest's WASI stdin (for a WASI command, its input).
    pub fn close_stdin(&self) {
        self.shared.stdin.end();
    }

    /// The output stream.
    pub fn output(&self) -> &Pipe {
        &self.shared.output
    }

    /// What the instance used so far (see [`Usage`]).
    pub fn usage(&self) -> Usage {
        let shared = &self.shared;
        let (memory_bytes, peak_memory_bytes) = shared.memory.read();
        let input = shared.input.flow();
        Usage {
            cpu: Duration::from_nanos(shared.cpu_nanos.load(AtomicOrdering::Relaxed)),
            memory_bytes,
            peak_memory_bytes,
            input,
            stdin: shared.stdin.flow(),
            output: shared.output.flow(),
            stdout: shared.stdout.flow(),
            stderr: shared.stderr.flow(),
            output_blocked: shared.output.blocked(),
            limits: shared.limits.get().copied(),
        }
    }

    /// The guest's WASI stdout (separate from output for SDK plugins).
    pub fn stdout(&self) -> &Pipe {
        &self.shared.stdout
    }

    /// The guest's WASI stderr.
    pub fn stderr(&self) -> &Pipe {
        &self.shared.stderr
    }

    /// The instance log: JSON lines from the plugin and the hub.
    pub fn log(&self) -> &Pipe {
        &self.shared.log
    }

    /// Events the instance emitted.
    pub fn events(&self) -> &EventBus {
        &self.shared.events
    }

    /// Delivers an event to the guest. Fails when its queue is full or it ended.
    pub fn send_event(&self, name: String, message: &Value) -> Result<(), SendError> {
        let signal = Signal::Event(WitEvent {
            name,
            message: message.to_string(),
        });
        self.shared.signals.try_send(signal).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Ended,
        })
    }

    /// Asks the guest to stop. If it has not ended after `timeout` (and has
    /// not called `keep-alive` when allowed to), it is killed with exit code 138.
    pub fn stop(&self, timeout: Duration, can_keep_alive: bool) {
        if self.status().is_terminal() {
            return;
        }
        let asked = Instant::now();
        *lock(&self.shared.stop_requested) = Some(asked);
        self.set_status(InstanceStatus::Stopping);
        log_line(
            &self.shared.log,
            "info",
            "hub",
            &format!("stop requested (timeout {} ms)", timeout.as_millis()),
        );
        let _ = self.shared.signals.try_send(Signal::Stop(StopRequest {
            timeout_ms: timeout.as_millis() as u64,
            can_keep_alive,
        }));
        let instance = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if instance.status().is_terminal()
                || *lock(&instance.shared.stop_requested) != Some(asked)
            {
                return;
            }
            let kept = lock(&instance.shared.keep_alive)
                .last_called
                .is_some_and(|at| at >= asked);
            if can_keep_alive && kept {
                *lock(&instance.shared.stop_requested) = None;
                instance.set_status(InstanceStatus::Running);
                log_line(
                    &instance.shared.log,
                    "info",
                    "hub",
                    "stop cancelled by keep-alive",
                );
            } else {
                instance.shared.kill.send_replace(Some(EXIT_STOPPED));
            }
        });
    }

    /// Ends the instance now (within one epoch tick, even in a busy loop).
    pub fn kill(&self) {
        if self.status().is_terminal() {
            return;
        }
        self.set_status(InstanceStatus::Killing);
        let code = if lock(&self.shared.stop_requested).is_some() {
            EXIT_STOPPED
        } else {
            EXIT_KILLED
        };
        self.shared.kill.send_replace(Some(code));
    }

    fn set_status(&self, status: InstanceStatus) {
        self.shared.phase.send_if_modified(|phase| {
            if phase.status.is_terminal() || phase.status == status {
                return false;
            }
            phase.status = status;
            true
        });
    }

    fn mark_running(&self) {
        self.shared.phase.send_modify(|phase| {
            phase.started = Some(SystemTime::now());
            if phase.status == InstanceStatus::Starting {
                phase.status = InstanceStatus::Running;
            }
        });
    }

    fn classify(
        &self,
        outcome: Outcome,
        exceeded: Exceeded,
        failure_code: Option<i32>,
        stderr_tail: &std::collections::VecDeque<String>,
    ) -> Terminated {
        let stopped = lock(&self.shared.stop_requested).is_some();
        let (exitcode, reason) = match outcome {
            Outcome::Killed(EXIT_STOPPED) => (EXIT_STOPPED, "Instance stopped".to_string()),
            Outcome::Killed(code) => (code, "Instance killed".to_string()),
            Outcome::TimedOut(limit) => (
                EXIT_KILLED,
                format!(
                    "Instance killed: time limit of {} ms exceeded",
                    limit.as_millis()
                ),
            ),
            Outcome::Finished(Ok(Ok(()))) if stopped => {
                (EXIT_STOPPED, "Instance stopped".to_string())
            }
            Outcome::Finished(Ok(Ok(()))) => (EXIT_COMPLETED, "Instance completed".to_string()),
            // A runner names the Scramjet code: 21 no `main`, 22 its source failed to load.
            Outcome::Finished(Ok(Err(message))) => match failure_code {
                Some(code @ (EXIT_NO_MAIN | EXIT_START_FAILED)) => {
                    (code, format!("Sequence failed on start: {message}"))
                }
                Some(code) if code > 0 => {
                    (code, format!("Sequence failed during execution: {message}"))
                }
                _ => (
                    EXIT_FAILED,
                    format!("Sequence failed during execution: {message}"),
                ),
            },
            Outcome::Finished(Err(RunError::Start(e))) => (
                EXIT_START_FAILED,
                format!("Sequence failed on start: {}", trap_message(&e)),
            ),
            Outcome::Finished(Err(RunError::Trap(e))) => {
                if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    match exit.0 {
                        0 if stopped => (EXIT_STOPPED, "Instance stopped".to_string()),
                        0 => (EXIT_COMPLETED, "Instance completed".to_string()),
                        code => (code, format!("the command exited with code {code}")),
                    }
                } else {
                    let why = match exceeded {
                        Exceeded::Memory(bytes) => {
                            format!("memory limit of {} MiB exceeded", bytes >> 20)
                        }
                        Exceeded::Cpu(limit) => {
                            format!("CPU time limit of {} ms exceeded", limit.as_millis())
                        }
                        // A Rust panic says why on stderr before it traps.
                        Exceeded::Nothing => {
                            panic_message(stderr_tail).unwrap_or_else(|| trap_message(&e))
                        }
                    };
                    (EXIT_TRAPPED, format!("Sequence trapped: {why}"))
                }
            }
        };
        Terminated { exitcode, reason }
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
