//! `weir job …`: submit render jobs to a hub, follow them, act on them and
//! fetch what they made (`docs/render-jobs.md`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};

use super::hub::size;
use super::job_watch as watch;
use super::remote::{self, Remote};
use super::{PackArgs, pack};
use crate::client::{Job, PatchJob, SubmitJob, Task};

mod artifacts;

#[cfg(test)]
use artifacts::check_name;
use artifacts::{artifacts, download_all};

/// The `weir job` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum JobCommand {
    /// Submit a render job and print its id.
    Submit(SubmitArgs),
    /// List the jobs on the hub, oldest first.
    #[command(alias = "ls")]
    List {
        /// Only jobs in this state: queued, active, paused, completed, failed, canceled.
        #[arg(long)]
        state: Option<String>,
    },
    /// Show a job.
    Info {
        /// The job id.
        id: String,
    },
    /// Follow a job's progress until it ends; exit 0 if it completed, 1 if not.
    Watch {
        /// The job id.
        id: String,
    },
    /// Cancel a job: its running tasks stop.
    Cancel {
        /// The job id.
        id: String,
    },
    /// Take a worker (default: every worker) off a job's blocklist.
    Unblock {
        /// The job id.
        id: String,
        /// Only this worker (its id, as the job's blocklist shows it).
        #[arg(long)]
        worker: Option<String>,
    },
    /// Pause a job: no new tasks start, running ones are requeued.
    Pause {
        /// The job id.
        id: String,
    },
    /// Queue a paused job again.
    Resume {
        /// The job id.
        id: String,
    },
    /// Run a job's failed and canceled tasks (all of them, once it has ended) again.
    Requeue {
        /// The job id.
        id: String,
        /// Only this task (its index or its id, from `weir job tasks`):
        /// render its frames again.
        #[arg(long)]
        task: Option<String>,
    },
    /// Change a job's priority or tags.
    Update {
        /// The job id.
        id: String,
        /// The new priority.
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i64>,
        /// The new tags (replacing the old ones; repeat for more).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Option<Vec<String>>,
    },
    /// Delete a job with its artifacts; its running tasks stop.
    #[command(alias = "rm")]
    Delete {
        /// The job id.
        id: String,
    },
    /// List a job's tasks.
    Tasks {
        /// The job id.
        id: String,
    },
    /// List a job's artifacts, or download them all.
    Artifacts {
        /// The job id.
        id: String,
        /// Download every artifact into this directory.
        #[arg(long, value_name = "DIR")]
        download: Option<PathBuf>,
    },
    /// Print a job's log, then follow it until the job ends.
    Log {
        /// The job id.
        id: String,
    },
}

/// What `weir job submit` sends.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The render package: a sequence id or name on the hub, or a plugin
    /// directory or .tar.gz to upload first.
    pub package: String,
    /// The frames to render, e.g. 1-100 or 1-10,20,30-35.
    #[arg(long)]
    pub frames: String,
    /// Frames per task.
    #[arg(long, value_name = "N")]
    pub chunk_size: Option<u64>,
    /// Higher runs first (default 50).
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub priority: Option<i64>,
    /// A tag (repeat for more): only workers having every tag of the job take it.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Settings as a JSON object, or @FILE holding one; overlaid on the package's `[config]`.
    #[arg(long, value_name = "JSON|@FILE")]
    pub settings: Option<String>,
    /// One setting (repeat for more); VALUE is JSON if it parses, else a string.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// How often a task may fail before the job fails (default 3).
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,
    /// Percent of the job's tasks that may fail (out of retries) before the
    /// job does; below it the job completes with those frames listed (default 0).
    #[arg(long, value_name = "PERCENT")]
    pub failure_threshold: Option<u32>,
    /// Seconds one task may run (default: the hub's).
    #[arg(long, value_name = "S")]
    pub task_timeout_secs: Option<u64>,
    /// A name for the job.
    #[arg(long)]
    pub name: Option<String>,
    /// Follow the job until it ends, as `weir job watch` does.
    #[arg(long)]
    pub watch: bool,
}

impl SubmitArgs {
    /// The body of `POST /jobs`, for the package `package`.
    fn request(&self, package: String) -> anyhow::Result<SubmitJob> {
        let settings = settings_of(self.settings.as_deref(), &self.set)?;
        Ok(SubmitJob {
            package: Some(package),
            frames: Some(crate::client::FrameSpec::Text(self.frames.clone())),
            settings: settings.map(Value::Object),
            chunk_size: self.chunk_size.map(|n| n as usize),
            priority: self.priority,
            tags: self.tags.clone(),
            name: self.name.clone(),
            max_retries: self.max_retries,
            failure_threshold: self.failure_threshold,
            task_timeout_ms: self.task_timeout_secs.map(|s| s.saturating_mul(1000)),
        })
    }
}

/// `--settings` overlaid with each `--set KEY=VALUE` (VALUE is JSON if it parses, else a
/// string); `None` when neither is given.
pub(super) fn settings_of(
    text: Option<&str>,
    set: &[String],
) -> anyhow::Result<Option<Map<String, Value>>> {
    let mut settings = text.map(settings).transpose()?;
    for pair in set {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--set {pair}: expected KEY=VALUE");
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        settings
            .get_or_insert_with(Map::new)
            .insert(key.trim().to_string(), value);
    }
    Ok(settings)
}

/// `--settings`: a JSON object, or `@FILE` holding one.
fn settings(text: &str) -> anyhow::Result<Map<String, Value>> {
    let (text, what) = match text.strip_prefix('@') {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
            (text, path.to_string())
        }
        None => (text.to_string(), "--settings".to_string()),
    };
    match serde_json::from_str(&text).with_context(|| format!("{what} is not valid JSON"))? {
        Value::Object(map) => Ok(map),
        _ => bail!("{what} must be a JSON object, e.g. '{{\"width\": 640}}'"),
    }
}

/// Runs a `weir job` subcommand; `watch` (and `submit --watch`) exit 1 when
/// the job did not complete.
pub(crate) fn run(mut command: JobCommand, mut remote: Remote) -> anyhow::Result<ExitCode> {
    // `-` is the last job used; the job named becomes the last one.
    if let Some(id) = command.job_id_mut() {
        *id = remote.session.job(id)?;
        remote.session.use_job(id);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(dispatch(command, &mut remote));
    runtime.shutdown_background();
    result
}

impl JobCommand {
    /// The job id the command names, if any.
    fn job_id_mut(&mut self) -> Option<&mut String> {
        match self {
            JobCommand::Submit(_) | JobCommand::List { .. } => None,
            JobCommand::Watch { id }
            | JobCommand::Info { id }
            | JobCommand::Cancel { id }
            | JobCommand::Pause { id }
            | JobCommand::Unblock { id, .. }
            | JobCommand::Resume { id }
            | JobCommand::Requeue { id, .. }
            | JobCommand::Update { id, .. }
            | JobCommand::Delete { id }
            | JobCommand::Tasks { id }
            | JobCommand::Artifacts { id, .. }
            | JobCommand::Log { id } => Some(id),
        }
    }
}

async fn dispatch(command: JobCommand, remote: &mut Remote) -> anyhow::Result<ExitCode> {
    if let JobCommand::Submit(args) = &command {
        return submit(remote, args).await;
    }
    let remote = &*remote;
    let client = &remote.client;
    match command {
        JobCommand::Submit(_) => unreachable!("handled above"),
        JobCommand::Watch { id } => return watch::watch(remote, &id).await,
        JobCommand::List { state } => list(remote, state.as_deref()).await?,
        JobCommand::Info { id } => remote.print(&client.job(&id).await?, describe)?,
        JobCommand::Cancel { id } => acted(remote, client.cancel_job(&id).await?, "canceled")?,
        JobCommand::Pause { id } => acted(remote, client.pause_job(&id).await?, "paused")?,
        JobCommand::Unblock { id, worker } => acted(
            remote,
            client.unblock_job(&id, worker.as_deref()).await?,
            "unblocked",
        )?,
        JobCommand::Resume { id } => acted(remote, client.resume_job(&id).await?, "resumed")?,
        JobCommand::Requeue { id, task: None } => {
            acted(remote, client.requeue_job(&id).await?, "requeued")?
        }
        JobCommand::Requeue {
            id,
            task: Some(task),
        } => {
            let tasks = client.job_tasks(&id).await?;
            let found = tasks
                .iter()
                .find(|t| t.id == task || t.index.to_string() == task)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "job {id} has no task {task} (give its index or id from `weir job tasks {id}`)"
                    )
                })?;
            let requeued = client.requeue_task(&found.id).await?;
            remote.print(&requeued, |t| {
                format!(
                    "requeued frames {}-{} of job {id}",
                    t.frame_start, t.frame_end
                )
            })?;
        }
        JobCommand::Update { id, priority, tags } => {
            if priority.is_none() && tags.is_none() {
                bail!("nothing to change: give --priority and/or --tag");
            }
            let job = client.patch_job(&id, &PatchJob { priority, tags }).await?;
            acted(remote, job, "updated")?;
        }
        JobCommand::Delete { id } => {
            let reply = client.delete_job(&id).await?;
            remote.print(&reply, |_| format!("deleted {id}"))?;
        }
        JobCommand::Tasks { id } => tasks(remote, &id).await?,
        JobCommand::Artifacts { id, download } => match download {
            None => artifacts(remote, &id).await?,
            Some(dir) => download_all(remote, &id, &dir).await?,
        },
        JobCommand::Log { id } => remote::copy_to_stdout(client.job_log(&id).await?).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Uploads the package first when it is a local file or directory.
async fn submit(remote: &mut Remote, args: &SubmitArgs) -> anyhow::Result<ExitCode> {
    let package = match local_package(Path::new(&args.package))? {
        None => args.package.clone(),
        Some((archive, _dir)) => {
            let file = remote::open(Some(&archive)).await?;
            remote.client.send_sequence(file).await?.id
        }
    };
    let job = remote.client.submit_job(&args.request(package)?).await?;
    remote.session.use_job(&job.id);
    let remote = &*remote;
    if !args.watch {
        remote.print(&job, |job| job.id.clone())?;
        return Ok(ExitCode::SUCCESS);
    }
    if !remote.json {
        remote::print_text(&format!("submitted job {}", job.id))?;
    }
    watch::watch(remote, &job.id).await
}

/// The archive to upload for `path` (a directory is packed into a temporary
/// directory, returned with it), or `None` when `path` is no local file.
fn local_package(path: &Path) -> anyhow::Result<Option<(PathBuf, Option<tempfile::TempDir>)>> {
    if path.is_file() {
        return Ok(Some((path.to_path_buf(), None)));
    }
    if !path.is_dir() {
        return Ok(None);
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let output = dir.path().join("package.tar.gz");
    pack(&PackArgs {
        dir: path.to_path_buf(),
        output: Some(output.clone()),
    })?;
    Ok(Some((output, Some(dir))))
}

/// Prints the job an action returned: `VERB ID (STATE)`.
fn acted(remote: &Remote, job: Job, verb: &str) -> anyhow::Result<()> {
    remote.print(&job, |job| format!("{verb} {} ({})", job.id, job.state))
}

async fn list(remote: &Remote, state: Option<&str>) -> anyhow::Result<()> {
    let jobs = remote.client.jobs(state).await?;
    remote.print(&jobs, |jobs| {
        let rows: Vec<Vec<String>> = jobs
            .iter()
            .map(|job| {
                vec![
                    job.id.clone(),
                    job.name.clone(),
                    job.package.name.clone(),
                    job.state.clone(),
                    format!("{}/{}", job.frames_done, job.frames_total),
                    format!("{:.1}%", job.progress),
                    job.priority.to_string(),
                ]
            })
            .collect();
        remote::table(
            &[
                "ID", "NAME", "PACKAGE", "STATE", "FRAMES", "PROGRESS", "PRIORITY",
            ],
            &rows,
        )
    })
}

fn describe(job: &Job) -> String {
    let counts = &job.task_counts;
    let tasks = format!(
        "{} ({} queued, {} active, {} completed, {} failed, {} canceled)",
        job.tasks_total,
        counts.queued,
        counts.active,
        counts.completed,
        counts.failed,
        counts.canceled
    );
    let settings = if job.settings.is_empty() {
        String::new()
    } else {
        Value::Object(job.settings.clone()).to_string()
    };
    let package = match job.package.name.as_str() {
        "" => job.package.id.clone(),
        name => format!("{name} ({})", job.package.id),
    };
    let mut pairs = vec![
        ("id", job.id.clone()),
        ("name", job.name.clone()),
        ("package", package),
        ("state", job.state.clone()),
        ("progress", format!("{:.1}%", job.progress)),
        (
            "frames",
            format!(
                "{} ({} of {} done)",
                remote::plain(&job.frames),
                job.frames_done,
                job.frames_total
            ),
        ),
        ("chunk size", job.chunk_size.to_string()),
        ("tasks", tasks),
        ("priority", job.priority.to_string()),
        ("tags", job.tags.join(", ")),
        ("settings", settings),
        ("max retries", job.max_retries.to_string()),
        ("failure threshold", format!("{}%", job.failure_threshold)),
        ("failed frames", job.failed_frames.join(", ")),
        ("task timeout", format!("{} s", job.task_timeout_ms / 1000)),
        ("created", job.created_at.clone().unwrap_or_default()),
        ("started", job.started_at.clone().unwrap_or_default()),
        ("finished", job.finished_at.clone().unwrap_or_default()),
        ("blocklist", job.blocklist.join(", ")),
    ];
    if let Some(why) = &job.waiting {
        pairs.push(("waiting", why.clone()));
    }
    for error in &job.errors {
        pairs.push(("error", error.clone()));
    }
    remote::fields(&pairs)
}

async fn tasks(remote: &Remote, id: &str) -> anyhow::Result<()> {
    let tasks = remote.client.job_tasks(id).await?;
    // Workers by name, as the job log shows them (ids when the list fails).
    let names: std::collections::HashMap<String, String> = match remote.json {
        true => Default::default(),
        false => remote
            .client
            .workers()
            .await
            .map(|ws| ws.into_iter().map(|w| (w.id, w.name)).collect())
            .unwrap_or_default(),
    };
    remote.print(&tasks, |tasks| {
        let rows: Vec<Vec<String>> = tasks.iter().map(|t| task_row(t, &names)).collect();
        remote::table(
            &[
                "INDEX", "FRAMES", "STATE", "ATTEMPT", "WORKER", "PROGRESS", "ERROR",
            ],
            &rows,
        )
    })
}

fn task_row(task: &Task, names: &std::collections::HashMap<String, String>) -> Vec<String> {
    let frames = if task.frame_start == task.frame_end {
        task.frame_start.to_string()
    } else {
        format!("{}-{}", task.frame_start, task.frame_end)
    };
    let error = task
        .failures
        .last()
        .map(|failure| failure.error.clone())
        .unwrap_or_default();
    vec![
        task.index.to_string(),
        frames,
        task.state.clone(),
        task.attempt.to_string(),
        task.worker
            .as_ref()
            .map(|id| names.get(id).unwrap_or(id).clone())
            .unwrap_or_default(),
        format!("{:.0}%", task.progress * 100.0),
        error,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Submit {
        #[command(flatten)]
        args: SubmitArgs,
    }

    fn submit(args: &[&str]) -> SubmitArgs {
        let argv = std::iter::once("submit").chain(args.iter().copied());
        Submit::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn submit_request_carries_every_option() {
        let args = submit(&[
            "mandelbrot",
            "--frames",
            "1-100",
            "--chunk-size",
            "10",
            "--priority",
            "-5",
            "--tag",
            "gpu",
            "--tag",
            "fast",
            "--settings",
            r#"{"width": 64, "zoom": 1}"#,
            "--set",
            "zoom=2.5",
            "--set",
            "palette=fire",
            "--max-retries",
            "1",
            "--task-timeout-secs",
            "30",
            "--name",
            "test",
        ]);
        let body = serde_json::to_value(args.request("mandelbrot".into()).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"package": "mandelbrot", "frames": "1-100",
                   "settings": {"width": 64, "zoom": 2.5, "palette": "fire"},
                   "chunkSize": 10, "priority": -5, "tags": ["gpu", "fast"], "name": "test",
                   "maxRetries": 1, "taskTimeoutMs": 30000})
        );
    }

    #[test]
    fn submit_request_leaves_out_what_is_not_given() {
        let body =
            serde_json::to_value(submit(&["x", "--frames", "1"]).request("x".into()).unwrap())
                .unwrap();
        assert_eq!(body, json!({"package": "x", "frames": "1"}));
    }

    #[test]
    fn settings_come_from_a_file_after_an_at() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.json");
        std::fs::write(&file, r#"{"spin_ms": 300}"#).unwrap();
        let at = format!("@{}", file.display());
        let args = submit(&["x", "--frames", "1-2", "--settings", &at]);
        let request = args.request("x".into()).unwrap();
        assert_eq!(request.settings.unwrap()["spin_ms"], 300);
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let err = submit(&["x", "--frames", "1", "--settings", "[1]"])
            .request("x".into())
            .unwrap_err();
        assert!(err.to_string().contains("must be a JSON object"), "{err}");
        let err = submit(&["x", "--frames", "1", "--set", "novalue"])
            .request("x".into())
            .unwrap_err();
        assert!(err.to_string().contains("expected KEY=VALUE"), "{err}");
    }

    #[test]
    fn artifact_names_must_be_plain_file_names() {
        assert!(check_name("frame-0001.png").is_ok());
        for bad in ["", "..", ".hidden", "a/b", "../x", "a\\b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
