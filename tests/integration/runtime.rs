//! The runtime driven in-process: events, stop, kill and the memory limit.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::time::timeout;
use weir::runtime::{Instance, Program, Runtime, RuntimeConfig, StartOptions};

const WAIT: Duration = Duration::from_secs(20);

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(crate::support::scratch().join("components")),
        pool_instances: Some(8),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn start(runtime: &Runtime, wasm: &str, config: serde_json::Value) -> (Program, Instance) {
    let program = runtime.load(wasm.as_ref()).unwrap();
    let config = config.as_object().cloned().unwrap_or_default();
    let instance = runtime.start(
        &program,
        StartOptions {
            id: uuid(),
            config,
            ..Default::default()
        },
    );
    (program, instance)
}

fn uuid() -> String {
    format!(
        "00000000-0000-4000-8000-{:012x}",
        rand_u64() & 0xffff_ffff_ffff
    )
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

async fn read_all(instance: &Instance) -> String {
    let mut reader = instance.output().reader();
    let mut out = Vec::new();
    while let Some(chunk) = timeout(WAIT, reader.next()).await.unwrap() {
        out.extend_from_slice(&chunk);
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn events_plugin_replies_to_test_event() {
    let rt = runtime();
    let (_, instance) = start(&rt, weir_tests::EVENTS, json!({}));
    let mut events = instance.events().subscribe();
    assert_eq!(
        instance.wait_started().await,
        weir::runtime::InstanceStatus::Running
    );
    instance
        .send_event("other".into(), &json!("ignored"))
        .unwrap();
    instance
        .send_event("test-event".into(), &json!("hi"))
        .unwrap();
    let event = timeout(WAIT, events.next()).await.unwrap().unwrap();
    assert_eq!(event.name, "test-response");
    assert_eq!(&*event.message, "\"reply to hi\"");
    assert_eq!(
        instance.events().last("test-response").as_deref(),
        Some("\"reply to hi\"")
    );
    instance.stop(Duration::from_secs(5), false);
    let end = timeout(WAIT, instance.wait()).await.unwrap();
    assert_eq!(end.exitcode, 138, "{end:?}");
}

#[tokio::test]
async fn counter_writes_stopped_and_ends_with_138_on_stop() {
    let rt = runtime();
    let (_, instance) = start(&rt, weir_tests::COUNTER, json!({"interval_ms": 10}));
    let mut reader = instance.output().reader();
    let first = timeout(WAIT, reader.next()).await.unwrap().unwrap();
    assert!(first.starts_with(b"1\n"), "{first:?}");
    instance.stop(Duration::from_secs(5), false);
    let mut rest = first.to_vec();
    while let Some(chunk) = timeout(WAIT, reader.next()).await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(rest).unwrap();
    assert!(text.ends_with("stopped\n"), "{text}");
    let end = instance.wait().await;
    assert_eq!(
        (end.exitcode, end.reason.as_str()),
        (138, "Instance stopped")
    );
    assert_eq!(instance.status(), weir::runtime::InstanceStatus::Completed);
}

#[tokio::test]
async fn a_busy_loop_is_killed_within_a_second() {
    let rt = runtime();
    let (_, instance) = start(&rt, weir_tests::BUSY_LOOP, json!({}));
    instance.wait_started().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    instance.kill();
    let end = timeout(WAIT, instance.wait()).await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "kill took {:?}",
        asked.elapsed()
    );
    assert_eq!(
        (end.exitcode, end.reason.as_str()),
        (137, "Instance killed")
    );
}

#[tokio::test]
async fn a_stop_that_is_ignored_kills_after_the_timeout() {
    let rt = runtime();
    let (_, instance) = start(&rt, weir_tests::BUSY_LOOP, json!({}));
    instance.wait_started().await;
    instance.stop(Duration::from_millis(200), false);
    assert_eq!(instance.status(), weir::runtime::InstanceStatus::Stopping);
    let end = timeout(WAIT, instance.wait()).await.unwrap();
    assert_eq!(end.exitcode, 138, "{end:?}");
}

#[tokio::test]
async fn input_sent_right_after_start_is_not_lost() {
    let rt = runtime();
    let (_, instance) = start(&rt, weir_tests::HELLO, json!({}));
    let input = instance.input().unwrap();
    input.send("early\n".into()).await.unwrap();
    instance.close_input();
    assert_eq!(read_all(&instance).await, "Hello early!\n");
    assert_eq!(instance.wait().await.exitcode, 0);
}

#[tokio::test]
async fn an_input_nobody_reads_takes_a_mebibyte_whatever_the_chunk_size() {
    let rt = runtime();
    // One line now, the next in ten minutes: it never reads its input.
    let (_, instance) = start(&rt, weir_tests::COUNTER, json!({"interval_ms": 600_000}));
    let input = instance.input().unwrap();
    let chunk = bytes::Bytes::from(vec![b'i'; 1 << 20]);
    let mut accepted = 0;
    while accepted < 32 {
        let sent = timeout(Duration::from_millis(300), input.send(chunk.clone())).await;
        if sent.is_err() {
            break;
        }
        accepted += 1;
    }
    assert_eq!(accepted, 1, "1 MiB chunks taken by an input nobody reads");
    instance.kill();
    assert_eq!(timeout(WAIT, instance.wait()).await.unwrap().exitcode, 137);
}

#[tokio::test]
async fn output_is_kept_until_the_first_reader_comes() {
    let rt = runtime();
    let (_, instance) = start(&rt, weir_tests::ARGS_TO_OUTPUT, json!({"k": "v"}));
    let end = timeout(WAIT, instance.wait()).await.unwrap();
    assert_eq!(end.exitcode, 0);
    assert_eq!(read_all(&instance).await, "{\"k\":\"v\"}\n");
}

#[tokio::test]
async fn one_failing_instance_leaves_others_running() {
    let rt = runtime();
    let (_, healthy) = start(
        &rt,
        weir_tests::COUNTER,
        json!({"interval_ms": 5, "count": 20}),
    );
    let (_, hog) = start(&rt, weir_tests::MEMORY_HOG, json!({}));
    let end = timeout(WAIT, hog.wait()).await.unwrap();
    assert_eq!(end.exitcode, 101, "{end:?}");
    assert!(
        end.reason.contains("memory limit of 256 MiB exceeded"),
        "{end:?}"
    );
    let expected: String = (1..=20).map(|i| format!("{i}\n")).collect();
    assert_eq!(read_all(&healthy).await, expected);
}
