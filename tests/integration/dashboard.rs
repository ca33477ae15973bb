//! The dashboard in a real browser: headless Chromium driven by Playwright
//! (`tests/dashboard/e2e.mjs`) against a real `weir serve --token`, through
//! the page only: upload, start, input and output, topics, a mandelbrot job
//! to 100% with its frames previewed, cancel, multi-select and priority,
//! the event stream resumed, workers, a phone-width screen and a read-only
//! token. Screenshots of every page go to the test's scratch dir.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{pack, scratch, serve};

/// The Playwright library the test script drives the browser with, pinned.
const PLAYWRIGHT: &str = "playwright-core@1.65.1";

/// `$WEIR_PLAYWRIGHT` (a directory holding `node_modules/playwright-core`),
/// or the pinned version installed once with npm under the guests' target dir.
pub fn playwright() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = match std::env::var_os("WEIR_PLAYWRIGHT") {
            Some(dir) => PathBuf::from(dir),
            None => Path::new(weir_tests::GUEST_TARGET_DIR).join("tools/playwright-core-1.65.1"),
        };
        let module = dir.join("node_modules/playwright-core");
        if !module.join("package.json").is_file() {
            std::fs::create_dir_all(&dir).unwrap();
            eprintln!("installing {PLAYWRIGHT} into {} (npm)", dir.display());
            let status = Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .arg(PLAYWRIGHT)
                .status();
            assert!(
                status.is_ok_and(|s| s.success()) && module.is_dir(),
                "this test needs Playwright: `npm install {PLAYWRIGHT}` (or set WEIR_PLAYWRIGHT)"
            );
        }
        module
    })
}

/// `$WEIR_CHROMIUM`, or Debian's `/usr/bin/chromium`, installed with apt-get
/// when it is missing and this test may (root); else the test says what to
/// install.
pub fn chromium() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("WEIR_CHROMIUM") {
            return PathBuf::from(path);
        }
        let debian = PathBuf::from("/usr/bin/chromium");
        if !debian.is_file() && is_root() {
            eprintln!("installing Debian's chromium (apt-get install chromium)");
            let _ = Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
        }
        assert!(
            debian.is_file(),
            "this test needs Chromium: `apt-get install chromium` (Debian), or set WEIR_CHROMIUM"
        );
        debian
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs the browser script `tests/dashboard/SCRIPT` with node, the browser,
/// Playwright and `shots` (where its screenshots go) set, and `env` →
/// whether it passed, and what it printed (stdout, then stderr).
pub fn run_browser_script(script: &str, shots: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new("node")
        .arg(format!(
            "{}/tests/dashboard/{script}",
            weir_tests::WORKSPACE_DIR
        ))
        .envs(env.iter().copied())
        .env("CHROMIUM", chromium())
        .env("PLAYWRIGHT", playwright())
        .env("SHOTS", shots)
        .output()
        .expect("node runs the browser test (Node.js 18+ is needed)");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

/// Unknown dashboard files get the API's JSON 404, and a page the browser
/// already has is answered 304 by its ETag (no browser needed).
#[tokio::test]
async fn dashboard_files_are_cached_by_etag_and_unknown_ones_are_a_json_404() {
    let data = tempfile::tempdir().unwrap();
    let (mut hub, url) = serve(None, |command| {
        command
            .args([
                "--slots",
                "0",
                "--token",
                "dashboard-etag-token",
                "--data-dir",
            ])
            .arg(data.path().join("data"));
    });
    let client = reqwest::Client::new();
    // The page itself needs no token: it holds nothing of the hub's.
    let page = client.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let etag = page.headers()["etag"].clone();
    let again = client
        .get(format!("{url}/ui/app.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), reqwest::StatusCode::NOT_MODIFIED);
    let missing = client
        .get(format!("{url}/ui/../Cargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
    let missing = client
        .get(format!("{url}/ui/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("nope.js"),
        "{body}"
    );
    let _ = hub.kill();
    let _ = hub.wait();
}

#[test]
fn the_dashboard_drives_the_hub_in_a_real_browser() {
    let hello = pack(weir_tests::HELLO_DIR);
    let mandelbrot = pack(weir_tests::MANDELBROT_DIR);
    let render_test = pack(weir_tests::RENDER_TEST_DIR);
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("hub.log");
    let (admin, reader) = ("dashboard-admin-token", "dashboard-read-token");
    let (mut hub, url) = serve(Some(&log), |command| {
        command
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .args(["--token", admin, "--read-token", reader, "--slots", "2"])
            .env("WEIR_CACHE_DIR", scratch().join("components"))
            .stderr(std::fs::File::create(&log).unwrap());
    });
    let shots = scratch().join("dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let (hello, mandelbrot, render_test) = (
        hello.to_string_lossy(),
        mandelbrot.to_string_lossy(),
        render_test.to_string_lossy(),
    );
    let (passed, printed) = run_browser_script(
        "e2e.mjs",
        &shots,
        &[
            ("WEIR_URL", &url),
            ("WEIR_TOKEN", admin),
            ("WEIR_READ_TOKEN", reader),
            ("HELLO_PKG", &hello),
            ("MANDELBROT_PKG", &mandelbrot),
            ("RENDER_TEST_PKG", &render_test),
        ],
    );
    let _ = hub.kill();
    let _ = hub.wait();
    assert!(
        passed,
        "the browser test failed:\n{printed}\nhub log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(printed.contains("every step passed"), "{printed}");
    let taken = std::fs::read_dir(&shots).unwrap().count();
    assert!(
        taken >= 15,
        "a screenshot of every page: {taken} in {}",
        shots.display()
    );
}
