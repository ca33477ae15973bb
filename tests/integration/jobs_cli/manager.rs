//! A `weir serve` job manager and `weir worker`s for the job CLI tests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use weir::client::{ClientError, HubClient, Worker};

use crate::support::{pack, scratch, weir};

/// How long any one command, or any one wait, may take. Generous: the tests
/// run side by side on few cores, and each starts a hub and workers.
pub const WAIT: Duration = Duration::from_secs(120);

/// A `weir serve` (the job manager) on a free port with its own data dir,
/// killed when dropped, with the `weir worker`s started for it.
pub struct Manager {
    child: Child,
    url: String,
    serve_args: Vec<String>,
    /// Data, logs and downloads of this test.
    pub dir: tempfile::TempDir,
    /// The `weir worker` processes, by index.
    pub workers: Vec<Child>,
}

impl Manager {
    /// Starts `weir serve … SERVE_ARGS`.
    pub fn start(serve_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let (child, url) = crate::support::serve(Some(&log_path), |command| {
            command
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .args(serve_args)
                .env_remove("WEIR_TOKEN")
                .env_remove("WEIR_LOG")
                .stderr(log);
        });
        Manager {
            child,
            url,
            serve_args: serve_args.iter().map(|a| a.to_string()).collect(),
            dir,
            workers: Vec::new(),
        }
    }

    /// The manager's URL (`http://ADDR`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Stops the manager with SIGTERM and starts it again on the same port
    /// and data dir after `down`.
    pub fn restart(&mut self, down: Duration) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        assert!(self.child.wait().unwrap().success());
        thread::sleep(down);
        let log_path = self.dir.path().join("server-restarted.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let listen = self.url.trim_start_matches("http://").to_string();
        let (child, url) = crate::support::serve_at(&listen, Some(&log_path), |command| {
            command
                .arg("--data-dir")
                .arg(self.dir.path().join("data"))
                .args(&self.serve_args)
                .env_remove("WEIR_TOKEN")
                .env_remove("WEIR_LOG")
                .stderr(log);
        });
        assert_eq!(url, self.url);
        self.child = child;
    }

    /// The server's log and every worker's, for failure messages.
    pub fn logs(&self) -> String {
        let mut logs = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            logs += &format!("--- {}\n{text}", file.display());
        }
        logs
    }

    /// `weir --hub URL ARGS`.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = weir();
        cmd.arg("--hub")
            .arg(&self.url)
            .args(args)
            .env("WEIR_CONFIG_DIR", self.dir.path().join("config"))
            .env_remove("WEIR_HUB")
            .env_remove("WEIR_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `weir ARGS` to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        crate::support::finish(self.command(args).spawn().unwrap(), WAIT)
    }

    /// stdout of a successful `weir ARGS`.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "weir {args:?} failed ({}): {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// What `weir --json ARGS` prints.
    pub fn json(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = std::iter::once("--json")
            .chain(args.iter().copied())
            .collect();
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    /// stderr of `weir ARGS`, which must fail with exit code 2.
    pub fn refused(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(output.status.code(), Some(2), "weir {args:?}: {output:?}");
        String::from_utf8(output.stderr).unwrap()
    }

    /// Packs the plugin at `dir` and sends it; returns the sequence id.
    pub fn send(&self, dir: &str) -> String {
        let package = pack(dir);
        self.ok(&["seq", "send", package.to_str().unwrap()])
            .trim()
            .to_string()
    }

    /// `weir job submit ARGS`; returns the job id.
    pub fn submit(&self, args: &[&str]) -> String {
        let args: Vec<&str> = ["job", "submit"].iter().chain(args).copied().collect();
        self.ok(&args).trim().to_string()
    }

    /// Starts `weir worker --manager URL --name NAME --slots 1`, logging to
    /// `worker-NAME.log`; returns its index in `self.workers`.
    pub fn worker(&mut self, name: &str) -> usize {
        self.worker_with(name, &[])
    }

    /// [`worker`](Self::worker) with more arguments.
    pub fn worker_with(&mut self, name: &str, extra: &[&str]) -> usize {
        let log =
            std::fs::File::create(self.dir.path().join(format!("worker-{name}.log"))).unwrap();
        let child = weir()
            .args([
                "worker",
                "--manager",
                &self.url,
                "--name",
                name,
                "--slots",
                "1",
            ])
            .arg("--cache-dir")
            .arg(scratch().join("worker-cache"))
            .args(extra)
            .env_remove("WEIR_TOKEN")
            .env("WEIR_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.workers.push(child);
        self.workers.len() - 1
    }

    /// Runs `call` with a client of this manager, within [`WAIT`].
    pub fn api<T, F>(&self, call: impl FnOnce(HubClient) -> F) -> T
    where
        F: Future<Output = Result<T, ClientError>>,
    {
        let client = HubClient::new(&self.url, None).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(async { tokio::time::timeout(WAIT, call(client)).await })
            .expect("the manager answered in time")
            .unwrap()
    }

    /// The remote workers (`GET /workers` without the hub's own).
    pub fn remote_workers(&self) -> Vec<Worker> {
        let workers = self.api(|client| async move { client.workers().await });
        workers.into_iter().filter(|w| !w.local).collect()
    }

    /// Waits until `check` holds for the remote workers; returns them.
    pub fn wait_for_workers(&self, what: &str, check: impl Fn(&[Worker]) -> bool) -> Vec<Worker> {
        let deadline = Instant::now() + WAIT;
        loop {
            let workers = self.remote_workers();
            if check(&workers) {
                return workers;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {workers:#?}\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The remote worker named `name`, once it is online and holds a task.
    pub fn busy_worker(&self, name: &str) -> Worker {
        let workers = self.wait_for_workers(&format!("{name} holds no task"), |workers| {
            workers
                .iter()
                .any(|w| w.name == name && w.state == "online" && !w.active_tasks.is_empty())
        });
        workers.into_iter().find(|w| w.name == name).unwrap()
    }

    /// Waits for worker `index` to exit and returns its exit status.
    pub fn wait_worker(&mut self, index: usize) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.workers[index].try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "worker {index} did not exit\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM to worker `index`.
    pub fn terminate(&self, index: usize) {
        let pid = self.workers[index].id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    }

    /// `weir job watch ID`: exit code and stdout.
    pub fn watch(&self, id: &str) -> (Option<i32>, String) {
        let output = self.run(&["job", "watch", id]);
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
        )
    }

    /// Waits until job `id` has completed.
    pub fn completes(&self, id: &str) {
        let (code, stdout) = self.watch(id);
        assert_eq!(code, Some(0), "{stdout}\n{}", self.logs());
        assert!(
            stdout
                .lines()
                .last()
                .unwrap()
                .starts_with(&format!("job {id} completed: ")),
            "{stdout}"
        );
    }

    /// Every artifact name of job `id`, with how often it is listed.
    pub fn artifact_names(&self, id: &str) -> BTreeMap<String, usize> {
        let mut names = BTreeMap::new();
        for artifact in self.json(&["job", "artifacts", id]).as_array().unwrap() {
            let name = artifact["name"].as_str().unwrap().to_string();
            *names.entry(name).or_insert(0) += 1;
        }
        names
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            let _ = worker.kill();
            let _ = worker.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
