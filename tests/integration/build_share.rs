//! `cargo run` (the weir binary alone) and `cargo test --workspace` must
//! resolve the same features for every dependency they share, or the second
//! compiles wasmtime, cranelift and friends again (the README promises one
//! build). That includes the build side: wasmtime's proc macros depend on
//! wit-parser, indexmap and serde_json, and a proc macro built anew rebuilds
//! wasmtime. `host/Cargo.toml` names the features the test build adds.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Every package the build for `args` compiles, with each feature set it is
/// compiled with (one for the target, maybe another for build scripts and
/// proc macros).
fn features(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(weir_tests::WORKSPACE_DIR)
        .args(["tree", "--locked", "--offline", "--prefix", "none"])
        .args(["--format", "{p}|{f}"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let line = line.trim_end_matches(" (*)");
        if let Some((package, features)) = line.split_once('|') {
            // A path package's `{p}` carries its directory; keep name and version.
            let package = package.split(" (").next().unwrap_or(package).to_string();
            packages
                .entry(package)
                .or_default()
                .insert(features.to_string());
        }
    }
    packages
}

#[test]
fn cargo_run_and_cargo_test_share_one_build_of_the_dependencies() {
    let run = features(&["-p", "weir", "-e", "normal,no-proc-macro"]);
    let test = features(&["--workspace", "-e", "normal,dev,no-proc-macro"]);
    let drift: Vec<String> = run
        .iter()
        .filter_map(|(package, features)| {
            let tested = test.get(package)?;
            (tested != features)
                .then(|| format!("{package}: cargo run builds {features:?}, cargo test {tested:?}"))
        })
        .collect();
    assert!(
        drift.is_empty(),
        "name the test build's features in host/Cargo.toml (the align-* dependencies) so the \
         two builds share these crates:\n{}",
        drift.join("\n")
    );
}
