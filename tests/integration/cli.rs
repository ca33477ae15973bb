//! The hub client commands (`weir seq`, `weir inst`, `weir topic`, `weir hub`),
//! run as the real binary against a real `weir serve`.

mod run;
mod topics;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{pack, weir};

/// How long any one command, or any one wait, may take.
const WAIT: Duration = Duration::from_secs(60);

/// A `weir serve` on a free port with its own data and session dirs,
/// killed when dropped.
struct Hub {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Hub {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts `weir serve … ARGS`.
    fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let (child, url) = crate::support::serve(Some(&log_path), |command| {
            command
                .args(args)
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .env_remove("WEIR_TOKEN")
                .env_remove("WEIR_LOG")
                .stderr(log);
        });
        Hub { child, url, dir }
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `weir ARGS` talking to this hub, remembering ids in this hub's session.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = weir();
        cmd.arg("--hub")
            .arg(&self.url)
            .args(args)
            .env("WEIR_CONFIG_DIR", self.dir.path().join("config"))
            .env_remove("WEIR_HUB")
            .env_remove("WEIR_TOKEN");
        cmd
    }

    /// Starts `weir ARGS` with `stdin` as its input.
    fn spawn(&self, args: &[&str], stdin: &[u8]) -> Child {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        child
    }

    /// Runs `weir ARGS` with `stdin` to the end.
    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        crate::support::finish(self.spawn(args, stdin), WAIT)
    }

    /// stdout of a successful `weir ARGS`.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, b"")
    }

    fn ok_with(&self, args: &[&str], stdin: &[u8]) -> String {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "weir {args:?} failed ({}): {}\nserver log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.server_log()
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// `weir seq deploy` of a plugin's package; returns the instance id.
    fn deploy(&self, plugin_dir: &str, extra: &[&str]) -> String {
        let package = pack(plugin_dir);
        let mut args = vec!["seq", "deploy", package.to_str().unwrap()];
        args.extend(extra);
        self.ok(&args).trim().to_string()
    }

    /// The JSON `weir --json inst info ID` prints.
    fn info(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["--json", "inst", "info", id])).unwrap()
    }

    /// Waits until the instance has ended and returns its exit code.
    fn exit_code(&self, id: &str) -> i64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let info = self.info(id);
            if let Some(code) = info["terminated"]["exitcode"].as_i64() {
                return code;
            }
            assert!(Instant::now() < deadline, "{id} did not end: {info}");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines a child prints, as they come.
struct Lines(mpsc::Receiver<String>);

impl Lines {
    fn of(child: &mut Child) -> Self {
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        Lines(rx)
    }

    fn next(&self) -> Option<String> {
        match self.0.recv_timeout(WAIT) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no line within {WAIT:?}"),
        }
    }

    fn rest(&self) -> Vec<String> {
        std::iter::from_fn(|| self.next()).collect()
    }
}

#[test]
fn deployed_hello_greets_input_sent_with_end() {
    let hub = Hub::start();
    assert!(hub.ok(&["hub", "version"]).starts_with("weir "));
    let id = hub.deploy(weir_tests::HELLO_DIR, &[]);
    hub.ok_with(&["inst", "input", &id, "--end"], b"world\nweir\n");
    assert_eq!(
        hub.ok(&["inst", "output", &id]),
        "Hello world!\nHello weir!\n"
    );
    assert_eq!(hub.exit_code(&id), 0);
}

#[test]
fn dash_means_the_last_sequence_and_instance_used() {
    let hub = Hub::start();
    // A directory is packed before it is sent.
    let sequence = hub.ok(&["seq", "send", weir_tests::HELLO_DIR]);
    let sequence = sequence.trim();
    assert!(hub.ok(&["seq", "list"]).contains(sequence));
    assert!(hub.ok(&["seq", "info", "-"]).contains(sequence));

    let first = hub.ok(&["seq", "start", "-"]).trim().to_string();
    let second = hub.ok(&["seq", "start", "-"]).trim().to_string();
    assert_ne!(first, second);
    let info = hub.info("-");
    assert_eq!(info["id"], second.as_str());
    assert_eq!(info["sequence"]["id"], sequence);

    // An id given explicitly becomes the one `-` means.
    hub.ok(&["inst", "info", &first]);
    let input = hub.dir.path().join("names.txt");
    std::fs::write(&input, "dash\n").unwrap();
    hub.ok(&["inst", "input", "-", input.to_str().unwrap(), "--end"]);
    assert_eq!(hub.ok(&["inst", "output", "-"]), "Hello dash!\n");
    assert_eq!(hub.exit_code(&first), 0);
    assert_eq!(hub.info(&second)["status"], "running");
}

#[test]
fn event_on_next_prints_the_reply_to_an_emitted_event() {
    let hub = Hub::start();
    let id = hub.deploy(weir_tests::EVENTS_DIR, &[]);
    let mut waiter = hub.spawn(
        &["inst", "event", "on", &id, "test-response", "--next"],
        b"",
    );
    // The waiter has to be listening before the event goes out: emit until it
    // has its answer (each emission gets the same reply).
    let deadline = Instant::now() + WAIT;
    while waiter.try_wait().unwrap().is_none() {
        hub.ok(&["inst", "event", "emit", &id, "test-event", "hi"]);
        assert!(Instant::now() < deadline, "event on --next got nothing");
        thread::sleep(Duration::from_millis(200));
    }
    let output = crate::support::finish(waiter, WAIT);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "reply to hi\n");

    // Without --next, the last message is there at once; --json prints it as JSON.
    let last = hub.ok(&["--json", "inst", "event", "on", &id, "test-response"]);
    assert_eq!(last, "\"reply to hi\"\n");
}

#[test]
fn stop_ends_counter_with_stopped_and_exit_code_138() {
    let hub = Hub::start();
    let id = hub.deploy(
        weir_tests::COUNTER_DIR,
        &["--config", r#"{"interval_ms": 50}"#],
    );
    let mut reader = hub.spawn(&["inst", "output", &id], b"");
    let lines = Lines::of(&mut reader);
    assert_eq!(lines.next().as_deref(), Some("1"));

    let reply = hub.ok(&["inst", "stop", &id, "--timeout", "5000"]);
    assert!(reply.starts_with(&id), "{reply}");
    let rest = lines.rest();
    assert_eq!(rest.last().map(String::as_str), Some("stopped"), "{rest:?}");
    assert!(crate::support::finish(reader, WAIT).status.success());
    assert_eq!(hub.exit_code(&id), 138);
    let info = hub.ok(&["inst", "info", &id]);
    assert!(info.contains("138 (Instance stopped)"), "{info}");
    // Its accounting: the counter wrote lines to its output.
    assert!(info.contains("cpu"), "{info}");
    let output = info
        .lines()
        .find(|l| l.trim_start().starts_with("output "))
        .unwrap_or_else(|| panic!("{info}"));
    assert!(!output.contains(" 0 lines"), "{info}");
}

#[test]
fn kill_ends_counter_with_exit_code_137() {
    let hub = Hub::start();
    let id = hub.deploy(weir_tests::COUNTER_DIR, &[]);
    let mut reader = hub.spawn(&["inst", "output", "-"], b"");
    let lines = Lines::of(&mut reader);
    assert_eq!(lines.next().as_deref(), Some("1"));

    hub.ok(&["inst", "kill", "-"]);
    lines.rest();
    assert!(crate::support::finish(reader, WAIT).status.success());
    assert_eq!(hub.exit_code(&id), 137);
}

#[test]
fn delete_refuses_a_sequence_in_use_unless_forced() {
    let hub = Hub::start();
    let instance = hub.deploy(weir_tests::COUNTER_DIR, &[]);
    let sequence = hub.info(&instance)["sequence"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let refused = hub.run(&["seq", "delete", "-"], b"");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).starts_with("error: "),
        "{refused:?}"
    );
    assert!(hub.ok(&["seq", "list"]).contains(&sequence));

    hub.ok(&["seq", "delete", "-", "--force"]);
    assert!(!hub.ok(&["seq", "list"]).contains(&sequence));
}

#[test]
fn unknown_instance_fails_with_the_hubs_message() {
    let hub = Hub::start();
    let output = hub.run(&["inst", "info", "no-such-instance"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: Instance no-such-instance not found\n"
    );
    assert!(output.stdout.is_empty());

    // Nothing used yet, so `-` cannot stand for anything.
    let output = hub.run(&["inst", "output", "-"], b"");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no instance used yet"), "{stderr}");
}

#[test]
fn token_is_sent_as_a_bearer_token() {
    let hub = Hub::start_with(&["--token", "s3cret"]);
    let refused = hub.run(&["inst", "list"], b"");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with("error: missing bearer token"),
        "{stderr}"
    );

    // A package can come from stdin, too.
    let package = std::fs::read(pack(weir_tests::HELLO_DIR)).unwrap();
    let id = hub.ok_with(&["--token", "s3cret", "seq", "send", "-"], &package);
    let list = hub.ok(&["--token", "s3cret", "seq", "list"]);
    assert!(list.contains(id.trim()), "{list}");
}

#[test]
fn unreachable_hub_is_named_in_the_error() {
    let config = tempfile::tempdir().unwrap();
    let output = weir()
        .args(["--hub", "http://127.0.0.1:9", "hub", "version"])
        .env("WEIR_CONFIG_DIR", config.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot connect to the hub at http://127.0.0.1:9/"),
        "{stderr}"
    );
}

#[test]
fn demo_runs_hello_and_a_render_job_end_to_end_through_a_real_hub() {
    let data = tempfile::tempdir().unwrap();
    let frames = tempfile::tempdir().unwrap();
    let output = crate::support::weir()
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--exit",
            "--plugin",
            weir_tests::HELLO_DIR,
            "--render-plugin",
            weir_tests::MANDELBROT_DIR,
        ])
        .arg("--data-dir")
        .arg(data.path())
        .arg("--frames-dir")
        .arg(frames.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let names: Vec<String> = (1..=8).map(|f| format!("frame-{f:06}.png")).collect();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "Hello world!\nHello weir!\nrendered 8 frames: {}\n",
            names.join(" ")
        )
    );
    assert!(stderr.contains("\"exitcode\":0"), "{stderr}");
    assert!(
        data.path().join("sequences").read_dir().unwrap().count() == 2,
        "both packages were stored"
    );
    for name in &names {
        let png = std::fs::read(frames.path().join(name)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n"), "{name} is a PNG");
    }
}

#[test]
fn deployed_javascript_and_python_hello_greet_input_sent_with_end() {
    let hub = Hub::start();
    for dir in [
        crate::support::js_plugin("hello"),
        crate::support::py_plugin("hello"),
    ] {
        let id = hub.deploy(dir, &[]);
        hub.ok_with(&["inst", "input", &id, "--end"], b"world\nweir\n");
        assert_eq!(
            hub.ok(&["inst", "output", &id]),
            "Hello world!\nHello weir!\n",
            "{dir}"
        );
        assert_eq!(hub.exit_code(&id), 0, "{dir}");
    }
}
