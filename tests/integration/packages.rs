//! Bad packages are refused by `weir run` with a clear message and exit code 2.

use crate::support::{archive, run, scratch};

fn refused(package: &std::path::Path) -> String {
    let output = run(package, &[], b"");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

#[test]
fn not_an_archive_is_refused() {
    let path = scratch().join("not-an-archive.tar.gz");
    std::fs::write(&path, b"definitely not gzip").unwrap();
    assert!(refused(&path).contains("not a gzip file"));
}

#[test]
fn missing_manifest_is_refused() {
    let wasm = std::fs::read(weir_tests::HELLO).unwrap();
    let path = archive("no-manifest", &[("hello.wasm", &wasm)]);
    assert!(refused(&path).contains("has no manifest: put weir.toml"));
}

#[test]
fn manifest_pointing_at_a_missing_file_is_refused() {
    let path = archive(
        "missing-component",
        &[("weir.toml", b"name = 'x'\ncomponent = 'gone.wasm'\n")],
    );
    assert!(
        refused(&path)
            .contains("names component \"gone.wasm\", which is not a file in the package")
    );
}

#[test]
fn core_module_is_refused() {
    let core = b"\0asm\x01\0\0\0";
    let path = archive(
        "core-module",
        &[
            ("weir.toml", b"name = 'x'\ncomponent = 'core.wasm'\n"),
            ("core.wasm", core),
        ],
    );
    let stderr = refused(&path);
    assert!(
        stderr.contains("is a core WebAssembly module, not a component"),
        "{stderr}"
    );
}

#[test]
fn component_with_unknown_imports_is_refused_and_named() {
    let wasm = std::fs::read(weir_tests::BAD_IMPORT).unwrap();
    let path = archive(
        "bad-import",
        &[
            ("weir.toml", b"name = 'x'\ncomponent = 'bad.wasm'\n"),
            ("bad.wasm", &wasm),
        ],
    );
    let stderr = refused(&path);
    assert!(
        stderr.contains("imports what weir does not provide"),
        "{stderr}"
    );
    assert!(stderr.contains("weir:missing/nothing"), "{stderr}");
}

#[test]
fn invalid_component_bytes_are_refused() {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.extend_from_slice(&[0xff; 64]);
    let path = archive(
        "garbage-component",
        &[
            ("weir.toml", b"name = 'x'\ncomponent = 'x.wasm'\n"),
            ("x.wasm", &bytes),
        ],
    );
    assert!(refused(&path).contains("does not compile"));
}

#[test]
fn bad_config_is_refused() {
    let pkg = crate::support::pack(weir_tests::HELLO_DIR);
    let output = run(&pkg, &["--config", "[1,2]"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--config must be a JSON object"));
}

#[test]
fn a_trap_ends_the_run_with_its_reason() {
    let pkg = archive_of("panic", weir_tests::PANIC);
    let output = run(&pkg, &[], b"one line\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("deliberate panic"), "{stderr}");
    assert!(stderr.contains("Sequence trapped"), "{stderr}");
}

#[test]
fn a_plugin_error_ends_the_run_with_its_message() {
    let pkg = archive_of("failing", weir_tests::FAILING);
    let output = run(&pkg, &[], b"input\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(23), "{stderr}");
    assert!(stderr.contains("deliberate failure"), "{stderr}");
}

#[test]
fn the_memory_limit_traps_only_the_plugin() {
    let pkg = archive_of("memory-hog", weir_tests::MEMORY_HOG);
    let output = run(&pkg, &["--memory-mb", "32"], b"");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(101), "{stderr}");
    assert!(
        stderr.contains("memory limit of 32 MiB exceeded"),
        "{stderr}"
    );
}

/// A package holding one fixture component.
pub fn archive_of(name: &str, wasm_path: &str) -> std::path::PathBuf {
    let wasm = std::fs::read(wasm_path).unwrap();
    let manifest = format!("name = '{name}'\ncomponent = '{name}.wasm'\n");
    archive(
        &format!("fixture-{name}"),
        &[
            ("weir.toml", manifest.as_bytes()),
            (&format!("{name}.wasm"), &wasm),
        ],
    )
}

#[tokio::test]
async fn a_kind_that_does_not_match_the_component_is_refused_at_upload_and_pack() {
    use crate::support::hub::{TestHub, assert_error};
    let render = std::fs::read(weir_tests::MANDELBROT).unwrap();
    let sequence = std::fs::read(weir_tests::HELLO).unwrap();
    let cases: [(&str, &[u8], &str); 2] = [
        // A render component without `kind` (a sequence by default).
        (
            "name = 'r'\ncomponent = 'c.wasm'\n",
            &render,
            "set kind = \"render\"",
        ),
        (
            "name = 's'\nkind = 'render'\ncomponent = 'c.wasm'\n",
            &sequence,
            "the component exports the sequence world",
        ),
    ];
    let hub = TestHub::start().await;
    for (i, (manifest, wasm, needle)) in cases.into_iter().enumerate() {
        let files = [("weir.toml", manifest.as_bytes()), ("c.wasm", wasm)];
        let package = archive(&format!("kind-mismatch-{i}"), &files);
        let response = hub
            .client
            .post(hub.url("/sequence"))
            .header("content-type", "application/octet-stream")
            .body(std::fs::read(&package).unwrap())
            .send()
            .await
            .unwrap();
        assert_error(response, reqwest::StatusCode::UNPROCESSABLE_ENTITY, needle).await;
        // `weir pack` of the same directory says the same before writing anything.
        let dir = scratch().join(format!("kind-mismatch-dir-{i}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let out = dir.join("out.tar.gz");
        let packed = crate::support::weir()
            .arg("pack")
            .arg(&dir)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&packed.stderr);
        assert!(
            !packed.status.success() && stderr.contains(needle),
            "{stderr}"
        );
        assert!(!out.exists());
    }
    let (_, listed) = crate::support::hub::json_of(hub.get("/sequences").await).await;
    assert_eq!(listed, serde_json::json!([]));
}
