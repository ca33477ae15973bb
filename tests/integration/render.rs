//! Render components driven in-process: `Runtime::render` on the mandelbrot plugin and
//! the render-test fixture (failures, traps, retries, cancellation, timeouts, limits).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use weir::runtime::{
    Artifact, FrameRequest, Program, RenderError, RenderOptions, Runtime, RuntimeConfig,
};

const WAIT: Duration = Duration::from_secs(20);

fn runtime_with_memory(max_memory_bytes: usize) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(crate::support::scratch().join("components")),
        pool_instances: Some(8),
        max_memory_bytes,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn load(wasm: &str) -> (Runtime, Program) {
    let runtime = runtime_with_memory(RuntimeConfig::default().max_memory_bytes);
    let program = runtime.load(wasm.as_ref()).unwrap();
    (runtime, program)
}

fn request(frame: i64, attempt: u32, settings: Value) -> FrameRequest {
    FrameRequest {
        job_id: "job-1".into(),
        frame,
        attempt,
        settings: settings.to_string(),
    }
}

async fn render(
    runtime: &Runtime,
    program: &Program,
    frame: i64,
    settings: Value,
) -> Result<Vec<Artifact>, RenderError> {
    render_with(
        runtime,
        program,
        request(frame, 1, settings),
        &Default::default(),
    )
    .await
}

async fn render_with(
    runtime: &Runtime,
    program: &Program,
    request: FrameRequest,
    options: &RenderOptions,
) -> Result<Vec<Artifact>, RenderError> {
    timeout(WAIT, runtime.render(program, request, options))
        .await
        .expect("the frame ends in time")
}

fn only(artifacts: Vec<Artifact>) -> Artifact {
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    artifacts.into_iter().next().unwrap()
}

fn decode_png(data: &[u8]) -> (png::OutputInfo, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(data))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    (info, pixels)
}

#[tokio::test]
async fn a_render_component_loads_as_render() {
    let (_, program) = load(weir_tests::MANDELBROT);
    assert_eq!(program.entry_kind(), "render");
    assert!(program.is_render());
    let (_, sequence) = load(weir_tests::HELLO);
    assert!(!sequence.is_render());
}

#[tokio::test]
async fn mandelbrot_frames_are_pngs_of_the_requested_size() {
    let (rt, program) = load(weir_tests::MANDELBROT);
    let settings = json!({"width": 64, "height": 48, "max_iter": 100});
    let artifact = only(render(&rt, &program, 7, settings).await.unwrap());
    assert_eq!(artifact.name, "frame-000007.png");
    assert_eq!(artifact.media_type, "image/png");
    let (info, pixels) = decode_png(&artifact.data);
    assert_eq!((info.width, info.height), (64, 48));
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert_eq!(pixels.len(), 64 * 48 * info.color_type.samples());
    // Not a blank image: the set's black and the coloured outside are both there.
    assert!(pixels.contains(&0) && pixels.iter().any(|&b| b > 64));
}

#[tokio::test]
async fn mandelbrot_defaults_render_320_by_240() {
    let (rt, program) = load(weir_tests::MANDELBROT);
    let artifact = only(render(&rt, &program, 0, json!({})).await.unwrap());
    assert_eq!(artifact.name, "frame-000000.png");
    let (info, _) = decode_png(&artifact.data);
    assert_eq!((info.width, info.height), (320, 240));
}

#[tokio::test]
async fn mandelbrot_is_deterministic_and_frames_differ() {
    let (rt, program) = load(weir_tests::MANDELBROT);
    let settings = json!({"width": 40, "height": 30});
    let first = only(render(&rt, &program, 3, settings.clone()).await.unwrap());
    let again = only(render(&rt, &program, 3, settings.clone()).await.unwrap());
    let next = only(render(&rt, &program, 4, settings).await.unwrap());
    assert_eq!(
        first.data, again.data,
        "the same frame renders the same bytes"
    );
    assert_ne!(first.data, next.data, "consecutive zoom steps differ");
}

#[tokio::test]
async fn mandelbrot_rejects_bad_settings_with_the_reason() {
    let (rt, program) = load(weir_tests::MANDELBROT);
    let cases = [
        (
            json!({"width": 0}),
            "invalid settings: width must be between 1 and 8192, got 0",
        ),
        (
            json!({"height": 9000}),
            "invalid settings: height must be between 1 and 8192, got 9000",
        ),
        (
            json!({"max_iter": 2_000_000}),
            "invalid settings: max_iter must be between 1 and 1000000, got 2000000",
        ),
        (
            json!({"zoom_per_frame": 0}),
            "invalid settings: zoom_per_frame must be a positive number, got 0",
        ),
    ];
    for (settings, message) in cases {
        match render(&rt, &program, 1, settings).await {
            Err(RenderError::Failed(m)) => assert_eq!(m, message),
            other => panic!("expected Failed({message}), got {other:?}"),
        }
    }
    match render(&rt, &program, 1, json!({"width": "wide"})).await {
        Err(RenderError::Failed(m)) => {
            // The setting at fault is named.
            assert!(
                m.starts_with("invalid settings: `width`: invalid type: string \"wide\""),
                "{m}"
            )
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn mandelbrot_reports_progress_per_band_up_to_one() {
    let (rt, program) = load(weir_tests::MANDELBROT);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let options = RenderOptions {
        on_progress: Some(Arc::new(move |f| sink.lock().unwrap().push(f))),
        ..Default::default()
    };
    let settings = json!({"width": 16, "height": 64});
    render_with(&rt, &program, request(1, 1, settings), &options)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 16, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&1.0));
}

#[tokio::test]
async fn fixture_renders_a_text_file_per_frame() {
    let (rt, program) = load(weir_tests::RENDER_TEST);
    let artifact = only(render(&rt, &program, 12, json!({})).await.unwrap());
    assert_eq!(artifact.name, "frame-000012.txt");
    assert_eq!(artifact.media_type, "text/plain");
    assert_eq!(artifact.data, b"frame 12\n");
    let three = render(&rt, &program, -2, json!({"artifacts": 3}))
        .await
        .unwrap();
    let names: Vec<_> = three.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "frame--00002.txt",
            "frame--00002-1.txt",
            "frame--00002-2.txt"
        ]
    );
}

#[tokio::test]
async fn a_failing_frame_is_failed_with_the_plugins_message() {
    let (rt, program) = load(weir_tests::RENDER_TEST);
    let settings = json!({"fail_frames": [2, 5]});
    match render(&rt, &program, 5, settings.clone()).await {
        Err(RenderError::Failed(m)) => assert_eq!(m, "frame 5 fails on purpose"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(render(&rt, &program, 3, settings).await.is_ok());
}

#[tokio::test]
async fn a_panicking_frame_is_trapped_with_the_panic_message() {
    let (rt, program) = load(weir_tests::RENDER_TEST);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let options = RenderOptions {
        on_log: Some(Arc::new(move |level: &str, line: &str| {
            sink.lock().unwrap().push(format!("{level} {line}"))
        })),
        ..Default::default()
    };
    let req = request(4, 1, json!({"trap_frames": [4]}));
    match render_with(&rt, &program, req, &options).await {
        Err(RenderError::Trapped(m)) => {
            assert!(
                m.starts_with("panicked at tests/fixtures/render-test/src/lib.rs:"),
                "{m}"
            );
            assert!(m.ends_with(": frame 4 traps on purpose"), "{m}");
        }
        other => panic!("expected Trapped, got {other:?}"),
    }
    let lines = lines.lock().unwrap();
    assert!(
        lines.iter().any(|l| l == "warn frame 4 traps on purpose"),
        "stderr reaches on_log as warn lines: {lines:?}"
    );
}

#[tokio::test]
async fn fail_attempts_fails_early_attempts_and_then_succeeds() {
    let (rt, program) = load(weir_tests::RENDER_TEST);
    let options = RenderOptions::default();
    for attempt in 1..=2 {
        let req = request(9, attempt, json!({"fail_attempts": 2}));
        match render_with(&rt, &program, req, &options).await {
            Err(RenderError::Failed(m)) => {
                assert_eq!(m, format!("attempt {attempt} of frame 9 fails on purpose"))
            }
            other => panic!("attempt {attempt}: expected Failed, got {other:?}"),
        }
    }
    let req = request(9, 3, json!({"fail_attempts": 2}));
    let artifact = only(render_with(&rt, &program, req, &options).await.unwrap());
    assert_eq!(artifact.data, b"frame 9\n");
}

#[tokio::test]
async fn cancel_stops_a_hanging_frame_within_a_second() {
    let (rt, program) = load(weir_tests::RENDER_TEST);
    let cancel = CancellationToken::new();
    let options = RenderOptions {
        cancel: Some(cancel.clone()),
        ..Default::default()
    };
    let canceller = cancel.clone();
    let cancelled_at = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        canceller.cancel();
        Instant::now()
    });
    let req = request(1, 1, json!({"hang_frames": [1]}));
    let result = render_with(&rt, &program, req, &options).await;
    let returned_at = Instant::now();
    assert!(matches!(result, Err(RenderError::Canceled)), "{result:?}");
    let took = returned_at - cancelled_at.await.unwrap();
    assert!(
        took < Duration::from_secs(1),
        "returned {took:?} after cancel"
    );
    // An already cancelled token does not even start the frame.
    let req = request(2, 1, json!({}));
    let again = render_with(&rt, &program, req, &options).await;
    assert!(matches!(again, Err(RenderError::Canceled)), "{again:?}");
}

#[tokio::test]
async fn a_hanging_frame_times_out() {
    let (rt, program) = load(weir_tests::RENDER_TEST);
    let limit = Duration::from_millis(300);
    let options = RenderOptions {
        timeout: Some(limit),
        ..Default::default()
    };
    let started = Instant::now();
    let req = request(1, 1, json!({"hang_frames": [1]}));
    match render_with(&rt, &program, req, &options).await {
        Err(RenderError::TimedOut(d)) => assert_eq!(d, limit),
        other => panic!("expected TimedOut, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= limit && took < limit + Duration::from_secs(1),
        "{took:?}"
    );
}

#[tokio::test]
async fn spinning_reports_progress_between_zero_and_one() {
    let (rt, program) = load(weir_tests::RENDER_TEST);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let options = RenderOptions {
        on_progress: Some(Arc::new(move |f| sink.lock().unwrap().push(f))),
        ..Default::default()
    };
    let started = Instant::now();
    let req = request(1, 1, json!({"spin_ms": 100}));
    render_with(&rt, &program, req, &options).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen.iter().all(|f| (0.0..=1.0).contains(f)), "{seen:?}");
    assert_eq!(seen.last(), Some(&1.0));
}

#[tokio::test]
async fn a_sequence_is_not_a_render_component() {
    let (rt, program) = load(weir_tests::HELLO);
    let result = render(&rt, &program, 1, json!({})).await;
    assert!(matches!(result, Err(RenderError::NotRender)), "{result:?}");
}

#[tokio::test]
async fn a_render_component_cannot_start_as_an_instance() {
    let (rt, program) = load(weir_tests::RENDER_TEST);
    let instance = rt.start(
        &program,
        weir::runtime::StartOptions {
            id: "render-as-instance".into(),
            ..Default::default()
        },
    );
    let end = timeout(WAIT, instance.wait()).await.unwrap();
    assert_eq!(end.exitcode, weir::runtime::EXIT_START_FAILED, "{end:?}");
    assert!(end.reason.contains("render jobs"), "{end:?}");
}

#[tokio::test]
async fn artifacts_with_bad_names_are_invalid() {
    let (rt, program) = load(weir_tests::RENDER_TEST);
    for name in ["../escape.txt", ".hidden", "a b", ""] {
        match render(&rt, &program, 1, json!({"artifact_name": name})).await {
            Err(RenderError::Invalid(m)) => {
                assert!(m.contains(&format!("{name:?} is not allowed")), "{m}")
            }
            other => panic!("{name:?}: expected Invalid, got {other:?}"),
        }
    }
    // The first extra file is always `frame-000001-1.txt`: naming the first one so too
    // makes a duplicate.
    let settings = json!({"artifact_name": "frame-000001-1.txt", "artifacts": 2});
    match render(&rt, &program, 1, settings).await {
        Err(RenderError::Invalid(m)) => {
            assert_eq!(m, "two artifacts are named frame-000001-1.txt")
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn a_frame_over_the_memory_limit_traps_with_the_limit() {
    let rt = runtime_with_memory(32 << 20);
    let program = rt.load(weir_tests::RENDER_TEST.as_ref()).unwrap();
    match render(&rt, &program, 1, json!({"alloc_mb": 64})).await {
        Err(RenderError::Trapped(m)) => assert_eq!(m, "memory limit of 32 MiB exceeded"),
        other => panic!("expected Trapped, got {other:?}"),
    }
    // The limit is per frame: the next one starts afresh.
    assert!(
        render(&rt, &program, 2, json!({"alloc_mb": 8}))
            .await
            .is_ok()
    );
}

#[test]
fn weir_render_renders_frames_locally_into_a_directory() {
    let package = crate::support::pack(weir_tests::MANDELBROT_DIR);
    let out = tempfile::tempdir().unwrap();
    let rendered = crate::support::weir()
        .arg("render")
        .arg(&package)
        .args([
            "--frames",
            "2-3",
            "--set",
            "width=32",
            "--set",
            "height=24",
            "-o",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&rendered.stderr);
    assert!(rendered.status.success(), "{stderr}");
    for frame in [2, 3] {
        let png = std::fs::read(out.path().join(format!("frame-{frame:06}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "frame {frame}");
        assert!(stderr.contains(&format!("frame {frame}: ")), "{stderr}");
    }
    // A sequence package is `weir run`'s.
    let hello = crate::support::pack(weir_tests::HELLO_DIR);
    let refused = crate::support::weir()
        .arg("render")
        .arg(&hello)
        .args(["--frames", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("`weir run` runs it"),
        "{stderr}"
    );
}
