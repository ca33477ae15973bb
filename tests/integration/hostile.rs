//! Hostile plugins and hostile requests cannot hurt the hub: traps end only their own
//! instance, an output flood stalls only itself, a snooping plugin sees nothing of the host,
//! and odd HTTP input gets exact statuses with JSON errors.

mod connections;
mod floods;
pub mod http;
mod uploads;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::hub::{TestHub, WAIT, json_of};
use crate::support::process::{self, HubProcess, stream_through};

/// Uploads a fixture component to an in-process hub → sequence id.
async fn upload_fixture(hub: &TestHub, name: &str, wasm: &str) -> String {
    process::upload_fixture(&hub.client, &hub.url("/sequence"), name, wasm).await
}

/// Asserts an instance ended `errored` with 101 and a trap reason containing `needle`.
fn assert_trapped(info: &Value, needle: &str) {
    assert_eq!(info["status"], "errored", "{info}");
    assert_eq!(info["terminated"]["exitcode"], 101, "{info}");
    let reason = info["terminated"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("Sequence trapped: "), "{reason:?}");
    assert!(
        reason.to_lowercase().contains(needle),
        "{reason:?} lacks {needle:?}"
    );
}

/// The hub answers `/health` and runs a fresh `hello` instance to the end.
async fn assert_hub_serves(hub: &TestHub) {
    let (status, health) = json_of(hub.get("/health").await).await;
    assert_eq!((status, &health["healthy"]), (StatusCode::OK, &json!(true)));
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let id = hub.start_instance(&hello, json!({})).await;
    hub.input(&id, "after\n").await;
    assert_eq!(
        hub.read_to_end(&format!("/instance/{id}/output")).await,
        "Hello after!\n"
    );
}

#[tokio::test]
async fn deep_recursion_traps_only_its_instance_with_a_stack_reason() {
    let hub = TestHub::start().await;
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let bystander = hub.start_instance(&hello, json!({})).await;
    let seq = upload_fixture(&hub, "deep-recursion", weir_tests::DEEP_RECURSION).await;
    let id = hub.start_instance(&seq, json!({})).await;
    let info = hub.wait_ended(&id).await;
    // wasmtime words it "call stack exhausted".
    assert_trapped(&info, "stack");
    assert_eq!(hub.info(&bystander).await["status"], "running");
    hub.input(&bystander, "bystander\n").await;
    assert_eq!(
        hub.read_to_end(&format!("/instance/{bystander}/output"))
            .await,
        "Hello bystander!\n"
    );
    assert_hub_serves(&hub).await;
}

#[tokio::test]
async fn arithmetic_and_memory_traps_end_their_instance_with_the_trap_reason() {
    let hub = TestHub::start().await;
    let seq = upload_fixture(&hub, "arith-trap", weir_tests::ARITH_TRAP).await;
    // Safe Rust checks a divisor before `i32.div_s`, so division by zero is a panic, and
    // a panic aborts with wasm `unreachable`: the reason is the panic's message.
    let cases = [
        (
            "div-zero",
            "panicked at tests/fixtures/arith-trap/src/lib.rs:",
        ),
        ("unreachable", "`unreachable` instruction executed"),
        ("oob", "out of bounds memory access"),
    ];
    let mut ids = Vec::new();
    for (mode, _) in cases {
        let config = json!({ "appConfig": { "mode": mode } });
        ids.push(hub.start_instance(&seq, config).await);
    }
    for ((mode, needle), id) in cases.iter().zip(&ids) {
        let info = hub.wait_ended(id).await;
        assert_eq!(info["appConfig"]["mode"], *mode);
        assert_trapped(&info, needle);
    }
    let stderr = hub
        .read_to_end(&format!("/instance/{}/stderr", ids[0]))
        .await;
    assert!(stderr.contains("attempt to divide by zero"), "{stderr}");
    assert_hub_serves(&hub).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_flood_without_a_reader_stalls_only_itself() {
    const MIB: u64 = 1 << 20;
    let hub = HubProcess::start(&[], &[]);
    let flood_seq = hub.upload("output-flood", weir_tests::OUTPUT_FLOOD).await;
    let pass_seq = hub.upload("passthrough", weir_tests::PASSTHROUGH).await;
    let before = hub.rss();
    let flood = hub.start_instance(&flood_seq, json!({})).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Stalled: no more output is produced and the hub burns no CPU on it.
    let health = format!("/instance/{flood}/health");
    let written = json_of(hub.get(&health).await).await.1["outputBytes"].clone();
    let cpu = hub.cpu_time();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_cpu = hub.cpu_time() - cpu;
    let later = json_of(hub.get(&health).await).await.1;
    assert_eq!(later["status"], "running", "{later}");
    assert_eq!(
        later["outputBytes"], written,
        "the flood waits for a reader"
    );
    assert!(written.as_u64().unwrap() <= 2 * MIB, "{written} bytes held");
    assert!(
        idle_cpu < Duration::from_millis(300),
        "a stalled flood cost {idle_cpu:?} of CPU in 1 s"
    );

    // Meanwhile another instance on the same hub moves 64 MiB, every byte checked.
    let pass = hub.start_instance(&pass_seq, json!({})).await;
    stream_through(&hub, &pass, 64 * MIB, false, Duration::ZERO).await;
    let grown = hub.rss().saturating_sub(before);
    assert!(
        grown < 64 * MIB,
        "hub RSS grew {} MiB with a flood stalled",
        grown >> 20
    );

    // The output held for the first reader is the flood's, then it is killed within 1 s
    // while blocked on a full pipe, and the reader's stream ends.
    let output = hub.get(&format!("/instance/{flood}/output")).await;
    let mut stream = output.bytes_stream();
    let mut read = 0u64;
    while read < 4 * MIB {
        let chunk = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(chunk.iter().all(|&b| b == b'f'));
        read += chunk.len() as u64;
    }
    let (took, info) = hub.kill(&flood).await;
    assert_eq!(
        info["terminated"],
        json!({ "exitcode": 137, "reason": "Instance killed" })
    );
    assert!(took < Duration::from_secs(1), "killed after {took:?}");
    tokio::time::timeout(WAIT, async { while stream.next().await.is_some() {} })
        .await
        .expect("the output stream of a killed instance ends");
    eprintln!(
        "flood: held {written} B, {idle_cpu:?} CPU in 1 s, RSS +{} MiB, killed in {took:?}",
        grown >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snooping_plugin_sees_no_host_files_env_or_network() {
    const SECRET: &str = "hunter2";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let udp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    udp.set_nonblocking(true).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let acceptor = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let hub = HubProcess::start(&[], &[("WEIR_TEST_SECRET", SECRET)]);
    let seq = hub.upload("snoop", weir_tests::SNOOP).await;
    let id = hub
        .start_instance(&seq, json!({ "appConfig": { "port": port } }))
        .await;
    let info = hub.wait_ended(&id).await;
    assert_eq!(info["terminated"]["exitcode"], 0, "{info}");
    let response = hub.get(&format!("/instance/{id}/output")).await;
    let output = response.text().await.unwrap();
    let log = hub
        .get(&format!("/instance/{id}/log"))
        .await
        .text()
        .await
        .unwrap();
    for text in [&output, &log] {
        assert!(!text.contains(SECRET), "the hub's env leaked: {text}");
        assert!(!text.contains("root:"), "/etc/passwd leaked: {text}");
    }
    let report: Value = serde_json::from_str(output.trim()).unwrap();
    let refused = |value: &Value| value.as_str().is_some_and(|s| s.starts_with("error: "));
    for group in ["files", "dirs"] {
        for (path, outcome) in report[group].as_object().unwrap() {
            assert!(refused(outcome), "{group} {path}: {outcome}");
        }
    }
    for attempt in ["write", "tcp_local", "tcp_remote", "udp", "dns"] {
        assert!(refused(&report[attempt]), "{attempt}: {}", report[attempt]);
    }
    assert_eq!(report["env"], json!([]), "{report}");
    assert_eq!(report["args"], json!([id]), "{report}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "a TCP connection arrived"
    );
    let mut buf = [0u8; 64];
    assert!(udp.recv_from(&mut buf).is_err(), "a UDP datagram arrived");
    acceptor.abort();
}
