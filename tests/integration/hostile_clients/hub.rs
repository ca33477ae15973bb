//! The hub itself: its log replays to every reader.

use std::time::Duration;

use reqwest::StatusCode;

use crate::hub_support::TestHub;

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
