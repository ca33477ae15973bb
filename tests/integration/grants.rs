//! Capability grants: a sandbox sees files, scratch space, environment
//! variables and outbound hosts only when its package asks and the hub
//! allows; asking for more is refused at upload. Probed with the
//! grants-probe fixtures over real HTTP, in-process render frames and `weir run`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};
use weir::package::{GrantPolicy, Grants, HostPort};
use weir::runtime::{FrameRequest, Program, Runtime, RuntimeConfig};

use crate::support::hub::{TestHub, WAIT, assert_error, json_of};

/// A probe package whose manifest has `grants` (TOML lines, may be empty)
/// in a `[grants]` table, plus a data file.
fn probe_package(name: &str, grants: &str) -> PathBuf {
    let manifest =
        format!("name = \"grants-probe\"\ncomponent = \"grants_probe.wasm\"\n[grants]\n{grants}\n");
    let wasm = std::fs::read(weir_tests::GRANTS_PROBE).unwrap();
    crate::support::archive(
        &format!("grants-{name}"),
        &[
            ("weir.toml", manifest.as_bytes()),
            ("grants_probe.wasm", &wasm),
            ("data.txt", b"package data"),
        ],
    )
}

/// A listener on 127.0.0.1 (connects succeed while it lives) and its `HOST:PORT`.
fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

fn host(text: &str) -> HostPort {
    text.parse().unwrap()
}

/// Runs one probe instance that dials `connect` and returns its report.
async fn probe(hub: &TestHub, sequence: &str, connect: &[&str]) -> Value {
    let id = hub
        .start_instance(sequence, json!({ "appConfig": { "connect": connect } }))
        .await;
    let out = tokio::time::timeout(WAIT, hub.read_to_end(&format!("/instance/{id}/output")))
        .await
        .unwrap();
    let info = hub.wait_ended(&id).await;
    assert_eq!(info["terminated"]["exitcode"], 0, "{info}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Asserts the report shows no files, scratch, environment or network.
fn assert_sees_nothing(report: &Value, dialed: &str) {
    assert!(report["package"]["error"].is_string(), "{report}");
    assert!(report["scratch"]["error"].is_string(), "{report}");
    assert_ne!(report["package_write"], "ok", "{report}");
    assert_ne!(report["scratch_write"], "ok", "{report}");
    assert_eq!(report["env"], json!({}), "{report}");
    assert_ne!(report["connect"][dialed], "ok", "{report}");
}

fn permissive_policy(hosts: &[&str]) -> GrantPolicy {
    GrantPolicy {
        files: true,
        max_scratch_mb: 64,
        env: [
            ("API_URL".to_string(), "http://api.test".to_string()),
            ("SECRET".to_string(), "s3cret".to_string()),
        ]
        .into(),
        hosts: hosts.iter().map(|h| host(h)).collect(),
    }
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn without_grants_a_sandbox_sees_no_files_env_or_network() {
    let (_listener, addr) = listener();
    let package = probe_package("none", "");
    let strict = TestHub::start().await;
    let permissive = TestHub::with(|c| c.grants = permissive_policy(&[&addr]), None).await;
    for hub in [&strict, &permissive] {
        let seq = hub.upload_file(&package).await;
        let report = probe(hub, &seq, &[&addr]).await;
        assert_sees_nothing(&report, &addr);
        let (_, info) = json_of(hub.get(&format!("/sequence/{seq}")).await).await;
        assert_eq!(
            info["config"]["grants"],
            json!({ "files": false, "scratch_mb": 0, "env": [], "hosts": [] })
        );
    }
}

#[tokio::test]
async fn granted_capabilities_are_exactly_what_was_asked() {
    let (_granted, granted) = listener();
    let (_other, other) = listener();
    let (_named, named_addr) = listener();
    // A host name is resolved by the hub when the instance starts, and the
    // guest may look it up itself.
    let named = named_addr.replace("127.0.0.1", "localhost");
    let hub = TestHub::with(
        |c| c.grants = permissive_policy(&[&granted, &other, &named]),
        None,
    )
    .await;
    let package = probe_package(
        "asked",
        &format!(
            "files = true\nscratch_mb = 16\nenv = [\"API_URL\"]\nhosts = [\"{granted}\", \"{named}\"]"
        ),
    );
    let seq = hub.upload_file(&package).await;
    for run in 0..2 {
        let report = probe(&hub, &seq, &[&granted, &other, &named]).await;
        assert_eq!(
            report["package"],
            json!(["data.txt", "grants_probe.wasm", "weir.toml"]),
            "{report}"
        );
        assert_ne!(report["package_write"], "ok", "/package is read-only");
        assert_eq!(
            report["scratch"],
            json!([]),
            "run {run}: scratch starts empty"
        );
        assert_eq!(report["scratch_write"], "ok", "{report}");
        assert_eq!(report["env"], json!({ "API_URL": "http://api.test" }));
        assert_eq!(report["connect"][&granted], "ok", "{report}");
        assert_eq!(report["connect"][&named], "ok", "{report}");
        let refused = report["connect"][&other].as_str().unwrap();
        assert!(
            refused.contains("Permission denied"),
            "allowed by the hub but not asked for: {report}"
        );
    }
    let stored = hub.dir.path().join("sequences").join(&seq).join("package");
    assert!(!stored.join("probe-write.txt").exists());
    assert_eq!(
        entries(&hub.dir.path().join("scratch")),
        Vec::<String>::new(),
        "scratch directories are removed when their instance ends"
    );
    let response = hub.get(&format!("/sequence/{seq}")).await;
    let text = response.text().await.unwrap();
    assert!(!text.contains("http://api.test") && !text.contains("s3cret"));
    let info: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        info["config"]["grants"],
        json!({ "files": true, "scratch_mb": 16, "env": ["API_URL"], "hosts": [granted, named] })
    );
}

async fn upload_refused(hub: &TestHub, package: &Path, needle: &str) {
    let response = hub
        .client
        .post(hub.url("/sequence"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(package).unwrap())
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, needle).await;
}

#[tokio::test]
async fn asking_for_more_than_the_hub_allows_is_refused_at_upload() {
    let hub = TestHub::with(
        |c| {
            c.grants = GrantPolicy {
                max_scratch_mb: 64,
                env: [("API_URL".to_string(), "x".to_string())].into(),
                hosts: [host("127.0.0.1:9")].into(),
                ..GrantPolicy::default()
            }
        },
        None,
    )
    .await;
    let refusals = [
        ("files", "files = true", "files (needs --grant-files)"),
        (
            "scratch",
            "scratch_mb = 65",
            "scratch_mb = 65 (at most 64 MiB is allowed",
        ),
        (
            "env",
            "env = [\"API_URL\", \"SECRET\"]",
            "env SECRET (needs --env SECRET=VALUE)",
        ),
        (
            "host",
            "hosts = [\"example.com:443\"]",
            "host example.com:443 (needs --allow-host example.com:443)",
        ),
    ];
    for (name, grants, needle) in refusals {
        let package = probe_package(&format!("refused-{name}"), grants);
        upload_refused(&hub, &package, needle).await;
        upload_refused(
            &hub,
            &package,
            "asks for capabilities that are not allowed here",
        )
        .await;
    }
    let (_, list) = json_of(hub.get("/sequences").await).await;
    assert_eq!(list, json!([]), "nothing of a refused upload is kept");
    assert_eq!(
        entries(&hub.dir.path().join("staging")),
        Vec::<String>::new()
    );
    let allowed = probe_package(
        "within-limits",
        "scratch_mb = 64\nenv = [\"API_URL\"]\nhosts = [\"127.0.0.1:9\"]",
    );
    hub.upload_file(&allowed).await;
}

#[tokio::test]
async fn malformed_grants_are_refused_at_upload() {
    let hub = TestHub::with(|c| c.grants = permissive_policy(&[]), None).await;
    let cases = [
        (
            "no-port",
            "hosts = [\"example.com\"]",
            "[grants] hosts: \"example.com\" has no port",
        ),
        (
            "port-0",
            "hosts = [\"example.com:0\"]",
            "needs a port from 1 to 65535",
        ),
        (
            "bad-name",
            "hosts = [\"exa mple.com:80\"]",
            "has an invalid host name",
        ),
        (
            "env-dash",
            "env = [\"API-URL\"]",
            "[grants] env: \"API-URL\" is not an environment variable name",
        ),
        ("env-digit", "env = [\"1X\"]", "[grants] env: \"1X\""),
        ("unknown", "network = true", "unknown field `network`"),
        ("negative", "scratch_mb = -1", "invalid manifest: weir.toml"),
    ];
    for (name, grants, needle) in cases {
        let package = probe_package(&format!("malformed-{name}"), grants);
        upload_refused(&hub, &package, needle).await;
    }
}

/// Stops `hub`, waits until it has let go of its data directory, and opens
/// a new hub on it with `policy`.
async fn restart(hub: TestHub, policy: GrantPolicy) -> TestHub {
    let old = std::sync::Arc::downgrade(&hub.hub);
    let dir = hub.stop();
    tokio::time::timeout(WAIT, async {
        while old.upgrade().is_some() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the stopped hub is dropped");
    TestHub::on(dir, |c| no_slots(c, policy), None).await
}

/// A hub without render slots: they hold its job store, which a restart on
/// the same directory must open again.
fn no_slots(config: &mut weir::hub::HubConfig, policy: GrantPolicy) {
    config.jobs.slots = 0;
    config.grants = policy;
}

#[tokio::test]
async fn a_stored_package_whose_grants_are_withdrawn_is_skipped_until_they_return() {
    let policy = permissive_policy(&[]);
    let hub = TestHub::with(|c| no_slots(c, policy.clone()), None).await;
    let seq = hub
        .upload_file(&probe_package("stored", "env = [\"SECRET\"]"))
        .await;
    let strict = restart(hub, GrantPolicy::default()).await;
    assert_error(
        strict.get(&format!("/sequence/{seq}")).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
    let again = restart(strict, policy).await;
    let report = probe(&again, &seq, &[]).await;
    assert_eq!(report["env"], json!({ "SECRET": "s3cret" }));
}

#[tokio::test]
async fn render_frames_get_their_grants_and_nothing_else() {
    let (_granted, granted) = listener();
    let (_other, other) = listener();
    let scratch = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(crate::support::scratch().join("components")),
        scratch_dir: Some(scratch.path().to_path_buf()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let package = tempfile::tempdir().unwrap();
    std::fs::write(package.path().join("frame-data.txt"), b"x").unwrap();
    let plain = runtime
        .load(weir_tests::GRANTS_RENDER_PROBE.as_ref())
        .unwrap();
    let granted_program = plain.clone().with_grants(
        Grants {
            files: true,
            scratch_mb: 8,
            env: vec![("API_URL".into(), "http://api.test".into())],
            hosts: vec![host(&granted)],
        },
        package.path(),
    );
    let frame = |n| FrameRequest {
        job_id: "job".into(),
        frame: n,
        attempt: 1,
        settings: json!({ "connect": [granted, other] }).to_string(),
    };
    let render = |program: Program, n: i64| {
        let runtime = runtime.clone();
        let request = frame(n);
        async move {
            let artifacts =
                tokio::time::timeout(WAIT, runtime.render(&program, request, &Default::default()))
                    .await
                    .unwrap()
                    .unwrap();
            serde_json::from_slice::<Value>(&artifacts[0].data).unwrap()
        }
    };
    assert_sees_nothing(&render(plain, 1).await, &granted);
    for n in 1..=2 {
        let report = render(granted_program.clone(), n).await;
        assert_eq!(report["package"], json!(["frame-data.txt"]), "{report}");
        assert_ne!(report["package_write"], "ok", "{report}");
        assert_eq!(
            report["scratch"],
            json!([]),
            "frame {n}: scratch starts empty"
        );
        assert_eq!(report["scratch_write"], "ok", "{report}");
        assert_eq!(report["env"], json!({ "API_URL": "http://api.test" }));
        assert_eq!(report["connect"][&granted], "ok", "{report}");
        assert_ne!(report["connect"][&other], "ok", "{report}");
    }
    assert_eq!(entries(scratch.path()), Vec::<String>::new());
}

#[test]
fn weir_run_grants_only_what_its_flags_allow() {
    let package = probe_package("run", "files = true\nenv = [\"API_URL\"]");
    let refused = crate::support::run(&package, &[], b"");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("files (needs --grant-files)"), "{stderr}");
    assert!(stderr.contains("env API_URL"), "{stderr}");
    let out = crate::support::run_ok(
        &package,
        &[
            "--grant-files",
            "--env",
            "API_URL=http://api.test",
            "--env",
            "OTHER=1",
        ],
        b"",
    );
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        report["package"],
        json!(["data.txt", "grants_probe.wasm", "weir.toml"])
    );
    assert_eq!(report["env"], json!({ "API_URL": "http://api.test" }));
    assert!(report["scratch"]["error"].is_string(), "{report}");
}
