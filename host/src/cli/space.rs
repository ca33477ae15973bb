//! `weir space …`: the Space a hub is in — its hubs, and the sequences,
//! instances and topics of all of them. (`--on SPACE/HUB` points any other
//! client command at one hub of the space.)

use serde_json::Value;

use super::remote::{self, Remote};

/// The `weir space` subcommands. SPACE defaults to the hub's own space.
#[derive(Debug, clap::Subcommand)]
pub enum SpaceCommand {
    /// The space the hub is in.
    List,
    /// The hubs of the space: health, address, instances, tags.
    Hubs {
        /// The space (default: the hub's).
        space: Option<String>,
    },
    /// Every hub's sequences.
    Sequences {
        /// The space (default: the hub's).
        space: Option<String>,
    },
    /// Every instance of the space, with its hub (lost ones too).
    Instances {
        /// The space (default: the hub's).
        space: Option<String>,
    },
    /// Every topic of the space, with its hubs.
    Topics {
        /// The space (default: the hub's).
        space: Option<String>,
    },
}

/// Runs a `weir space` subcommand.
pub(crate) fn run(command: SpaceCommand, remote: Remote) -> anyhow::Result<()> {
    remote::block_on(async {
        let (space, what, rows): (Option<String>, &str, fn(&Value) -> String) = match command {
            SpaceCommand::List => {
                let spaces = Value::Array(remote.client.spaces().await?);
                return remote.print(&spaces, |s| table(s, space_row));
            }
            SpaceCommand::Hubs { space } => (space, "list", hub_row),
            SpaceCommand::Sequences { space } => (space, "sequences", sequence_row),
            SpaceCommand::Instances { space } => (space, "instances", instance_row),
            SpaceCommand::Topics { space } => (space, "topics", topic_row),
        };
        let space = match space {
            Some(space) => space,
            None => own_space(&remote).await?,
        };
        let reply = remote.client.space(&space, what).await?;
        remote.print(&reply, |r| table(r, rows))
    })
}

/// The hub's own space, or an error saying it has none.
async fn own_space(remote: &Remote) -> anyhow::Result<String> {
    let spaces = remote.client.spaces().await?;
    spaces
        .first()
        .and_then(|s| s["id"].as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            anyhow::anyhow!("this hub is not in a space (start it with --nats URL --space NAME)")
        })
}

fn table(rows: &Value, row: fn(&Value) -> String) -> String {
    let lines: Vec<String> = rows.as_array().into_iter().flatten().map(row).collect();
    if lines.is_empty() {
        "(none)".into()
    } else {
        lines.join("\n")
    }
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

fn space_row(s: &Value) -> String {
    format!(
        "{}  {} hubs, {} healthy",
        text(&s["id"]),
        s["hubs"],
        s["healthyHubs"]
    )
}

fn hub_row(h: &Value) -> String {
    let health = if h["healthy"] == true {
        "healthy"
    } else {
        "UNHEALTHY"
    };
    let tags: Vec<String> = h["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    format!(
        "{}  {health}  {}  {}/{} instances  tags: {}",
        text(&h["id"]),
        text(&h["url"]),
        h["capacity"]["instances"],
        h["capacity"]["maxInstances"],
        if tags.is_empty() {
            "-".into()
        } else {
            tags.join(",")
        }
    )
}

fn sequence_row(s: &Value) -> String {
    format!(
        "{}  {}  on {}",
        text(&s["id"]),
        text(&s["name"]),
        text(&s["hub"])
    )
}

fn instance_row(i: &Value) -> String {
    // A live instance carries its sequence's info, a lost one only the id.
    let sequence = i["sequence"].get("id").unwrap_or(&i["sequence"]);
    format!(
        "{}  {}  {}  on {}",
        text(&i["id"]),
        text(sequence),
        text(&i["status"]),
        text(&i["hub"])
    )
}

fn topic_row(t: &Value) -> String {
    let hubs: Vec<String> = t["hubs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| text(&h["hub"]))
        .collect();
    format!(
        "{}  {}  on {}",
        text(&t["topic"]),
        text(&t["contentType"]),
        hubs.join(",")
    )
}
