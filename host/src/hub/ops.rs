//! Operations on the hub as a whole: a graceful shutdown, and a garbage
//! collection of what nothing uses any more.
//!
//! A shutdown is asked for ([`Hub::request_shutdown`]) and carried out by
//! whoever runs the hub (`weir serve`), which waits on
//! [`Hub::shutdown_requested`] and then calls [`Hub::stop_instances`]. From
//! the request on, the hub starts no instance and takes no job (503).

use std::collections::HashSet;
use std::time::Duration;

use futures::future::join_all;

use super::{Hub, HubError, InstanceRecord};

/// The deadline instances get when a shutdown does not name one.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long instances get to end once killed (after their stop deadline).
const KILL_GRACE: Duration = Duration::from_secs(1);

/// What [`Hub::gc`] did, and the process's memory around it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Resident memory before, in bytes (0 where it cannot be read).
    pub rss_before: u64,
    /// Resident memory after, in bytes.
    pub rss_after: u64,
    /// Compiled-component artifacts removed from the cache.
    pub cache_files_removed: u64,
    /// Their size, in bytes.
    pub cache_bytes_freed: u64,
    /// Chunked uploads discarded because they were idle too long.
    pub uploads_discarded: usize,
}

impl Hub {
    /// Asks the hub to shut down, giving instances `deadline` to stop.
    /// Returns `false` when a shutdown was already asked for (its deadline
    /// stands).
    pub fn request_shutdown(&self, deadline: Duration) -> bool {
        let first = self.shutdown.send_if_modified(|asked| {
            if asked.is_some() {
                return false;
            }
            *asked = Some(deadline);
            true
        });
        if first {
            self.log_line(
                "info",
                &format!(
                    "shutdown requested: instances get {} ms to stop",
                    deadline.as_millis()
                ),
            );
        }
        first
    }

    /// Whether a shutdown was asked for: new instances and jobs are refused.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.borrow().is_some()
    }

    /// Completes when a shutdown is asked for, with the instances' deadline.
    pub async fn shutdown_requested(&self) -> Duration {
        let mut asked = self.shutdown.subscribe();
        // The sender lives as long as the hub, which outlives this borrow.
        let deadline = asked.wait_for(Option::is_some).await.ok().and_then(|d| *d);
        deadline.unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT)
    }

    /// Waits for a shutdown — `signal` (Ctrl-C, SIGTERM) or `POST /shutdown`, whichever
    /// comes first; a signal gives instances `grace` — then stops every instance (see
    /// [`stop_instances`](Self::stop_instances)) and returns: the server stops then.
    pub async fn shutdown_on(
        &self,
        signal: impl std::future::Future<Output = ()>,
        grace: Duration,
    ) {
        let deadline = tokio::select! {
            () = signal => {
                self.request_shutdown(grace);
                self.shutdown_requested().await
            }
            deadline = self.shutdown_requested() => deadline,
        };
        self.stop_instances(deadline).await;
    }

    /// Asks every instance still alive to stop (`_stop` with `deadline`,
    /// no keep-alive), kills those still running past it, and returns once
    /// all have ended (or a second after the kill, whichever is first).
    pub async fn stop_instances(&self, deadline: Duration) {
        let alive: Vec<_> = self
            .instances()
            .into_iter()
            .filter(|r| !r.instance.status().is_terminal())
            .collect();
        if alive.is_empty() {
            return;
        }
        self.log_line(
            "info",
            &format!(
                "stopping {} instances (deadline {} ms)",
                alive.len(),
                deadline.as_millis()
            ),
        );
        for record in &alive {
            record.instance.stop(deadline, false);
        }
        if tokio::time::timeout(deadline + KILL_GRACE, all_ended(&alive))
            .await
            .is_ok()
        {
            return;
        }
        for record in &alive {
            record.instance.kill();
        }
        if tokio::time::timeout(KILL_GRACE, all_ended(&alive))
            .await
            .is_err()
        {
            self.log_line("warn", "some instances did not end after being killed");
        }
    }

    /// Removes compiled components no stored sequence uses from the cache
    /// and discards idle uploads, measuring resident memory before and
    /// after. Waits for uploads being compiled: their artifacts belong to no
    /// sequence yet.
    pub async fn gc(&self) -> Result<GcReport, HubError> {
        let rss_before = resident_bytes();
        let uploads_discarded = self.sweep_uploads();
        let pruned = {
            let _no_uploads_compiling = self.staging_gate.write().await;
            let keep: HashSet<String> = self
                .sequences()
                .iter()
                .map(|s| s.program.digest.clone())
                .collect();
            let runtime = self.runtime.clone();
            tokio::task::spawn_blocking(move || runtime.prune_cache(&keep))
                .await
                .map_err(|e| HubError::Io(std::io::Error::other(e)))??
        };
        let report = GcReport {
            rss_before,
            rss_after: resident_bytes(),
            cache_files_removed: pruned.files,
            cache_bytes_freed: pruned.bytes,
            uploads_discarded,
        };
        self.log_line(
            "info",
            &format!(
                "gc: {} cached components removed ({} bytes), {} idle uploads discarded",
                report.cache_files_removed, report.cache_bytes_freed, report.uploads_discarded
            ),
        );
        Ok(report)
    }
}

async fn all_ended(records: &[std::sync::Arc<InstanceRecord>]) {
    join_all(records.iter().map(|r| r.instance.wait())).await;
}

/// The process's resident set size in bytes (`VmRSS`), or 0 where
/// `/proc/self/status` cannot be read.
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| parse_vm_rss(&status))
        .unwrap_or(0)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The CPU sampler behind `/load-check`: CPU use is a rate between two samples, so one
/// sampler lives for the process and each check reads the use since the one before (at
/// least [`sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`] apart; a check sooner than that gets the
/// last figure). Only the very first sample of the process waits for that interval.
static CPU: std::sync::Mutex<Option<(sysinfo::System, std::time::Instant, Option<f32>)>> =
    std::sync::Mutex::new(None);

/// Takes the first CPU sample, so that the first `/load-check` answers at once.
pub fn prime_load_check() {
    let mut cpu = CPU.lock().unwrap_or_else(|p| p.into_inner());
    if cpu.is_none()
        && let Ok(mut system) = sysinfo::System::new()
    {
        system.refresh_cpu_usage();
        *cpu = Some((system, std::time::Instant::now(), None));
    }
}

/// CPU use of the whole machine, in percent, since the previous call.
fn cpu_usage() -> Option<f32> {
    prime_load_check();
    let mut cpu = CPU.lock().unwrap_or_else(|p| p.into_inner());
    let (system, at, last) = cpu.as_mut()?;
    let since = at.elapsed();
    if since < sysinfo::MINIMUM_CPU_UPDATE_INTERVAL {
        if last.is_some() {
            return *last;
        }
        // The process's first check, right after priming.
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL - since);
    }
    system.refresh_cpu_usage();
    *at = std::time::Instant::now();
    *last = Some(system.global_cpu_usage());
    *last
}

/// The machine's load as `/load-check` shows it (the load average, `currentLoad`: the CPU
/// use since the previous check, cores, memory, and the file system of the data dir);
/// `None` where the figures cannot be read.
pub fn load_check(data_dir: &std::path::Path) -> Option<crate::wire::LoadCheck> {
    use serde_json::Map;
    use sysinfo::{Disks, System};
    let mut system = System::new().ok()?;
    system.refresh_memory();
    let current_load = cpu_usage()?;
    let avg = System::load_average().ok()?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let disks = Disks::new_with_refreshed_list().ok()?;
    let data_dir = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_path_buf());
    let fs_size = (&disks)
        .into_iter()
        .filter(|d| data_dir.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| {
            let (size, available) = (d.total_space(), d.available_space());
            crate::wire::FsSize {
                fs: d.name().to_string_lossy().into_owned(),
                kind: d.file_system().to_string_lossy().into_owned(),
                size,
                used: size - available,
                available,
                use_percent: if size > 0 {
                    (size - available) as f64 * 100.0 / size as f64
                } else {
                    0.0
                },
                mount: d.mount_point().to_string_lossy().into_owned(),
                extra: Map::new(),
            }
        })
        .into_iter()
        .collect();
    Some(crate::wire::LoadCheck {
        avg_load: avg.one,
        current_load: (f64::from(current_load) * 100.0).round() / 100.0,
        cores,
        mem_free: system.available_memory(),
        mem_used: system.used_memory(),
        fs_size,
        extra: Map::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_proc_status() {
        let status = "Name:\tweir\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tweir\n"), None);
        if cfg!(target_os = "linux") {
            assert!(resident_bytes() > 0);
        }
    }
}
