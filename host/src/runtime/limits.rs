//! Per-instance resource limits: the [`Limits`] type that hub, package and
//! start request tighten together, and the CPU-time meter.
//!
//! CPU time is the time an instance's future spends being polled: guest code
//! plus the synchronous part of its host calls. Waiting (for input, a reader,
//! a timer or an event) is not polled time, so an idle instance uses none.
//! Every poll is timed, and the epoch deadline callback, which wasmtime runs
//! only while wasm executes (every [`EPOCH_TICK`](super::EPOCH_TICK)), adds
//! the time of the poll in progress and traps once the total is past the
//! limit. A busy loop therefore ends within one tick of its limit. The same
//! callback enforces the wall-clock limit while the guest runs; a timer ends
//! it while the guest waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

/// Limits of one instance or render frame; `None` means "no limit of this
/// kind here". Combine them with [`Limits::tightest`]: a limit can only be
/// lowered, never raised, by adding another set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, in bytes (growing past it traps: exit code 101).
    pub memory_bytes: Option<usize>,
    /// Wall-clock time from start (past it the instance is killed: exit code 137, errored).
    pub wall_time: Option<Duration>,
    /// CPU time, counted only while the instance runs (past it traps: exit code 101).
    pub cpu_time: Option<Duration>,
}

impl Limits {
    /// The smaller of each limit of `self` and `other`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::runtime::Limits;
    /// let hub = Limits { memory_bytes: Some(256 << 20), ..Limits::default() };
    /// let package = Limits { memory_bytes: Some(64 << 20), wall_time: Some(Duration::from_secs(5)), ..Limits::default() };
    /// let both = hub.tightest(package);
    /// assert_eq!(both.memory_bytes, Some(64 << 20));
    /// assert_eq!(both.wall_time, Some(Duration::from_secs(5)));
    /// assert_eq!(both.cpu_time, None);
    /// ```
    pub fn tightest(self, other: Limits) -> Limits {
        Limits {
            memory_bytes: tighter(self.memory_bytes, other.memory_bytes),
            wall_time: tighter(self.wall_time, other.wall_time),
            cpu_time: tighter(self.cpu_time, other.cpu_time),
        }
    }
}

fn tighter<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The trap raised when an instance has used up its CPU time.
#[derive(Debug, thiserror::Error)]
#[error("CPU time limit of {} ms exceeded", .0.as_millis())]
pub struct CpuLimitExceeded(pub Duration);

/// The trap raised when a running guest passes its wall-clock limit.
#[derive(Debug, thiserror::Error)]
#[error("time limit of {} ms exceeded", .0.as_millis())]
pub struct TimeLimitExceeded(pub Duration);

/// The limit a guest was trapped on by its [`Meter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    /// The CPU-time limit.
    Cpu(Duration),
    /// The wall-clock limit.
    Wall(Duration),
}

/// The time an instance has used against its limits, shared by its metered
/// future and its epoch callback.
pub(crate) struct Meter {
    cpu_limit: Option<Duration>,
    /// The wall-clock limit and when it runs out.
    wall: Option<(Duration, Instant)>,
    /// Nanoseconds spent in finished polls (shared with the instance's accounting).
    spent: Arc<AtomicU64>,
    /// When the poll in progress started.
    polling_since: Mutex<Option<Instant>>,
    hit: Mutex<Option<Hit>>,
}

impl Meter {
    /// The limit the guest was trapped on, if any.
    pub(crate) fn hit(&self) -> Option<Hit> {
        *self.hit.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn used(&self) -> Duration {
        let current = self
            .polling_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(Duration::ZERO, |since| since.elapsed());
        Duration::from_nanos(self.spent.load(Ordering::Relaxed)) + current
    }

    /// The epoch deadline callback: yield to the executor each tick, or trap
    /// once a limit is used up. The wall-clock limit is checked here too: a
    /// timer can fire late on an executor kept busy by guests.
    fn on_epoch(&self) -> wasmtime::Result<UpdateDeadline> {
        let hit = match (self.wall, self.cpu_limit) {
            (Some((limit, end)), _) if Instant::now() >= end => Hit::Wall(limit),
            (_, Some(limit)) if self.used() > limit => Hit::Cpu(limit),
            _ => return Ok(UpdateDeadline::Yield(1)),
        };
        *self.hit.lock().unwrap_or_else(|p| p.into_inner()) = Some(hit);
        Err(match hit {
            Hit::Cpu(limit) => CpuLimitExceeded(limit).into(),
            Hit::Wall(limit) => TimeLimitExceeded(limit).into(),
        })
    }
}

/// Makes a guest yield to the executor every epoch tick (so it can be killed
/// at any time), and, with a CPU or wall-clock limit, installs the meter that
/// traps it; the wall clock starts now. Returns the meter, to be passed to
/// [`metered`]. `spent` is where [`metered`] adds the time of each poll.
pub(crate) fn arm_epoch<T: 'static>(
    store: &mut Store<T>,
    limits: &Limits,
    spent: &Arc<AtomicU64>,
) -> Option<Arc<Meter>> {
    store.set_epoch_deadline(1);
    // Also marks the store as async-only, which `Yield` below needs.
    store.epoch_deadline_async_yield_and_update(1);
    if limits.cpu_time.is_none() && limits.wall_time.is_none() {
        return None;
    }
    let meter = Arc::new(Meter {
        cpu_limit: limits.cpu_time,
        wall: limits
            .wall_time
            .map(|limit| (limit, Instant::now() + limit)),
        spent: spent.clone(),
        polling_since: Mutex::new(None),
        hit: Mutex::new(None),
    });
    let on_epoch = meter.clone();
    store.epoch_deadline_callback(move |_| on_epoch.on_epoch());
    Some(meter)
}

/// Completes when `limit` has passed since the call (never without a limit),
/// with the limit.
pub(crate) async fn wall_clock(limit: Option<Duration>) -> Duration {
    match limit {
        Some(limit) => {
            tokio::time::sleep(limit).await;
            limit
        }
        None => std::future::pending().await,
    }
}

/// `future`, with the time of each poll added to `spent` (and shown to the
/// `meter`, when there is one, while the poll runs).
pub(crate) fn metered<F: Future>(
    future: F,
    meter: Option<Arc<Meter>>,
    spent: Arc<AtomicU64>,
) -> Metered<F> {
    Metered {
        future: Box::pin(future),
        // Only a CPU limit needs the poll in progress.
        meter: meter.filter(|meter| meter.cpu_limit.is_some()),
        spent,
    }
}

/// A future whose poll time is counted as CPU time (see [`metered`]).
pub(crate) struct Metered<F> {
    future: Pin<Box<F>>,
    meter: Option<Arc<Meter>>,
    spent: Arc<AtomicU64>,
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        let meter = self.meter.clone();
        if let Some(meter) = &meter {
            *meter
                .polling_since
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(started);
        }
        let result = self.future.as_mut().poll(cx);
        // Added before the poll is marked done: the meter may count this poll
        // twice for an instant, never not at all.
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.spent.fetch_add(nanos, Ordering::Relaxed);
        if let Some(meter) = &meter {
            *meter
                .polling_since
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tightest_takes_the_smaller_of_each_and_keeps_a_lone_limit() {
        let secs = Duration::from_secs;
        let a = Limits {
            memory_bytes: Some(10),
            wall_time: None,
            cpu_time: Some(secs(3)),
        };
        let b = Limits {
            memory_bytes: Some(20),
            wall_time: Some(secs(5)),
            cpu_time: Some(secs(1)),
        };
        let both = Limits {
            memory_bytes: Some(10),
            wall_time: Some(secs(5)),
            cpu_time: Some(secs(1)),
        };
        assert_eq!(a.tightest(b), both);
        assert_eq!(b.tightest(a), both);
        assert_eq!(a.tightest(Limits::default()), a);
    }

    #[test]
    fn the_cpu_limit_message_names_the_limit() {
        let e = CpuLimitExceeded(Duration::from_millis(250));
        assert_eq!(e.to_string(), "CPU time limit of 250 ms exceeded");
    }
}
