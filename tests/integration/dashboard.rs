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
        if !debian.is_file() && nix_is_root() {
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

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
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
    let output = Command::new("node")
        .arg(format!(
            "{}/tests/dashboard/e2e.mjs",
            weir_tests::WORKSPACE_DIR
        ))
        .env("WEIR_URL", &url)
        .env("WEIR_TOKEN", admin)
        .env("WEIR_READ_TOKEN", reader)
        .env("HELLO_PKG", &hello)
        .env("MANDELBROT_PKG", &mandelbrot)
        .env("RENDER_TEST_PKG", &render_test)
        .env("CHROMIUM", chromium())
        .env("PLAYWRIGHT", playwright())
        .env("SHOTS", &shots)
        .output()
        .expect("node runs the browser test (Node.js 18+ is needed)");
    let _ = hub.kill();
    let _ = hub.wait();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
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
