//! Render jobs through the HTTP API: the mandelbrot job end to end, ordering
//! policies, cancel/pause/resume, retries, blocklisting, timeouts, the
//! worker protocol (leases, lost workers, fencing) and recovery after a
//! restart or a SIGKILL of the manager.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use weir::hub::HubConfig;
use weir::jobs::Ordering;

use crate::support::hub::{TestHub, WAIT, assert_error, json_of};
use crate::support::process::HubProcess;

mod control;
mod events;
mod failures;
mod ordering;
mod recovery;
mod render;
mod workers;

pub(super) async fn hub_with(slots: usize, tweak: impl FnOnce(&mut HubConfig)) -> TestHub {
    TestHub::with(
        |c| {
            c.jobs.slots = slots;
            tweak(c);
        },
        None,
    )
    .await
}

pub(super) async fn submit(hub: &TestHub, body: Value) -> Value {
    let (status, job) = json_of(hub.post_json("/jobs", body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job
}

pub(super) async fn get_job(hub: &TestHub, id: &str) -> Value {
    let (status, job) = json_of(hub.get(&format!("/jobs/{id}")).await).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job
}

/// Polls the job until `done` holds.
pub(super) async fn wait_for(
    hub: &TestHub,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let job = get_job(hub, id).await;
        if done(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {job:#}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(super) async fn wait_state(hub: &TestHub, id: &str, state: &str) -> Value {
    wait_for(hub, id, state, |j| j["state"] == state).await
}

pub(super) async fn tasks(hub: &TestHub, id: &str) -> Vec<Value> {
    let (status, tasks) = json_of(hub.get(&format!("/jobs/{id}/tasks")).await).await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    tasks.as_array().unwrap().clone()
}

pub(super) async fn artifacts(hub: &TestHub, id: &str) -> Vec<Value> {
    let (status, list) = json_of(hub.get(&format!("/jobs/{id}/artifacts")).await).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

pub(super) async fn bytes(hub: &TestHub, url: &str) -> (String, Vec<u8>) {
    let response = hub
        .client
        .get(format!("{}{url}", hub.base.trim_end_matches("/api/v1")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let ct = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    (ct, response.bytes().await.unwrap().to_vec())
}

pub(super) async fn post(hub: &TestHub, path: &str) -> (StatusCode, Value) {
    json_of(hub.post_json(path, json!({})).await).await
}

pub(super) async fn register(hub: &TestHub, name: &str) -> String {
    let (status, worker) = json_of(
        hub.post_json("/workers", json!({"name": name, "slots": 1}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{worker}");
    assert!(worker["leaseMs"].as_u64().unwrap() > 0);
    worker["id"].as_str().unwrap().to_string()
}

pub(super) async fn pickup(hub: &TestHub, worker: &str) -> (StatusCode, Value) {
    let response = hub
        .client
        .post(hub.url(&format!("/workers/{worker}/pickup")))
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return (status, Value::Null);
    }
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

pub(super) async fn job_state(hub: &TestHub, id: &str) -> Value {
    get_job(hub, id).await
}
