//! `weir hub …`: ask a hub about itself, stop it, or have it collect garbage.

use super::remote::{self, Remote};
use crate::client::{GcReply, LoadCheck, Memory};

/// The `weir hub` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum HubCommand {
    /// Show the hub's version.
    Version,
    /// Show the hub's CPU, memory and disk load.
    Load,
    /// Print the hub's own log as it comes, until interrupted.
    #[command(alias = "logs")]
    Log,
    /// Stop the hub: its instances get the timeout to stop, then it exits.
    Shutdown {
        /// Milliseconds instances get before they are killed (hub default 5000).
        #[arg(long, value_name = "MS")]
        timeout: Option<u64>,
    },
    /// Remove compiled components no sequence uses; show memory before and after.
    Gc,
}

/// Runs a `weir hub` subcommand.
pub(crate) fn run(command: HubCommand, remote: Remote) -> anyhow::Result<()> {
    remote::block_on(async {
        match command {
            HubCommand::Version => {
                let version = remote.client.version().await?;
                remote.print(&version, |v| {
                    format!(
                        "{} {} (API {}, build {})",
                        v.service, v.version, v.api_version, v.build
                    )
                })
            }
            HubCommand::Load => {
                let load = remote.client.load_check().await?;
                remote.print(&load, describe_load)
            }
            HubCommand::Log => remote::copy_to_stdout(remote.client.hub_log().await?).await,
            HubCommand::Shutdown { timeout } => {
                let timeout = timeout.map(std::time::Duration::from_millis);
                let reply = remote.client.shutdown(timeout).await?;
                remote.print(&reply, |r| r.message.clone())
            }
            HubCommand::Gc => {
                let reply = remote.client.gc().await?;
                remote.print(&reply, describe_gc)
            }
        }
    })
}

fn describe_load(load: &LoadCheck) -> String {
    let mut pairs = vec![
        ("load average", format!("{:.2}", load.avg_load)),
        ("CPU load", format!("{:.1} %", load.current_load)),
        (
            "memory",
            format!("{} free, {} used", size(load.mem_free), size(load.mem_used)),
        ),
    ];
    for fs in &load.fs_size {
        let text = format!(
            "{} available of {} ({})",
            size(fs.available),
            size(fs.size),
            fs.mount
        );
        pairs.push(("disk", text));
    }
    remote::fields(&pairs)
}

fn describe_gc(gc: &GcReply) -> String {
    let rss = |m: &Memory| size(u64::try_from(m.rss).unwrap_or(0));
    let delta = gc.delta.rss;
    let change = if delta < 0 {
        format!("-{}", size(delta.unsigned_abs()))
    } else {
        format!("+{}", size(delta.unsigned_abs()))
    };
    remote::fields(&[
        ("memory before", rss(&gc.pre_gc_memory)),
        (
            "memory after",
            format!("{} ({change})", rss(&gc.post_gc_memory)),
        ),
        (
            "cache",
            format!(
                "{} compiled components removed, {} freed",
                gc.cache_files_removed,
                size(gc.cache_bytes_freed)
            ),
        ),
    ])
}

/// `bytes` in the largest binary unit that keeps it at 1 or more.
pub(super) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
    }
}
