//! Failing tests for hub bugs found with the components of `wasm_bombs`.
//! Not wired into `main.rs` until the bugs are fixed: add
//! `mod wasm_bombs_bugs;` there to run them.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::json;
use wasm_encoder::{BlockType, Function};

use crate::hub_scale::ServerProcess;
use crate::hub_support::{TestHub, WAIT, json_of};
use crate::wasm_bombs::{body, package, sequence_component, upload};

fn looping_start() -> Function {
    body(|f| {
        f.loop_(BlockType::Empty).br(0).end();
    })
}

/// `Hub::start_instance` (host/src/hub/instances.rs) awaits
/// `Instance::wait_started()` without a bound, so a start function that
/// never returns keeps `POST /sequence/:id/start` open for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_request_answers_while_the_start_function_still_runs() {
    let hub = TestHub::start().await;
    let wasm = sequence_component(Some(&looping_start()), []);
    let seq = hub.upload_file(&package("bug-start-loop", &wasm)).await;
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
/// exceeded", wall clock 137 errored "time limit of N ms exceeded"). Now
/// `run_entry` (host/src/runtime/instance.rs) makes every instantiation error
/// a `RunError::Start`: 22, "Sequence failed on start: error while executing
/// at wasm backtrace:\n    0:     0x46 - <unknown>!<wasm function 1>: CPU
/// time limit of 200 ms exceeded", and the start request answers 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hit_in_a_start_function_end_the_instance_as_they_do_in_run() {
    let hub = TestHub::start().await;
    let wasm = sequence_component(Some(&looping_start()), []);
    let seq = hub.upload_file(&package("bug-start-limits", &wasm)).await;
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
/// trap in `run` is. Now `Instance::classify` formats `RunError::Start` with
/// `{e:#}`, which includes wasmtime's backtrace ("error while executing at
/// wasm backtrace:\n    0:     0x45 - <unknown>!<wasm function 1>: ...");
/// `trap_message` would drop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_in_a_start_function_is_reported_without_a_backtrace() {
    let hub = TestHub::start().await;
    let unreachable = body(|f| {
        f.unreachable();
    });
    let wasm = sequence_component(Some(&unreachable), []);
    let seq = hub.upload_file(&package("bug-start-trap", &wasm)).await;
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

/// With a tight `--compile-memory-mb`, a module whose parsing takes most of
/// the address space leaves none for rayon's thread stacks: the compiler
/// child panics "The global thread pool has not been initialized.:
/// ThreadPoolBuildError { kind: IOError(Os { code: 11, kind: WouldBlock,
/// message: \"Resource temporarily unavailable\" }) }" (exit 101), which
/// `Compiler::failure` (host/src/runtime/compile.rs) does not count as out of
/// memory (`OUT_OF_MEMORY` lacks it): the upload gets a 500. Which function
/// count lands there depends on the binary's layout, so a range is tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compiler_without_memory_for_its_threads_refuses_the_upload_with_422() {
    let server = ServerProcess::start(&["--compile-memory-mb", "64"]);
    let client = Client::builder().timeout(WAIT).build().unwrap();
    let empty = body(|_| {});
    for count in (60_000..=120_000).step_by(5_000) {
        let wasm = sequence_component(None, std::iter::repeat_n(&empty, count));
        let path = package(&format!("bug-compiler-threads-{count}"), &wasm);
        let (status, body) = upload(&client, &server.base, &path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{count}: {body}");
        assert_eq!(
            body["error"], "the component does not compile: compiling needed more than 64 MiB",
            "{count}"
        );
    }
}
