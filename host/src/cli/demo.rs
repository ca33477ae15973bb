//! `weir demo`: start a hub and run a real example end to end through its
//! HTTP API — pack `plugins/hello`, upload it, start an instance, send input,
//! read the output — then keep the hub running to explore.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::pack::{PackArgs, pack};
use crate::api::{self, AppState};
use crate::client::{HubClient, InstanceStream, StartRequest};
use crate::hub::{Hub, HubConfig};

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
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let hub = Hub::open(HubConfig::new(&args.data_dir))
            .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {} (is a hub already running? try --listen 127.0.0.1:0)", args.listen))?;
        let addr = listener.local_addr()?;
        let state = AppState { hub, token: None, listen: addr.to_string() };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(api::serve(listener, state, async move {
            let _ = stop_rx.await;
        }));
        eprintln!("2. hub listening on http://{addr} (data in {})", args.data_dir.display());
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
        if args.exit {
            let _ = stop_tx.send(());
        } else {
            eprintln!("\nThe hub keeps running: try `weir seq list` or `curl http://{addr}/api/v1/help`. Ctrl-C stops it.");
            tokio::signal::ctrl_c().await?;
            let _ = stop_tx.send(());
        }
        server.await??;
        Ok(ExitCode::SUCCESS)
    })
}
