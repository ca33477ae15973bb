//! The last sequence, instance and job used, so `-` can stand for them.
//!
//! Kept per user in `session.json` under `$WEIR_CONFIG_DIR`, or the user
//! config directory (`~/.config/weir` on Linux).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The id that means "the last one used".
const LAST: &str = "-";

/// The remembered ids, and where they are kept.
#[derive(Debug)]
pub(crate) struct Session {
    path: Option<PathBuf>,
    state: SessionState,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SessionState {
    last_sequence_id: Option<String>,
    last_instance_id: Option<String>,
    last_job_id: Option<String>,
}

impl Session {
    /// Loads the session of this user; a missing or unreadable file is an
    /// empty session.
    pub(crate) fn load() -> Self {
        let path = std::env::var_os("WEIR_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs::config_dir().map(|dir| dir.join("weir")))
            .map(|dir| dir.join("session.json"));
        let state = path
            .as_deref()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|text| serde_json::from_slice(&text).ok())
            .unwrap_or_default();
        Self { path, state }
    }

    /// `id`, or the last sequence used when `id` is `-`.
    pub(crate) fn sequence(&self, id: &str) -> anyhow::Result<String> {
        resolve(id, self.state.last_sequence_id.as_deref(), "sequence")
    }

    /// `id`, or the last instance used when `id` is `-`.
    pub(crate) fn instance(&self, id: &str) -> anyhow::Result<String> {
        resolve(id, self.state.last_instance_id.as_deref(), "instance")
    }

    /// `id`, or the last job used when `id` is `-`.
    pub(crate) fn job(&self, id: &str) -> anyhow::Result<String> {
        resolve(id, self.state.last_job_id.as_deref(), "job")
    }

    /// Remembers `id` as the last job used.
    pub(crate) fn use_job(&mut self, id: &str) {
        if self.state.last_job_id.as_deref() != Some(id) {
            self.state.last_job_id = Some(id.to_string());
            self.save();
        }
    }

    /// Remembers `id` as the last sequence used.
    pub(crate) fn use_sequence(&mut self, id: &str) {
        if self.state.last_sequence_id.as_deref() != Some(id) {
            self.state.last_sequence_id = Some(id.to_string());
            self.save();
        }
    }

    /// Remembers `id` as the last instance used.
    pub(crate) fn use_instance(&mut self, id: &str) {
        if self.state.last_instance_id.as_deref() != Some(id) {
            self.state.last_instance_id = Some(id.to_string());
            self.save();
        }
    }

    /// Writes the session; failing to is worth a warning, not failing a
    /// command that has already done its work.
    fn save(&self) {
        let Some(path) = &self.path else {
            eprintln!("warning: no config directory to remember ids in; set WEIR_CONFIG_DIR");
            return;
        };
        if let Err(e) = write(path, &self.state) {
            eprintln!("warning: cannot save {}: {e:#}", path.display());
        }
    }
}

fn resolve(id: &str, last: Option<&str>, kind: &str) -> anyhow::Result<String> {
    if id != LAST {
        return Ok(id.to_string());
    }
    match last {
        Some(last) => Ok(last.to_string()),
        None => bail!("no {kind} used yet, so `-` means nothing; give the {kind} id"),
    }
}

/// Replaces the file at once, so a concurrent reader never sees half of it.
fn write(path: &Path, state: &SessionState) -> anyhow::Result<()> {
    let dir = path.parent().context("session path has no directory")?;
    std::fs::create_dir_all(dir)?;
    let file = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(file.as_file(), state)?;
    file.persist(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_in(dir: &Path) -> Session {
        Session {
            path: Some(dir.join("weir").join("session.json")),
            state: SessionState::default(),
        }
    }

    #[test]
    fn dash_without_history_names_what_to_give() {
        let dir = tempfile::tempdir().unwrap();
        let err = session_in(dir.path()).instance("-").unwrap_err();
        assert!(err.to_string().contains("give the instance id"), "{err}");
    }

    #[test]
    fn dash_is_the_last_id_used_and_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut session = session_in(dir.path());
        session.use_sequence("seq-1");
        session.use_instance("inst-1");
        assert_eq!(session.sequence("-").unwrap(), "seq-1");
        assert_eq!(session.sequence("other").unwrap(), "other");

        let text = std::fs::read(dir.path().join("weir/session.json")).unwrap();
        let state: SessionState = serde_json::from_slice(&text).unwrap();
        assert_eq!(state.last_sequence_id.as_deref(), Some("seq-1"));
        assert_eq!(state.last_instance_id.as_deref(), Some("inst-1"));
    }
}
