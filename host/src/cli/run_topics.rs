//! `weir run`'s topics: `--topic-in NAME=FILE` is what a subscriber of topic NAME reads (the
//! topic ends with the file), `--topic-out NAME=FILE` is where what the plugin publishes to
//! NAME is written. A topic given neither is refused with the flag to pass.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::runtime::{BoxFuture, TopicBus, TopicPublisher, TopicSubscriber};

/// Bytes a subscriber reads from its file at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The topics of one `weir run`.
pub(super) struct FileTopics {
    inputs: HashMap<String, PathBuf>,
    outputs: HashMap<String, Arc<Mutex<std::fs::File>>>,
}

impl FileTopics {
    /// From the `NAME=FILE` pairs of `--topic-in` and `--topic-out`; output files are created
    /// (truncated) now, input files must exist.
    pub(super) fn new(inputs: &[String], outputs: &[String]) -> anyhow::Result<FileTopics> {
        let mut topics = FileTopics {
            inputs: HashMap::new(),
            outputs: HashMap::new(),
        };
        for pair in inputs {
            let (name, path) = split(pair, "--topic-in")?;
            if !path.is_file() {
                bail!("--topic-in {pair}: {} is not a file", path.display());
            }
            topics.inputs.insert(name, path);
        }
        for pair in outputs {
            let (name, path) = split(pair, "--topic-out")?;
            let file = std::fs::File::create(&path)
                .with_context(|| format!("--topic-out {pair}: cannot create {}", path.display()))?;
            topics.outputs.insert(name, Arc::new(Mutex::new(file)));
        }
        Ok(topics)
    }
}

fn split(pair: &str, flag: &str) -> anyhow::Result<(String, PathBuf)> {
    match pair.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => bail!("{flag} {pair}: expected NAME=FILE"),
    }
}

impl TopicBus for FileTopics {
    fn publisher(&self, topic: &str) -> Result<Box<dyn TopicPublisher>, String> {
        match self.outputs.get(topic) {
            Some(file) => Ok(Box::new(FilePublisher { file: file.clone() })),
            None => Err(format!(
                "topic {topic} has no file here: pass --topic-out {topic}=FILE to keep what the plugin publishes"
            )),
        }
    }

    fn subscriber(&self, topic: &str) -> Result<Box<dyn TopicSubscriber>, String> {
        match self.inputs.get(topic) {
            Some(path) => Ok(Box::new(FileSubscriber {
                path: path.clone(),
                file: None,
            })),
            None => Err(format!(
                "topic {topic} has no file here: pass --topic-in {topic}=FILE to give the plugin its records"
            )),
        }
    }
}

struct FilePublisher {
    file: Arc<Mutex<std::fs::File>>,
}

impl TopicPublisher for FilePublisher {
    fn publish(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), String>> {
        let result = self
            .file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(&data)
            .map_err(|e| format!("cannot write the topic's file: {e}"));
        Box::pin(async move { result })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, ()> {
        let _ = self.file.lock().unwrap_or_else(|p| p.into_inner()).flush();
        Box::pin(async {})
    }
}

struct FileSubscriber {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl TopicSubscriber for FileSubscriber {
    fn next(&mut self) -> BoxFuture<'_, Option<Bytes>> {
        Box::pin(async move {
            if self.file.is_none() {
                self.file = Some(tokio::fs::File::open(&self.path).await.ok()?);
            }
            let file = self.file.as_mut()?;
            let mut buf = vec![0u8; READ_CHUNK];
            match file.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some(Bytes::from(buf))
                }
            }
        })
    }
}
