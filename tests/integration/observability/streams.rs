//! Resumable event streams: a dropped `/events` or `/jobs/:id/events` stream picks up where it
//! left off.

use super::*;

fn seq_of(id: &str) -> u64 {
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

#[tokio::test]
async fn a_dropped_event_stream_resumes_with_every_missed_event_once() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::HELLO_DIR).await;
    let first = read_events(hub.get("/events").await, 1, WAIT).await;
    assert_eq!(first[0].event, "open", "{first:?}");
    let last_id = first[0].id.clone().expect("the open event has an id");
    // The connection is gone; three instances start and end meanwhile.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = hub.start_instance(&seq, json!({})).await;
        hub.input(&id, "x\n").await;
        hub.read_to_end(&format!("/instance/{id}/output")).await;
        hub.wait_ended(&id).await;
        ids.push(id);
    }
    let resumed = hub
        .client
        .get(hub.url("/events"))
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), StatusCode::OK);
    let missed = read_events(resumed, 1000, Duration::from_millis(700)).await;
    let seqs: Vec<u64> = missed
        .iter()
        .map(|e| seq_of(e.id.as_ref().unwrap()))
        .collect();
    let expected: Vec<u64> =
        (seq_of(&last_id) + 1..=seq_of(&last_id) + seqs.len() as u64).collect();
    assert_eq!(
        seqs, expected,
        "every missed event, in order, each once: {missed:?}"
    );
    for id in &ids {
        let about: Vec<&Sse> = missed
            .iter()
            .filter(|e| e.data.contains(id.as_str()))
            .collect();
        assert!(
            about
                .iter()
                .any(|e| e.event == "instance" && e.data.contains("\"completed\"")),
            "instance {id} ending is among the missed events: {about:?}"
        );
    }
    // An id this hub never gave (or forgot): told to start over.
    let stale = hub
        .client
        .get(hub.url("/events"))
        .header("last-event-id", "0badc0de-7")
        .send()
        .await
        .unwrap();
    let stale = read_events(stale, 1, WAIT).await;
    assert_eq!(stale[0].event, "reset", "{stale:?}");
}

#[tokio::test]
async fn a_jobs_stream_resumes_and_says_when_there_is_nothing_more() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::RENDER_TEST_DIR).await;
    // Frames of 200 ms: the job cannot end before its stream's first event is read (on a
    // loaded machine an empty one could, and then nothing would be missed).
    let (status, job) = json_of(
        hub.post_json(
            "/jobs",
            json!({"package": seq, "frames": "1-4", "chunkSize": 1, "settings": {"spin_ms": 200}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let events = read_events(hub.get(&format!("/jobs/{id}/events")).await, 1, WAIT).await;
    assert_eq!(events[0].event, "job");
    let after = events[0].id.clone().unwrap();
    // Wait for the end without the stream, then resume from the first event.
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, job) = json_of(hub.get(&format!("/jobs/{id}")).await).await;
            if job["state"] == "completed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    let resumed = hub
        .client
        .get(hub.url(&format!("/jobs/{id}/events")))
        .header("last-event-id", &after)
        .send()
        .await
        .unwrap();
    let missed = read_events(resumed, 1000, Duration::from_secs(2)).await;
    let last_job = missed
        .iter()
        .rev()
        .find(|e| e.event == "job")
        .expect("job events");
    assert!(last_job.data.contains("\"completed\""), "{missed:?}");
    assert!(
        missed.iter().all(|e| e.data.contains(id.as_str())),
        "only this job's events: {missed:?}"
    );
    // Resumed after its end, with nothing missed: 204, so a browser stops
    // reconnecting.
    let done = hub
        .client
        .get(hub.url(&format!("/jobs/{id}/events")))
        .header("last-event-id", last_job.id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
}
