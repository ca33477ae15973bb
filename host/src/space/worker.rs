//! `weir worker --nats URL --space NAME`: a render worker of a space. It takes tasks
//! from the space's JetStream queue (no manager to poll), fetches components from the
//! space's package store by SHA-256, and stores artifacts in the space's object store.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tracing::info;

use super::{Reconnects, SpaceConfig, check_name, connect};
use crate::events::Feed;
use crate::jobs::{JobManager, JobsConfig, Slot, SpaceJobs};
use crate::runtime::Runtime;

/// How a worker joins a space.
pub struct SpaceWorker {
    /// NATS server URLs.
    pub servers: Vec<String>,
    /// The space's name.
    pub space: String,
    /// A NATS credentials file.
    pub creds: Option<PathBuf>,
    /// The worker's stable id.
    pub id: String,
    /// The name logs show.
    pub name: String,
    /// Tasks run at once.
    pub slots: usize,
    /// Its tags.
    pub tags: Vec<String>,
    /// Where components and the job mirror are kept.
    pub cache: PathBuf,
}

impl SpaceWorker {
    /// Runs until interrupted (or idle for `idle`): running tasks go back to the queue.
    pub async fn run(self, runtime: Runtime, idle: Option<Duration>) -> anyhow::Result<ExitCode> {
        check_name("space name", &self.space).map_err(|e| anyhow::anyhow!("{e}"))?;
        let reconnects = Reconnects::default();
        let config = SpaceConfig {
            servers: self.servers.clone(),
            space: self.space.clone(),
            hub_id: None,
            advertise: String::new(),
            tags: Vec::new(),
            creds: self.creds.clone(),
            hub_retention: Duration::from_secs(600),
            topic_retention_bytes: 0,
            max_queued_tasks: crate::jobs::MAX_QUEUED_TASKS,
        };
        let client = connect(&config, reconnects.clone()).await?;
        let jobs_config = JobsConfig {
            slots: self.slots,
            slot_tags: self.tags.clone(),
            ..JobsConfig::default()
        };
        let space = SpaceJobs::open(
            client,
            &self.space,
            jobs_config.lease,
            config.max_queued_tasks,
            reconnects,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        // Its own directory: workers on one machine share the cache (components by
        // digest) but each keeps its own job store, under its (locked) id.
        let dir = self
            .cache
            .join(format!("space-{}", self.space))
            .join(&self.id);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let jobs = JobManager::open(&dir, jobs_config, Arc::new(Feed::new()))?;
        let slot = Slot {
            worker_id: self.id.clone(),
            worker_name: self.name.clone(),
            tags: self.tags.clone(),
            slots: self.slots,
            on_hub: false,
            runtime,
            cache_dir: self.cache.join("components"),
            local: None,
        };
        jobs.join_space(space.clone(), Some(slot.clone()), false)?;
        info!(
            "worker {} ({}) in space {} with {} slots, tags {:?}",
            self.name, self.id, self.space, self.slots, self.tags
        );
        let stop = tokio_util::sync::CancellationToken::new();
        let busy = Arc::new(AtomicUsize::new(0));
        let last_task = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut loops = Vec::new();
        for _ in 0..self.slots {
            let (jobs, slot, stop) = (jobs.clone(), slot.clone(), stop.clone());
            let (busy, last_task) = (busy.clone(), last_task.clone());
            loops.push(tokio::spawn(async move {
                while !stop.is_cancelled() {
                    busy.fetch_add(1, Ordering::Relaxed);
                    let ran = jobs.run_space_task(&slot).await;
                    busy.fetch_sub(1, Ordering::Relaxed);
                    if ran {
                        let ms = started.elapsed().as_millis() as u64;
                        last_task.store(ms, Ordering::Relaxed);
                    } else {
                        tokio::select! {
                            _ = jobs.work_available() => {}
                            _ = stop.cancelled() => {}
                        }
                    }
                }
            }));
        }
        let idle_check = async {
            let Some(idle) = idle else {
                return std::future::pending::<()>().await;
            };
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let last = Duration::from_millis(last_task.load(Ordering::Relaxed));
                if started.elapsed().saturating_sub(last) >= idle && jobs.space_tasks_running() == 0
                {
                    info!("idle for {} s: signing off", idle.as_secs());
                    return;
                }
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => info!("interrupted: handing running tasks back"),
            _ = terminate() => info!("terminated: handing running tasks back"),
            _ = idle_check => {}
        }
        stop.cancel();
        jobs.stop_space_tasks();
        for handle in loops {
            let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
        }
        space.sign_off(&slot).await;
        Ok(ExitCode::SUCCESS)
    }
}

async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await
}
