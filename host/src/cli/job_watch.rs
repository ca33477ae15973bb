//! Following a job until it ends (`weir job watch`, `weir job submit
//! --watch`): live from the job's event stream, or by polling when there is
//! none. A terminal gets a progress bar, anything else a line per change;
//! either way the last line is a summary.

use std::fmt;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::remote::{self, Remote};
use crate::client::{Job, JobEvent, JobEventStream};

/// How often a job is read when there is no event stream.
const POLL: Duration = Duration::from_millis(500);
/// How often a job is read even while events arrive, in case one was missed.
const REFRESH: Duration = Duration::from_secs(2);
const BAR_TEMPLATE: &str = "{spinner} [{elapsed_precise}] [{wide_bar}] {pos}/{len} frames \
                            {percent}% {rate} ETA {eta} {msg}";

/// Follows job `id` until it ends; the exit code is 0 when it completed and
/// 1 when it failed or was canceled.
pub(super) async fn watch(remote: &Remote, id: &str) -> anyhow::Result<ExitCode> {
    // Subscribe before the first read, so no change falls in between.
    let events = match remote.client.job_events(id).await {
        Ok(events) => Some(events),
        Err(e) => {
            tracing::debug!("no event stream for job {id}, polling instead: {e}");
            None
        }
    };
    let mut job = remote.client.job(id).await?;
    let mut view = View::new(remote.json);
    view.show(&job)?;
    if let Some(events) = events {
        job = follow(remote, job, events, &mut view).await?;
    }
    while !job.is_finished() {
        tokio::time::sleep(POLL).await;
        job = remote.client.job(id).await?;
        view.show(&job)?;
    }
    view.finish(&job)?;
    Ok(if job.state == "completed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Shows every change the event stream reports until the job ends or the
/// stream does (the caller then polls).
async fn follow(
    remote: &Remote,
    mut job: Job,
    mut events: JobEventStream,
    view: &mut View,
) -> anyhow::Result<Job> {
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + REFRESH, REFRESH);
    while !job.is_finished() {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(JobEvent::Job(update))) if update.id == job.id => job = *update,
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    tracing::debug!("the event stream broke, polling instead: {e}");
                    break;
                }
                None => break,
            },
            _ = refresh.tick() => job = remote.client.job(&job.id).await?,
        }
        view.show(&job)?;
    }
    Ok(job)
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
    /// Frames done when following began, for the rate.
    done_at_start: Option<u64>,
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
            done_at_start: None,
        }
    }

    fn show(&mut self, job: &Job) -> anyhow::Result<()> {
        let done_at_start = *self.done_at_start.get_or_insert(job.frames_done);
        let new_errors = job.errors.get(self.errors_shown..).unwrap_or_default();
        self.errors_shown = job.errors.len();
        match &mut self.mode {
            Mode::Json => {}
            Mode::Bar(bar) => {
                let bar = bar.get_or_insert_with(|| new_bar(job.frames_total));
                for error in new_errors {
                    bar.println(format!("error: {error}"));
                }
                bar.set_length(job.frames_total);
                bar.set_position(job.frames_done);
                bar.set_message(job.state.clone());
            }
            Mode::Lines { last } => {
                for error in new_errors {
                    remote::print_text(&format!("error: {error}"))?;
                }
                // A finished job gets the summary instead.
                let now = (job.state.clone(), job.frames_done);
                if last.as_ref() != Some(&now) && !job.is_finished() {
                    let rate = Rate::new(
                        job.frames_done.saturating_sub(done_at_start),
                        self.started.elapsed(),
                    );
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
        remote::print_text(&summary(job, self.started.elapsed()))
    }
}

fn new_bar(frames: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(frames), ProgressDrawTarget::stdout());
    if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
        let style = style.progress_chars("=> ").with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn fmt::Write| {
                let _ = write!(out, "{:.1} frames/s", state.per_sec());
            },
        );
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Frames per second since following began.
#[derive(Debug, Clone, Copy)]
struct Rate(Option<f64>);

impl Rate {
    fn new(frames: u64, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        Self((frames > 0 && secs > 0.0).then(|| frames as f64 / secs))
    }
}

/// `job ID STATE: DONE/TOTAL frames (P%)[, R frames/s, ETA T]`.
fn progress_line(job: &Job, rate: Rate) -> String {
    let mut line = format!(
        "job {} {}: {}/{} frames ({:.1}%)",
        job.id, job.state, job.frames_done, job.frames_total, job.progress
    );
    if let (Rate(Some(rate)), false) = (rate, job.is_finished()) {
        let left = job.frames_total.saturating_sub(job.frames_done) as f64;
        let eta = Duration::from_secs_f64(left / rate);
        line += &format!(", {rate:.1} frames/s, ETA {}", clock(eta));
    }
    line
}

/// The last line: how the job ended.
fn summary(job: &Job, watched: Duration) -> String {
    let frames = format!("{}/{} frames", job.frames_done, job.frames_total);
    match job.state.as_str() {
        "completed" => format!("job {} completed: {frames} in {}", job.id, clock(watched)),
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
            Rate::new(20, Duration::from_secs(10)),
        );
        assert_eq!(
            line,
            "job j1 active: 40/100 frames (40.0%), 2.0 frames/s, ETA 30.0s"
        );
        let line = progress_line(&job("queued", 0, 100), Rate::new(0, Duration::from_secs(1)));
        assert_eq!(line, "job j1 queued: 0/100 frames (0.0%)");
    }

    #[test]
    fn summaries_say_how_the_job_ended() {
        let watched = Duration::from_secs(75);
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
