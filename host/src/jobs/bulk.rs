//! Changes to many tasks at once — submitting, canceling, requeueing,
//! failing or deleting a job of up to 100,000 tasks — without holding the
//! manager's lock for long: the rows are written (or removed) in batches,
//! and every other call gets the lock between two batches.
//!
//! What a crash between two batches leaves behind is repaired when the
//! manager next opens: task rows of a job that has no row (a submission
//! cut short, a deletion half done) are removed, and the queued or running
//! tasks of a job that has ended (a cancel or a failure whose rows were not
//! all written) load as canceled. A requeue writes all its rows before it
//! answers.

use std::collections::VecDeque;

use super::{Job, JobError, JobManager, State, storage};

/// Rows written (or removed) under one hold of the lock.
pub(super) const BATCH: usize = 1000;

/// Lets the callers waiting for the lock have it between two batches.
/// `std`'s mutex is not fair: a thread that unlocks and locks again at once
/// keeps it, and the callers waiting (some of them on the API's async
/// workers) would wait for the whole bulk change.
fn hand_over() {
    std::thread::sleep(std::time::Duration::from_millis(1));
}

/// Task rows changed in memory and not written yet, by job.
#[derive(Default)]
pub(super) struct Unsaved {
    jobs: VecDeque<(String, Vec<usize>)>,
}

impl Unsaved {
    /// Queues the rows of tasks `indexes` of job `job_id`.
    pub(super) fn push(&mut self, job_id: &str, indexes: Vec<usize>) {
        if !indexes.is_empty() {
            self.jobs.push_back((job_id.to_string(), indexes));
        }
    }

    /// Up to [`BATCH`] rows of one job.
    fn take(&mut self) -> Option<(String, Vec<usize>)> {
        let (job_id, indexes) = self.jobs.front_mut()?;
        if indexes.len() <= BATCH {
            return self.jobs.pop_front();
        }
        let rest = indexes.split_off(BATCH);
        let batch = std::mem::replace(indexes, rest);
        Some((job_id.clone(), batch))
    }
}

impl JobManager {
    /// Writes task rows that bulk changes left unsaved, one batch per hold
    /// of the lock, at most `max_batches` of them (all with `None`). When it
    /// returns with `None`, every row queued before the call is written.
    pub(super) fn save_unsaved(&self, max_batches: Option<usize>) -> Result<(), JobError> {
        for n in 0..max_batches.unwrap_or(usize::MAX) {
            if n > 0 {
                hand_over();
            }
            let mut guard = self.lock();
            let state = &mut *guard;
            let Some((job_id, indexes)) = state.unsaved.take() else {
                return Ok(());
            };
            // A job deleted since has no rows to write.
            let Some(job) = state.jobs.get(&job_id) else {
                continue;
            };
            state
                .store
                .write(|tx| {
                    for &i in &indexes {
                        tx.task(&job.tasks[i])?;
                    }
                    Ok(())
                })
                .map_err(storage)?;
            for &i in &indexes {
                self.emit_task(&job.tasks[i]);
            }
        }
        Ok(())
    }

    /// Rows of `changed` tasks of `job` to write with the job's row now:
    /// all of them when they are few; else none, and they are queued for
    /// [`save_unsaved`](Self::save_unsaved).
    pub(super) fn now_or_later(
        unsaved: &mut Unsaved,
        job: &Job,
        changed: Vec<usize>,
    ) -> Vec<usize> {
        if changed.len() <= BATCH {
            return changed;
        }
        unsaved.push(&job.id, changed);
        Vec::new()
    }

    /// Writes the rows of a new job's tasks in batches, and indexes them.
    /// Until the job's own row is written they belong to no job.
    pub(super) fn insert_task_rows(&self, job: &Job) -> Result<(), JobError> {
        for (n, chunk) in job.tasks.chunks(BATCH).enumerate() {
            if n > 0 {
                hand_over();
            }
            let mut state = self.lock();
            if let Err(e) = state.store.write(|tx| {
                for task in chunk {
                    tx.task(task)?;
                }
                Ok(())
            }) {
                for task in &job.tasks[..n * BATCH] {
                    state.tasks.remove(&task.id);
                }
                return Err(storage(e));
            }
            for task in chunk {
                state
                    .tasks
                    .insert(task.id.clone(), (job.id.clone(), task.index));
            }
        }
        Ok(())
    }

    /// Removes what is left of deleted job `job_id` (its row is gone): its
    /// task and artifact rows and its task index, in batches.
    pub(super) fn purge(&self, job_id: &str, mut task_ids: Vec<String>) -> Result<(), JobError> {
        for n in 0.. {
            if n > 0 {
                hand_over();
            }
            let mut state = self.lock();
            let State { store, tasks, .. } = &mut *state;
            for id in task_ids.drain(task_ids.len().saturating_sub(BATCH)..) {
                tasks.remove(&id);
            }
            let removed = store
                .write(|tx| tx.delete_job_rows(job_id, BATCH))
                .map_err(storage)?;
            if removed == 0 && task_ids.is_empty() {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsaved_rows_come_out_in_batches_in_order() {
        let mut unsaved = Unsaved::default();
        unsaved.push("a", (0..BATCH + 5).collect());
        unsaved.push("b", vec![]);
        unsaved.push("c", vec![7]);
        let (job, first) = unsaved.take().unwrap();
        assert_eq!((job.as_str(), first.len(), first[0]), ("a", BATCH, 0));
        let (job, second) = unsaved.take().unwrap();
        assert_eq!((job.as_str(), second), ("a", (BATCH..BATCH + 5).collect()));
        assert_eq!(unsaved.take(), Some(("c".to_string(), vec![7])));
        assert_eq!(unsaved.take(), None);
    }
}
