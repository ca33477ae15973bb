//! The JavaScript and Python SDKs' and runners' own tests, against a fake host (no component
//! built): framing across chunks, output buffering, events, topics, errors, render and PNG
//! encoding; the runners' module loading, Node built-ins, event loop and `scramjet.streams`.
//! They need `node` (18+) and `python3` on the PATH, which building those plugins needs too.

use std::path::Path;
use std::process::Command;

fn run(program: &str, args: &[&str], dir: &str) -> String {
    let dir = Path::new(weir_tests::WORKSPACE_DIR).join(dir);
    let output = Command::new(program)
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): the SDK tests need it on the PATH")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} in {}:\n{text}",
        dir.display()
    );
    text
}

#[test]
fn the_javascript_sdk_passes_its_tests_under_node() {
    let out = run(
        "node",
        &[
            "--import",
            "./test/register.mjs",
            "--test",
            "test/sdk.test.js",
        ],
        "sdk/js",
    );
    assert!(
        out.contains("# tests 11") && out.contains("# fail 0"),
        "{out}"
    );
}

#[test]
fn the_python_sdk_passes_its_tests() {
    let out = run(
        "python3",
        &["-m", "unittest", "discover", "-s", "tests", "-v"],
        "sdk/python",
    );
    assert!(
        out.contains("Ran 13 tests") && out.trim_end().ends_with("OK"),
        "{out}"
    );
}

#[test]
fn the_javascript_runner_passes_its_tests_under_node() {
    let out = run("node", &["--test", "test/"], "runners/js");
    assert!(out.contains("# pass ") && out.contains("# fail 0"), "{out}");
}

#[test]
fn the_python_runner_passes_its_tests() {
    let out = run(
        "python3",
        &["-m", "unittest", "discover", "-s", "tests", "-v"],
        "runners/python",
    );
    assert!(out.trim_end().ends_with("OK"), "{out}");
}
