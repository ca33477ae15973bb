//! The hub's change feed: job, task, worker and instance changes for
//! `GET /events` and `GET /jobs/:id/events`.
//!
//! Every change gets an id, `<epoch>-<seq>`: `seq` counts up from 1 in this
//! process and `epoch` names the process, so an id from before a restart is
//! never taken for a newer one. The newest [`HISTORY`] changes are kept, so a
//! client that lost its connection and comes back with `Last-Event-ID` gets
//! every change it missed, each once; one whose id is too old (or from
//! another process) is told to start over ([`Resume::Reset`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

/// Changes kept for clients that reconnect.
pub const HISTORY: usize = 4096;

/// One change, as subscribers see it.
#[derive(Debug, Clone)]
pub struct Change {
    /// Position in the feed (1, 2, ...).
    pub seq: u64,
    /// `job`, `task`, `worker` or `instance`.
    pub kind: &'static str,
    /// The job it concerns (none for workers and instances).
    pub job_id: Option<String>,
    /// The object, as the API shows it.
    pub data: Arc<Value>,
}

/// Where a subscription starts.
#[derive(Debug)]
pub enum Resume {
    /// A new subscription: only what happens from now on.
    Live,
    /// The changes after the client's last one, to send before the live ones.
    Missed(Vec<Arc<Change>>),
    /// The client's last id is no longer (or never was) in the history: it
    /// must read the current state again.
    Reset,
}

/// A subscription: what was missed, then the live changes, with no gap and
/// no change twice between the two.
pub struct Subscription {
    /// What comes before the live changes.
    pub resume: Resume,
    /// The changes from now on.
    pub live: broadcast::Receiver<Arc<Change>>,
    /// The seq of the newest change when the subscription began (0: none yet).
    pub last_seq: u64,
}

/// The feed. One per hub; cheap to share behind an `Arc`.
pub struct Feed {
    epoch: String,
    state: Mutex<History>,
    live: broadcast::Sender<Arc<Change>>,
}

struct History {
    next_seq: u64,
    changes: VecDeque<Arc<Change>>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    /// An empty feed with a fresh epoch.
    pub fn new() -> Self {
        let epoch = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        Feed {
            epoch,
            state: Mutex::new(History {
                next_seq: 1,
                changes: VecDeque::with_capacity(HISTORY),
            }),
            live: broadcast::channel(HISTORY).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a change and sends it to the live subscribers.
    pub fn send(&self, kind: &'static str, job_id: Option<&str>, data: Value) {
        let mut history = self.lock();
        let change = Arc::new(Change {
            seq: history.next_seq,
            kind,
            job_id: job_id.map(str::to_string),
            data: Arc::new(data),
        });
        history.next_seq += 1;
        if history.changes.len() == HISTORY {
            history.changes.pop_front();
        }
        history.changes.push_back(change.clone());
        // Under the lock, so a subscriber taking the history sees each
        // change either there or live, never both and never neither.
        let _ = self.live.send(change);
    }

    /// Subscribes after the change with id `last_id` (`Last-Event-ID`), or
    /// from now on.
    pub fn subscribe(&self, last_id: Option<&str>) -> Subscription {
        let history = self.lock();
        let live = self.live.subscribe();
        let last_seq = history.next_seq - 1;
        let resume = match last_id {
            None => Resume::Live,
            Some(id) => match self.seq_of(id) {
                Some(seq) if seq == last_seq => Resume::Missed(Vec::new()),
                Some(seq)
                    if seq < last_seq
                        && history.changes.front().is_some_and(|c| c.seq <= seq + 1) =>
                {
                    let skip = (seq + 1 - history.changes[0].seq) as usize;
                    Resume::Missed(history.changes.iter().skip(skip).cloned().collect())
                }
                _ => Resume::Reset,
            },
        };
        Subscription {
            resume,
            live,
            last_seq,
        }
    }

    /// The id clients see for change `seq`.
    pub fn id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// The seq of an id of this feed (`None` for another process's ids or
    /// anything else).
    fn seq_of(&self, id: &str) -> Option<u64> {
        let (epoch, seq) = id.trim().rsplit_once('-')?;
        (epoch == self.epoch).then_some(())?;
        seq.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(resume: &Resume) -> Vec<u64> {
        match resume {
            Resume::Missed(changes) => changes.iter().map(|c| c.seq).collect(),
            other => panic!("expected missed changes, got {other:?}"),
        }
    }

    #[test]
    fn a_reconnecting_subscriber_gets_what_it_missed_once() {
        let feed = Feed::new();
        for n in 0..5 {
            feed.send("job", Some("j"), n.into());
        }
        let sub = feed.subscribe(Some(&feed.id(2)));
        assert_eq!(seqs(&sub.resume), [3, 4, 5]);
        assert_eq!(sub.last_seq, 5);
        let mut live = sub.live;
        feed.send("job", Some("j"), 5.into());
        assert_eq!(live.try_recv().unwrap().seq, 6);
        assert!(live.try_recv().is_err(), "nothing twice");
        // Up to date: nothing missed.
        assert!(seqs(&feed.subscribe(Some(&feed.id(6))).resume).is_empty());
    }

    #[test]
    fn an_id_too_old_or_from_another_process_resets() {
        let feed = Feed::new();
        for n in 0..(HISTORY as u64 + 10) {
            feed.send("task", None, n.into());
        }
        assert!(matches!(
            feed.subscribe(Some(&feed.id(3))).resume,
            Resume::Reset
        ));
        // The oldest kept change is seq 11: after 10 everything is there.
        assert_eq!(
            seqs(&feed.subscribe(Some(&feed.id(10))).resume).len(),
            HISTORY
        );
        let other = Feed::new();
        assert!(matches!(
            feed.subscribe(Some(&other.id(20))).resume,
            Resume::Reset
        ));
        assert!(matches!(
            feed.subscribe(Some("garbage")).resume,
            Resume::Reset
        ));
        // From the future (a newer process that reused the epoch cannot
        // happen; a made-up id can).
        assert!(matches!(
            feed.subscribe(Some(&feed.id(1 << 40))).resume,
            Resume::Reset
        ));
        assert!(matches!(feed.subscribe(None).resume, Resume::Live));
    }
}
