//! Writes `1`, `2`, … one line every `interval_ms` (default 100) up to `count` (for ever
//! when absent), and `stopped` when the hub asks it to stop.
//!
//! Shows config, explicit flushing, and waiting for a stop request between lines.

use std::io::Write;
use std::time::{Duration, Instant};

use weir_sdk::{Context, Result, Signal};

#[weir_sdk::sequence]
fn counter(ctx: &mut Context) -> Result<()> {
    let interval = Duration::from_millis(ctx.config()["interval_ms"].as_u64().unwrap_or(100));
    let count = ctx.config()["count"].as_u64();
    for n in 1.. {
        if count.is_some_and(|count| n > count) {
            break;
        }
        writeln!(ctx.output(), "{n}")?;
        ctx.output().flush()?;
        if count == Some(n) {
            break;
        }
        if stop_requested_within(ctx, interval) {
            ctx.output().write_all(b"stopped\n")?;
            break;
        }
    }
    Ok(())
}

/// Waits `interval`, returning early with `true` on a stop request. Events are ignored.
fn stop_requested_within(ctx: &Context, interval: Duration) -> bool {
    let deadline = Instant::now() + interval;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ctx.wait(Some(left)) {
            Some(Signal::Stop { .. }) => return true,
            Some(Signal::Event(_)) if !left.is_zero() => continue,
            _ => return false,
        }
    }
}
