//! Joining and staying in a space: NATS restarts, hubs that cannot join, hubs outside a space,
//! tokens across hubs.

use super::*;

#[tokio::test]
async fn after_a_nats_restart_the_hubs_come_back_by_themselves() {
    let mut nats = Nats::start();
    let a = SpaceHub::start(&nats, "s2", "a", &[]);
    let _b = SpaceHub::start(&nats, "s2", "b", &[]);
    let before = wait_for_list(&a, "s2", |l| l.len() == 2).await;
    let seen_before: Vec<String> = before
        .iter()
        .map(|h| h["lastSeen"].as_str().unwrap().to_string())
        .collect();
    nats.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.restart();
    // Both heartbeats are written again (no hub restart): both healthy, each
    // with a heartbeat newer than before the outage.
    wait_for_list(&a, "s2", |l| {
        l.len() == 2
            && l.iter().zip(&seen_before).all(|(h, before)| {
                h["healthy"] == true && h["lastSeen"].as_str().is_some_and(|s| s > before.as_str())
            })
    })
    .await;
    let (status, _) = get_json(&a.on("s2", "b", "/version")).await;
    assert_eq!(status, StatusCode::OK);
}

fn serve_output(nats_url: &str, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--nats",
            nats_url,
            "--space",
            "s3",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .args(extra)
        .env("WEIR_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    crate::support::finish(child, WAIT)
}

#[tokio::test]
async fn a_hub_that_cannot_join_its_space_does_not_start() {
    let nats = Nats::start();
    let _first = SpaceHub::start(&nats, "s3", "twin", &[]);
    let twin = serve_output(&nats.url(), &["--hub-id", "twin"]);
    assert_eq!(twin.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&twin.stderr);
    assert!(
        stderr.contains("hub id \"twin\" is already in use by a running hub of space s3"),
        "{stderr}"
    );

    let plain = Nats::with_jetstream(false);
    let no_js = serve_output(&plain.url(), &[]);
    assert_eq!(no_js.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&no_js.stderr);
    assert!(
        stderr.contains("JetStream is not available") && stderr.contains("nats-server -js"),
        "{stderr}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = serve_output(&format!("nats://127.0.0.1:{port}"), &[]);
    assert_eq!(nobody.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&nobody.stderr);
    assert!(
        stderr.contains("cannot connect to NATS at nats://127.0.0.1"),
        "{stderr}"
    );
    let bad = serve_output(&nats.url(), &["--hub-id", "a.b"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid hub id \"a.b\""));

    // Flags that make no space: each refused with what to add.
    let refusals: [(&[&str], &str); 3] = [
        (
            &["--listen", "127.0.0.1:0", "--nats", &nats.url()],
            "--nats needs --space NAME",
        ),
        (
            &["--listen", "127.0.0.1:0", "--space", "s3"],
            "--space needs --nats URL",
        ),
        (
            &[
                "--listen",
                "0.0.0.0:0",
                "--nats",
                &nats.url(),
                "--space",
                "s3",
            ],
            "say with --advertise http://HOST:PORT",
        ),
    ];
    for (flags, message) in refusals {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["serve", "--data-dir"])
            .arg(dir.path())
            .args(flags)
            .env("WEIR_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = crate::support::finish(child, WAIT);
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
    }
}

/// A hub without `--nats`: no spaces, and the Space routes say how to join one.
#[tokio::test]
async fn a_hub_outside_a_space_lists_none_and_says_how_to_join() {
    let hub = crate::support::hub::TestHub::start().await;
    assert_eq!(
        json_of(hub.get("/spaces").await).await,
        (StatusCode::OK, json!([]))
    );
    for path in [
        "/space/farm/api/v1/list",
        "/space/farm/api/v1/sth/a/api/v1/version",
    ] {
        assert_error(
            hub.get(path).await,
            StatusCode::NOT_FOUND,
            "start it with --nats URL --space NAME",
        )
        .await;
    }
}

#[tokio::test]
async fn with_a_token_the_space_routes_need_it_and_forwarding_carries_it() {
    let nats = Nats::start();
    let a = SpaceHub::start(&nats, "s4", "a", &["--token", "sesame"]);
    let _b = SpaceHub::start(&nats, "s4", "b", &["--token", "sesame"]);
    let list = a.space("s4", "/list");
    assert_eq!(
        client().get(&list).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let forwarded = client()
        .get(a.on("s4", "b", "/sequences"))
        .bearer_auth("sesame")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(forwarded).await, (StatusCode::OK, json!([])));
    let wrong = client()
        .get(a.on("s4", "b", "/sequences"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
}
