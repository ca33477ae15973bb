//! Hostile wasm, generated here with `wasm-encoder` (nothing checked in):
//! components whose core module traps or loops in its start function, and
//! modules shaped to make compiling slow or hungry, or to pass wasmparser's
//! limits. Each ends one instance or refuses one upload; the hub keeps serving.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wasm_encoder::{
    BlockType, CanonicalOption, CodeSection, ComponentBuilder, ComponentExportKind,
    ComponentValType, ExportKind, ExportSection, Function, FunctionSection, InstructionSink,
    MemorySection, MemoryType, Module, PrimitiveValType, StartSection, TypeSection, ValType,
};

use crate::support::hub::{TestHub, WAIT, json_of};
use crate::support::process::HubProcess;

/// A component of the `weir:plugin` sequence world that imports nothing.
/// Its core module exports `run` (which returns `ok` at once), runs `start`
/// as its start function if given, and holds the `extra` functions, each
/// `() -> ()`.
pub(crate) fn sequence_component<'a>(
    start: Option<&'a Function>,
    extra: impl IntoIterator<Item = &'a Function>,
) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], []);
    types.ty().function([], [ValType::I32]);
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    // `run` returns a pointer to its `result<_, string>`: zeroed memory is `ok`.
    functions.function(1);
    code.function(&body(|f| {
        f.i32_const(0);
    }));
    for function in start.into_iter().chain(extra) {
        functions.function(0);
        code.function(function);
    }
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: Some(1),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("run", ExportKind::Func, 0);
    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&memories)
        .section(&exports);
    if start.is_some() {
        module.section(&StartSection { function_index: 1 });
    }
    module.section(&code);
    lift_run(&module)
}

/// Wraps `module` in a component that instantiates it and exports its core
/// `run` as `run: func() -> result<_, string>`.
fn lift_run(module: &Module) -> Vec<u8> {
    let mut component = ComponentBuilder::default();
    let core = component.core_module(None, module);
    let instance = component.core_instantiate(None, core, Vec::new());
    let memory = component.core_alias_export(None, instance, "memory", ExportKind::Memory);
    let run = component.core_alias_export(None, instance, "run", ExportKind::Func);
    let (result, ty) = component.type_defined(None);
    ty.result(
        None,
        Some(ComponentValType::Primitive(PrimitiveValType::String)),
    );
    let (signature, mut ty) = component.type_function(None);
    ty.params(Vec::<(&str, ComponentValType)>::new())
        .result(Some(ComponentValType::Type(result)));
    let options = [CanonicalOption::Memory(memory), CanonicalOption::UTF8];
    let lifted = component.lift_func(None, run, signature, options);
    component.export("run", ComponentExportKind::Func, lifted, None);
    component.finish()
}

/// A function without locals whose body is `instructions`, then `end`.
pub(crate) fn body(instructions: impl FnOnce(&mut InstructionSink<'_>)) -> Function {
    let mut function = Function::new([]);
    instructions(&mut function.instructions());
    function.instructions().end();
    function
}

/// A function of `depth` nested empty `block`s: 3 bytes a level.
fn nested_blocks(depth: usize) -> Function {
    body(|f| {
        for _ in 0..depth {
            f.block(BlockType::Empty);
        }
        for _ in 0..depth {
            f.end();
        }
    })
}

/// A package holding `wasm` as its component.
pub(crate) fn package(name: &str, wasm: &[u8]) -> PathBuf {
    let manifest = format!("name = '{name}'\ncomponent = 'plugin.wasm'\n");
    crate::support::archive(
        name,
        &[("weir.toml", manifest.as_bytes()), ("plugin.wasm", wasm)],
    )
}

/// Uploads the package at `path` to the hub at `base` → status and body.
pub(crate) async fn upload(client: &Client, base: &str, path: &Path) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}/sequence"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(path).unwrap())
        .send()
        .await
        .unwrap();
    json_of(response).await
}

/// The hub at `base` is healthy, takes a normal upload and runs it.
async fn assert_still_serving(base: &str) {
    let client = Client::builder().timeout(WAIT).build().unwrap();
    let (status, health) =
        json_of(client.get(format!("{base}/health")).send().await.unwrap()).await;
    assert_eq!((status, &health["healthy"]), (StatusCode::OK, &json!(true)));
    let hello = tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::HELLO_DIR))
        .await
        .unwrap();
    let (status, sequence) = upload(&client, base, &hello).await;
    assert_eq!(status, StatusCode::OK, "{sequence}");
    let seq = sequence["id"].as_str().unwrap();
    let response = client
        .post(format!("{base}/sequence/{seq}/start"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, started) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let id = started["id"].as_str().unwrap();
    let input = client
        .post(format!("{base}/instance/{id}/input"))
        .header("content-type", "text/plain")
        .body("wasm\n")
        .send()
        .await
        .unwrap();
    assert_eq!(input.status(), StatusCode::OK);
    let output = client
        .get(format!("{base}/instance/{id}/output"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(output, "Hello wasm!\n");
}

/// Starts `seq` on `hub` with this client-chosen instance id in the
/// background: the start request answers only once the instance has left
/// its start function.
fn start_in_background(
    hub: &TestHub,
    seq: &str,
    body: Value,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let (client, url) = (
        hub.client.clone(),
        hub.url(&format!("/sequence/{seq}/start")),
    );
    tokio::spawn(async move { json_of(client.post(url).json(&body).send().await.unwrap()).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_traps_in_its_start_fails_to_start_and_the_hub_keeps_serving() {
    let hub = TestHub::start().await;
    let unreachable = body(|f| {
        f.unreachable();
    });
    let wasm = sequence_component(Some(&unreachable), []);
    // Loading links and checks the exports; the start function runs only
    // when an instance is made.
    let seq = hub.upload_file(&package("start-trap", &wasm)).await;
    let (status, body) = json_of(
        hub.post_json(&format!("/sequence/{seq}/start"), json!({}))
            .await,
    )
    .await;
    // The package is at fault, not the request: 422.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let reason = body["error"].as_str().unwrap();
    assert!(
        reason.starts_with("Sequence failed on start: ")
            && reason.ends_with("wasm trap: wasm `unreachable` instruction executed"),
        "{reason}"
    );
    let (_, instances) = json_of(hub.get(&format!("/sequence/{seq}/instances")).await).await;
    let id = instances[0].as_str().unwrap();
    let info = hub.info(id).await;
    assert_eq!(info["status"], "errored", "{info}");
    assert_eq!(
        info["terminated"],
        json!({ "exitcode": 22, "reason": reason })
    );
    assert_still_serving(&hub.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_loops_in_its_start_is_killed_within_a_second() {
    let hub = TestHub::start().await;
    let spin = body(|f| {
        f.loop_(BlockType::Empty).br(0).end();
    });
    let seq = hub
        .upload_file(&package("start-loop", &sequence_component(Some(&spin), [])))
        .await;
    let id = "5747a1c0-0000-4000-8000-000000001001";
    let start = start_in_background(&hub, &seq, json!({ "instanceId": id }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hub.info(id).await["status"], "starting");
    let killed = Instant::now();
    let response = hub
        .post_json(&format!("/instance/{id}/_kill"), json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let info = hub.wait_ended(id).await;
    let took = killed.elapsed();
    assert_eq!(info["status"], "completed", "{info}");
    assert_eq!(
        info["terminated"],
        json!({ "exitcode": 137, "reason": "Instance killed" })
    );
    assert!(
        took < Duration::from_secs(1),
        "ended {took:?} after the kill"
    );
    let (status, started) = tokio::time::timeout(WAIT, start).await.unwrap().unwrap();
    assert_eq!((status, &started["id"]), (StatusCode::OK, &json!(id)));
    assert_still_serving(&hub.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_loops_in_its_start_ends_at_its_cpu_or_time_limit() {
    let hub = TestHub::start().await;
    let spin = body(|f| {
        f.loop_(BlockType::Empty).br(0).end();
    });
    let seq = hub
        .upload_file(&package(
            "start-loop-limited",
            &sequence_component(Some(&spin), []),
        ))
        .await;
    let cases = [
        (
            "1",
            json!({ "cpuMs": 200 }),
            200,
            "CPU time limit of 200 ms exceeded",
        ),
        (
            "2",
            json!({ "timeoutMs": 300 }),
            300,
            "time limit of 300 ms exceeded",
        ),
    ];
    for (n, limits, ms, why) in cases {
        let id = format!("5747a1c0-0000-4000-8000-00000000200{n}");
        let started = Instant::now();
        let body = json!({ "instanceId": id, "limits": limits });
        tokio::time::timeout(
            Duration::from_secs(5),
            start_in_background(&hub, &seq, body),
        )
        .await
        .unwrap_or_else(|_| panic!("{limits}: the start request hangs"))
        .unwrap();
        let info = hub.wait_ended(&id).await;
        let took = started.elapsed();
        assert_eq!(info["status"], "errored", "{info}");
        let reason = info["terminated"]["reason"].as_str().unwrap();
        assert!(reason.ends_with(why), "{limits}: {reason}");
        let limit = Duration::from_millis(ms);
        assert!(
            took >= limit && took < limit + Duration::from_millis(1500),
            "{limits}: ended after {took:?}"
        );
    }
    assert_still_serving(&hub.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiling_100_000_nested_blocks_is_stopped_at_the_time_limit() {
    // Cranelift's time grows with the square of the nesting: 40,000 levels
    // take 4.5 s, 100,000 (300 KB of wasm) about 30 s on an idle core.
    let wasm = sequence_component(None, [&nested_blocks(100_000)]);
    let path = package("nested-blocks", &wasm);
    let server = HubProcess::start(&["--compile-timeout-secs", "3"], &[]);
    let client = Client::builder().timeout(WAIT).build().unwrap();
    let started = Instant::now();
    let (status, body) = upload(&client, &server.base, &path).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"],
        "the component does not compile: compiling took longer than 3 s"
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "refused after {took:?}"
    );
    let (_, sequences) = json_of(
        client
            .get(format!("{}/sequences", server.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(sequences, json!([]), "nothing of a refused upload is kept");
    assert_still_serving(&server.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiling_a_million_functions_is_stopped_at_the_memory_limit() {
    // 4 MB of wasm (wasmparser allows up to 1,000,000 functions) that
    // compiles to gigabytes of metadata and code.
    let empty = body(|_| {});
    let wasm = sequence_component(None, std::iter::repeat_n(&empty, 999_999));
    let path = package("million-functions", &wasm);
    let server = HubProcess::start(&["--compile-memory-mb", "256"], &[]);
    let client = Client::builder().timeout(WAIT).build().unwrap();
    let started = Instant::now();
    let (status, body) = upload(&client, &server.base, &path).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"],
        "the component does not compile: compiling needed more than 256 MiB"
    );
    assert!(took < Duration::from_secs(10), "refused after {took:?}");
    assert_still_serving(&server.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_past_wasmparsers_limits_are_refused_with_its_reason() {
    let hub = TestHub::start().await;
    let empty = body(|_| {});
    let mut many_locals = Function::new([(50_001, ValType::I64)]);
    many_locals.instructions().end();
    let wide_br_table = body(|f| {
        f.block(BlockType::Empty)
            .i32_const(0)
            .br_table(vec![0; 65_521], 0)
            .end();
    });
    let cases = [
        (
            "huge-function",
            // 2,600,000 nested blocks: 7.8 MB in one function.
            sequence_component(None, [&nested_blocks(2_600_000)]),
            "failed to parse WebAssembly module: function body size count exceeds limit of 7654321 (at offset 0x4b)",
        ),
        (
            "too-many-functions",
            sequence_component(None, std::iter::repeat_n(&empty, 1_000_000)),
            "failed to parse WebAssembly module: functions count exceeds limit of 1000000 (at offset 0x23)",
        ),
        (
            "too-many-locals",
            sequence_component(None, [&many_locals]),
            "failed to compile: wasm[0]::function[1]: WebAssembly translation error: Invalid input WebAssembly code at offset 67: too many locals: locals exceed maximum",
        ),
        (
            "wide-br-table",
            sequence_component(None, [&wide_br_table]),
            "failed to compile: wasm[0]::function[1]: WebAssembly translation error: Unsupported feature: `br_table` has 65521 targets, which exceeds the implementation limit of 65520",
        ),
    ];
    for (name, wasm, message) in cases {
        let (status, body) = upload(&hub.client, &hub.base, &package(name, &wasm)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(
            body["error"],
            format!("the component does not compile: {message}"),
            "{name}"
        );
    }
    let (_, sequences) = json_of(hub.get("/sequences").await).await;
    assert_eq!(sequences, json!([]), "nothing of a refused upload is kept");
    assert_still_serving(&hub.base).await;
}
