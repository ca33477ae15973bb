//! Server-sent events of a job and of the hub.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_events_stream_as_server_sent_events_until_the_job_ends() {
    let hub = hub_with(1, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let job = submit(
        &hub,
        json!({"package": "render-test", "frames": "1-3", "settings": {"spin_ms": 30}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let response = hub.get(&format!("/jobs/{id}/events")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let read = tokio::time::timeout(WAIT, async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    });
    read.await.expect("the event stream ends when the job does");
    // Every event has an id (for Last-Event-ID); the first is the job.
    assert!(text.starts_with("id: "), "{text}");
    assert!(
        text.lines().nth(1) == Some("event: job")
            && text.lines().nth(2).unwrap().starts_with("data: {"),
        "{text}"
    );
    assert!(text.contains("event: task\n"), "{text}");
    let last = text.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("data: ") && last.contains("\"state\":\"completed\""),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_event_stream_reports_jobs_workers_and_instances() {
    let hub = hub_with(1, |_| {}).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let response = hub.get("/events").await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let worker = register(&hub, "dashboard-test").await;
    let job = submit(&hub, json!({"package": "render-test", "frames": "1"})).await;
    let instance = hub.start_instance(&hello, json!({})).await;
    hub.input(&instance, "x\n").await;
    let mut text = String::new();
    let wanted = |text: &str| {
        text.contains(&format!("\"id\":\"{worker}\""))
            && text.contains("\"state\":\"completed\"")
            && text.contains(&format!(
                "\"id\":\"{instance}\",\"sequence\":\"{hello}\",\"status\":\"running\""
            ))
            && text.contains("\"exitcode\":0")
    };
    tokio::time::timeout(WAIT, async {
        while !wanted(&text) {
            let chunk = body.next().await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("missing events in:\n{text}"));
    assert!(
        text.contains("event: worker\n") && text.contains("event: instance\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("\"id\":\"{}\"", job["id"].as_str().unwrap())),
        "{text}"
    );
}
