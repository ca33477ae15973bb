//! The hub itself: its log replays to every reader, an empty token is
//! refused at start, and the bearer scheme is case-insensitive.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::hub::{TestHub, assert_error};
use crate::support::{finish, weir};

/// What `/log` sends before it falls quiet for half a second.
async fn log_replay(hub: &TestHub) -> String {
    let mut response = hub.get("/log").await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut log = Vec::new();
    while let Ok(Ok(Some(chunk))) =
        tokio::time::timeout(Duration::from_millis(500), response.chunk()).await
    {
        log.extend_from_slice(&chunk);
    }
    String::from_utf8(log).unwrap()
}

#[tokio::test]
async fn every_reader_of_the_hub_log_gets_the_replay() {
    let hub = TestHub::start().await;
    hub.hub.log_line("info", "first line");
    let first = log_replay(&hub).await;
    assert!(first.contains("first line"), "{first}");
    for _ in 0..2 {
        assert_eq!(
            log_replay(&hub).await,
            first,
            "every reader gets the same replay"
        );
    }
    hub.hub.log_line("info", "second line");
    let later = log_replay(&hub).await;
    assert!(
        later.starts_with(&first) && later.contains("second line"),
        "{later}"
    );
}

#[test]
fn an_empty_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |token: &dyn Fn(&mut std::process::Command)| {
        let mut command = weir();
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--slots",
                "0",
                "--data-dir",
            ])
            .arg(dir.path())
            .env_remove("WEIR_TOKEN")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        token(&mut command);
        finish(command.spawn().unwrap(), Duration::from_secs(20))
    };
    let flag = serve(&|c| {
        c.args(["--token", ""]);
    });
    let env = serve(&|c| {
        c.env("WEIR_TOKEN", "");
    });
    let spaces = serve(&|c| {
        c.args(["--token", "  "]);
    });
    for (how, output) in [
        ("--token ''", flag),
        ("WEIR_TOKEN=", env),
        ("--token '  '", spaces),
    ] {
        assert!(!output.status.success(), "{how}: the hub started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--token (or WEIR_TOKEN) is empty"),
            "{how}: {stderr}"
        );
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let hub = TestHub::with(|_| {}, Some("tok-1")).await;
    let get = |authorization: &'static str| {
        hub.client
            .get(hub.url("/version"))
            .header("authorization", authorization)
            .send()
    };
    for accepted in [
        "Bearer tok-1",
        "bearer tok-1",
        "BEARER tok-1",
        "bEaReR  tok-1",
    ] {
        let response = get(accepted).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{accepted:?}");
    }
    assert_error(
        get("bearer tok-2").await.unwrap(),
        StatusCode::FORBIDDEN,
        "invalid bearer token",
    )
    .await;
    assert_error(
        get("Basic tok-1").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "missing bearer token",
    )
    .await;
}
