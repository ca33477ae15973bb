//! A whole job rendered, and what a submission must hold.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_frame_mandelbrot_job_renders_100_correct_deterministic_pngs() {
    let hub = hub_with(2, |_| {}).await;
    hub.upload(weir_tests::MANDELBROT_DIR).await;
    let settings = json!({"width": 96, "height": 64, "max_iter": 100});
    let first = submit(
        &hub,
        json!({"package": "mandelbrot", "frames": "1-100", "chunkSize": 10, "settings": settings}),
    )
    .await;
    assert_eq!(first["state"], "queued");
    assert_eq!(first["framesTotal"], 100);
    assert_eq!(first["tasksTotal"], 10);
    let id = first["id"].as_str().unwrap();
    let done = wait_state(&hub, id, "completed").await;
    assert_eq!(done["framesDone"], 100);
    assert_eq!(done["progress"], 100.0);
    assert_eq!(done["taskCounts"]["completed"], 10);
    assert!(done["finishedAt"].is_string() && done["startedAt"].is_string());

    let list = artifacts(&hub, id).await;
    assert_eq!(list.len(), 100);
    let mut hashes = Vec::new();
    for (i, artifact) in list.iter().enumerate() {
        let frame = i as i64 + 1;
        assert_eq!(artifact["name"], format!("frame-{frame:06}.png"));
        assert_eq!(artifact["frame"], frame);
        let (ct, data) = bytes(&hub, artifact["url"].as_str().unwrap()).await;
        assert_eq!(ct, "image/png");
        assert_eq!(artifact["size"], data.len());
        let sha = hex::encode(Sha256::digest(&data));
        assert_eq!(artifact["sha256"], sha);
        let decoder = png::Decoder::new(std::io::Cursor::new(&data));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (96, 64), "frame {frame}");
        assert!(
            pixels.iter().any(|&p| p != pixels[0]),
            "frame {frame} is blank"
        );
        hashes.push(sha);
    }
    let distinct: BTreeSet<_> = hashes.iter().collect();
    assert_eq!(distinct.len(), 100, "every zoom step is a different image");

    // The same frames again, in other chunks: byte-identical.
    let again = submit(&hub, json!({"package": "mandelbrot", "frames": {"start": 1, "end": 100}, "chunkSize": 7, "settings": settings})).await;
    let again_id = again["id"].as_str().unwrap();
    wait_state(&hub, again_id, "completed").await;
    let again_hashes: Vec<String> = artifacts(&hub, again_id)
        .await
        .iter()
        .map(|a| a["sha256"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(again_hashes, hashes);

    // The job log tells the story and ends with the job.
    let log = hub.read_to_end(&format!("/jobs/{id}/log")).await;
    assert!(
        log.contains("queued: 100 frames (1-100) in 10 tasks"),
        "{log}"
    );
    assert!(
        log.contains("frames 91-100 completed on worker local"),
        "{log}"
    );
    assert!(log.trim_end().ends_with("job completed"), "{log}");

    // Deleting removes the job and its files.
    let response = hub
        .client
        .delete(hub.url(&format!("/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_error(
        hub.get(&format!("/jobs/{id}")).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
    assert!(!hub.dir.path().join("artifacts").join(id).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_are_checked_with_clear_errors() {
    let hub = hub_with(0, |_| {}).await;
    let (_, config) = json_of(hub.get("/config").await).await;
    assert_eq!(config["render"]["slots"], 0);
    assert_eq!(config["render"]["ordering"], "priority");
    assert_eq!(config["render"]["maxRetries"], 3);
    hub.upload(weir_tests::MANDELBROT_DIR).await;
    hub.upload(weir_tests::HELLO_DIR).await;
    let cases = [
        (
            json!({"frames": "1-2"}),
            StatusCode::BAD_REQUEST,
            "missing package",
        ),
        (
            json!({"package": "nope", "frames": "1"}),
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            json!({"package": "hello", "frames": "1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "render package",
        ),
        (
            json!({"package": "mandelbrot"}),
            StatusCode::BAD_REQUEST,
            "missing frames",
        ),
        (
            json!({"package": "mandelbrot", "frames": "5-1"}),
            StatusCode::BAD_REQUEST,
            "ends before it starts",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1-x"}),
            StatusCode::BAD_REQUEST,
            "not N or N-M",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1-2000000"}),
            StatusCode::BAD_REQUEST,
            "at most 1000000",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1", "chunkSize": 0}),
            StatusCode::BAD_REQUEST,
            "chunkSize",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1", "settings": [1]}),
            StatusCode::BAD_REQUEST,
            "settings must be a JSON object",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1", "tags": ["a b"]}),
            StatusCode::BAD_REQUEST,
            "tag \"a b\"",
        ),
        (
            json!({"package": "mandelbrot", "frames": "1", "colour": 1}),
            StatusCode::BAD_REQUEST,
            "unknown field `colour`",
        ),
    ];
    for (body, status, needle) in cases {
        assert_error(hub.post_json("/jobs", body).await, status, needle).await;
    }
    let response = hub
        .client
        .post(hub.url("/jobs"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "Could not parse").await;
    assert_error(
        hub.get("/jobs?state=bogus").await,
        StatusCode::BAD_REQUEST,
        "unknown job state",
    )
    .await;
    for path in [
        "/jobs/nope",
        "/jobs/nope/tasks",
        "/jobs/nope/artifacts",
        "/jobs/nope/log",
        "/jobs/nope/events",
    ] {
        assert_error(hub.get(path).await, StatusCode::NOT_FOUND, "not found").await;
    }
    assert_error(
        hub.post_json("/jobs/nope/cancel", json!({})).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;

    // State rules: a queued job cannot be resumed or requeued.
    let job = submit(&hub, json!({"package": "mandelbrot", "frames": "1-3"})).await;
    let id = job["id"].as_str().unwrap();
    assert_error(
        hub.post_json(&format!("/jobs/{id}/resume"), json!({}))
            .await,
        StatusCode::CONFLICT,
        "only paused jobs",
    )
    .await;
    assert_error(
        hub.post_json(&format!("/jobs/{id}/requeue"), json!({}))
            .await,
        StatusCode::CONFLICT,
        "only completed, failed or canceled",
    )
    .await;
    assert_error(
        hub.post_json(&format!("/jobs/{id}/explode"), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "unknown job action",
    )
    .await;
    assert_error(
        hub.get(&format!("/jobs/{id}/artifacts/frame-000001.png"))
            .await,
        StatusCode::NOT_FOUND,
        "no artifact",
    )
    .await;
    let (status, listed) = json_of(hub.get("/jobs?state=queued").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, none) = json_of(hub.get("/jobs?state=active").await).await;
    assert_eq!(none, json!([]));

    // A queued task is not requeued (nothing runs on a hub without slots).
    let queued_task = tasks(&hub, id).await[0]["id"].as_str().unwrap().to_string();
    let twice = hub
        .post_json(&format!("/tasks/{queued_task}/requeue"), json!({}))
        .await;
    assert_error(twice, StatusCode::CONFLICT, "is queued already").await;

    // The package of an unfinished job stays until the job is done with it.
    let delete = hub
        .client
        .delete(hub.url("/sequence/mandelbrot"))
        .send()
        .await
        .unwrap();
    assert_error(delete, StatusCode::CONFLICT, "unfinished render jobs").await;
    let (status, _) = post(&hub, &format!("/jobs/{id}/cancel")).await;
    assert_eq!(status, StatusCode::OK);
    let delete = hub
        .client
        .delete(hub.url("/sequence/mandelbrot"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::OK);
}
