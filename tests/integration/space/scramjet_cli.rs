//! The real Scramjet CLI (`si`, @scramjet/cli from npm) in platform mode
//! against a space of two weir hubs: it lists the spaces and the hubs, picks
//! a hub and drives it through `space/:id/api/v1/sth/:hub/api/v1/...`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use reqwest::StatusCode;

use super::nats::Nats;
use super::{SpaceHub, get_json, wait_for_list};

/// The CLI version the Scramjet hub 0.26 ships with.
const SCRAMJET_CLI: &str = "@scramjet/cli@0.26.1";

/// `$WEIR_SI`, or the pinned CLI installed once with npm under the guests'
/// target dir.
fn si_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("WEIR_SI") {
            return PathBuf::from(path);
        }
        let dir = Path::new(weir_tests::GUEST_TARGET_DIR).join("tools/si");
        let installed = dir.join("node_modules/.bin/si");
        if !installed.is_file() {
            std::fs::create_dir_all(&dir).unwrap();
            eprintln!("installing {SCRAMJET_CLI} into {} (npm)", dir.display());
            let status = Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .arg(SCRAMJET_CLI)
                .status();
            assert!(
                status.is_ok_and(|s| s.success()) && installed.is_file(),
                "this test needs the Scramjet CLI: `npm install {SCRAMJET_CLI}` (or set WEIR_SI)"
            );
        }
        installed
    })
}

/// Runs `si` with its own home (its config lives in `~/.si`).
pub struct Si {
    pub home: tempfile::TempDir,
}

impl Si {
    pub fn new() -> Si {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".si")).unwrap();
        Si { home }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(si_binary());
        command
            .args(args)
            .env("HOME", self.home.path())
            .env("NO_COLOR", "1");
        command
    }

    /// Runs `si ARGS` to its end; stdout and stderr together.
    pub fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "si {args:?}: {text}");
        text
    }
}

/// The value of `key: 'VALUE'` in the CLI's printout of an object.
pub fn field(printed: &str, key: &str) -> String {
    let start = printed
        .find(&format!("{key}: '"))
        .unwrap_or_else(|| panic!("no {key} in {printed}"))
        + key.len()
        + 3;
    let end = start + printed[start..].find('\'').unwrap();
    printed[start..end].to_string()
}

#[tokio::test]
async fn the_scramjet_cli_in_platform_mode_lists_picks_and_drives_a_hub() {
    let nats = Nats::start();
    let a = SpaceHub::start(&nats, "clis", "a", &[]);
    let b = SpaceHub::start(&nats, "clis", "b", &[]);
    wait_for_list(&a, "clis", |l| l.len() == 2).await;
    let package = tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::HELLO_DIR))
        .await
        .unwrap();
    let middleware = format!("{}/api/v1", a.url);
    let si = Si::new();
    let package = package.to_str().unwrap().to_string();
    let (sequence, instance, si) = tokio::task::spawn_blocking(move || {
        si.run(&["config", "set", "env", "production"]);
        si.run(&["config", "set", "middlewareApiUrl", &middleware]);
        let spaces = si.run(&["space", "list"]);
        assert!(spaces.contains("id: 'clis'"), "{spaces}");
        let used = si.run(&["space", "use", "clis"]);
        assert!(used.contains("service: 'weir-space'"), "{used}");
        let hubs = si.run(&["hub", "list"]);
        assert!(
            hubs.contains("id: 'a'") && hubs.contains("id: 'b'"),
            "{hubs}"
        );
        assert!(hubs.contains("healthy: true"), "{hubs}");
        let unknown = si.run(&["hub", "use", "zzz"]);
        assert!(unknown.contains("Host not found"), "{unknown}");
        si.run(&["hub", "use", "b"]);

        let sent = si.run(&["seq", "send", &package]);
        assert!(sent.contains("/space/clis/api/v1/sth/b/api/v1"), "{sent}");
        let sequence = field(&sent, "_id");
        let listed = si.run(&["seq", "list"]);
        assert!(listed.contains(&sequence), "{listed}");
        let started = si.run(&["seq", "start", &sequence]);
        let instance = field(&started, "_id");
        (sequence, instance, si)
    })
    .await
    .unwrap();

    // The instance runs on b, where `si hub use b` sent it.
    let (status, info) = get_json(&format!("{}/api/v1/instance/{instance}", b.url)).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["sequence"]["id"], sequence.as_str());

    let input = si.home.path().join("input.txt");
    std::fs::write(&input, "world\nweir\n").unwrap();
    let output = tokio::task::spawn_blocking(move || {
        si.run(&["inst", "input", &instance, input.to_str().unwrap()]);
        // `si inst output` follows the stream: two lines, then stop it.
        let mut follow = si
            .command(&["inst", "output", &instance])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
        let got: Vec<String> = (0..2).map_while(|_| lines.next()?.ok()).collect();
        let _ = follow.kill();
        let _ = follow.wait();
        got
    });
    let output = tokio::time::timeout(crate::support::hub::WAIT, output)
        .await
        .expect("si inst output printed nothing")
        .unwrap();
    assert_eq!(output, ["Hello world!", "Hello weir!"]);
}
