//! Start functions that never return, hit a limit or trap (components built
//! with `wasm_bombs`' encoder): the start request still answers, limits end
//! the instance as they do in `run`, and traps are reported in their own words.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use wasm_encoder::{BlockType, Function};

use crate::support::hub::{TestHub, json_of};
use crate::wasm_bombs::{body, package, sequence_component};

fn looping_start() -> Function {
    body(|f| {
        f.loop_(BlockType::Empty).br(0).end();
    })
}

/// A start function that never returns does not hold `POST
/// /sequence/:id/start`: it answers (the instance still `starting`) and the
/// instance can be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_request_answers_while_the_start_function_still_runs() {
    let hub = TestHub::start().await;
    let wasm = sequence_component(Some(&looping_start()), []);
    let seq = hub.upload_file(&package("start-loop", &wasm)).await;
    let id = "5747a1c0-0000-4000-8000-000000009001";
    let path = format!("/sequence/{seq}/start");
    let start = hub.post_json(&path, json!({ "instanceId": id }));
    let answered = tokio::time::timeout(Duration::from_secs(5), start).await;
    hub.post_json(&format!("/instance/{id}/_kill"), json!({}))
        .await;
    let (status, body) = json_of(answered.expect("the start request hangs")).await;
    assert_eq!((status, &body["id"]), (StatusCode::OK, &json!(id)));
}

/// A limit hit while the start function runs ends the instance as it does
/// while `run` runs (README, Limits: CPU 101 "CPU time limit of N ms
/// exceeded", wall clock 137 errored "time limit of N ms exceeded"), not as
/// a start failure (22, and a 422 answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hit_in_a_start_function_end_the_instance_as_they_do_in_run() {
    let hub = TestHub::start().await;
    let wasm = sequence_component(Some(&looping_start()), []);
    let seq = hub.upload_file(&package("start-limits", &wasm)).await;
    let cases = [
        (
            "1",
            json!({ "cpuMs": 200 }),
            json!({ "exitcode": 101, "reason": "Sequence trapped: CPU time limit of 200 ms exceeded" }),
        ),
        (
            "2",
            json!({ "timeoutMs": 300 }),
            json!({ "exitcode": 137, "reason": "Instance killed: time limit of 300 ms exceeded" }),
        ),
    ];
    for (n, limits, terminated) in cases {
        let id = format!("5747a1c0-0000-4000-8000-00000000901{n}");
        let response = hub
            .post_json(
                &format!("/sequence/{seq}/start"),
                json!({ "instanceId": id, "limits": limits }),
            )
            .await;
        // A limit is no start failure: no 400 (the instance ends errored).
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{limits}: {body}");
        let info = hub.wait_ended(&id).await;
        assert_eq!(info["status"], "errored", "{info}");
        assert_eq!(info["terminated"], terminated, "{limits}");
    }
}

/// A trap in the start function is reported in the trap's own words, as a
/// trap in `run` is, without wasmtime's backtrace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_in_a_start_function_is_reported_without_a_backtrace() {
    let hub = TestHub::start().await;
    let unreachable = body(|f| {
        f.unreachable();
    });
    let wasm = sequence_component(Some(&unreachable), []);
    let seq = hub.upload_file(&package("start-trap", &wasm)).await;
    let (_, body) = json_of(
        hub.post_json(&format!("/sequence/{seq}/start"), json!({}))
            .await,
    )
    .await;
    assert_eq!(
        body["error"],
        "Sequence failed on start: wasm trap: wasm `unreachable` instruction executed"
    );
}
