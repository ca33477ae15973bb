//! `POST /gc` and `POST /shutdown`: what they remove, refuse, stop and keep, through the API
//! and `weir hub`.

use super::*;

#[tokio::test]
async fn gc_removes_unused_compiled_components_and_keeps_those_in_use() {
    // Its own cache: gc must not touch the one the other tests share.
    let hub = TestHub::with(|c| c.runtime.cache_dir = None, None).await;
    let sequence = hub.upload(weir_tests::HELLO_DIR).await;
    let cache = hub.dir.path().join("cache");
    let in_use = entries(&cache);
    assert_eq!(in_use.len(), 1, "{in_use:?}");
    let (_, engine) = in_use[0]
        .strip_suffix(".cwasm")
        .unwrap()
        .split_once('-')
        .unwrap();
    let orphan = format!("{}-{engine}.cwasm", "0".repeat(64));
    std::fs::write(cache.join(&orphan), vec![0u8; 1000]).unwrap();
    let stale_engine = format!("{}-{}.cwasm", "1".repeat(64), "f".repeat(16));
    std::fs::write(cache.join(&stale_engine), vec![0u8; 24]).unwrap();
    // Not artifacts (a compilation in progress, anything else): kept.
    for other in [".tmpAbC123", "notes.txt"] {
        std::fs::write(cache.join(other), b"keep").unwrap();
    }
    let (status, reply) = json_of(hub.post_json("/gc", json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["status"], "ok");
    let (pre, post) = (
        reply["preGcMemory"]["rss"].as_i64().unwrap(),
        reply["postGcMemory"]["rss"].as_i64().unwrap(),
    );
    assert!(pre > 0 && post > 0, "{reply}");
    assert_eq!(reply["delta"]["rss"].as_i64().unwrap(), post - pre);
    assert_eq!(reply["cacheFilesRemoved"], 2, "{reply}");
    assert_eq!(reply["cacheBytesFreed"], 1024, "{reply}");
    let mut left = entries(&cache);
    left.sort();
    let mut expected = vec![
        ".tmpAbC123".to_string(),
        in_use[0].clone(),
        "notes.txt".to_string(),
    ];
    expected.sort();
    assert_eq!(left, expected);
    // The sequence still runs, and still does after a restart (from the cache).
    let instance = hub.start_instance(&sequence, json!({})).await;
    hub.input(&instance, "gc\n").await;
    assert_eq!(
        hub.read_to_end(&format!("/instance/{instance}/output"))
            .await,
        "Hello gc!\n"
    );
    let (_, again) = json_of(hub.post_json("/gc", json!({})).await).await;
    assert_eq!(
        (&again["cacheFilesRemoved"], &again["cacheBytesFreed"]),
        (&json!(0), &json!(0))
    );
}

#[tokio::test]
async fn a_shutting_down_hub_refuses_new_instances_and_jobs() {
    let hub = TestHub::with(|_| {}, Some("secret")).await;
    let unauthenticated = hub.client.post(hub.url("/shutdown")).send().await.unwrap();
    assert_error(
        unauthenticated,
        StatusCode::UNAUTHORIZED,
        "missing bearer token",
    )
    .await;
    let post = |path: &str, body: Value| {
        hub.client
            .post(hub.url(path))
            .bearer_auth("secret")
            .json(&body)
            .send()
    };
    let sequence = {
        let bytes = package(weir_tests::HELLO_DIR).await;
        let response = hub
            .client
            .post(hub.url("/sequence"))
            .bearer_auth("secret")
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap();
        json_of(response).await.1["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(!hub.hub.is_shutting_down());
    assert_error(
        post("/shutdown", json!({"timeout": "soon"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "Invalid timeout format",
    )
    .await;
    assert!(
        !hub.hub.is_shutting_down(),
        "a refused request changes nothing"
    );
    for _ in 0..2 {
        let (status, reply) =
            json_of(post("/shutdown", json!({"timeout": 100})).await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            reply,
            json!({"status": "ok", "message": "weir is shutting down"})
        );
    }
    assert!(hub.hub.is_shutting_down());
    assert_eq!(
        tokio::time::timeout(WAIT, hub.hub.shutdown_requested())
            .await
            .unwrap(),
        Duration::from_millis(100)
    );
    assert_error(
        post(&format!("/sequence/{sequence}/start"), json!({}))
            .await
            .unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the hub is shutting down",
    )
    .await;
    assert_error(
        post("/jobs", json!({"package": "hello", "frames": "1-2"}))
            .await
            .unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the hub is shutting down",
    )
    .await;
    let health = hub.client.get(hub.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "health stays open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_instances_exits_cleanly_and_keeps_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let mut server = HubProcess::on(dir.path(), &["--slots", "0"]);
    let base = server.base.clone();
    for plugin in [
        weir_tests::COUNTER_DIR,
        weir_tests::BUSY_LOOP_DIR,
        weir_tests::RENDER_TEST_DIR,
    ] {
        let response = client
            .post(format!("{base}/sequence"))
            .header("content-type", "application/octet-stream")
            .body(package(plugin).await)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let start = |name: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let (status, reply) = json_of(
                client
                    .post(format!("{base}/sequence/{name}/start"))
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{reply}");
            reply["id"].as_str().unwrap().to_string()
        }
    };
    let counter = start("counter").await;
    // busy-loop never looks at signals: killed at the deadline.
    let spinning = start("busy-loop").await;
    let output = |id: String| {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            let response = client
                .get(format!("{base}/instance/{id}/output"))
                .send()
                .await
                .unwrap();
            let mut body = response.bytes_stream();
            let mut text = Vec::new();
            while let Some(Ok(chunk)) = body.next().await {
                text.extend_from_slice(&chunk);
            }
            String::from_utf8(text).unwrap()
        })
    };
    let (counted, spun) = (output(counter), output(spinning));
    let (status, job) = json_of(
        client
            .post(format!("{base}/jobs"))
            .json(&json!({"package": "render-test", "frames": "1-4"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job = job["id"].as_str().unwrap().to_string();

    let asked = Instant::now();
    let (status, reply) = json_of(
        client
            .post(format!("{base}/shutdown"))
            .json(&json!({"timeout": 1000}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        reply,
        json!({"status": "ok", "message": "weir is shutting down"})
    );
    let counted = tokio::time::timeout(WAIT, counted).await.unwrap().unwrap();
    assert!(
        counted.ends_with("stopped\n"),
        "the counter was asked to stop: {counted:?}"
    );
    let spun = tokio::time::timeout(WAIT, spun).await.unwrap().unwrap();
    assert_eq!(spun, "", "busy-loop was killed");
    let exited = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(Duration::from_secs(10));
        (status, asked.elapsed())
    })
    .await
    .unwrap();
    let (status, took) = exited;
    assert!(
        status.is_some_and(|s| s.success()),
        "weir serve must exit 0 within the deadline and a margin: {status:?} after {took:?}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(8),
        "instances get the deadline, then the hub exits: {took:?}"
    );

    let restarted = HubProcess::on(dir.path(), &["--slots", "0"]);
    let (status, kept) = json_of(
        client
            .get(format!("{}/jobs/{job}", restarted.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["state"], "queued", "{kept}");
    let (_, sequences) = json_of(
        client
            .get(format!("{}/sequences", restarted.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(sequences.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn weir_hub_gc_and_shutdown_print_the_hubs_replies() {
    let hub = TestHub::with(|c| c.runtime.cache_dir = None, None).await;
    let run = |args: &'static [&'static str]| {
        let base = hub.base.clone();
        tokio::task::spawn_blocking(move || {
            let output = crate::support::weir()
                .args(["--hub", &base])
                .args(args)
                .env_remove("WEIR_TOKEN")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "weir {args:?}: {stderr}");
            String::from_utf8(output.stdout).unwrap()
        })
    };
    let gc = run(&["hub", "gc"]).await.unwrap();
    assert!(gc.contains("memory before"), "{gc}");
    assert!(
        gc.contains("0 compiled components removed, 0 B freed"),
        "{gc}"
    );
    let reply: Value = serde_json::from_str(
        &run(&["--json", "hub", "shutdown", "--timeout", "250"])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        reply,
        json!({"status": "ok", "message": "weir is shutting down"})
    );
    assert_eq!(
        tokio::time::timeout(WAIT, hub.hub.shutdown_requested())
            .await
            .unwrap(),
        Duration::from_millis(250)
    );
    let text = run(&["hub", "shutdown"]).await.unwrap();
    assert_eq!(text, "weir is shutting down\n");
}
