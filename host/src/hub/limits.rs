//! The hub's instance limits, tightened by packages and start requests.
//!
//! A package's `[limits]` and a start request's `limits` may only lower the
//! hub's limits: asking for more than the hub allows is refused (422) with a
//! message naming the limit, at upload for a package and at start for a
//! request. Below that, the tightest of hub, package and request applies.

use std::time::Duration;

use super::{HubConfig, HubError};
use crate::package::{Kind, Manifest, ManifestLimits};
use crate::runtime::Limits;
use crate::wire::StartLimits;

/// Each instance is budgeted this much memory when `--max-instances` is not
/// given: a small plugin's linear memory, its stacks and its four 1 MiB
/// stream buffers, with room to spare.
const MEMORY_PER_INSTANCE: u64 = 16 << 20;
/// Fewest instances a hub allows by default, however small the machine.
const MIN_INSTANCES: usize = 16;
/// Most instances a hub allows by default: each live instance maps about six
/// memory areas, and Linux allows 65,530 per process (`vm.max_map_count`);
/// past that the process aborts instead of failing one start.
const MAX_INSTANCES: usize = 10_000;

/// Instances a hub allows by default when the machine's memory is unknown.
const UNKNOWN_MEMORY_INSTANCES: usize = 1000;

/// The default instance cap: total RAM / 16 MiB, between 16 and 10,000
/// (1,000 when the memory cannot be read).
pub fn default_max_instances() -> usize {
    let Ok(mut system) = sysinfo::System::new() else {
        return UNKNOWN_MEMORY_INSTANCES;
    };
    system.refresh_memory();
    let fit = usize::try_from(system.total_memory() / MEMORY_PER_INSTANCE).unwrap_or(usize::MAX);
    fit.clamp(MIN_INSTANCES, MAX_INSTANCES)
}

/// A package's `[limits]` as runtime limits.
pub fn package_limits(limits: &ManifestLimits) -> Limits {
    Limits {
        memory_bytes: limits
            .memory_mb
            .map(|mb| usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)),
        wall_time: limits.timeout_ms.map(Duration::from_millis),
        cpu_time: limits.cpu_ms.map(Duration::from_millis),
    }
}

impl HubConfig {
    /// The hub's own limits for an instance.
    pub fn instance_limits(&self) -> Limits {
        Limits {
            memory_bytes: Some(self.runtime.max_memory_bytes),
            wall_time: self.runtime.max_wall_time,
            cpu_time: self.runtime.max_cpu_time,
        }
    }

    /// The limits of a new instance: the tightest of the hub's, the
    /// package's and the request's. A request asking for more than the hub
    /// allows is refused (422); a zero is malformed (400).
    pub fn start_limits(
        &self,
        package: &ManifestLimits,
        request: Option<&StartLimits>,
    ) -> Result<Limits, HubError> {
        let hub = self.instance_limits();
        let Some(request) = request else {
            return Ok(hub.tightest(package_limits(package)));
        };
        for (name, value, unit) in [
            ("memory", request.memory, "MiB"),
            ("timeoutMs", request.timeout_ms, "ms"),
            ("cpuMs", request.cpu_ms, "ms"),
        ] {
            if value == Some(0) {
                return Err(HubError::BadRequest(format!(
                    "limits.{name} must be at least 1 ({unit})"
                )));
            }
        }
        above_memory("limits.memory", request.memory, hub.memory_bytes)?;
        above_time("limits.timeoutMs", request.timeout_ms, hub.wall_time)?;
        above_time("limits.cpuMs", request.cpu_ms, hub.cpu_time)?;
        let asked = package_limits(&ManifestLimits {
            memory_mb: request.memory,
            timeout_ms: request.timeout_ms,
            cpu_ms: request.cpu_ms,
        });
        Ok(hub.tightest(package_limits(package)).tightest(asked))
    }
}

/// Refuses a package whose `[limits]` ask for more than the hub's limits
/// `hub` allow. Render packages are held to the memory limit only: their
/// time is bounded per task by the job (which their `timeout_ms` caps).
pub fn check_package_limits(hub: &Limits, manifest: &Manifest) -> Result<(), HubError> {
    let asked = &manifest.limits;
    above_memory("limits.memory_mb", asked.memory_mb, hub.memory_bytes)?;
    if manifest.kind == Kind::Sequence {
        above_time("limits.timeout_ms", asked.timeout_ms, hub.wall_time)?;
        above_time("limits.cpu_ms", asked.cpu_ms, hub.cpu_time)?;
    }
    Ok(())
}

fn above_memory(name: &str, asked_mb: Option<u64>, hub: Option<usize>) -> Result<(), HubError> {
    let (Some(mb), Some(hub)) = (asked_mb, hub) else {
        return Ok(());
    };
    let asked = mb
        .checked_mul(1 << 20)
        .and_then(|b| usize::try_from(b).ok());
    if asked.is_none_or(|bytes| bytes > hub) {
        return Err(HubError::Invalid(format!(
            "{name} {mb} is above this hub's {} MiB",
            hub >> 20
        )));
    }
    Ok(())
}

fn above_time(name: &str, asked_ms: Option<u64>, hub: Option<Duration>) -> Result<(), HubError> {
    let (Some(ms), Some(hub)) = (asked_ms, hub) else {
        return Ok(());
    };
    if Duration::from_millis(ms) > hub {
        return Err(HubError::Invalid(format!(
            "{name} {ms} is above this hub's {} ms",
            hub.as_millis()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> HubConfig {
        let mut config = HubConfig::new("unused");
        config.runtime.max_memory_bytes = 256 << 20;
        config.runtime.max_wall_time = Some(Duration::from_secs(10));
        config
    }

    fn request(memory: Option<u64>, timeout_ms: Option<u64>, cpu_ms: Option<u64>) -> StartLimits {
        StartLimits {
            memory,
            timeout_ms,
            cpu_ms,
        }
    }

    #[test]
    fn the_tightest_of_hub_package_and_request_applies() {
        let package = ManifestLimits {
            memory_mb: Some(64),
            timeout_ms: Some(5000),
            cpu_ms: None,
        };
        let asked = request(Some(128), Some(2000), Some(300));
        let limits = hub().start_limits(&package, Some(&asked)).unwrap();
        assert_eq!(limits.memory_bytes, Some(64 << 20));
        assert_eq!(limits.wall_time, Some(Duration::from_millis(2000)));
        assert_eq!(limits.cpu_time, Some(Duration::from_millis(300)));
        let limits = hub()
            .start_limits(&ManifestLimits::default(), None)
            .unwrap();
        assert_eq!(limits.memory_bytes, Some(256 << 20));
        assert_eq!(limits.wall_time, Some(Duration::from_secs(10)));
        assert_eq!(limits.cpu_time, None);
    }

    #[test]
    fn a_request_above_the_hub_is_refused_naming_the_limit() {
        let none = ManifestLimits::default();
        let err = hub()
            .start_limits(&none, Some(&request(Some(512), None, None)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "limits.memory 512 is above this hub's 256 MiB"
        );
        let err = hub()
            .start_limits(&none, Some(&request(Some(u64::MAX), None, None)))
            .unwrap_err();
        assert!(matches!(err, HubError::Invalid(_)), "{err}");
        let err = hub()
            .start_limits(&none, Some(&request(None, Some(20_000), None)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "limits.timeoutMs 20000 is above this hub's 10000 ms"
        );
        // No hub CPU limit: any CPU limit tightens.
        assert!(
            hub()
                .start_limits(&none, Some(&request(None, None, Some(u64::MAX))))
                .is_ok()
        );
        let err = hub()
            .start_limits(&none, Some(&request(None, Some(0), None)))
            .unwrap_err();
        assert!(matches!(err, HubError::BadRequest(_)), "{err}");
        assert_eq!(err.to_string(), "limits.timeoutMs must be at least 1 (ms)");
    }

    #[test]
    fn start_limits_are_camel_case_and_keep_memory() {
        let limits: StartLimits =
            serde_json::from_str(r#"{"memory": 64, "timeoutMs": 500, "cpuMs": 100}"#).unwrap();
        assert_eq!(
            (limits.memory, limits.timeout_ms, limits.cpu_ms),
            (Some(64), Some(500), Some(100))
        );
    }

    #[test]
    fn the_default_instance_cap_is_within_its_bounds() {
        let n = default_max_instances();
        assert!((MIN_INSTANCES..=MAX_INSTANCES).contains(&n), "{n}");
    }
}
