//! The Space: real `weir serve` processes joined over a real `nats-server
//! -js`: the registry and the Space routes with the reference shapes,
//! forwarding (HTTP streams both ways, WebSocket), placement, a hub killed,
//! NATS restarted, a duplicate hub id, NATS without JetStream, auth.

mod jobs;
mod membership;
mod nats;
pub mod scramjet_cli;
mod shared;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::hub::{WAIT, assert_error, json_of};
use nats::Nats;

/// One hub of a space.
struct SpaceHub {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl SpaceHub {
    fn start(nats: &Nats, space: &str, id: &str, extra: &[&str]) -> SpaceHub {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&log).unwrap();
        let (child, url) = crate::support::serve(Some(&log), |command| {
            command
                .stderr(stderr)
                .arg("--data-dir")
                .arg(dir.path())
                .args(["--nats", &nats.url(), "--space", space, "--hub-id", id])
                .args(extra)
                .env(
                    "WEIR_CACHE_DIR",
                    crate::support::scratch().join("components"),
                );
        });
        SpaceHub {
            child,
            url,
            _dir: dir,
        }
    }

    /// `{url}/api/v1/space/{space}/api/v1{path}`
    fn space(&self, space: &str, path: &str) -> String {
        format!("{}/api/v1/space/{space}/api/v1{path}", self.url)
    }

    /// `{url}/api/v1/space/{space}/api/v1/sth/{hub}/api/v1{path}`
    fn on(&self, space: &str, hub: &str, path: &str) -> String {
        self.space(space, &format!("/sth/{hub}/api/v1{path}"))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SpaceHub {
    fn drop(&mut self) {
        self.kill();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(WAIT).build().unwrap()
}

async fn get_json(url: &str) -> (StatusCode, Value) {
    json_of(client().get(url).send().await.unwrap()).await
}

/// Polls the space's hub list (through `hub`) until `check` holds.
async fn wait_for_list(
    hub: &SpaceHub,
    space: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    tokio::time::timeout(WAIT, async {
        loop {
            let (status, list) = get_json(&hub.space(space, "/list")).await;
            if status == StatusCode::OK {
                let list = list.as_array().cloned().unwrap_or_default();
                if check(&list) {
                    return list;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the space's hub list never reached the expected state")
}

/// Packs the plugin at `dir` and uploads it to hub `on` of `space`, through
/// `through`'s forward route → the sequence id.
async fn upload_on(through: &SpaceHub, space: &str, on: &str, dir: &'static str) -> String {
    let package = tokio::task::spawn_blocking(move || crate::support::pack(dir))
        .await
        .unwrap();
    let uploaded = client()
        .post(through.on(space, on, "/sequence"))
        .body(std::fs::read(&package).unwrap())
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(uploaded).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().unwrap().to_string()
}

fn healthy(list: &[Value], id: &str) -> Option<bool> {
    list.iter()
        .find(|h| h["id"] == id)
        .and_then(|h| h["healthy"].as_bool())
}

#[tokio::test]
async fn three_hubs_form_a_space_with_the_reference_shapes() {
    let nats = Nats::start();
    let hubs: Vec<SpaceHub> = ["hub-a", "hub-b", "hub-c"]
        .iter()
        .map(|id| SpaceHub::start(&nats, "farm", id, &["--tags", "gpu,fast"]))
        .collect();
    let c = &hubs[2];
    let list = wait_for_list(c, "farm", |l| l.len() == 3).await;
    for (entry, hub) in list.iter().zip(&hubs) {
        assert_eq!(entry["healthy"], true, "{entry}");
        assert_eq!(entry["isConnectionActive"], true, "{entry}");
        assert!(entry["info"]["created"].is_string(), "{entry}");
        assert!(entry["info"]["lastConnected"].is_string(), "{entry}");
        assert_eq!(entry["info"]["lastDisconnected"], Value::Null, "{entry}");
        assert_eq!(entry["url"], hub.url.as_str());
        assert_eq!(entry["tags"], json!(["gpu", "fast"]));
        assert!(entry["load"]["memFree"].as_u64().unwrap() > 0, "{entry}");
    }
    assert_eq!(list[0]["id"], "hub-a");

    let (_, spaces) = get_json(&format!("{}/api/v1/spaces", c.url)).await;
    assert_eq!(spaces[0]["id"], "farm", "{spaces}");
    let (_, version) = get_json(&c.space("farm", "/version")).await;
    assert_eq!(
        (version["service"].as_str(), version["apiVersion"].as_str()),
        (Some("weir-space"), Some("v1"))
    );
    assert!(version["version"].is_string() && version["build"].is_string());
    let (_, load) = get_json(&c.space("farm", "/load")).await;
    assert_eq!(load["hubs"], 3, "{load}");
    assert!(
        load["memFree"].as_u64().unwrap() > 0 && load["fsSize"].is_array(),
        "{load}"
    );
    let (_, info) = get_json(&c.space("farm", "/sth/hub-b/info")).await;
    assert_eq!(
        (info["id"].as_str(), info["url"].as_str()),
        (Some("hub-b"), Some(hubs[1].url.as_str()))
    );
    let (_, config) = get_json(&c.space("farm", "/config")).await;
    assert_eq!(
        (config["id"].as_str(), config["hub"].as_str()),
        (Some("farm"), Some("hub-c"))
    );

    // Any hub's own API, through another hub.
    let (status, forwarded) = get_json(&hubs[0].on("farm", "hub-b", "/config")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        forwarded["host"]["listen"],
        hubs[1].url.trim_start_matches("http://"),
        "{forwarded}"
    );
    assert_error(
        client()
            .get(c.on("farm", "nope", "/version"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "no hub \"nope\" in space farm",
    )
    .await;
    assert_error(
        client()
            .get(c.space("other", "/list"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "this hub is in space \"farm\"",
    )
    .await;
}

#[tokio::test]
async fn upload_through_one_hub_start_through_another_stream_through_a_third() {
    let nats = Nats::start();
    let a = SpaceHub::start(&nats, "pipes", "a", &[]);
    let _b = SpaceHub::start(&nats, "pipes", "b", &["--tags", "edge"]);
    let c = SpaceHub::start(&nats, "pipes", "c", &[]);
    wait_for_list(&c, "pipes", |l| l.len() == 3).await;
    let package = tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::HELLO_DIR))
        .await
        .unwrap();
    let uploaded = client()
        .post(a.on("pipes", "b", "/sequence"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(&package).unwrap())
        .send()
        .await
        .unwrap();
    let (status, uploaded) = json_of(uploaded).await;
    assert_eq!(status, StatusCode::OK, "{uploaded}");
    let sequence = uploaded["id"].as_str().unwrap().to_string();

    // Placement: tags pick b; any hub can run it (the package is the space's).
    let start = |body: Value| {
        client()
            .post(c.space("pipes", &format!("/sequence/{sequence}/start")))
            .json(&body)
            .send()
    };
    let (status, started) = json_of(start(json!({"tags": ["edge"]})).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["hub"], "b", "{started}");
    let instance = started["id"].as_str().unwrap().to_string();
    let (status, on_a) = json_of(start(json!({"hub": "a"})).await.unwrap()).await;
    assert_eq!(
        (status, on_a["hub"].as_str()),
        (StatusCode::OK, Some("a")),
        "{on_a}"
    );
    assert_error(
        start(json!({"tags": "edge"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "\"tags\" must be an array",
    )
    .await;
    assert_error(
        start(json!({"hub": "zzz"})).await.unwrap(),
        StatusCode::NOT_FOUND,
        "no hub \"zzz\" in space pipes",
    )
    .await;

    let input = client()
        .post(a.on("pipes", "b", &format!("/instance/{instance}/input")))
        .header("content-type", "text/plain")
        .body("world\nweir\n")
        .send()
        .await
        .unwrap();
    assert_eq!(input.status(), StatusCode::OK);
    let output = client()
        .get(c.on("pipes", "b", &format!("/instance/{instance}/output")))
        .send()
        .await
        .unwrap();
    assert_eq!(output.status(), StatusCode::OK);
    assert_eq!(output.text().await.unwrap(), "Hello world!\nHello weir!\n");

    let (_, sequences) = get_json(&a.space("pipes", "/sequences")).await;
    assert_eq!(sequences.as_array().unwrap().len(), 1, "{sequences}");
    assert_eq!(
        (sequences[0]["id"].as_str(), sequences[0]["hub"].as_str()),
        (Some(sequence.as_str()), Some("b"))
    );
    let (_, instances) = get_json(&a.space("pipes", "/instances")).await;
    let hub_of = |id: &str| {
        instances
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| i["hub"].clone())
    };
    assert_eq!(hub_of(&instance), Some(json!("b")), "{instances}");
    assert_eq!(
        hub_of(on_a["id"].as_str().unwrap()),
        Some(json!("a")),
        "{instances}"
    );

    // The CLI: the space's hubs, and any client command on one hub of it.
    let cli = |args: &[&str]| {
        let output = crate::support::weir().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let hubs = cli(&["--hub", &c.url, "space", "hubs"]);
    assert_eq!(hubs.lines().count(), 3, "{hubs}");
    assert!(
        hubs.lines()
            .nth(1)
            .unwrap()
            .starts_with("b  healthy  http://"),
        "{hubs}"
    );
    assert!(hubs.contains("tags: edge"), "{hubs}");
    let listed: Value = serde_json::from_str(&cli(&[
        "--hub", &a.url, "--on", "pipes/b", "--json", "seq", "list",
    ]))
    .unwrap();
    assert_eq!(listed[0]["id"], sequence.as_str(), "{listed}");
    let instances = cli(&["--hub", &a.url, "space", "instances", "pipes"]);
    assert!(
        instances.contains(&format!("{instance}  {sequence}")) && instances.contains("on b"),
        "{instances}"
    );
    let refused = crate::support::weir()
        .args(["--hub", &a.url, "--on", "pipes", "seq", "list"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--on takes SPACE/HUB"));

    // A WebSocket through c to b: frames in, output frames back, then a Close.
    let (_, started) = json_of(start(json!({"hub": "b"})).await.unwrap()).await;
    let ws_instance = started["id"].as_str().unwrap();
    let ws_url = c
        .on("pipes", "b", &format!("/instance/{ws_instance}/ws"))
        .replacen("http", "ws", 1);
    let (mut socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(ws_url))
        .await
        .unwrap()
        .unwrap();
    socket
        .send(Message::binary(b"ws\n".to_vec()))
        .await
        .unwrap();
    socket.send(Message::binary(Vec::new())).await.unwrap();
    let mut received = Vec::new();
    while let Some(message) = tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
        match message.unwrap() {
            Message::Binary(data) => received.extend_from_slice(&data),
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert_eq!(String::from_utf8(received).unwrap(), "Hello ws!\n");
}

#[tokio::test]
async fn a_killed_hub_turns_unhealthy_and_its_instances_are_lost() {
    let nats = Nats::start();
    let a = SpaceHub::start(&nats, "s1", "a", &[]);
    let mut b = SpaceHub::start(&nats, "s1", "b", &[]);
    wait_for_list(&a, "s1", |l| l.len() == 2).await;
    let sequence = upload_on(&b, "s1", "b", weir_tests::COUNTER_DIR).await;
    let started = client()
        .post(a.on("s1", "b", &format!("/sequence/{sequence}/start")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let instance = json_of(started).await.1["id"].as_str().unwrap().to_string();
    // The heartbeat carries the live instances.
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, info) = get_json(&a.space("s1", "/sth/b/info")).await;
            if info["instances"][0]["id"] == instance.as_str() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();

    b.kill();
    let killed = Instant::now();
    let list = wait_for_list(&a, "s1", |l| healthy(l, "b") == Some(false)).await;
    eprintln!("SIGKILL → healthy: false after {:?}", killed.elapsed());
    let entry = list.iter().find(|h| h["id"] == "b").unwrap();
    assert!(entry["info"]["lastDisconnected"].is_string(), "{entry}");
    assert_eq!(healthy(&list, "a"), Some(true));
    assert_error(
        client()
            .get(a.on("s1", "b", "/version"))
            .send()
            .await
            .unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "hub b of space s1 is not answering",
    )
    .await;
    let (_, instances) = get_json(&a.space("s1", "/instances")).await;
    let lost = instances
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == instance.as_str())
        .unwrap();
    assert_eq!(
        (lost["status"].as_str(), lost["hub"].as_str()),
        (Some("lost"), Some("b")),
        "{instances}"
    );
    // The rest of the space goes on.
    let (status, _) = get_json(&a.on("s1", "a", "/version")).await;
    assert_eq!(status, StatusCode::OK);
}

/// The dashboard of a hub in a Space, in headless Chromium
/// (`tests/dashboard/space.mjs`): the Space page lists both hubs with their
/// health; choosing the other hub shows its instances (and not this hub's),
/// live, and drives it (a kill) through the forward route.
#[tokio::test]
async fn the_dashboard_shows_the_space_and_drives_each_hub() {
    let nats = Nats::start();
    let a = SpaceHub::start(&nats, "panes", "a", &[]);
    let b = SpaceHub::start(&nats, "panes", "b", &[]);
    wait_for_list(&a, "panes", |l| {
        l.len() == 2 && l.iter().all(|h| h["healthy"] == true)
    })
    .await;
    let sequence = upload_on(&b, "panes", "b", weir_tests::HELLO_DIR).await;
    let started = client()
        .post(format!("{}/api/v1/sequence/{sequence}/start", b.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let instance = json_of(started).await.1["id"].as_str().unwrap().to_string();
    let shots = crate::support::scratch().join("dashboard-screenshots");
    let url = a.url.clone();
    let (passed, printed) = tokio::task::spawn_blocking(move || {
        crate::dashboard::run_browser_script(
            "space.mjs",
            &shots,
            &[
                ("WEIR_URL", &url),
                ("SPACE", "panes"),
                ("OTHER_HUB", "b"),
                ("OTHER_INSTANCE", &instance),
            ],
        )
    })
    .await
    .unwrap();
    assert!(passed, "the browser test failed:\n{printed}");
    assert!(printed.contains("every step passed"), "{printed}");
}
