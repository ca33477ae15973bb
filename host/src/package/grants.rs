//! Capability grants: what a package asks for in its manifest's `[grants]`
//! ([`ManifestGrants`]) and what a hub allows ([`GrantPolicy`]).
//!
//! A sandbox sees no files, no environment and no network unless its package
//! asks and the hub allows. [`GrantPolicy::grant`] turns an ask into the
//! [`Grants`] a sandbox gets; asking for anything the hub does not allow
//! refuses the package, naming every refused item.
//!
//! ```
//! use weir::package::{GrantPolicy, ManifestGrants};
//!
//! let policy = GrantPolicy {
//!     files: true,
//!     env: [("API_URL".to_string(), "https://api.example".to_string())].into(),
//!     ..GrantPolicy::default()
//! };
//! let asked = ManifestGrants { env: vec!["API_URL".into()], ..ManifestGrants::default() };
//! let grants = policy.grant(&asked).unwrap();
//! assert_eq!(grants.env, [("API_URL".to_string(), "https://api.example".to_string())]);
//! assert!(!grants.files, "only what was asked is granted");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::PackageError;

/// Most env names, and most hosts, a package may ask for.
pub const MAX_GRANT_ENTRIES: usize = 64;
/// Longest environment variable name.
const MAX_ENV_NAME: usize = 128;

/// The manifest's `[grants]`: capabilities a package asks for. Env values
/// never appear here; they come from the hub.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestGrants {
    /// Read-only access to the package's own unpacked files, at `/package`.
    #[serde(default)]
    pub files: bool,
    /// A private read-write scratch directory at `/scratch` of this many MiB
    /// (0 = none), empty at every start and removed at the end.
    #[serde(default)]
    pub scratch_mb: u64,
    /// Environment variables, by name; their values come from the hub.
    #[serde(default)]
    pub env: Vec<String>,
    /// Outbound TCP destinations as `HOST:PORT`.
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl ManifestGrants {
    /// Whether the package asks for nothing.
    pub fn is_empty(&self) -> bool {
        *self == ManifestGrants::default()
    }

    /// Checks names, hosts and counts; the message names the bad entry.
    pub(super) fn validate(&self) -> Result<(), String> {
        for (key, entries) in [("env", &self.env), ("hosts", &self.hosts)] {
            if entries.len() > MAX_GRANT_ENTRIES {
                return Err(format!(
                    "[grants] {key} may list at most {MAX_GRANT_ENTRIES} entries"
                ));
            }
        }
        if let Some(bad) = self.env.iter().find(|name| !is_env_name(name)) {
            return Err(format!(
                "[grants] env: {bad:?} is not an environment variable name (1-{MAX_ENV_NAME} ASCII letters, digits and _, not starting with a digit)"
            ));
        }
        for host in &self.hosts {
            host.parse::<HostPort>()
                .map_err(|e| format!("[grants] hosts: {e}"))?;
        }
        Ok(())
    }
}

/// Whether `name` can name an environment variable: ASCII letters, digits
/// and `_`, not starting with a digit.
///
/// ```
/// use weir::package::is_env_name;
/// assert!(is_env_name("API_URL"));
/// assert!(!is_env_name("1X") && !is_env_name("A-B") && !is_env_name(""));
/// ```
pub fn is_env_name(name: &str) -> bool {
    name.len() <= MAX_ENV_NAME
        && name.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// An outbound TCP destination: a DNS name or IP address and a port.
/// Written `example.com:443`, `10.0.0.5:8080` or `[::1]:8080`; names are
/// compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    host: String,
    port: u16,
}

impl HostPort {
    /// The DNS name or IP address (without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address, when the host is an IP literal (no lookup needed).
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let shown: String = text.chars().take(64).collect();
        let bad = |why: &str| format!("{shown:?} {why}; write HOST:PORT, e.g. example.com:443");
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (ip, port) = rest
                .split_once("]:")
                .ok_or_else(|| bad("is not [IPv6]:PORT"))?;
            ip.parse::<Ipv6Addr>()
                .map_err(|_| bad("has an invalid IPv6 address"))?;
            (ip.to_string(), port)
        } else {
            let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("has no port"))?;
            if host.contains(':') {
                return Err(bad("needs brackets around its IPv6 address"));
            }
            if host.parse::<IpAddr>().is_err() && !is_dns_name(host) {
                return Err(bad("has an invalid host name"));
            }
            (host.to_ascii_lowercase(), port)
        };
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("needs a port from 1 to 65535"))?;
        Ok(HostPort { host, port })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A DNS name: dot-separated labels of 1-63 letters, digits and `-` (not at
/// either end of a label), 253 characters at most.
fn is_dns_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// What a hub allows packages to be granted (`weir serve --grant-files
/// --grant-scratch-mb N --env NAME=VALUE --allow-host HOST:PORT`). The
/// default allows nothing.
#[derive(Clone, Default)]
pub struct GrantPolicy {
    /// Packages may read their own files.
    pub files: bool,
    /// Largest scratch directory a package may ask for, in MiB (0 = none).
    pub max_scratch_mb: u64,
    /// Environment values packages may ask for by name.
    pub env: BTreeMap<String, String>,
    /// Outbound TCP destinations packages may ask for.
    pub hosts: BTreeSet<HostPort>,
}

impl fmt::Debug for GrantPolicy {
    // Env values may be secrets: only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantPolicy")
            .field("files", &self.files)
            .field("max_scratch_mb", &self.max_scratch_mb)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("hosts", &self.hosts)
            .finish()
    }
}

/// What a package was granted: its ask, allowed by a [`GrantPolicy`], with
/// the env values filled in.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Read-only `/package`.
    pub files: bool,
    /// Size of the read-write `/scratch`, in MiB (0 = none).
    pub scratch_mb: u64,
    /// Environment variables (name, value).
    pub env: Vec<(String, String)>,
    /// Outbound TCP destinations.
    pub hosts: Vec<HostPort>,
}

impl Grants {
    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        *self == Grants::default()
    }
}

impl fmt::Debug for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grants")
            .field("files", &self.files)
            .field("scratch_mb", &self.scratch_mb)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl GrantPolicy {
    /// The grants for a package asking `asked`, or
    /// [`PackageError::GrantRefused`] naming everything this policy does not allow.
    pub fn grant(&self, asked: &ManifestGrants) -> Result<Grants, PackageError> {
        let mut refused = Vec::new();
        if asked.files && !self.files {
            refused.push("files (needs --grant-files)".to_string());
        }
        if asked.scratch_mb > self.max_scratch_mb {
            refused.push(format!(
                "scratch_mb = {} (at most {} MiB is allowed: --grant-scratch-mb)",
                asked.scratch_mb, self.max_scratch_mb
            ));
        }
        let mut env = Vec::new();
        for name in dedup(&asked.env) {
            match self.env.get(name) {
                Some(value) => env.push((name.clone(), value.clone())),
                None => refused.push(format!("env {name} (needs --env {name}=VALUE)")),
            }
        }
        let mut hosts = Vec::new();
        for text in dedup(&asked.hosts) {
            match text.parse::<HostPort>() {
                Ok(host) if self.hosts.contains(&host) => hosts.push(host),
                Ok(host) => refused.push(format!("host {host} (needs --allow-host {host})")),
                Err(e) => refused.push(format!("host {e}")),
            }
        }
        if !refused.is_empty() {
            return Err(PackageError::GrantRefused(refused.join("; ")));
        }
        Ok(Grants {
            files: asked.files,
            scratch_mb: asked.scratch_mb,
            env,
            hosts,
        })
    }
}

/// `items` without repeats, in first-seen order.
fn dedup(items: &[String]) -> impl Iterator<Item = &String> {
    let mut seen = BTreeSet::new();
    items.iter().filter(move |item| seen.insert(item.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> HostPort {
        text.parse().unwrap()
    }

    fn permissive() -> GrantPolicy {
        GrantPolicy {
            files: true,
            max_scratch_mb: 64,
            env: [("A".into(), "1".into()), ("B".into(), "2".into())].into(),
            hosts: [host("example.com:443"), host("10.0.0.5:8080")].into(),
        }
    }

    #[test]
    fn host_ports_parse_names_ipv4_and_bracketed_ipv6() {
        assert_eq!(host("Example.COM:443").to_string(), "example.com:443");
        assert_eq!(host("10.0.0.5:8080").ip(), Some([10, 0, 0, 5].into()));
        let v6 = host("[::1]:80");
        assert_eq!((v6.host(), v6.port()), ("::1", 80));
        assert_eq!(v6.to_string(), "[::1]:80");
        assert_eq!(host("localhost:1").ip(), None);
        for (bad, why) in [
            ("example.com", "has no port"),
            ("example.com:0", "port from 1 to 65535"),
            ("example.com:70000", "port from 1 to 65535"),
            ("example.com:https", "port from 1 to 65535"),
            ("exa mple.com:80", "invalid host name"),
            ("-x.com:80", "invalid host name"),
            (":80", "invalid host name"),
            ("a..b:80", "invalid host name"),
            ("::1:80", "brackets"),
            ("[::1]80", "is not [IPv6]:PORT"),
            ("[nope]:80", "invalid IPv6"),
        ] {
            let err = bad.parse::<HostPort>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("HOST:PORT"), "{err}");
        }
    }

    #[test]
    fn asking_nothing_gets_nothing_even_from_a_permissive_hub() {
        let grants = permissive().grant(&ManifestGrants::default()).unwrap();
        assert!(grants.is_empty());
    }

    #[test]
    fn exactly_what_is_asked_is_granted_with_the_hubs_values() {
        let asked = ManifestGrants {
            files: true,
            scratch_mb: 16,
            env: vec!["B".into(), "B".into()],
            hosts: vec!["EXAMPLE.com:443".into()],
        };
        let grants = permissive().grant(&asked).unwrap();
        assert!(grants.files);
        assert_eq!(grants.scratch_mb, 16);
        assert_eq!(grants.env, [("B".to_string(), "2".to_string())]);
        assert_eq!(grants.hosts, [host("example.com:443")]);
        assert!(
            !format!("{grants:?}").contains('2'),
            "values stay out of Debug"
        );
    }

    #[test]
    fn asking_for_more_than_allowed_names_every_refusal() {
        let asked = ManifestGrants {
            files: true,
            scratch_mb: 65,
            env: vec!["A".into(), "SECRET".into()],
            hosts: vec!["example.com:80".into(), "10.0.0.5:8080".into()],
        };
        let err = permissive().grant(&asked).unwrap_err();
        let PackageError::GrantRefused(message) = &err else {
            panic!("{err:?}");
        };
        assert!(!message.contains("files"), "{message}");
        for needle in [
            "scratch_mb = 65",
            "at most 64 MiB is allowed",
            "env SECRET",
            "--env SECRET=VALUE",
            "host example.com:80",
            "--allow-host example.com:80",
        ] {
            assert!(message.contains(needle), "{needle:?} in {message}");
        }
        assert!(!message.contains("10.0.0.5"), "{message}");
        let err = GrantPolicy::default()
            .grant(&ManifestGrants {
                files: true,
                ..ManifestGrants::default()
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("files (needs --grant-files)"), "{err}");
    }

    #[test]
    fn manifest_grants_are_validated() {
        let ok = ManifestGrants {
            env: vec!["_X1".into()],
            hosts: vec!["[::1]:8080".into()],
            ..ManifestGrants::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad_env = ManifestGrants {
            env: vec!["A-B".into()],
            ..ManifestGrants::default()
        };
        let err = bad_env.validate().unwrap_err();
        assert!(err.starts_with("[grants] env: \"A-B\""), "{err}");
        let bad_host = ManifestGrants {
            hosts: vec!["example.com".into()],
            ..ManifestGrants::default()
        };
        let err = bad_host.validate().unwrap_err();
        assert!(
            err.starts_with("[grants] hosts: \"example.com\" has no port"),
            "{err}"
        );
        let many = ManifestGrants {
            env: vec!["A".into(); MAX_GRANT_ENTRIES + 1],
            ..ManifestGrants::default()
        };
        assert!(many.validate().unwrap_err().contains("at most 64"));
    }
}
