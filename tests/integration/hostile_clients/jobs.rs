//! Render jobs against hostile workers and big or stale jobs: artifacts are
//! served so they cannot run as pages of the hub's origin, a job whose
//! package is gone is not requeued, and a 2,500-task job is paged, changed
//! and deleted whole (its rows are written in batches, and what a crash
//! between two batches leaves is repaired at the next start).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::hub::{TestHub, WAIT, assert_error, json_of};

async fn hub_with_slots(slots: usize) -> TestHub {
    TestHub::with(|c| c.jobs.slots = slots, None).await
}

async fn submit(hub: &TestHub, body: Value) -> String {
    let (status, job) = json_of(hub.post_json("/jobs", body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job["id"].as_str().unwrap().to_string()
}

async fn job(hub: &TestHub, id: &str) -> Value {
    let (status, job) = json_of(hub.get(&format!("/jobs/{id}")).await).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job
}

async fn wait_state(hub: &TestHub, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let job = job(hub, id).await;
        if job["state"] == state {
            return job;
        }
        assert!(Instant::now() < deadline, "waiting for {state}: {job:#}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn post(hub: &TestHub, path: &str) -> reqwest::Response {
    hub.post_json(path, json!({})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_package_is_gone_is_not_requeued() {
    let hub = hub_with_slots(1).await;
    // Deleted, or replaced by another component.
    for replace in [false, true] {
        let seq = hub.upload(weir_tests::RENDER_TEST_DIR).await;
        let id = submit(&hub, json!({"package": seq, "frames": "1-2"})).await;
        let done = wait_state(&hub, &id, "completed").await;
        let (_, tasks) = json_of(hub.get(&format!("/jobs/{id}/tasks")).await).await;
        let task = tasks[0]["id"].as_str().unwrap().to_string();
        let gone = if replace {
            let other = crate::support::pack(weir_tests::MANDELBROT_DIR);
            hub.client
                .put(hub.url(&format!("/sequence/{seq}")))
                .header("content-type", "application/octet-stream")
                .body(std::fs::read(other).unwrap())
                .send()
                .await
                .unwrap()
        } else {
            hub.client
                .delete(hub.url(&format!("/sequence/{seq}")))
                .send()
                .await
                .unwrap()
        };
        assert_eq!(gone.status(), StatusCode::OK);
        for path in [
            format!("/jobs/{id}/requeue"),
            format!("/tasks/{task}/requeue"),
        ] {
            let response = post(&hub, &path).await;
            let needle = format!("renders package render-test (sequence {seq}");
            assert_error(response, StatusCode::CONFLICT, &needle).await;
        }
        // Nothing changed: state, counters and artifacts stay true.
        assert_eq!(job(&hub, &id).await, done);
        assert_eq!(done["framesDone"], 2);
        let (_, artifacts) = json_of(hub.get(&format!("/jobs/{id}/artifacts")).await).await;
        assert_eq!(artifacts.as_array().unwrap().len(), 2, "{artifacts}");
    }
}

/// Registers a remote worker and leases the one task of a new one-frame job.
async fn lease_a_task(hub: &TestHub) -> (String, Value) {
    let (status, worker) = json_of(
        hub.post_json("/workers", json!({"name": "w", "slots": 1}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{worker}");
    let worker = worker["id"].as_str().unwrap().to_string();
    submit(hub, json!({"package": "render-test", "frames": "1"})).await;
    let (status, lease) = json_of(post(hub, &format!("/workers/{worker}/pickup")).await).await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    (worker, lease)
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Asserts the headers that keep a stored file from running as a page.
fn assert_served_safely(response: &reqwest::Response, media_type: &str, disposition: &str) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response, "content-type"), media_type);
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(response, "content-security-policy"),
        "default-src 'none'; sandbox"
    );
    assert_eq!(header(response, "content-disposition"), disposition);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_and_packages_cannot_run_as_pages_of_the_hub() {
    let hub = hub_with_slots(0).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let (worker, lease) = lease_a_task(&hub).await;
    let (task, attempt) = (lease["taskId"].as_str().unwrap(), &lease["attempt"]);
    let script = "<script>fetch('/api/v1/jobs')</script>";
    let svg = format!("<svg xmlns='http://www.w3.org/2000/svg'>{script}</svg>");
    let files = [
        ("page.html", "text/html", script.to_string(), "attachment"),
        ("image.svg", "image/svg+xml", svg, "attachment"),
        (
            "notes.txt",
            "text/plain; charset=utf-8",
            "hi".into(),
            "attachment",
        ),
        ("frame.png", "image/png", "\u{89}PNG".into(), "inline"),
        ("photo.jpg", "IMAGE/JPEG", "jpeg".into(), "inline"),
    ];
    for (name, media_type, body, _) in &files {
        let response = hub
            .client
            .put(hub.url(&format!(
                "/tasks/{task}/artifacts/{name}?attempt={attempt}&frame=1&worker={worker}"
            )))
            .header("content-type", *media_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{name}");
    }
    let done = hub
        .post_json(
            &format!("/tasks/{task}/complete"),
            json!({"workerId": worker, "attempt": attempt}),
        )
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let job = lease["jobId"].as_str().unwrap();
    for (name, media_type, body, disposition) in files {
        let response = hub.get(&format!("/jobs/{job}/artifacts/{name}")).await;
        let disposition = format!("{disposition}; filename=\"{name}\"");
        assert_served_safely(&response, media_type, &disposition);
        assert_eq!(response.text().await.unwrap(), body);
    }
    let digest = lease["package"]["digest"].as_str().unwrap();
    let package = hub.get(&format!("/packages/{digest}")).await;
    let disposition = format!("attachment; filename=\"{digest}.wasm\"");
    assert_served_safely(&package, "application/wasm", &disposition);
}

/// GET `/jobs/:id/tasks` with `query` → the tasks and the `Link` header.
async fn tasks_page(hub: &TestHub, id: &str, query: &str) -> (Vec<Value>, Option<String>) {
    let response = hub.get(&format!("/jobs/{id}/tasks{query}")).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    let link = response
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_string());
    (response.json().await.unwrap(), link)
}

fn indexes(tasks: &[Value]) -> Vec<u64> {
    tasks.iter().map(|t| t["index"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_list_comes_in_pages_in_index_order() {
    let hub = hub_with_slots(0).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let id = submit(&hub, json!({"package": "render-test", "frames": "1-2500"})).await;

    // Without a limit: the first 1000, and a link to the next page.
    let (first, link) = tasks_page(&hub, &id, "").await;
    assert_eq!(indexes(&first), (0..1000).collect::<Vec<_>>());
    let next = format!("</api/v1/jobs/{id}/tasks?limit=1000&after=999>; rel=\"next\"");
    assert_eq!(link.as_deref(), Some(next.as_str()));

    // Following `after` in pages of 700 gives every task once, in order.
    let mut all: Vec<Value> = Vec::new();
    loop {
        let query = match all.last() {
            None => "?limit=700".to_string(),
            Some(last) => format!("?limit=700&after={}", last["index"]),
        };
        let (page, link) = tasks_page(&hub, &id, &query).await;
        assert!(page.len() <= 700);
        all.extend(page);
        if link.is_none() {
            break;
        }
    }
    assert_eq!(indexes(&all), (0..2500).collect::<Vec<_>>());
    let frames: Vec<i64> = all
        .iter()
        .map(|t| t["frameStart"].as_i64().unwrap())
        .collect();
    assert_eq!(frames, (1..=2500).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = all.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2500);
    assert_eq!(&all[..1000], &first[..], "the same order every time");

    // The end of the list.
    let (last, link) = tasks_page(&hub, &id, "?limit=5&after=2497").await;
    assert_eq!((indexes(&last), link), (vec![2498, 2499], None));
    for after in ["2499", "100000"] {
        let (page, link) = tasks_page(&hub, &id, &format!("?after={after}")).await;
        assert!(page.is_empty() && link.is_none(), "after={after}");
    }

    for (query, needle) in [
        ("limit=0", "limit \"0\": use a whole number from 1 to 1000"),
        ("limit=1001", "limit \"1001\""),
        ("limit=-1", "limit \"-1\""),
        ("limit=ten", "limit \"ten\""),
        ("limit=", "limit \"\""),
        ("after=-1", "after \"-1\": use the index of the last task"),
        ("after=1.5", "after \"1.5\""),
        ("after=x", "after \"x\""),
    ] {
        let response = hub.get(&format!("/jobs/{id}/tasks?{query}")).await;
        assert_error(response, StatusCode::BAD_REQUEST, needle).await;
    }
    assert_error(
        hub.get("/jobs/nope/tasks?limit=10").await,
        StatusCode::NOT_FOUND,
        "Job nope not found",
    )
    .await;
}

fn store(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("jobs.sqlite")).unwrap()
}

fn rows(db: &rusqlite::Connection, table: &str) -> i64 {
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_job_is_canceled_requeued_and_deleted_whole() {
    let hub = hub_with_slots(0).await;
    hub.upload(weir_tests::RENDER_TEST_DIR).await;
    let id = submit(&hub, json!({"package": "render-test", "frames": "1-2500"})).await;
    let counts = |state: &str| {
        let mut counts =
            json!({"queued": 0, "active": 0, "completed": 0, "failed": 0, "canceled": 0});
        counts[state] = 2500.into();
        counts
    };
    for (action, state, tasks) in [
        ("cancel", "canceled", "canceled"),
        ("requeue", "queued", "queued"),
        ("cancel", "canceled", "canceled"),
    ] {
        let (status, body) = json_of(post(&hub, &format!("/jobs/{id}/{action}")).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["state"], state);
        assert_eq!(body["taskCounts"], counts(tasks), "{action}");
    }
    let dir = hub.stop();
    // Every row was written: a restart shows the same job.
    let hub = TestHub::on(dir, |c| c.jobs.slots = 0, None).await;
    assert_eq!(job(&hub, &id).await["taskCounts"], counts("canceled"));
    let dir = hub.stop();

    // What a crash between two batches leaves: a canceled job whose task
    // rows still say queued (a cancel writes the job's row first), and rows
    // of a job that has no row (a submission cut short).
    {
        let db = store(dir.path());
        db.execute_batch(
            "UPDATE tasks SET body = json_set(body, '$.state', 'queued');
             INSERT INTO tasks (id, job_id, idx, body)
                 SELECT id || '-orphan', 'no-such-job', idx, body FROM tasks;",
        )
        .unwrap();
        assert_eq!(rows(&db, "tasks"), 5000);
    }
    let hub = TestHub::on(dir, |c| c.jobs.slots = 0, None).await;
    let canceled = job(&hub, &id).await;
    assert_eq!(canceled["state"], "canceled");
    assert_eq!(
        canceled["taskCounts"],
        counts("canceled"),
        "an ended job runs nothing"
    );
    assert_eq!(
        rows(&store(hub.dir.path()), "tasks"),
        2500,
        "orphan rows are removed"
    );

    let deleted = hub
        .client
        .delete(hub.url(&format!("/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_error(
        hub.get(&format!("/jobs/{id}")).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
    let db = store(hub.dir.path());
    let left = (
        rows(&db, "jobs"),
        rows(&db, "tasks"),
        rows(&db, "artifacts"),
    );
    assert_eq!(left, (0, 0, 0));
}
