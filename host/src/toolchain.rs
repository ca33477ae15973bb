//! The `wasm32-wasip2` standard library that building a Rust plugin needs.
//!
//! A toolchain installed by rustup may lack the target even when
//! `rust-toolchain.toml` names it (with `RUSTUP_AUTO_INSTALL=0`, rustup does
//! not add missing parts of an installed toolchain). Before a guest build,
//! [`ensure_wasm_target`] looks for the target's standard library in the
//! sysroot of the `rustc` that cargo will run and, when that sysroot is a
//! rustup toolchain, adds the target to it. Standard library only: the
//! guest build script (`tests/build.rs`) includes this file as well.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target Rust plugins are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Makes sure the toolchain that builds in `dir` has the [`WASM_TARGET`]
/// standard library, installing it with rustup when rustup manages that
/// toolchain. `say` gets one line when something is installed. The error is
/// a sentence that names what to install.
pub fn ensure_wasm_target(dir: &Path, say: &dyn Fn(&str)) -> Result<(), String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let print = |what: &str| -> Result<PathBuf, String> {
        let output = Command::new(&rustc)
            .args(["--print", what, "--target", WASM_TARGET])
            .current_dir(dir)
            .output()
            .map_err(|e| {
                format!("cannot run rustc ({e}); building a Rust plugin needs a Rust toolchain")
            })?;
        if !output.status.success() {
            return Err(format!(
                "`rustc --print {what} --target {WASM_TARGET}` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim().to_string(),
        ))
    };
    let libdir = print("target-libdir")?;
    if has_std(&libdir) {
        return Ok(());
    }
    let sysroot = print("sysroot")?;
    let Some(toolchain) = rustup_toolchain(&sysroot) else {
        return Err(format!(
            "the Rust standard library for {WASM_TARGET} is not installed (no {}); \
             building a Rust plugin needs it: install the {WASM_TARGET} target of your Rust \
             distribution (with rustup: `rustup target add {WASM_TARGET}`)",
            libdir.display()
        ));
    };
    say(&format!(
        "installing the {WASM_TARGET} target for toolchain {toolchain} \
         (rustup target add {WASM_TARGET} --toolchain {toolchain})"
    ));
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET, "--toolchain", &toolchain])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("cannot run rustup ({e})"))?;
    if !status.success() || !has_std(&libdir) {
        return Err(format!(
            "`rustup target add {WASM_TARGET} --toolchain {toolchain}` failed ({status}); \
             building a Rust plugin needs that target"
        ));
    }
    Ok(())
}

/// Whether `libdir` holds a standard library.
fn has_std(libdir: &Path) -> bool {
    std::fs::read_dir(libdir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libstd-") && name.ends_with(".rlib")
        })
    })
}

/// The rustup toolchain `sysroot` belongs to (`<rustup home>/toolchains/NAME`),
/// if rustup is installed.
fn rustup_toolchain(sysroot: &Path) -> Option<String> {
    let parent = sysroot.parent()?;
    if parent.file_name()? != "toolchains" {
        return None;
    }
    let name = sysroot.file_name()?.to_str()?.to_string();
    let rustup = Command::new("rustup").arg("--version").output().ok()?;
    rustup.status.success().then_some(name)
}
