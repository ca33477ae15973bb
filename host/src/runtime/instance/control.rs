//! What the hub does to a running instance: input, output, signals, stop and kill, status.

use super::*;

impl Instance {
    /// The instance id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Whether `other` is a handle to this same instance (not merely one with its id).
    pub fn is(&self, other: &Instance) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The current state.
    pub fn status(&self) -> InstanceStatus {
        self.shared.phase.borrow().status
    }

    /// How the instance ended, once it has.
    pub fn terminated(&self) -> Option<Terminated> {
        self.shared.phase.borrow().terminated.clone()
    }

    /// The state and how the instance ended, read together (one can change between two
    /// separate reads of [`Instance::status`] and [`Instance::terminated`]).
    pub fn status_and_end(&self) -> (InstanceStatus, Option<Terminated>) {
        let phase = self.shared.phase.borrow();
        (phase.status, phase.terminated.clone())
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

    pub(super) fn set_status(&self, status: InstanceStatus) {
        self.shared.phase.send_if_modified(|phase| {
            if phase.status.is_terminal() || phase.status == status {
                return false;
            }
            phase.status = status;
            true
        });
    }

    pub(super) fn mark_running(&self) {
        self.shared.phase.send_modify(|phase| {
            phase.started = Some(SystemTime::now());
            if phase.status == InstanceStatus::Starting {
                phase.status = InstanceStatus::Running;
            }
        });
    }

    pub(super) fn classify(
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
