//! `weir seq …`: send packages to a hub, start, list and delete sequences.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use super::remote::{self, Remote, Upload};
use super::{PackArgs, pack};
use crate::client::{SequenceId, SequenceInfo, StartRequest};

/// The `weir seq` subcommands. A sequence id of `-` means the last one used.
#[derive(Debug, clap::Subcommand)]
pub enum SeqCommand {
    /// Upload a package and print the new sequence's id.
    Send {
        /// A .tar.gz, a plugin directory (packed first), or `-` for stdin.
        package: PathBuf,
        /// Send it in chunks, each checked in, the whole checked against its
        /// SHA-256 (the default for packages over 64 MiB).
        #[arg(long)]
        chunked: bool,
        /// Chunk size in MiB (the hub may take less).
        #[arg(long, value_name = "MIB", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
        chunk_mb: u64,
    },
    /// Start an instance of a sequence and print its id.
    Start {
        /// The sequence id (or its package name).
        id: String,
        /// How to start it.
        #[command(flatten)]
        options: StartArgs,
    },
    /// Pack (a directory), send and start a package; print the instance id.
    #[command(alias = "run")]
    Deploy {
        /// A plugin directory, a .tar.gz, or `-` for stdin.
        package: PathBuf,
        /// How to start it.
        #[command(flatten)]
        options: StartArgs,
    },
    /// List the sequences on the hub.
    #[command(alias = "ls")]
    List,
    /// Show a sequence.
    Info {
        /// The sequence id (or its package name).
        id: String,
    },
    /// Delete a sequence.
    #[command(alias = "rm")]
    Delete {
        /// The sequence id (or its package name).
        id: String,
        /// Kill its running instances instead of refusing.
        #[arg(short, long)]
        force: bool,
    },
}

/// How to start an instance (`weir seq start` and `weir seq deploy`).
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Configuration as a JSON object, overlaid on the package's `[config]`.
    #[arg(short = 's', long, value_name = "JSON", conflicts_with = "config_file")]
    pub config: Option<String>,
    /// Configuration read from a file holding a JSON object.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Arguments for the plugin, as a JSON array, e.g. '["a", 1]'.
    #[arg(long, value_name = "JSON-ARRAY")]
    pub args: Option<String>,
    /// A custom id for the instance.
    #[arg(long, value_name = "ID")]
    pub inst_id: Option<String>,
    /// Read input from this topic instead of `weir inst input`.
    #[arg(long, value_name = "TOPIC")]
    pub input_topic: Option<String>,
    /// Publish output to this topic.
    #[arg(long, value_name = "TOPIC")]
    pub output_topic: Option<String>,
    /// Resource limits as a JSON object, e.g. '{"memory": 128}' (MiB).
    #[arg(long, value_name = "JSON")]
    pub limits: Option<String>,
}

impl StartArgs {
    /// The body of the start request.
    fn request(&self) -> anyhow::Result<StartRequest> {
        let app_config = match (&self.config, &self.config_file) {
            (Some(text), _) => object(text, "--config")?,
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                object(&text, &path.display().to_string())?
            }
            (None, None) => Map::new(),
        };
        let args = match self.args.as_deref() {
            None => Vec::new(),
            Some(text) => match serde_json::from_str(text).context("--args is not valid JSON")? {
                Value::Array(args) => args,
                _ => bail!("--args must be a JSON array, e.g. '[\"a\", 1]'"),
            },
        };
        let limits = match self.limits.as_deref() {
            None => None,
            Some(text) => Some(
                serde_json::from_value(Value::Object(object(text, "--limits")?)).context(
                    "--limits takes {\"memory\": MiB, \"timeoutMs\": ms, \"cpuMs\": ms}",
                )?,
            ),
        };
        Ok(StartRequest {
            app_config: Some(Value::Object(app_config)),
            args: Some(args),
            instance_id: self.inst_id.clone(),
            input_topic: self.input_topic.clone(),
            output_topic: self.output_topic.clone(),
            limits,
            session_token: None,
        })
    }
}

/// Runs a `weir seq` subcommand.
pub(crate) fn run(command: SeqCommand, mut remote: Remote) -> anyhow::Result<()> {
    match command {
        SeqCommand::Send {
            package,
            chunked,
            chunk_mb,
        } => {
            let package = Package::prepare(&package)?;
            let chunks = (chunked || package.len() > AUTO_CHUNKED_BYTES).then_some(chunk_mb << 20);
            remote::block_on(send(&mut remote, package, chunks))
        }
        SeqCommand::Start { id, options } => {
            let request = options.request()?;
            let id = remote.session.sequence(&id)?;
            remote::block_on(start(&mut remote, &id, &request))
        }
        SeqCommand::Deploy { package, options } => {
            let request = options.request()?;
            let package = Package::prepare(&package)?;
            remote::block_on(deploy(&mut remote, package, &request))
        }
        SeqCommand::List => remote::block_on(list(&remote)),
        SeqCommand::Info { id } => {
            let id = remote.session.sequence(&id)?;
            remote::block_on(info(&mut remote, &id))
        }
        SeqCommand::Delete { id, force } => {
            let id = remote.session.sequence(&id)?;
            remote::block_on(delete(&remote, &id, force))
        }
    }
}

/// Packages larger than this are sent in chunks even without `--chunked`.
const AUTO_CHUNKED_BYTES: u64 = 64 << 20;
/// The chunk size `weir seq deploy` sends a large package in.
const DEFAULT_CHUNK_BYTES: u64 = 8 << 20;

/// Sends `package` in one request, or in chunks of `chunks` bytes.
async fn upload(
    remote: &Remote,
    package: &Package,
    chunks: Option<u64>,
) -> anyhow::Result<SequenceId> {
    Ok(match chunks {
        None => remote.client.send_sequence(package.open().await?).await?,
        Some(chunk) => {
            let file = package.file().await?;
            remote
                .client
                .send_sequence_chunked(file.path(), chunk)
                .await?
        }
    })
}

async fn send(remote: &mut Remote, package: Package, chunks: Option<u64>) -> anyhow::Result<()> {
    let reply = upload(remote, &package, chunks).await?;
    remote.session.use_sequence(&reply.id);
    remote.print(&reply, |reply| reply.id.clone())
}

async fn start(remote: &mut Remote, id: &str, request: &StartRequest) -> anyhow::Result<()> {
    let reply = remote.client.start(id, request).await?;
    remote.session.use_sequence(id);
    remote.session.use_instance(&reply.id);
    remote.print(&reply, |reply| reply.id.clone())
}

/// Sends and starts; with `--json`, prints both replies as
/// `{"sequence": …, "instance": …}`.
async fn deploy(
    remote: &mut Remote,
    package: Package,
    request: &StartRequest,
) -> anyhow::Result<()> {
    let chunks = (package.len() > AUTO_CHUNKED_BYTES).then_some(DEFAULT_CHUNK_BYTES);
    let sequence = upload(remote, &package, chunks).await?;
    remote.session.use_sequence(&sequence.id);
    let instance = remote.client.start(&sequence.id, request).await?;
    remote.session.use_instance(&instance.id);
    let both = json!({"sequence": sequence, "instance": instance});
    remote.print(&both, |_| instance.id.clone())
}

async fn list(remote: &Remote) -> anyhow::Result<()> {
    let sequences = remote.client.sequences().await?;
    remote.print(&sequences, |sequences| {
        let rows: Vec<Vec<String>> = sequences
            .iter()
            .map(|s| {
                vec![
                    s.id.clone(),
                    s.name().unwrap_or_default().to_string(),
                    s.version().unwrap_or_default().to_string(),
                    s.instances.len().to_string(),
                ]
            })
            .collect();
        remote::table(&["ID", "NAME", "VERSION", "INSTANCES"], &rows)
    })
}

async fn info(remote: &mut Remote, id: &str) -> anyhow::Result<()> {
    let sequence = remote.client.sequence(id).await?;
    remote.session.use_sequence(id);
    remote.print(&sequence, describe)
}

fn describe(sequence: &SequenceInfo) -> String {
    let text = |key: &str| {
        sequence
            .config
            .get(key)
            .map(remote::plain)
            .unwrap_or_default()
    };
    let instances = if sequence.instances.is_empty() {
        "none".to_string()
    } else {
        sequence.instances.join(", ")
    };
    remote::fields(&[
        ("id", sequence.id.clone()),
        ("name", text("name")),
        ("version", text("version")),
        ("kind", text("kind")),
        ("description", text("description")),
        ("instances", instances),
    ])
}

/// A deleted sequence is not remembered: `-` would only name what is gone.
async fn delete(remote: &Remote, id: &str, force: bool) -> anyhow::Result<()> {
    let reply = remote.client.delete_sequence(id, force).await?;
    remote.print(&reply, |_| format!("deleted {id}"))
}

/// A package to upload: a file, stdin, or a directory packed into a
/// temporary file first.
enum Package {
    Stdin,
    File(PathBuf),
    /// The directory is kept until the upload is done.
    Packed {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
}

impl Package {
    /// Packs `path` when it is a directory (before any runtime exists: this
    /// may run cargo for a while).
    fn prepare(path: &Path) -> anyhow::Result<Self> {
        if path.as_os_str() == "-" {
            return Ok(Self::Stdin);
        }
        if !path.is_dir() {
            return Ok(Self::File(path.to_path_buf()));
        }
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let output = dir.path().join("package.tar.gz");
        pack(&PackArgs {
            dir: path.to_path_buf(),
            output: Some(output.clone()),
        })?;
        Ok(Self::Packed {
            _dir: dir,
            path: output,
        })
    }

    /// Its size in bytes (0 for stdin: unknown).
    fn len(&self) -> u64 {
        match self {
            Self::Stdin => 0,
            Self::File(path) | Self::Packed { path, .. } => {
                std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
            }
        }
    }

    /// A file holding it: stdin is copied into a temporary file first.
    async fn file(&self) -> anyhow::Result<PackageFile> {
        match self {
            Self::File(path) | Self::Packed { path, .. } => Ok(PackageFile::Path(path.clone())),
            Self::Stdin => {
                let spool = tempfile::NamedTempFile::new()
                    .context("cannot create a temporary file for stdin")?;
                let mut file = tokio::fs::File::create(spool.path()).await?;
                tokio::io::copy(&mut tokio::io::stdin(), &mut file)
                    .await
                    .context("cannot read the package from stdin")?;
                Ok(PackageFile::Spooled(spool))
            }
        }
    }

    async fn open(&self) -> anyhow::Result<Upload> {
        match self {
            Self::Stdin => remote::open(None).await,
            Self::File(path) | Self::Packed { path, .. } => remote::open(Some(path)).await,
        }
    }
}

/// A package as a file: its own, or stdin copied into a temporary one.
enum PackageFile {
    Path(PathBuf),
    Spooled(tempfile::NamedTempFile),
}

impl PackageFile {
    fn path(&self) -> &Path {
        match self {
            Self::Path(path) => path,
            Self::Spooled(file) => file.path(),
        }
    }
}

/// `text` parsed as a JSON object; `what` names it in the error.
fn object(text: &str, what: &str) -> anyhow::Result<Map<String, Value>> {
    match serde_json::from_str(text).with_context(|| format!("{what} is not valid JSON"))? {
        Value::Object(map) => Ok(map),
        _ => bail!("{what} must be a JSON object, e.g. '{{\"count\": 3}}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> StartArgs {
        StartArgs {
            config: None,
            config_file: None,
            args: None,
            inst_id: None,
            input_topic: None,
            output_topic: None,
            limits: None,
        }
    }

    #[test]
    fn start_request_carries_every_option() {
        let options = StartArgs {
            config: Some(r#"{"count": 3}"#.into()),
            args: Some(r#"["a", 1]"#.into()),
            inst_id: Some("my-instance".into()),
            output_topic: Some("names".into()),
            limits: Some(r#"{"memory": 64}"#.into()),
            ..args()
        };
        let body = serde_json::to_value(options.request().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"appConfig": {"count": 3}, "args": ["a", 1], "instanceId": "my-instance",
                   "outputTopic": "names", "limits": {"memory": 64}})
        );
    }

    #[test]
    fn start_request_defaults_to_empty_config_and_args() {
        let body = serde_json::to_value(args().request().unwrap()).unwrap();
        assert_eq!(body, json!({"appConfig": {}, "args": []}));
    }

    #[test]
    fn start_request_says_which_option_is_wrong() {
        let bad_config = StartArgs {
            config: Some("[1]".into()),
            ..args()
        };
        let err = bad_config.request().unwrap_err().to_string();
        assert!(err.contains("--config must be a JSON object"), "{err}");
        let bad_args = StartArgs {
            args: Some("{}".into()),
            ..args()
        };
        let err = bad_args.request().unwrap_err().to_string();
        assert!(err.contains("--args must be a JSON array"), "{err}");
        let bad_limits = StartArgs {
            limits: Some(r#"{"memory": "lots"}"#.into()),
            ..args()
        };
        let err = format!("{:#}", bad_limits.request().unwrap_err());
        assert!(
            err.contains("--limits takes {\"memory\": MiB") && err.contains("invalid type"),
            "{err}"
        );
    }
}
