//! Runtime benchmarks through weir's public library API: compiling and
//! loading packages, starting instances, and pushing bytes through the
//! `passthrough` plugin against a native task in the same harness.
//!
//! ```sh
//! cargo bench -p weir --bench runtime
//! ```
//!
//! Results and how to read them are in `BENCHMARKS.md` at the workspace root.
// `criterion_group!` generates undocumented public items; a benchmark has no
// caller a `Result` could help, so a failed setup simply aborts the run.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use tokio::sync::mpsc;
use weir::runtime::{
    InputWriter, Instance, InstanceStatus, Program, Runtime, RuntimeConfig, StartOptions,
};
use weir::streams::{Overflow, Pipe};

/// Bytes pushed through a stream per iteration.
const STREAM_BYTES: usize = 64 << 20;
/// Size of each input chunk.
const CHUNK_BYTES: usize = 64 << 10;
/// Chunks in flight towards the stage, as in an instance's input channel.
const INPUT_CHUNKS: usize = 16;
/// Slots reserved by the pooling allocator.
const POOL_INSTANCES: u32 = 64;

/// The tokio runtimes the async benchmarks run on.
#[derive(Clone, Copy)]
enum Flavor {
    /// The default multi-thread runtime (one worker per core).
    MultiThread,
    /// One thread drives every task.
    CurrentThread,
}

impl Flavor {
    const ALL: [Flavor; 2] = [Flavor::MultiThread, Flavor::CurrentThread];

    fn name(self) -> &'static str {
        match self {
            Flavor::MultiThread => "multi_thread",
            Flavor::CurrentThread => "current_thread",
        }
    }

    fn build(self) -> tokio::runtime::Runtime {
        let mut builder = match self {
            Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        };
        builder.enable_all().build().expect("tokio runtime")
    }
}

fn runtime(pool_instances: Option<u32>, cache_dir: Option<PathBuf>) -> Runtime {
    Runtime::new(RuntimeConfig {
        pool_instances,
        cache_dir,
        ..RuntimeConfig::default()
    })
    .expect("weir runtime")
}

fn load(runtime: &Runtime, path: &str) -> Program {
    runtime.load(Path::new(path)).expect("component loads")
}

fn options() -> StartOptions {
    StartOptions {
        id: "bench".into(),
        ..StartOptions::default()
    }
}

/// `Runtime::load` without a cache: every call compiles the component.
fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    let runtime = runtime(None, None);
    for (name, path) in [
        ("passthrough", weir_tests::PASSTHROUGH),
        ("ndjson-map", weir_tests::NDJSON_MAP),
    ] {
        group.bench_function(name, |b| b.iter(|| load(&runtime, path)));
    }
    group.finish();
}

/// `Runtime::load` from a warm cache: read, hash and deserialize the artifact.
fn load_cached(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_cached");
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = runtime(None, Some(cache.path().to_path_buf()));
    for (name, path) in [
        ("passthrough", weir_tests::PASSTHROUGH),
        ("ndjson-map", weir_tests::NDJSON_MAP),
    ] {
        load(&runtime, path); // fills the cache
        group.bench_function(name, |b| b.iter(|| load(&runtime, path)));
    }
    group.finish();
}

/// Starts `program` and waits until its guest runs; returns the time that took.
async fn start_to_running(runtime: &Runtime, program: &Program) -> (Duration, Instance) {
    let started = Instant::now();
    let instance = runtime.start(program, options());
    let status = instance.wait_started().await;
    let elapsed = started.elapsed();
    assert_eq!(status, InstanceStatus::Running);
    (elapsed, instance)
}

async fn kill_and_wait(instance: &Instance) {
    instance.kill();
    let ended = instance.wait().await;
    assert_eq!(
        ended.exitcode,
        weir::runtime::EXIT_KILLED,
        "{}",
        ended.reason
    );
}

/// Instance start-up on one tokio flavor, with and without the pool.
fn instantiate(c: &mut Criterion) {
    for flavor in Flavor::ALL {
        let mut group = c.benchmark_group(format!("instantiate/{}", flavor.name()));
        group.measurement_time(Duration::from_secs(4));
        let rt = flavor.build();
        for (alloc, pool) in [("pooling", Some(POOL_INSTANCES)), ("on_demand", None)] {
            let runtime = runtime(pool, None);
            let passthrough = load(&runtime, weir_tests::PASSTHROUGH);
            let hello = load(&runtime, weir_tests::HELLO);
            instantiate_benches(&mut group, &rt, alloc, &runtime, &passthrough, &hello);
        }
        group.finish();
    }
}

fn instantiate_benches(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    alloc: &str,
    runtime: &Runtime,
    passthrough: &Program,
    hello: &Program,
) {
    group.bench_function(format!("start_to_running/{alloc}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (elapsed, instance) = start_to_running(runtime, passthrough).await;
                    total += elapsed;
                    kill_and_wait(&instance).await;
                }
                total
            })
        })
    });
    group.bench_function(format!("start_running_kill_ended/{alloc}"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let (_, instance) = start_to_running(runtime, passthrough).await;
                kill_and_wait(&instance).await;
            })
        })
    });
    group.bench_function(format!("hello_empty_input/{alloc}"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let instance = runtime.start(hello, options());
                instance.close_input();
                let ended = instance.wait().await;
                assert_eq!(ended.exitcode, 0, "{}", ended.reason);
            })
        })
    });
}

/// One chunk of real bytes, not calloc'd zero pages the kernel could back
/// with one page.
fn chunk() -> Bytes {
    (0..CHUNK_BYTES).map(|i| i as u8).collect()
}

/// Sends `STREAM_BYTES` into `input` in `CHUNK_BYTES` chunks.
async fn produce(input: InputWriter) {
    let chunk = chunk();
    for _ in 0..STREAM_BYTES / CHUNK_BYTES {
        input.send(chunk.clone()).await.expect("stage takes input");
    }
}

/// [`produce`] into the native stage's channel, then drops it.
async fn produce_native(input: mpsc::Sender<Bytes>) {
    let chunk = chunk();
    for _ in 0..STREAM_BYTES / CHUNK_BYTES {
        input.send(chunk.clone()).await.expect("stage takes input");
    }
}

/// Reads `output` to its end and returns the byte count.
async fn consume(output: Pipe) -> usize {
    let mut reader = output.reader();
    let mut total = 0;
    while let Some(chunk) = reader.next().await {
        total += chunk.len();
    }
    total
}

/// One pass of `STREAM_BYTES` through the passthrough guest.
async fn wasm_pass(runtime: &Runtime, program: &Program) {
    let instance = runtime.start(program, options());
    let input = instance.input().expect("open input");
    let reader = tokio::spawn(consume(instance.output().clone()));
    let writer = tokio::spawn(produce(input));
    writer.await.expect("producer");
    instance.close_input();
    assert_eq!(reader.await.expect("consumer"), STREAM_BYTES);
    let ended = instance.wait().await;
    assert_eq!(ended.exitcode, 0, "{}", ended.reason);
}

/// The same harness with a native task in place of the guest: it copies
/// each chunk into a fresh buffer, as the guest's output does.
async fn native_pass() {
    let (tx, mut rx) = mpsc::channel::<Bytes>(INPUT_CHUNKS);
    let output = Pipe::new(RuntimeConfig::default().pipe_capacity, Overflow::Block);
    let reader = tokio::spawn(consume(output.clone()));
    let stage = tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            if output.write(Bytes::copy_from_slice(&chunk)).await.is_err() {
                break;
            }
        }
        output.close();
    });
    let writer = tokio::spawn(produce_native(tx));
    writer.await.expect("producer");
    stage.await.expect("native stage");
    assert_eq!(reader.await.expect("consumer"), STREAM_BYTES);
}

/// The settings of the streaming groups: 10 samples over 6 s, counted in `throughput`.
fn streaming(group: &mut BenchmarkGroup<'_, WallTime>, throughput: Throughput) {
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(6))
        .throughput(throughput);
}

/// Bytes through `passthrough` in process, against the native stage.
fn passthrough(c: &mut Criterion) {
    for flavor in Flavor::ALL {
        let mut group = c.benchmark_group(format!("passthrough/{}", flavor.name()));
        streaming(&mut group, Throughput::Bytes(STREAM_BYTES as u64));
        let rt = flavor.build();
        let runtime = runtime(None, None);
        let program = load(&runtime, weir_tests::PASSTHROUGH);
        group.bench_function("wasm", |b| {
            b.iter(|| rt.block_on(wasm_pass(&runtime, &program)))
        });
        group.bench_function("native", |b| b.iter(|| rt.block_on(native_pass())));
        group.finish();
    }
}

/// Records per pass of the ndjson map.
const MAP_RECORDS: usize = 200_000;

/// The record `tests/fixtures/bench-map` maps, and its map: the same code as the guest's.
#[derive(serde::Deserialize, serde::Serialize)]
struct Record {
    id: u64,
    name: String,
    n: i64,
}

fn map_record(record: Record) -> weir_sdk::Result<Record> {
    Ok(Record {
        name: record.name.to_uppercase(),
        n: record.n * 2,
        ..record
    })
}

/// `MAP_RECORDS` ndjson records `{id, name, n}`, in chunks of at most `CHUNK_BYTES` cut
/// at line ends (as a client's writes would come).
fn ndjson_chunks() -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let mut chunk = Vec::with_capacity(CHUNK_BYTES);
    for i in 0..MAP_RECORDS {
        let line = format!(
            "{{\"id\":{i},\"name\":\"record number {i}\",\"n\":{}}}\n",
            i % 1000
        );
        if chunk.len() + line.len() > CHUNK_BYTES {
            chunks.push(Bytes::from(std::mem::take(&mut chunk)));
        }
        chunk.extend_from_slice(line.as_bytes());
    }
    chunks.push(Bytes::from(chunk));
    chunks
}

/// One pass of the records through the `bench-map` guest; the output's line count checked.
async fn wasm_map(runtime: &Runtime, program: &Program, chunks: &[Bytes]) {
    let instance = runtime.start(program, options());
    let input = instance.input().expect("open input");
    let mut reader = instance.output().reader();
    let lines = tokio::spawn(async move {
        let mut lines = 0;
        while let Some(chunk) = reader.next().await {
            lines += memchr_count(&chunk);
        }
        lines
    });
    let chunks = chunks.to_vec();
    let writer = tokio::spawn(async move {
        for chunk in chunks {
            input.send(chunk).await.expect("stage takes input");
        }
    });
    writer.await.expect("producer");
    instance.close_input();
    assert_eq!(lines.await.expect("consumer"), MAP_RECORDS);
    let ended = instance.wait().await;
    assert_eq!(ended.exitcode, 0, "{}", ended.reason);
}

fn memchr_count(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// The same map compiled natively: the SDK's `map_records` over the same bytes, in memory.
fn native_map(input: &[u8], output: &mut Vec<u8>) {
    output.clear();
    weir_sdk::transform::map_records(input, &mut *output, map_record).expect("records map");
    assert_eq!(memchr_count(output), MAP_RECORDS);
}

/// Records through `bench-map` in process, against the same map compiled natively.
fn ndjson_map(c: &mut Criterion) {
    let chunks = ndjson_chunks();
    let whole: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    for flavor in Flavor::ALL {
        let mut group = c.benchmark_group(format!("ndjson_map/{}", flavor.name()));
        streaming(&mut group, Throughput::Elements(MAP_RECORDS as u64));
        let rt = flavor.build();
        let runtime = runtime(None, None);
        let program = load(&runtime, weir_tests::BENCH_MAP);
        group.bench_function("wasm", |b| {
            b.iter(|| rt.block_on(wasm_map(&runtime, &program, &chunks)))
        });
        group.finish();
    }
    let mut group = c.benchmark_group("ndjson_map");
    streaming(&mut group, Throughput::Elements(MAP_RECORDS as u64));
    let mut output = Vec::with_capacity(whole.len() + whole.len() / 4);
    group.bench_function("native", |b| b.iter(|| native_map(&whole, &mut output)));
    group.finish();
}

criterion_group!(
    benches,
    compile,
    load_cached,
    instantiate,
    passthrough,
    ndjson_map
);
criterion_main!(benches);
