//! Language runners: the components that run source packages — Scramjet sequences whose
//! `main` is JavaScript or Python — built once per machine by `weir runner build` and
//! shared by every such package (see `docs/scramjet-sequences.md`).
//!
//! A runners directory holds `js.wasm` and `python.wasm`. [`Runners::program`] loads a
//! package's program: its own component, or its language's runner with the package's
//! files as its code ([`Program::with_source`]). A runner is loaded (compiled, or read from
//! the compile cache) once and kept until its file changes, so starting a source package
//! costs what starting any component costs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::builder::{COMPONENTIZE_JS, COMPONENTIZE_PY};
use crate::package::{Grants, Package, PackageError, SourceLanguage};
use crate::runtime::{Program, Runtime, RuntimeError};

/// The environment variable naming the runners directory.
pub const RUNNERS_DIR_ENV: &str = "WEIR_RUNNERS_DIR";

/// The runners directory when none is given: `$XDG_CACHE_HOME/weir/runners`, else
/// `~/.cache/weir/runners`, else `./weir-runners`.
pub fn default_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".cache"))
        });
    match cache {
        Some(cache) => cache.join("weir").join("runners"),
        None => PathBuf::from("weir-runners"),
    }
}

/// The file of `language`'s runner in `dir`.
pub fn runner_path(dir: &Path, language: SourceLanguage) -> PathBuf {
    dir.join(format!("{}.wasm", language.name()))
}

/// Why a package's program could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The package was refused, or its language's runner is not built.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// The component (or the runner) did not compile or link.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The runner file is something else than a runner.
    #[error("{0}")]
    NotARunner(String),
}

/// The runners of one directory, each loaded at most once per version of its file.
pub struct Runners {
    dir: PathBuf,
    loaded: Mutex<HashMap<SourceLanguage, Loaded>>,
}

struct Loaded {
    /// The file's modification time and length when it was loaded.
    version: (SystemTime, u64),
    program: Program,
}

impl Runners {
    /// The runners in `dir` (which need not exist yet).
    pub fn new(dir: impl Into<PathBuf>) -> Runners {
        Runners {
            dir: dir.into(),
            loaded: Mutex::default(),
        }
    }

    /// The directory the runners are read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The program of `package`, granted `grants`: its component, or for a source package
    /// its language's runner reading the package's files. A runner that is not built is a
    /// [`PackageError::RunnerMissing`] naming the command that builds it.
    pub fn program(
        &self,
        runtime: &Runtime,
        package: &Package,
        grants: Grants,
    ) -> Result<Program, RunnerError> {
        match package.manifest.source {
            None => Ok(runtime
                .load(&package.component_path)?
                .with_grants(grants, &package.dir)),
            Some(language) => Ok(self
                .runner(runtime, language)?
                .with_source(grants, &package.dir)),
        }
    }

    /// `language`'s runner, loaded (compiled on first use) and kept.
    pub fn runner(
        &self,
        runtime: &Runtime,
        language: SourceLanguage,
    ) -> Result<Program, RunnerError> {
        let path = runner_path(&self.dir, language);
        let version = std::fs::metadata(&path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
            .ok_or_else(|| self.missing(language))?;
        if let Some(loaded) = self.lock().get(&language)
            && loaded.version == version
        {
            return Ok(loaded.program.clone());
        }
        // Two first uploads at once may both load it; the compile cache makes the second cheap.
        let program = runtime.load(&path)?;
        if program.entry_kind() != "sequence" {
            return Err(RunnerError::NotARunner(format!(
                "{} is not a {} runner (it exports no sequence `run`); build it again with `{}`",
                path.display(),
                language.title(),
                build_command(language, &self.dir)
            )));
        }
        self.lock().insert(
            language,
            Loaded {
                version,
                program: program.clone(),
            },
        );
        Ok(program)
    }

    /// Whether `language`'s runner is built here.
    pub fn is_built(&self, language: SourceLanguage) -> bool {
        runner_path(&self.dir, language).is_file()
    }

    fn missing(&self, language: SourceLanguage) -> RunnerError {
        RunnerError::Package(PackageError::RunnerMissing {
            language: language.title(),
            command: build_command(language, &self.dir),
            tool: match language {
                SourceLanguage::JavaScript => COMPONENTIZE_JS.install,
                SourceLanguage::Python => COMPONENTIZE_PY.install,
            },
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SourceLanguage, Loaded>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The command that builds `language`'s runner into `dir`.
pub fn build_command(language: SourceLanguage, dir: &Path) -> String {
    format!(
        "weir runner build {} --runners-dir {}",
        language.name(),
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_runner_names_the_command_that_builds_it() {
        let dir = tempfile::tempdir().unwrap();
        let runners = Runners::new(dir.path());
        assert!(!runners.is_built(SourceLanguage::Python));
        let message = runners.missing(SourceLanguage::Python).to_string();
        assert!(
            message.contains(&format!(
                "weir runner build python --runners-dir {}",
                dir.path().display()
            )),
            "{message}"
        );
        assert!(message.contains("pip install componentize-py"), "{message}");
        assert!(message.contains("Python sequence"), "{message}");
    }
}
