//! componentize-js and componentize-py for the JavaScript and Python plugins, pinned.
//!
//! Each is `$WEIR_COMPONENTIZE_JS` / `$WEIR_COMPONENTIZE_PY` (`.ci/run` installs both under
//! `~/.cache/weir-tools` and sets them), the command on the `PATH`, or, failing both, the
//! pinned version installed once under the guests' target dir (npm, and pip in a venv). A
//! test never passes without them: when the install fails it panics with the command to run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The npm package and version the JavaScript plugins are built with.
pub const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";
/// The PyPI package and version the Python plugins are built with.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// `(variable, path)` for both tools, to set on a `weir pack`.
pub fn env() -> [(&'static str, &'static Path); 2] {
    [
        ("WEIR_COMPONENTIZE_JS", js()),
        ("WEIR_COMPONENTIZE_PY", py()),
    ]
}

fn js() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        locate("WEIR_COMPONENTIZE_JS", "componentize-js").unwrap_or_else(|| {
            let dir = tools_dir().join("componentize-js-0.23.0");
            let bin = dir.join("node_modules/.bin/componentize-js");
            if !bin.is_file() {
                eprintln!("installing {COMPONENTIZE_JS} into {} (npm)", dir.display());
                let status = Command::new("npm")
                    .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                    .arg(&dir)
                    .arg(COMPONENTIZE_JS)
                    .status();
                assert!(
                    status.is_ok_and(|s| s.success()) && bin.is_file(),
                    "the JavaScript plugin tests need componentize-js: `npm install -g {COMPONENTIZE_JS}` (or set WEIR_COMPONENTIZE_JS)"
                );
            }
            bin
        })
    })
}

fn py() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        locate("WEIR_COMPONENTIZE_PY", "componentize-py").unwrap_or_else(|| {
            let dir = tools_dir().join("componentize-py-0.25.1");
            let bin = dir.join("bin/componentize-py");
            if !bin.is_file() {
                eprintln!("installing {COMPONENTIZE_PY} into {} (pip)", dir.display());
                let venv = Command::new("python3").args(["-m", "venv"]).arg(&dir).status();
                let pip = venv.is_ok_and(|s| s.success()).then(|| {
                    Command::new(dir.join("bin/pip"))
                        .args(["install", "--quiet", COMPONENTIZE_PY])
                        .status()
                });
                assert!(
                    pip.is_some_and(|s| s.is_ok_and(|s| s.success())) && bin.is_file(),
                    "the Python plugin tests need componentize-py: `pip install {COMPONENTIZE_PY}` (or set WEIR_COMPONENTIZE_PY)"
                );
            }
            bin
        })
    })
}

/// `$VAR` (which must name a file), or `name` found on the `PATH`.
fn locate(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{var} names {}, which is not a file",
            path.display()
        );
        return Some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn tools_dir() -> PathBuf {
    Path::new(weir_tests::GUEST_TARGET_DIR).join("tools")
}
