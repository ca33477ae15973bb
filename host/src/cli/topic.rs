//! `weir topic …`: list, create and delete topics on a hub, publish to them
//! and read them.

use std::path::PathBuf;

use super::hub::size;
use super::remote::{self, Remote};
use crate::client::TopicInfo;

/// What a topic carries unless `-t` says otherwise.
const DEFAULT_CONTENT_TYPE: &str = "application/x-ndjson";

/// The `weir topic` subcommands. A content type is one of
/// application/x-ndjson, text/x-ndjson, text/plain, application/octet-stream.
#[derive(Debug, clap::Subcommand)]
pub enum TopicCommand {
    /// List the topics on the hub.
    #[command(alias = "ls")]
    List,
    /// Create a topic.
    Create {
        /// The topic name: letters, digits and _ + - .
        name: String,
        /// What the topic carries.
        #[arg(short = 't', long, default_value = DEFAULT_CONTENT_TYPE, value_name = "CT")]
        content_type: String,
    },
    /// Delete a topic; whoever reads it sees its stream end.
    #[command(alias = "rm")]
    Delete {
        /// The topic name.
        name: String,
    },
    /// Publish FILE (or stdin) to a topic, streamed; a missing topic is created.
    Send {
        /// The topic name.
        name: String,
        /// The data to publish (default: stdin).
        file: Option<PathBuf>,
        /// What the data is; it must be what the topic carries.
        #[arg(short = 't', long, default_value = DEFAULT_CONTENT_TYPE, value_name = "CT")]
        content_type: String,
    },
    /// Print what is published to a topic as it comes, until the topic is
    /// deleted or you interrupt; a missing topic is created.
    Get {
        /// The topic name.
        name: String,
        /// What the topic carries.
        #[arg(short = 't', long, default_value = DEFAULT_CONTENT_TYPE, value_name = "CT")]
        content_type: String,
    },
}

/// Runs a `weir topic` subcommand.
pub(crate) fn run(command: TopicCommand, remote: Remote) -> anyhow::Result<()> {
    remote::block_on(async {
        match command {
            TopicCommand::List => list(&remote).await,
            TopicCommand::Create { name, content_type } => {
                let reply = remote.client.create_topic(&name, &content_type).await?;
                remote.print(&reply, |reply| {
                    let carries = if reply.content_type.is_empty() {
                        &content_type
                    } else {
                        &reply.content_type
                    };
                    format!("created {name} ({carries})")
                })
            }
            TopicCommand::Delete { name } => {
                let reply = remote.client.delete_topic(&name).await?;
                remote.print(&reply, |_| format!("deleted {name}"))
            }
            TopicCommand::Send {
                name,
                file,
                content_type,
            } => {
                let body = remote::open(file.as_deref()).await?;
                Ok(remote.client.publish(&name, body, &content_type).await?)
            }
            TopicCommand::Get { name, content_type } => {
                let stream = remote.client.subscribe(&name, &content_type).await?;
                remote::copy_to_stdout(stream).await
            }
        }
    })
}

async fn list(remote: &Remote) -> anyhow::Result<()> {
    let topics = remote.client.topics().await?;
    remote.print(&topics, |topics| {
        let rows: Vec<Vec<String>> = topics.iter().map(row).collect();
        remote::table(
            &[
                "TOPIC",
                "CONTENT-TYPE",
                "PRODUCERS",
                "SUBSCRIBERS",
                "RETAINED",
                "PUBLISHED",
            ],
            &rows,
        )
    })
}

fn row(topic: &TopicInfo) -> Vec<String> {
    vec![
        topic.topic.clone(),
        topic.content_type.clone(),
        topic.producers.to_string(),
        topic.subscribers.to_string(),
        size(topic.retained_bytes),
        size(topic.published_bytes),
    ]
}
