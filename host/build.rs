//! Tells `weir` which build it is (`GET /version`'s `build`): the git commit
//! it was built from, or `source` outside a git checkout.
//!
//! Its build-dependencies are there for feature alignment (see Cargo.toml):
//! `cargo run` and `cargo test --workspace` must compile wasmtime's proc
//! macros, and so wasmtime, with one feature set.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "source".to_string());
    println!("cargo:rustc-env=WEIR_BUILD={commit}");
    println!("cargo:rerun-if-changed=build.rs");
}
