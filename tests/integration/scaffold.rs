//! `weir new` makes plugins that build with `weir pack` and run as they are, in each
//! language and kind; `weir pack` says how to install a missing componentizer.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::hub::{TestHub, json_of};
use crate::support::{pack, run_ok, scratch, weir};

/// `weir new made-KIND --lang LANG --kind KIND`, made afresh in a fixed place (so its build
/// is cached across runs like the examples'; the names differ per kind because Rust plugins
/// share one target dir).
fn scaffold(lang: &str, kind: &str) -> &'static str {
    scaffold_at(
        &format!("{lang}-{kind}"),
        lang,
        kind,
        &format!("made-{kind}"),
    )
}

/// [`scaffold`] under its own name (a test that edits one needs its own crate: Rust
/// plugins share a target dir).
fn scaffold_named(lang: &str, kind: &str, name: &str) -> &'static str {
    scaffold_at(&format!("{lang}-{name}"), lang, kind, name)
}

fn scaffold_at(place: &str, lang: &str, kind: &str, name: &str) -> &'static str {
    let root = scratch().join("new").join(place);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let name = name.to_string();
    let dir = root.join(&name);
    let output = weir()
        .args(["new", &name, "--lang", lang, "--kind", kind, "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("build it with `weir pack"), "{stderr}");
    assert!(dir.join("weir.toml").is_file() && dir.join("README.md").is_file());
    String::leak(dir.to_string_lossy().into_owned())
}

#[test]
fn new_sequences_build_and_greet_in_rust_javascript_and_python() {
    for lang in ["rust", "js", "python"] {
        let out = run_ok(&pack(scaffold(lang, "sequence")), &[], b"world\nweir\n");
        assert_eq!(out, "Hello world!\nHello weir!\n", "{lang}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_render_plugins_render_a_text_file_per_frame_through_the_hub() {
    let hub = TestHub::with(|c| c.jobs.slots = 2, None).await;
    for lang in ["rust", "js", "python"] {
        let package = hub.upload(scaffold(lang, "render")).await;
        let body = json!({"package": package, "frames": "1-2", "settings": {"text": "hi"}});
        let (status, job) = json_of(hub.post_json("/jobs", body).await).await;
        assert_eq!(status, StatusCode::CREATED, "{lang}: {job}");
        let id = job["id"].as_str().unwrap().to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (_, job) = json_of(hub.get(&format!("/jobs/{id}")).await).await;
            if job["state"] == "completed" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline && job["state"] != "failed",
                "{lang}: {job:#}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (_, list) = json_of(hub.get(&format!("/jobs/{id}/artifacts")).await).await;
        let mut texts = Vec::new();
        for artifact in list.as_array().unwrap() {
            let url = format!(
                "{}{}",
                hub.base.trim_end_matches("/api/v1"),
                artifact["url"].as_str().unwrap()
            );
            texts.push((
                artifact["name"].clone(),
                hub.client
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap(),
            ));
        }
        assert_eq!(
            texts,
            [
                (json!("frame-000001.txt"), "hi 1\n".to_string()),
                (json!("frame-000002.txt"), "hi 2\n".to_string())
            ],
            "{lang}"
        );
    }
}

#[test]
fn new_refuses_a_bad_name_and_an_existing_directory() {
    let output = weir()
        .args(["new", "Bad_Name", "--lang", "js"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid plugin name \"Bad_Name\""));
    let dir = tempfile::tempdir().unwrap();
    let output = weir()
        .args(["new", "x", "--lang", "python", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
}

#[test]
fn pack_without_the_componentizer_says_how_to_install_it() {
    let out = tempfile::tempdir().unwrap();
    for (lang, install, var) in [
        (
            "js",
            "npm install -g @bytecodealliance/componentize-js@0.23.0",
            "WEIR_COMPONENTIZE_JS",
        ),
        (
            "python",
            "pip install componentize-py==0.25.1",
            "WEIR_COMPONENTIZE_PY",
        ),
    ] {
        let dir = Path::new(weir_tests::WORKSPACE_DIR)
            .join("plugins")
            .join(lang)
            .join("hello");
        let output = weir()
            .arg("pack")
            .arg(&dir)
            .arg("-o")
            .arg(out.path().join("x.tar.gz"))
            .env_remove(var)
            .env("PATH", out.path())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{lang}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "install it with `{install}` (or set {var} to its path)"
            )),
            "{stderr}"
        );
        let output = weir()
            .arg("pack")
            .arg(&dir)
            .env(var, out.path().join("nope"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("{var} names")) && stderr.contains("which is not a file"),
            "{stderr}"
        );
    }
}

#[test]
fn a_new_rust_sequence_tests_itself_natively_with_cargo_test() {
    let dir = scratch()
        .join("new")
        .join("rust-native")
        .join("made-native");
    let _ = std::fs::remove_dir_all(&dir);
    let made = weir()
        .args(["new", "made-native", "--lang", "rust", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // The scaffold's own test runs the sequence against weir_sdk::testing, natively.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let tested = std::process::Command::new(cargo)
        .arg("test")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env(
            "CARGO_TARGET_DIR",
            Path::new(weir_tests::GUEST_TARGET_DIR).join("native"),
        )
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&tested.stdout);
    assert!(
        tested.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    assert!(
        stdout.contains("test tests::greets_each_line ... ok"),
        "{stdout}"
    );
}

#[test]
fn two_exports_in_one_rust_crate_are_reported_by_name() {
    let dir = scratch().join("new").join("rust-two").join("made-two");
    let _ = std::fs::remove_dir_all(&dir);
    let made = weir()
        .args(["new", "made-two", "--lang", "rust", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let lib = dir.join("src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str(
        "\n#[weir_sdk::render]\nfn draw(_frame: &weir_sdk::render::Frame) -> std::result::Result<Vec<weir_sdk::render::Artifact>, String> {\n    Ok(Vec::new())\n}\n",
    );
    std::fs::write(&lib, source).unwrap();
    let packed = weir()
        .arg("pack")
        .arg(&dir)
        .arg("-o")
        .arg(dir.join("out.tar.gz"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&packed.stderr);
    assert!(!packed.status.success(), "{stderr}");
    assert!(
        stderr.contains("weir_sdk_allows_one_sequence_or_render_function_per_crate"),
        "{stderr}"
    );
}

#[test]
fn the_rust_sdk_packages_with_its_wit() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let listed = std::process::Command::new(cargo)
        .args(["package", "--list", "--allow-dirty", "-p", "weir-sdk"])
        .current_dir(weir_tests::WORKSPACE_DIR)
        .output()
        .unwrap();
    let files = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    for wit in [
        "wit/sequence.wit",
        "wit/render.wit",
        "wit/events.wit",
        "src/lib.rs",
    ] {
        assert!(
            files.lines().any(|f| f == wit),
            "{wit} not in the crate: {files}"
        );
    }
    assert!(
        !files.contains("js/"),
        "the JavaScript SDK is not part of the crate: {files}"
    );
}

/// The ```rust blocks of the README's "Writing a plugin" section that hold `marker`.
fn readme_rust_block(marker: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(weir_tests::WORKSPACE_DIR).join("README.md")).unwrap();
    readme
        .split("```rust\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(code, _)| code.to_string()))
        .find(|code| code.contains(marker))
        .unwrap_or_else(|| panic!("no ```rust block with {marker:?} in the README"))
}

#[test]
fn the_readmes_render_example_builds_and_renders_as_written() {
    let dir = scaffold_named("rust", "render", "readme-render");
    let code = readme_rust_block("#[weir_sdk::render]");
    std::fs::write(Path::new(dir).join("src/lib.rs"), &code).unwrap();
    let package = pack(dir);
    let out = tempfile::tempdir().unwrap();
    let output = weir()
        .arg("render")
        .arg(&package)
        .args(["--frames", "1-2", "-o"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let first = std::fs::read_to_string(out.path().join("frame-000001.txt")).unwrap();
    assert!(first.starts_with("frame 1 of job "), "{first}");
    assert!(out.path().join("frame-000002.txt").is_file());
}
