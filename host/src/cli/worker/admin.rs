//! `weir worker list|info|drain|disable|enable|remove`: the manager's
//! workers, seen and steered from the command line (`/workers` routes).

use super::super::remote::{self, Remote};
use crate::client::Worker;

/// What `weir worker SUBCOMMAND` does with the manager's workers.
#[derive(Debug, clap::Subcommand)]
pub enum WorkerCommand {
    /// Every worker: state, status, slots, tags, tasks, last seen.
    List,
    /// One worker (its id or name).
    Info {
        /// Worker id or name.
        worker: String,
    },
    /// Let a worker finish its tasks, take no more, and exit.
    Drain {
        /// Worker id or name.
        worker: String,
    },
    /// Give a worker no more tasks (it stays registered).
    Disable {
        /// Worker id or name.
        worker: String,
    },
    /// Give a disabled or draining worker tasks again.
    Enable {
        /// Worker id or name.
        worker: String,
    },
    /// Sign a worker off: its running tasks go back to the queue.
    Remove {
        /// Worker id or name.
        worker: String,
    },
}

/// Runs `command` against the manager.
pub(crate) fn run(command: WorkerCommand, remote: Remote) -> anyhow::Result<()> {
    remote::block_on(async move {
        let client = &remote.client;
        match command {
            WorkerCommand::List => remote.print(&client.workers().await?, |w| list(w))?,
            WorkerCommand::Info { worker } => {
                let id = resolve(&remote, &worker).await?;
                remote.print(&client.worker(&id).await?, describe)?;
            }
            WorkerCommand::Drain { worker } => status(&remote, &worker, "draining").await?,
            WorkerCommand::Disable { worker } => status(&remote, &worker, "disabled").await?,
            WorkerCommand::Enable { worker } => status(&remote, &worker, "enabled").await?,
            WorkerCommand::Remove { worker } => {
                let id = resolve(&remote, &worker).await?;
                let removed = client.delete_worker(&id).await?;
                remote.print(&removed, |_| {
                    format!("removed worker {worker} ({id}); its running tasks are queued again")
                })?;
            }
        }
        Ok(())
    })
}

async fn status(remote: &Remote, worker: &str, status: &str) -> anyhow::Result<()> {
    let id = resolve(remote, worker).await?;
    let changed = remote.client.patch_worker(&id, status).await?;
    remote.print(&changed, |w| {
        format!("worker {} ({}) is {}", w.name, w.id, w.status)
    })
}

/// A worker's id from its id or its name (a name must be unambiguous).
async fn resolve(remote: &Remote, worker: &str) -> anyhow::Result<String> {
    let workers = remote.client.workers().await?;
    if let Some(found) = workers.iter().find(|w| w.id == worker) {
        return Ok(found.id.clone());
    }
    let named: Vec<&Worker> = workers.iter().filter(|w| w.name == worker).collect();
    match named.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => anyhow::bail!("no worker {worker:?} (see `weir worker list`)"),
        many => anyhow::bail!(
            "{} workers are called {worker:?}; give an id: {}",
            many.len(),
            many.iter()
                .map(|w| w.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn list(workers: &[Worker]) -> String {
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            vec![
                w.name.clone(),
                w.id.clone(),
                w.state.clone(),
                w.status.clone(),
                format!("{}/{}", w.active_tasks.len(), w.slots),
                w.tags.join(","),
                format!("{} done, {} failed", w.tasks_completed, w.tasks_failed),
                w.last_seen.clone().unwrap_or_default(),
            ]
        })
        .collect();
    remote::table(
        &[
            "NAME",
            "ID",
            "STATE",
            "STATUS",
            "BUSY",
            "TAGS",
            "TASKS",
            "LAST SEEN",
        ],
        &rows,
    )
}

fn describe(w: &Worker) -> String {
    remote::fields(&[
        ("name", w.name.clone()),
        ("id", w.id.clone()),
        ("state", w.state.clone()),
        ("status", w.status.clone()),
        ("slots", w.slots.to_string()),
        ("tags", w.tags.join(", ")),
        (
            "local",
            if w.local {
                "yes (the hub's own slots)".into()
            } else {
                String::new()
            },
        ),
        ("running", w.active_tasks.join(", ")),
        ("completed", w.tasks_completed.to_string()),
        ("failed", w.tasks_failed.to_string()),
        ("registered", w.registered_at.clone().unwrap_or_default()),
        ("last seen", w.last_seen.clone().unwrap_or_default()),
    ])
}
