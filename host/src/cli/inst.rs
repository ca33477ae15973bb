//! `weir inst …`: look at instances on a hub, feed and read their streams,
//! send and wait for events, stop and kill them.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use super::remote::{self, Remote};
use crate::client::{EventWait, InstanceInfo, InstanceStream};

/// The `weir inst` subcommands. An instance id of `-` means the last one used.
#[derive(Debug, clap::Subcommand)]
pub enum InstCommand {
    /// List the instances on the hub.
    #[command(alias = "ls")]
    List,
    /// Show an instance: its sequence, status and how it ended.
    Info {
        /// The instance id.
        id: String,
    },
    /// Show an instance's health report.
    Health {
        /// The instance id.
        id: String,
    },
    /// Send FILE (or stdin) to the instance's input, streamed.
    Input {
        /// The instance id.
        id: String,
        /// The data to send (default: stdin).
        file: Option<PathBuf>,
        /// What the data is.
        #[arg(short = 't', long, default_value = "text/plain", value_name = "CT")]
        content_type: String,
        /// Close the input afterwards (without it, later `inst input` calls may add more).
        #[arg(short, long)]
        end: bool,
    },
    /// Send FILE (or stdin) to the plugin's stdin, streamed.
    Stdin {
        /// The instance id.
        id: String,
        /// The data to send (default: stdin).
        file: Option<PathBuf>,
        /// Close the plugin's stdin afterwards.
        #[arg(short, long)]
        end: bool,
    },
    /// Print the instance's output as it comes, until it ends.
    Output {
        /// The instance id.
        id: String,
    },
    /// Print the plugin's stdout as it comes, until it ends.
    Stdout {
        /// The instance id.
        id: String,
    },
    /// Print the plugin's stderr as it comes, until it ends.
    Stderr {
        /// The instance id.
        id: String,
    },
    /// Print the instance's log (JSON lines) as it comes, until it ends.
    Log {
        /// The instance id.
        id: String,
    },
    /// Send events to the plugin, or wait for events it emits.
    #[command(subcommand)]
    Event(EventCommand),
    /// Ask the plugin to stop; it is killed if it has not within the timeout.
    Stop {
        /// The instance id.
        id: String,
        /// Milliseconds the plugin has to stop.
        #[arg(long, default_value_t = 7000, value_name = "MS")]
        timeout: u64,
    },
    /// Kill the instance at once.
    Kill {
        /// The instance id.
        id: String,
        /// Remove it from the hub as soon as it has ended.
        #[arg(long)]
        remove_immediately: bool,
    },
}

/// The `weir inst event` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum EventCommand {
    /// Send event NAME to the plugin; MESSAGE is JSON, or else taken as a string.
    #[command(alias = "invoke")]
    Emit {
        /// The instance id.
        id: String,
        /// The event name.
        name: String,
        /// The message, e.g. '{"n": 1}', '"text"' or just text.
        message: Option<String>,
    },
    /// Wait for event NAME from the plugin and print its message: the last
    /// one emitted (or the next, if none yet).
    On {
        /// The instance id.
        id: String,
        /// The event name.
        name: String,
        /// Wait for the next emission, ignoring earlier ones.
        #[arg(short, long, conflicts_with = "stream")]
        next: bool,
        /// Print every message from now on, one per line, until interrupted.
        #[arg(short, long)]
        stream: bool,
    },
}

/// Runs a `weir inst` subcommand.
pub(crate) fn run(command: InstCommand, remote: Remote) -> anyhow::Result<()> {
    use InstCommand as C;
    match command {
        C::List => remote::block_on(list(&remote)),
        C::Info { id } => with_instance(remote, &id, info),
        C::Health { id } => with_instance(remote, &id, health),
        C::Input {
            id,
            file,
            content_type,
            end,
        } => with_instance(remote, &id, async |remote: &mut Remote, id: &str| {
            let body = remote::open(file.as_deref()).await?;
            remote.client.input(id, body, &content_type, end).await?;
            remote.session.use_instance(id);
            Ok(())
        }),
        C::Stdin { id, file, end } => {
            with_instance(remote, &id, async |remote: &mut Remote, id: &str| {
                let body = remote::open(file.as_deref()).await?;
                remote.client.stdin(id, body, end).await?;
                remote.session.use_instance(id);
                Ok(())
            })
        }
        C::Output { id } => read(remote, &id, InstanceStream::Output),
        C::Stdout { id } => read(remote, &id, InstanceStream::Stdout),
        C::Stderr { id } => read(remote, &id, InstanceStream::Stderr),
        C::Log { id } => read(remote, &id, InstanceStream::Log),
        C::Event(EventCommand::Emit { id, name, message }) => {
            let message = message.as_deref().map(parse_message);
            with_instance(remote, &id, async |remote: &mut Remote, id: &str| {
                emit(remote, id, &name, message.as_ref()).await
            })
        }
        C::Event(EventCommand::On {
            id,
            name,
            next,
            stream,
        }) => with_instance(remote, &id, async |remote: &mut Remote, id: &str| {
            on_event(remote, id, &name, next, stream).await
        }),
        C::Stop { id, timeout } => {
            with_instance(remote, &id, async |remote: &mut Remote, id: &str| {
                let timeout = Duration::from_millis(timeout);
                let info = remote.client.stop(id, timeout, true).await?;
                remote.session.use_instance(id);
                remote.print(&info, |info| status_line(id, info))
            })
        }
        C::Kill {
            id,
            remove_immediately,
        } => with_instance(remote, &id, async |remote: &mut Remote, id: &str| {
            let info = remote.client.kill(id, remove_immediately).await?;
            remote.session.use_instance(id);
            remote.print(&info, |info| status_line(id, info))
        }),
    }
}

/// Resolves `id` (`-` is the last instance used) and runs `command` on it.
fn with_instance<F>(mut remote: Remote, id: &str, command: F) -> anyhow::Result<()>
where
    F: AsyncFnOnce(&mut Remote, &str) -> anyhow::Result<()>,
{
    let id = remote.session.instance(id)?;
    remote::block_on(command(&mut remote, &id))
}

async fn list(remote: &Remote) -> anyhow::Result<()> {
    let instances = remote.client.instances().await?;
    remote.print(&instances, |instances| {
        let rows: Vec<Vec<String>> = instances
            .iter()
            .map(|i| {
                vec![
                    i.id.clone(),
                    i.sequence.name().unwrap_or(&i.sequence.id).to_string(),
                    i.status.clone(),
                    exit_code(i),
                    i.created.clone().unwrap_or_default(),
                ]
            })
            .collect();
        remote::table(&["ID", "SEQUENCE", "STATUS", "EXIT", "CREATED"], &rows)
    })
}

async fn info(remote: &mut Remote, id: &str) -> anyhow::Result<()> {
    let info = remote.client.instance(id).await?;
    remote.session.use_instance(id);
    remote.print(&info, describe)
}

fn describe(info: &InstanceInfo) -> String {
    let sequence = match info.sequence.name() {
        Some(name) => format!("{} ({name})", info.sequence.id),
        None => info.sequence.id.clone(),
    };
    let ended = info
        .terminated
        .as_ref()
        .map(|t| format!("{} ({})", t.exitcode, t.reason))
        .unwrap_or_default();
    let mut fields = vec![
        ("id", info.id.clone()),
        ("sequence", sequence),
        ("status", info.status.clone()),
        ("exit code", ended),
        ("created", info.created.clone().unwrap_or_default()),
        ("started", info.started.clone().unwrap_or_default()),
        ("ended", info.ended.clone().unwrap_or_default()),
        ("config", Value::Object(info.app_config.clone()).to_string()),
        ("args", Value::Array(info.args.clone()).to_string()),
    ];
    if let Some(usage) = &info.usage {
        let stream =
            |s: &crate::client::StreamUsage| format!("{} bytes, {} lines", s.bytes, s.lines);
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        fields.extend([
            ("cpu", format!("{:.1} ms", usage.cpu_ms)),
            (
                "memory",
                format!(
                    "{:.1} MiB (peak {:.1} MiB)",
                    mib(usage.memory_bytes),
                    mib(usage.peak_memory_bytes)
                ),
            ),
            ("input", stream(&usage.input)),
            ("output", stream(&usage.output)),
            ("stderr", stream(&usage.stderr)),
            (
                "output blocked",
                format!("{:.1} ms", usage.output_blocked_ms),
            ),
        ]);
    }
    remote::fields(&fields)
}

async fn health(remote: &mut Remote, id: &str) -> anyhow::Result<()> {
    let health = remote.client.health(id).await?;
    remote.session.use_instance(id);
    remote.print(&health, |health| match health {
        Value::Object(fields) => {
            let pairs: Vec<(&str, String)> = fields
                .iter()
                .map(|(name, value)| (name.as_str(), remote::plain(value)))
                .collect();
            remote::fields(&pairs)
        }
        other => other.to_string(),
    })
}

fn read(remote: Remote, id: &str, which: InstanceStream) -> anyhow::Result<()> {
    with_instance(remote, id, async |remote: &mut Remote, id: &str| {
        let stream = remote.client.stream(id, which).await?;
        remote.session.use_instance(id);
        remote::copy_to_stdout(stream).await
    })
}

/// Sends an event; prints nothing but the hub's reply with `--json`.
async fn emit(
    remote: &mut Remote,
    id: &str,
    name: &str,
    message: Option<&Value>,
) -> anyhow::Result<()> {
    let reply = remote.client.emit_event(id, name, message).await?;
    remote.session.use_instance(id);
    if remote.json {
        remote::print_json(&reply)?;
    }
    Ok(())
}

/// Prints the message of one event, or of each with `--stream`: strings as
/// they are, other JSON compactly (everything as JSON with `--json`).
async fn on_event(
    remote: &mut Remote,
    id: &str,
    name: &str,
    next: bool,
    stream: bool,
) -> anyhow::Result<()> {
    let line = |message: &Value| {
        if remote.json {
            message.to_string()
        } else {
            remote::plain(message)
        }
    };
    if stream {
        let mut messages = remote.client.events(id, name).await?;
        remote.session.use_instance(id);
        while let Some(message) = messages.next().await {
            remote::print_text(&line(&message?))?;
        }
        return Ok(());
    }
    let wait = if next {
        EventWait::Next
    } else {
        EventWait::Last
    };
    let message = remote.client.event(id, name, wait).await?;
    remote.session.use_instance(id);
    remote::print_text(&line(&message))
}

/// An event message from the command line: JSON if it parses, else a string.
fn parse_message(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn status_line(id: &str, info: &InstanceInfo) -> String {
    let id = if info.id.is_empty() { id } else { &info.id };
    format!("{id} {}", info.status).trim_end().to_string()
}

fn exit_code(info: &InstanceInfo) -> String {
    info.terminated
        .as_ref()
        .map(|t| t.exitcode.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_message_is_json_or_else_text() {
        assert_eq!(parse_message(r#"{"n": 1}"#), json!({"n": 1}));
        assert_eq!(parse_message(r#""hi""#), json!("hi"));
        assert_eq!(parse_message("hi"), json!("hi"));
        assert_eq!(parse_message("hi there"), json!("hi there"));
        assert_eq!(parse_message("42"), json!(42));
    }
}
