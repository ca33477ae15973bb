//! The capability flags shared by `weir serve` and `weir run`: what packages
//! may be granted when they ask for it in their `[grants]`.

use crate::package::{GrantPolicy, HostPort, is_env_name};

/// What packages may be granted (nothing unless a flag says so).
#[derive(Clone, Default, clap::Args)]
pub struct GrantArgs {
    /// Let packages that ask for it read their own files (read-only, at /package).
    #[arg(long)]
    pub grant_files: bool,
    /// Largest scratch directory (read-write, at /scratch, emptied at every
    /// start) a package may ask for, in MiB; 0 allows none.
    #[arg(long, value_name = "MIB", default_value_t = 0)]
    pub grant_scratch_mb: u64,
    /// An environment variable packages may ask for by name: NAME=VALUE, or
    /// NAME to hand out this process's own value (repeatable).
    #[arg(long = "env", value_name = "NAME[=VALUE]", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// An outbound TCP destination packages may ask for, HOST:PORT
    /// (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub allow_host: Vec<HostPort>,
}

impl std::fmt::Debug for GrantArgs {
    // Env values may be secrets: shown as the policy shows them, by name only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.policy().fmt(f)
    }
}

impl GrantArgs {
    /// The policy these flags describe.
    pub fn policy(&self) -> GrantPolicy {
        GrantPolicy {
            files: self.grant_files,
            max_scratch_mb: self.grant_scratch_mb,
            env: self.env.iter().cloned().collect(),
            hosts: self.allow_host.iter().cloned().collect(),
        }
    }
}

/// `NAME=VALUE`, or `NAME` with the value of this process's `NAME`.
fn parse_env(text: &str) -> Result<(String, String), String> {
    let (name, value) = match text.split_once('=') {
        Some((name, value)) => (name, value.to_string()),
        None => {
            let value = std::env::var(text).map_err(|_| {
                format!("{text} is not set in weir's environment; write {text}=VALUE")
            })?;
            (text, value)
        }
    };
    if !is_env_name(name) {
        return Err(format!(
            "{name:?} is not an environment variable name (ASCII letters, digits and _, not starting with a digit)"
        ));
    }
    Ok((name.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_flags_take_a_value_or_this_processs_own() {
        assert_eq!(
            parse_env("A_1=x=y").unwrap(),
            ("A_1".to_string(), "x=y".to_string())
        );
        let path = std::env::var("PATH").unwrap();
        assert_eq!(parse_env("PATH").unwrap().1, path);
        assert!(
            parse_env("WEIR_SURELY_UNSET_VAR")
                .unwrap_err()
                .contains("=VALUE")
        );
        assert!(
            parse_env("A-B=1")
                .unwrap_err()
                .contains("not an environment")
        );
    }
}
