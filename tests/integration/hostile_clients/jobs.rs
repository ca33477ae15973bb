//! Render jobs against hostile workers: artifacts are served so they
//! cannot run as pages of the hub's origin.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::hub_support::{TestHub, json_of};

async fn hub_with_slots(slots: usize) -> TestHub {
    TestHub::with(|c| c.jobs.slots = slots, None).await
}

async fn submit(hub: &TestHub, body: Value) -> String {
    let (status, job) = json_of(hub.post_json("/jobs", body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job["id"].as_str().unwrap().to_string()
}

async fn post(hub: &TestHub, path: &str) -> reqwest::Response {
    hub.post_json(path, json!({})).await
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
