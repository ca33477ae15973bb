//! Following a job until it ends (`weir job watch`, `weir job submit
//! --watch`): live from the job's event stream, or by polling when there is
//! none. A terminal gets a progress bar, anything else a line per change;
//! either way the last line is a summary.
//!
//! Progress counts running tasks' progress (the job's `progress`), the rate
//! is the frames' worth of progress made since the watch began over the time
//! since (so frames done before it are not counted as instant progress), a
//! paused job shows `paused` and no ETA, and a manager that goes away (a
//! restart) is waited for: the watch reconnects instead of giving up.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::remote::{self, Remote};
use crate::client::{Job, JobEvent, JobEventStream};

/// How often a job is read when there is no event stream.
const POLL: Duration = Duration::from_millis(500);
/// How often a job is read even while events arrive, in case one was missed.
const REFRESH: Duration = Duration::from_secs(2);
const BAR_TEMPLATE: &str = "{spinner} [{elapsed_precise}] [{wide_bar}] {msg}";
/// How long a broken event stream waits before it is resumed.
const RESUME_AFTER: Duration = Duration::from_millis(250);
/// How long a watch waits for a manager that went away.
const RECONNECT_FOR: Duration = Duration::from_secs(600);
/// Steps of the bar per frame (it follows running tasks' progress).
const STEPS_PER_FRAME: u64 = 100;

/// Follows job `id` until it ends; the exit code is 0 when it completed and
/// 1 when it failed or was canceled.
pub(super) async fn watch(remote: &Remote, id: &str) -> anyhow::Result<ExitCode> {
    // Subscribe before the first read, so no change falls in between.
    let events = match remote.client.job_events(id, None).await {
        Ok(events) => events,
        Err(e) => {
            tracing::debug!("no event stream for job {id}, polling instead: {e}");
            None
        }
    };
    let mut view = View::new(remote.json);
    let mut job = read(remote, id, &mut view).await?;
    view.show(&job)?;
    if let Some(events) = events {
        job = follow(remote, job, events, &mut view).await?;
    }
    while !job.is_finished() {
        tokio::time::sleep(POLL).await;
        job = read(remote, id, &mut view).await?;
        view.show(&job)?;
    }
    view.finish(&job)?;
    Ok(if job.state == "completed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Shows every change the event stream reports until the job ends. A stream
/// that breaks (the manager restarted, a proxy cut it) is resumed after the
/// last event seen, once the manager answers again; if it cannot be, the
/// caller polls.
async fn follow(
    remote: &Remote,
    mut job: Job,
    mut events: JobEventStream,
    view: &mut View,
) -> anyhow::Result<Job> {
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + REFRESH, REFRESH);
    let mut last_id: Option<String> = None;
    while !job.is_finished() {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok((event, id))) => {
                    last_id = id.or(last_id);
                    match event {
                        JobEvent::Job(update) if update.id == job.id => job = *update,
                        // Events were lost: read the job as it is now.
                        JobEvent::Other { event, .. } if event == "reset" => {
                            job = read(remote, &job.id, view).await?;
                        }
                        _ => continue,
                    }
                }
                broken => {
                    if let Some(Err(e)) = broken {
                        tracing::debug!("the event stream broke: {e}");
                    }
                    tokio::time::sleep(RESUME_AFTER).await;
                    job = read(remote, &job.id, view).await?;
                    if job.is_finished() {
                        break;
                    }
                    match remote.client.job_events(&job.id, last_id.as_deref()).await {
                        Ok(Some(resumed)) => events = resumed,
                        Ok(None) => {
                            job = read(remote, &job.id, view).await?;
                            break;
                        }
                        Err(e) => {
                            tracing::debug!("cannot resume the event stream, polling instead: {e}");
                            break;
                        }
                    }
                }
            },
            _ = refresh.tick() => job = read(remote, &job.id, view).await?,
        }
        view.show(&job)?;
    }
    Ok(job)
}

/// Reads the job, waiting (with backoff, up to [`RECONNECT_FOR`]) while the
/// manager is unreachable or failing, as while it restarts.
async fn read(remote: &Remote, id: &str, view: &mut View) -> anyhow::Result<Job> {
    let started = Instant::now();
    let mut wait = Duration::from_millis(250);
    loop {
        match remote.client.job(id).await {
            Ok(job) => {
                view.reconnected();
                return Ok(job);
            }
            Err(e) if e.is_transient() && started.elapsed() < RECONNECT_FOR => {
                view.waiting(&e.to_string())?;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// How progress is shown.
enum Mode {
    /// A progress bar on the terminal (made at the first update).
    Bar(Option<ProgressBar>),
    /// A line per change, for logs and pipes.
    Lines {
        /// The state and frame count last printed.
        last: Option<(String, u64)>,
    },
    /// Nothing until the end, then the job as JSON.
    Json,
}

/// Progress of one job as it is followed.
struct View {
    mode: Mode,
    /// How many of the job's errors have been printed.
    errors_shown: usize,
    started: Instant,
    /// Frames' worth of progress when following began, for the rate.
    worth_at_start: Option<f64>,
    /// Whether the job had ended before following began.
    ended_before: Option<bool>,
    /// Set while the manager cannot be reached.
    unreachable: bool,
}

/// How many frames' worth of work a job has done, counting running tasks'
/// progress (`progress` is a percentage).
fn worth(job: &Job) -> f64 {
    (job.progress / 100.0 * job.frames_total as f64).max(job.frames_done as f64)
}

impl View {
    fn new(json: bool) -> Self {
        let mode = if json {
            Mode::Json
        } else if std::io::stdout().is_terminal() {
            Mode::Bar(None)
        } else {
            Mode::Lines { last: None }
        };
        Self {
            mode,
            errors_shown: 0,
            started: Instant::now(),
            worth_at_start: None,
            ended_before: None,
            unreachable: false,
        }
    }

    /// The manager cannot be reached: said once, until it answers again.
    fn waiting(&mut self, why: &str) -> anyhow::Result<()> {
        if std::mem::replace(&mut self.unreachable, true) {
            return Ok(());
        }
        let line = format!("the manager is unreachable ({why}); reconnecting");
        match &self.mode {
            Mode::Json => Ok(()),
            Mode::Bar(Some(bar)) => {
                bar.set_message(line);
                Ok(())
            }
            Mode::Bar(None) | Mode::Lines { .. } => remote::print_text(&line),
        }
    }

    fn reconnected(&mut self) {
        if std::mem::replace(&mut self.unreachable, false)
            && let Mode::Lines { last } = &mut self.mode
        {
            *last = None; // say where the job is now
        }
    }

    fn show(&mut self, job: &Job) -> anyhow::Result<()> {
        let at_start = *self.worth_at_start.get_or_insert(worth(job));
        self.ended_before.get_or_insert(job.is_finished());
        let rate = Rate::new(worth(job) - at_start, self.started.elapsed());
        let new_errors = job.errors.get(self.errors_shown..).unwrap_or_default();
        self.errors_shown = job.errors.len();
        match &mut self.mode {
            Mode::Json => {}
            Mode::Bar(bar) => {
                let bar = bar.get_or_insert_with(new_bar);
                for error in new_errors {
                    bar.println(format!("error: {error}"));
                }
                bar.set_length(job.frames_total.max(1) * STEPS_PER_FRAME);
                bar.set_position((worth(job) * STEPS_PER_FRAME as f64) as u64);
                bar.set_message(status(job, rate));
            }
            Mode::Lines { last } => {
                for error in new_errors {
                    remote::print_text(&format!("error: {error}"))?;
                }
                // A finished job gets the summary instead.
                let now = (job.state.clone(), job.frames_done);
                if last.as_ref() != Some(&now) && !job.is_finished() {
                    remote::print_text(&progress_line(job, rate))?;
                    *last = Some(now);
                }
            }
        }
        Ok(())
    }

    /// Clears the bar and prints the summary (or, with `--json`, the job).
    fn finish(self, job: &Job) -> anyhow::Result<()> {
        match self.mode {
            Mode::Json => return remote::print_json(job),
            Mode::Bar(Some(bar)) => bar.finish_and_clear(),
            Mode::Bar(None) | Mode::Lines { .. } => {}
        }
        // A job that ended before the watch began took its own time, not the
        // watch's.
        let took = match self.ended_before {
            Some(true) => ran_for(job),
            _ => Some(self.started.elapsed()),
        };
        remote::print_text(&summary(job, took))
    }
}

/// How long a job ran, from its own timestamps.
fn ran_for(job: &Job) -> Option<Duration> {
    let started = crate::time::parse_iso(job.started_at.as_deref()?)?;
    let finished = crate::time::parse_iso(job.finished_at.as_deref()?)?;
    finished.duration_since(started).ok()
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stdout());
    if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Frames' worth of progress per second since following began (none until
/// some was made, and not in the first second).
#[derive(Debug, Clone, Copy)]
struct Rate(Option<f64>);

impl Rate {
    fn new(frames: f64, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        Self((frames > 0.0 && secs >= 1.0).then(|| frames / secs))
    }
}

/// `R frames/s, ETA T` while the job runs; `paused` when it is paused.
fn pace(job: &Job, rate: Rate) -> Option<String> {
    if job.state == "paused" {
        return Some("paused".into());
    }
    let Rate(Some(rate)) = rate else { return None };
    if job.is_finished() {
        return None;
    }
    let left = (job.frames_total as f64 - worth(job)).max(0.0);
    let eta = Duration::from_secs_f64(left / rate);
    Some(format!("{rate:.1} frames/s, ETA {}", clock(eta)))
}

/// The bar's message: `DONE/TOTAL frames P% [pace] STATE`.
fn status(job: &Job, rate: Rate) -> String {
    let mut line = format!(
        "{}/{} frames {:.1}%",
        job.frames_done, job.frames_total, job.progress
    );
    match pace(job, rate) {
        Some(pace) if pace == "paused" => line += " paused",
        Some(pace) => line += &format!(" {pace} {}", job.state),
        None => line += &format!(" {}", job.state),
    }
    line
}

/// `job ID STATE: DONE/TOTAL frames (P%)[, R frames/s, ETA T]`.
fn progress_line(job: &Job, rate: Rate) -> String {
    let mut line = format!(
        "job {} {}: {}/{} frames ({:.1}%)",
        job.id, job.state, job.frames_done, job.frames_total, job.progress
    );
    match pace(job, rate) {
        Some(pace) if pace == "paused" => {}
        Some(pace) => line += &format!(", {pace}"),
        None => {}
    }
    line
}

/// The last line: how the job ended (and how long it took, when known).
fn summary(job: &Job, took: Option<Duration>) -> String {
    let frames = format!("{}/{} frames", job.frames_done, job.frames_total);
    match job.state.as_str() {
        "completed" => match took {
            Some(took) => format!("job {} completed: {frames} in {}", job.id, clock(took)),
            None => format!("job {} completed: {frames}", job.id),
        },
        "failed" => match job.errors.last() {
            Some(error) => format!("job {} failed: {frames} done; {error}", job.id),
            None => format!("job {} failed: {frames} done", job.id),
        },
        state => format!("job {} {state}: {frames} done", job.id),
    }
}

/// `4.2s`, `3m07s`, `2h05m`.
fn clock(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs < 60 {
        format!("{:.1}s", duration.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: &str, done: u64, total: u64) -> Job {
        Job {
            id: "j1".into(),
            state: state.into(),
            frames_done: done,
            frames_total: total,
            progress: done as f64 * 100.0 / total as f64,
            ..Job::default()
        }
    }

    #[test]
    fn progress_lines_show_rate_and_eta_while_running() {
        let line = progress_line(
            &job("active", 40, 100),
            Rate::new(20.0, Duration::from_secs(10)),
        );
        assert_eq!(
            line,
            "job j1 active: 40/100 frames (40.0%), 2.0 frames/s, ETA 30.0s"
        );
        let line = progress_line(
            &job("queued", 0, 100),
            Rate::new(0.0, Duration::from_secs(1)),
        );
        assert_eq!(line, "job j1 queued: 0/100 frames (0.0%)");
    }

    #[test]
    fn running_tasks_count_and_a_paused_job_has_no_eta() {
        // 8 of 10 frames done and the last two half-rendered: 90%.
        let mut running = job("active", 8, 10);
        running.progress = 90.0;
        assert_eq!(worth(&running), 9.0);
        assert_eq!(
            status(&running, Rate::new(3.0, Duration::from_secs(3))),
            "8/10 frames 90.0% 1.0 frames/s, ETA 1.0s active"
        );
        let paused = job("paused", 4, 10);
        assert_eq!(
            status(&paused, Rate::new(4.0, Duration::from_secs(2))),
            "4/10 frames 40.0% paused"
        );
        assert_eq!(
            progress_line(&paused, Rate::new(4.0, Duration::from_secs(2))),
            "job j1 paused: 4/10 frames (40.0%)"
        );
        // No rate from what was done before the watch, nor in its first second.
        assert!(Rate::new(0.0, Duration::from_secs(5)).0.is_none());
        assert!(Rate::new(3.0, Duration::from_millis(200)).0.is_none());
    }

    #[test]
    fn a_job_that_ended_before_the_watch_reports_its_own_duration() {
        let mut done = job("completed", 40, 40);
        done.started_at = Some("2026-12-02T03:00:00.000Z".into());
        done.finished_at = Some("2026-12-02T03:02:30.500Z".into());
        assert_eq!(ran_for(&done), Some(Duration::from_millis(150_500)));
        assert_eq!(
            summary(&done, ran_for(&done)),
            "job j1 completed: 40/40 frames in 2m30s"
        );
        assert_eq!(summary(&done, None), "job j1 completed: 40/40 frames");
    }

    #[test]
    fn summaries_say_how_the_job_ended() {
        let watched = Some(Duration::from_secs(75));
        assert_eq!(
            summary(&job("completed", 10, 10), watched),
            "job j1 completed: 10/10 frames in 1m15s"
        );
        let mut failed = job("failed", 3, 10);
        failed.errors = vec!["old".into(), "frames 4-4 failed: boom".into()];
        assert_eq!(
            summary(&failed, watched),
            "job j1 failed: 3/10 frames done; frames 4-4 failed: boom"
        );
        assert_eq!(
            summary(&job("canceled", 3, 10), watched),
            "job j1 canceled: 3/10 frames done"
        );
    }

    #[test]
    fn clock_is_short() {
        assert_eq!(clock(Duration::from_millis(4200)), "4.2s");
        assert_eq!(clock(Duration::from_secs(187)), "3m07s");
        assert_eq!(clock(Duration::from_secs(7500)), "2h05m");
    }
}
