//! A zero-work HTTP relay on weir's server stack (the same axum, hyper and
//! tokio, a multi-thread runtime as `weir serve` uses): the body of
//! `POST /relay` goes, chunk by chunk, to the `GET /relay` waiting for it,
//! through a channel bounded like an instance's pipe (16 × 64 KiB). No guest,
//! no copies of its own: the limit `tests/bench/relay-baseline.sh` measures the
//! hub's passthrough against.
//!
//! `cargo run --release -p weir --example relay -- 127.0.0.1:18600`

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use futures::StreamExt;
use tokio::sync::mpsc;

type Waiting = Arc<Mutex<Option<mpsc::Sender<Bytes>>>>;

/// `GET /relay`: waits for the next `POST /relay` and streams its body.
async fn take(State(waiting): State<Waiting>) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    *waiting.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(chunk), rx))
    }))
}

/// `POST /relay`: hands the body to the waiting reader.
async fn give(State(waiting): State<Waiting>, body: Body) -> StatusCode {
    let Some(tx) = waiting.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return StatusCode::CONFLICT;
    };
    let mut frames = body.into_data_stream();
    while let Some(Ok(chunk)) = frames.next().await {
        if tx.send(chunk).await.is_err() {
            return StatusCode::GONE;
        }
    }
    StatusCode::OK
}

fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18600".into());
    tokio::runtime::Runtime::new()?.block_on(async move {
        let waiting: Waiting = Arc::default();
        let app = Router::new()
            .route("/relay", get(take).post(give))
            .with_state(waiting);
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        println!("relay listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await
    })
}
