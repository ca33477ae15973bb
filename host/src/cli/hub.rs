//! `weir hub …`: ask a hub about itself.

use super::remote::{self, Remote};
use crate::client::LoadCheck;

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
