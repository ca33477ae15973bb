//! `weir demo`: start a hub and run real examples end to end through its
//! HTTP API — pack `plugins/hello`, upload it, start an instance, send input,
//! read the output; then render a `plugins/mandelbrot` job on the hub's own
//! slots and download its frames — then keep the hub running to explore.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::pack::{PackArgs, pack};
use crate::api::{self, AppState};
use crate::client::{HubClient, InstanceStream, StartRequest, SubmitJob};
use crate::hub::{DEFAULT_SHUTDOWN_TIMEOUT, Hub, HubConfig};

/// Arguments of `weir demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address the hub listens on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// The hub's data directory.
    #[arg(long, default_value = "./weir-data")]
    pub data_dir: PathBuf,
    /// The plugin to deploy (a plugin directory).
    #[arg(long, default_value = "plugins/hello")]
    pub plugin: PathBuf,
    /// Input lines to send.
    #[arg(long, default_value = "world\nweir\n")]
    pub input: String,
    /// The render plugin of the job example (a plugin directory).
    #[arg(long, default_value = "plugins/mandelbrot")]
    pub render_plugin: PathBuf,
    /// Where the job example's frames are written.
    #[arg(long, default_value = "./weir-demo-frames")]
    pub frames_dir: PathBuf,
    /// Stop the hub after the example instead of serving on.
    #[arg(long)]
    pub exit: bool,
}

/// Runs the demo.
pub fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let work = tempfile::tempdir()?;
    let package = work.path().join("demo.tar.gz");
    eprintln!(
        "1. weir pack {} (building it for wasm32-wasip2)",
        args.plugin.display()
    );
    pack(&PackArgs {
        dir: args.plugin.clone(),
        output: Some(package.clone()),
    })?;
    let render_package = work.path().join("render.tar.gz");
    eprintln!("   weir pack {}", args.render_plugin.display());
    pack(&PackArgs {
        dir: args.render_plugin.clone(),
        output: Some(render_package.clone()),
    })?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let hub = Hub::open(HubConfig::new(&args.data_dir))
            .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {} (is a hub already running? try --listen 127.0.0.1:0)", args.listen))?;
        let addr = listener.local_addr()?;
        let state = AppState {
            hub: hub.clone(),
            token: None,
            read_token: None,
            metrics_open: false,
            listen: addr.to_string(),
            space: None,
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(api::serve(listener, state, async move {
            let _ = stop_rx.await;
        }));
        eprintln!(
            "2. hub listening on http://{addr} (data in {}); dashboard: http://{addr}/",
            args.data_dir.display()
        );
        let client = HubClient::new(&format!("http://{addr}"), None)?;
        let sequence = client.send_sequence(tokio::fs::File::open(&package).await?).await?;
        eprintln!("3. POST /api/v1/sequence → {}", sequence.id);
        let started = client.start(&sequence.id, &StartRequest::default()).await?;
        let id = started.id;
        eprintln!("4. POST /api/v1/sequence/{}/start → instance {id}", sequence.id);
        let mut output = client.stream(&id, InstanceStream::Output).await?;
        client.input(&id, std::io::Cursor::new(args.input.clone().into_bytes()), "text/plain", true).await?;
        eprintln!("5. POST /api/v1/instance/{id}/input {:?}", args.input);
        eprintln!("6. GET /api/v1/instance/{id}/output:");
        let mut stdout = tokio::io::stdout();
        while let Some(chunk) = output.next().await {
            stdout.write_all(&chunk?).await?;
        }
        stdout.flush().await?;
        let info = client.instance(&id).await?;
        if let Some(end) = &info.terminated {
            eprintln!("7. the instance ended: {}", serde_json::to_string(end)?);
        }
        render_example(&client, &render_package, &args.frames_dir).await?;
        if args.exit {
            let _ = stop_tx.send(());
        } else {
            eprintln!("\nThe hub keeps running: open the dashboard at http://{addr}/, or try `weir seq list`, `weir job list` or `curl http://{addr}/api/v1/help`. Ctrl-C or `weir hub shutdown` stops it.");
            let deadline = tokio::select! {
                interrupted = tokio::signal::ctrl_c() => {
                    interrupted?;
                    DEFAULT_SHUTDOWN_TIMEOUT
                }
                deadline = hub.shutdown_requested() => deadline,
            };
            hub.stop_instances(deadline).await;
            let _ = stop_tx.send(());
        }
        server.await??;
        Ok(ExitCode::SUCCESS)
    })
}

/// Uploads the render package, renders 8 small frames on the hub's own
/// slots and downloads them.
async fn render_example(
    client: &HubClient,
    package: &std::path::Path,
    frames_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let sequence = client
        .send_sequence(tokio::fs::File::open(package).await?)
        .await?;
    let settings = serde_json::json!({"width": 160, "height": 120});
    let job = client
        .submit_job(&SubmitJob {
            package: Some(sequence.id.clone()),
            frames: Some(crate::client::FrameSpec::Text("1-8".into())),
            settings: Some(settings),
            chunk_size: Some(2),
            ..SubmitJob::default()
        })
        .await?;
    eprintln!(
        "8. POST /api/v1/jobs {{package: {}, frames: \"1-8\", chunkSize: 2}} → job {} ({} tasks)",
        job.package.name, job.id, job.tasks_total
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let job = loop {
        let job = client.job(&job.id).await?;
        if matches!(job.state.as_str(), "completed" | "failed" | "canceled") {
            break job;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the render job did not finish in 2 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    anyhow::ensure!(
        job.state == "completed",
        "the render job ended {}: {:?}",
        job.state,
        job.errors
    );
    tokio::fs::create_dir_all(frames_dir).await?;
    let artifacts = client.job_artifacts(&job.id).await?;
    for artifact in &artifacts {
        client
            .download_artifact(&job.id, &artifact.name, &frames_dir.join(&artifact.name))
            .await?;
    }
    eprintln!(
        "9. GET /api/v1/jobs/{}/artifacts/… → {} PNG frames in {}",
        job.id,
        artifacts.len(),
        frames_dir.display()
    );
    println!(
        "rendered {} frames: {}",
        artifacts.len(),
        artifacts
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}
