//! `weir:plugin/source-package`: a runner reads its package's source files, read-only.

use crate::runtime::bindings;
use crate::runtime::bindings::weir::plugin::source_package::FileError;
use crate::runtime::state::InstanceState;

/// Largest package file a runner may read in one `read-file`.
const MAX_PACKAGE_FILE: u64 = 64 << 20;

impl bindings::weir::plugin::source_package::Host for InstanceState {
    async fn read_file(&mut self, path: String) -> Result<Vec<u8>, FileError> {
        let path = self.package_path(&path)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|_| FileError::NotFound)?;
        if meta.is_dir() {
            return Err(FileError::IsDirectory);
        }
        if meta.len() > MAX_PACKAGE_FILE {
            return Err(FileError::TooLarge);
        }
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|_| FileError::NotFound)?;
        if bytes.len() as u64 > MAX_PACKAGE_FILE {
            return Err(FileError::TooLarge);
        }
        Ok(bytes)
    }

    async fn is_directory(&mut self, path: String) -> bool {
        match self.package_path(&path) {
            Ok(path) => tokio::fs::metadata(path).await.is_ok_and(|m| m.is_dir()),
            Err(_) => false,
        }
    }

    async fn set_exit_code(&mut self, code: u8) {
        self.exit_code = Some(i32::from(code));
    }
}

impl InstanceState {
    fn package_path(&self, path: &str) -> Result<std::path::PathBuf, FileError> {
        let root = self.package_files.as_ref().ok_or(FileError::NotFound)?;
        package_file(root, path)
    }
}

/// `path` (relative, `/`-separated) inside the package directory `root`, refusing anything
/// that could leave it. Unpacked packages hold no links, so the joined path stays in.
fn package_file(root: &std::path::Path, path: &str) -> Result<std::path::PathBuf, FileError> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let safe = !parts.is_empty()
        && path.len() <= 4096
        && !path.starts_with('/')
        && parts
            .iter()
            .all(|part| *part != ".." && !part.contains(['\\', '\0']));
    if safe {
        Ok(parts
            .iter()
            .fold(root.to_path_buf(), |dir, part| dir.join(part)))
    } else {
        Err(FileError::InvalidPath)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn package_paths_stay_inside_the_package() {
        let root = Path::new("/data/sequences/x/package");
        for (path, inside) in [
            ("index.js", "index.js"),
            ("./lib/a.js", "lib/a.js"),
            ("lib/./a.js", "lib/a.js"),
            ("node_modules//dep/index.js", "node_modules/dep/index.js"),
        ] {
            assert_eq!(package_file(root, path), Ok(root.join(inside)), "{path}");
        }
        for path in [
            "",
            "/etc/passwd",
            "../x",
            "lib/../../x",
            "a\\b",
            "a\0b",
            ".",
            "./",
        ] {
            assert_eq!(
                package_file(root, path),
                Err(FileError::InvalidPath),
                "{path:?}"
            );
        }
    }
}
