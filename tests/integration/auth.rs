//! The bearer token never shows up in what the hub writes: its stderr log
//! (at debug level) and its `/log` stream, after requests with the right and
//! a wrong token; and what `GET /access` tells a page about its token.

use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_the_hub_logs() {
    let token = "tok-7f3a9c-correct-horse";
    let wrong = "tok-wrong-battery-staple";
    let dir = tempfile::tempdir().unwrap();
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let (mut child, url) = crate::support::serve(Some(&stderr_path), |command| {
        command
            .args(["--slots", "0", "--data-dir"])
            .arg(dir.path().join("data"))
            .env("WEIR_TOKEN", token)
            .env("WEIR_LOG", "debug")
            .stderr(stderr);
    });
    let base = format!("{url}/api/v1");
    let client = reqwest::Client::new();
    let get = |path: &str, bearer: Option<&str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    assert_eq!(
        get("/version", None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get("/version", Some(wrong)).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("/version", Some(token)).await.unwrap().status(),
        StatusCode::OK
    );
    let wrong_job = client
        .post(format!("{base}/jobs"))
        .bearer_auth(wrong)
        .json(&serde_json::json!({"package": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_job.status(), StatusCode::FORBIDDEN);
    // The hub log, replayed: read what is there, then stop.
    let mut hub_log = get("/log", Some(token)).await.unwrap();
    let mut log = Vec::new();
    while let Ok(Some(chunk)) =
        tokio::time::timeout(std::time::Duration::from_millis(500), hub_log.chunk())
            .await
            .unwrap_or(Ok(None))
    {
        log.extend_from_slice(&chunk);
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = String::from_utf8_lossy(&log);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(log.contains("listening on"), "{log}");
    assert!(
        stderr.contains("/api/v1/version"),
        "debug logging is on: {stderr}"
    );
    for secret in [token, wrong] {
        assert!(!log.contains(secret), "the hub log shows a token:\n{log}");
        assert!(!stderr.contains(secret), "stderr shows a token:\n{stderr}");
    }
}

/// `GET /access` is open and says what the presented token opens, so the
/// dashboard can ask for a token or show itself read-only before anything
/// else; it never says more than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_says_what_a_token_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = crate::support::serve(None, |command| {
        command
            .args([
                "--slots",
                "0",
                "--token",
                "admin-token-1",
                "--read-token",
                "read-token-1",
            ])
            .arg("--data-dir")
            .arg(dir.path().join("data"));
    });
    let client = reqwest::Client::new();
    let access = |bearer: Option<&'static str>| {
        let mut request = client.get(format!("{url}/api/v1/access"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move {
            let reply = request.send().await.unwrap();
            assert_eq!(reply.status(), StatusCode::OK);
            reply.json::<serde_json::Value>().await.unwrap()
        }
    };
    let scope = |v: serde_json::Value| (v["auth"].clone(), v["scope"].clone());
    use serde_json::json;
    assert_eq!(scope(access(None).await), (json!(true), json!(null)));
    assert_eq!(
        scope(access(Some("wrong")).await),
        (json!(true), json!(null))
    );
    assert_eq!(
        scope(access(Some("read-token-1")).await),
        (json!(true), json!("read"))
    );
    assert_eq!(
        scope(access(Some("admin-token-1")).await),
        (json!(true), json!("admin"))
    );
    let _ = child.kill();
    let _ = child.wait();

    let open = tempfile::tempdir().unwrap();
    let (mut child, url) = crate::support::serve(None, |command| {
        command
            .args(["--slots", "0", "--data-dir"])
            .arg(open.path().join("data"));
    });
    let reply: serde_json::Value = reqwest::get(format!("{url}/api/v1/access"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply, json!({"auth": false, "scope": "admin"}));
    let _ = child.kill();
    let _ = child.wait();
}
