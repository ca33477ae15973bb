//! Pruning the compiled-component cache.
//!
//! `compile_cached` writes one artifact per component and engine,
//! `<sha256>-<engine key>.cwasm`. An artifact whose component no stored
//! package uses, or that another engine (an older weir) wrote, is only disk
//! space: [`Runtime::prune_cache`] removes those. Anything else in the
//! directory (a compilation in progress writes a temporary file there) is
//! left alone.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use super::engine::Runtime;

/// What [`Runtime::prune_cache`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CachePrune {
    /// Artifacts removed.
    pub files: u64,
    /// Their size, in bytes.
    pub bytes: u64,
}

impl Runtime {
    /// Removes cached artifacts whose component digest is not in `keep` or
    /// that another engine configuration wrote. Blocking: call it off the
    /// async executor. Components already loaded stay usable (an artifact is
    /// mapped, and a removed file's mapping stays valid).
    pub fn prune_cache(&self, keep: &HashSet<String>) -> std::io::Result<CachePrune> {
        let Some(dir) = &self.inner.config.cache_dir else {
            return Ok(CachePrune::default());
        };
        let entries = match fs::read_dir(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CachePrune::default());
            }
            entries => entries?,
        };
        let mut pruned = CachePrune::default();
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let Some((digest, engine)) = artifact_name(&path) else {
                continue;
            };
            if keep.contains(digest) && engine == self.inner.engine_key {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    pruned.files += 1;
                    pruned.bytes += meta.len();
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(pruned)
    }
}

/// `(digest, engine key)` of a file named like a cached artifact.
fn artifact_name(path: &Path) -> Option<(&str, &str)> {
    let name = path.file_name()?.to_str()?.strip_suffix(".cwasm")?;
    let (digest, engine) = name.split_once('-')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(digest, 64) && hex(engine, 16)).then_some((digest, engine))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_artifact_names_are_recognised() {
        let digest = "ab".repeat(32);
        let name = format!("{digest}-0123456789abcdef.cwasm");
        assert_eq!(
            artifact_name(Path::new(&name)),
            Some((digest.as_str(), "0123456789abcdef"))
        );
        for other in [
            ".tmpXYZ12".to_string(),
            format!("{digest}.cwasm"),
            format!("{digest}-0123.cwasm"),
            format!("{digest}-0123456789abcdef.wasm"),
            "weir-abc.cwasm".to_string(),
        ] {
            assert_eq!(artifact_name(Path::new(&other)), None, "{other}");
        }
    }
}
