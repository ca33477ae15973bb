//! What the hub client commands (`seq`, `inst`, `topic`, `hub`) share: the client,
//! the session, a runtime, and printing.

use std::future::Future;
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::pin::Pin;

use anyhow::Context;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWriteExt};

use super::session::Session;
use crate::client::{ByteStream, HubClient};

/// A local body to upload: a file or stdin.
pub(crate) type Upload = Pin<Box<dyn AsyncRead + Send>>;

/// A hub client command's context: the client, the `--json` flag and the
/// remembered ids.
pub(crate) struct Remote {
    pub(crate) client: HubClient,
    pub(crate) json: bool,
    pub(crate) session: Session,
}

impl Remote {
    /// Connects (lazily) to `hub` and loads the session.
    pub(crate) fn new(hub: &str, token: Option<String>, json: bool) -> anyhow::Result<Self> {
        Ok(Self {
            client: HubClient::new(hub, token)?,
            json,
            session: Session::load(),
        })
    }

    /// Prints `value` as JSON with `--json`, else the text `human` makes of it.
    pub(crate) fn print<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            print_json(value)
        } else {
            print_text(&human(value))
        }
    }
}

/// Runs `command` on a runtime made for it.
pub(crate) fn block_on(command: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(command);
    // stdin may still be blocked in a read no one wants any more.
    runtime.shutdown_background();
    result
}

/// `path`'s contents, or stdin when there is no path or it is `-`.
pub(crate) async fn open(path: Option<&Path>) -> anyhow::Result<Upload> {
    match path {
        None => Ok(Box::pin(tokio::io::stdin())),
        Some(path) if path.as_os_str() == "-" => Ok(Box::pin(tokio::io::stdin())),
        Some(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            Ok(Box::pin(file))
        }
    }
}

/// Copies a hub stream to stdout as it arrives, until the hub ends it (or
/// stdout's reader goes away).
pub(crate) async fn copy_to_stdout(mut stream: ByteStream) -> anyhow::Result<()> {
    let mut stdout = tokio::io::stdout();
    while let Some(chunk) = stream.next().await {
        let written = async {
            stdout.write_all(&chunk?).await?;
            stdout.flush().await?;
            anyhow::Ok(())
        };
        if let Err(e) = written.await {
            return quiet_broken_pipe(e);
        }
    }
    Ok(())
}

/// Prints `text`, adding a newline unless it is empty or has one.
pub(crate) fn print_text(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let result = if text.is_empty() || text.ends_with('\n') {
        stdout.write_all(text.as_bytes())
    } else {
        writeln!(stdout, "{text}")
    };
    result.or_else(|e| quiet_broken_pipe(e.into()))
}

/// Prints `value` as pretty JSON.
pub(crate) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    print_text(&serde_json::to_string_pretty(value)?)
}

/// `value` for a person: a string as it is, anything else as JSON.
pub(crate) fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Rows under a header, in columns as wide as their widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text += &line(row.iter().map(String::as_str).collect());
    }
    text
}

/// `name  value` lines, values aligned; empty values are left out.
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name:<width$}  {value}\n"))
        .collect()
}

/// A reader that stopped listening (`weir inst output x | head`) is not an
/// error.
fn quiet_broken_pipe(e: anyhow::Error) -> anyhow::Result<()> {
    match e.downcast_ref::<std::io::Error>() {
        Some(io) if io.kind() == ErrorKind::BrokenPipe => Ok(()),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["a1".to_string(), "hello".to_string(), "2".to_string()],
            vec!["b".to_string(), "x".to_string(), String::new()],
        ];
        assert_eq!(
            table(&["ID", "NAME", "N"], &rows),
            "ID  NAME   N\na1  hello  2\nb   x\n"
        );
    }

    #[test]
    fn fields_skip_empty_values() {
        let text = fields(&[
            ("id", "x".into()),
            ("ended", String::new()),
            ("status", "ok".into()),
        ]);
        assert_eq!(text, "id      x\nstatus  ok\n");
    }
}
