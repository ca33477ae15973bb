//! Builds every guest crate under `plugins/` and `tests/fixtures/` for
//! wasm32-wasip2 (release) with a nested cargo, into `<target>/guests`, and
//! writes their paths as constants (wasmtime's test-programs pattern).
//! A build script reports failure by panicking, hence the allows.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "../host/src/toolchain.rs"]
#[allow(dead_code)]
mod toolchain;

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let workspace = manifest_dir
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf();
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    let target_root = out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR is inside the target dir");
    let guest_target = target_root.join("guests");

    let mut crates = Vec::new();
    for group in ["plugins", "tests/fixtures"] {
        let dir = workspace.join(group);
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().join("Cargo.toml").is_file() {
                crates.push(entry.path());
            }
        }
    }
    crates.sort();
    for shared in ["sdk", "wit", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(shared).display()
        );
    }

    if let Err(missing) = toolchain::ensure_wasm_target(&workspace, &|line| {
        println!("cargo::warning={line}");
    }) {
        panic!("{missing}");
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--target-dir")
        .arg(&guest_target);
    // Flags meant for the host build must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    for dir in &crates {
        cmd.arg("-p").arg(package_name(dir));
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot run cargo for the guests");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut artifacts = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("cargo output is UTF-8");
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(manifest) = msg["manifest_path"].as_str() else {
            continue;
        };
        let dir = Path::new(manifest)
            .parent()
            .expect("a manifest has a directory")
            .to_path_buf();
        for file in msg["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
        {
            if file.ends_with(".wasm") && crates.contains(&dir) {
                artifacts.push((package_name(&dir), PathBuf::from(file), dir.clone()));
            }
        }
    }
    let status = child.wait().expect("cargo for the guests ran");
    assert!(status.success(), "building the guest plugins failed");

    let mut code = String::new();
    writeln!(
        code,
        "/// Cargo target directory of the guest builds.\npub const GUEST_TARGET_DIR: &str = {:?};",
        guest_target.display().to_string()
    )
    .unwrap();
    writeln!(
        code,
        "/// Root of the weir workspace.\npub const WORKSPACE_DIR: &str = {:?};",
        workspace.display().to_string()
    )
    .unwrap();
    let mut all = String::new();
    for (name, wasm, dir) in &artifacts {
        let ident = name.to_uppercase().replace('-', "_");
        writeln!(
            code,
            "/// The `{name}` component.\npub const {ident}: &str = {:?};",
            wasm.display().to_string()
        )
        .unwrap();
        writeln!(
            code,
            "/// The `{name}` crate directory.\npub const {ident}_DIR: &str = {:?};",
            dir.display().to_string()
        )
        .unwrap();
        write!(all, "({name:?}, {ident}), ").unwrap();
    }
    writeln!(
        code,
        "/// Every guest: (crate name, component path).\npub const ALL: &[(&str, &str)] = &[{all}];"
    )
    .unwrap();
    std::fs::write(out_dir.join("guests.rs"), code).expect("OUT_DIR is writable");
}

fn package_name(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
    text.lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("name")
                .and_then(|rest| rest.trim().strip_prefix('='))
        })
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| {
            dir.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
}
