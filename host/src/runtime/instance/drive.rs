//! An instance's task: instantiate, run the entry, watch its limits and signals, and record
//! how it ended.

use super::*;

/// Runs the instance to its end and records how it ended.
pub(super) async fn drive(
    runtime: Runtime,
    program: Program,
    options: StartOptions,
    instance: Instance,
    input_rx: ChannelReader,
    stdin_rx: Option<ChannelReader>,
    signal_rx: mpsc::Receiver<Signal>,
) {
    // Dropped last, when this task ends however it ends.
    let _on_end = OnEnd {
        hook: options.on_end.clone(),
        instance: instance.clone(),
    };
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
    // The guest's stdout and stderr go into their pipes (or to the console hook) inside
    // its own host calls; the last lines of stderr say why a trapped guest ended.
    let stderr_tail = Arc::new(Mutex::new(Tail::default()));
    match &options.console {
        Some(hook) => {
            wasi.stderr(ConsoleStream::stderr(hook.clone(), stderr_tail.clone()));
            if is_command {
                wasi.stdout(PipeStream::new(stdout_pipe));
            } else {
                wasi.stdout(ConsoleStream::stdout(hook.clone()));
            }
        }
        None => {
            wasi.stdout(PipeStream::new(stdout_pipe))
                .stderr(PipeStream::keeping_tail(
                    shared.stderr.clone(),
                    stderr_tail.clone(),
                ));
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
    drop(store);
    drop(sandbox); // removes the scratch directory
    for (_, publisher) in publishers {
        publisher.finish().await;
    }
    let stderr_tail = std::mem::take(&mut *lock(&stderr_tail)).finish();
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

/// Calls [`StartOptions::on_end`] when dropped.
struct OnEnd {
    hook: Option<EndHook>,
    instance: Instance,
}

impl Drop for OnEnd {
    fn drop(&mut self) {
        let Some(hook) = self.hook.take() else {
            return;
        };
        let end = self.instance.terminated().unwrap_or_else(|| Terminated {
            exitcode: EXIT_TRAPPED,
            reason: "the instance task ended before the instance did".into(),
        });
        hook(&self.instance, &end);
    }
}

pub(super) enum Outcome {
    Finished(Result<Result<(), String>, RunError>),
    Killed(i32),
    /// Ran past its wall-clock limit.
    TimedOut(Duration),
}

/// The limit that made the guest trap, if any.
pub(super) enum Exceeded {
    Nothing,
    Memory(usize),
    Cpu(Duration),
}

pub(super) enum RunError {
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
            yield_once().await;
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
            yield_once().await;
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

/// Pending once, then ready: where an instance started on its caller's thread (see
/// [`Launch`](super::Launch)) stops, once it runs, so that its entry point runs where guests run.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}
