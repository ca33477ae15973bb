//! What an instance used: CPU time, linear memory, bytes through each
//! stream, time blocked on a full output, and the limits it ran under.
//!
//! Everything is counted where it happens, with relaxed atomics (no lock on
//! the data path): the CPU time by the future that polls the guest, memory
//! by the store's resource limiter, bytes by the pipes and the input channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::limits::Limits;
use crate::streams::Flow;

/// Linear memory of one instance: now and at its peak.
#[derive(Debug, Default)]
pub(crate) struct MemoryUse {
    current: AtomicUsize,
    peak: AtomicUsize,
}

impl MemoryUse {
    /// A memory grew (or was made) from `from` to `to` bytes.
    pub(crate) fn grew(&self, from: usize, to: usize) {
        let now = self
            .current
            .fetch_add(to.saturating_sub(from), Ordering::Relaxed)
            + to.saturating_sub(from);
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Bytes now and at the peak.
    pub(crate) fn read(&self) -> (usize, usize) {
        (
            self.current.load(Ordering::Relaxed),
            self.peak.load(Ordering::Relaxed),
        )
    }
}

/// What the frames rendered with one [`RenderOptions::usage`](super::RenderOptions::usage)
/// used: CPU time summed, linear memory at its most.
#[derive(Debug, Default)]
pub struct RenderUsage {
    pub(crate) cpu_nanos: Arc<AtomicU64>,
    peak_memory: AtomicUsize,
}

impl RenderUsage {
    /// Time spent running the frames' guests.
    pub fn cpu(&self) -> Duration {
        Duration::from_nanos(self.cpu_nanos.load(Ordering::Relaxed))
    }

    /// The most linear memory one frame had.
    pub fn peak_memory_bytes(&self) -> usize {
        self.peak_memory.load(Ordering::Relaxed)
    }

    pub(crate) fn frame_peak(&self, bytes: usize) {
        self.peak_memory.fetch_max(bytes, Ordering::Relaxed);
    }
}

/// An instance's accounting, as `GET /instance/:id` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Time spent running the guest (its polls, host calls included).
    pub cpu: Duration,
    /// Linear memory now.
    pub memory_bytes: usize,
    /// The most linear memory it had at once.
    pub peak_memory_bytes: usize,
    /// What it was given on its input.
    pub input: Flow,
    /// What it was given on its WASI stdin (for a command, its input).
    pub stdin: Flow,
    /// What it wrote to its output.
    pub output: Flow,
    /// What it wrote to its WASI stdout (for a command, its output).
    pub stdout: Flow,
    /// What it wrote to its WASI stderr.
    pub stderr: Flow,
    /// Time it waited on a full output (no reader keeping up).
    pub output_blocked: Duration,
    /// The limits it runs under (known once it started).
    pub limits: Option<Limits>,
}
