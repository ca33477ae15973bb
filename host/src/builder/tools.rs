//! The componentizers: where they are found and how to install them.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::BuildError;

/// A componentizer weir runs to build plugins of one language.
#[derive(Debug)]
pub struct Tool {
    /// The command's name on the `PATH`.
    pub name: &'static str,
    /// The language it builds.
    pub language: &'static str,
    /// The environment variable that names the command's path instead.
    pub env: &'static str,
    /// The install command for the version weir is tested with.
    pub install: &'static str,
}

/// componentize-js, which builds JavaScript plugins.
pub const COMPONENTIZE_JS: Tool = Tool {
    name: "componentize-js",
    language: "JavaScript",
    env: "WEIR_COMPONENTIZE_JS",
    install: "npm install -g @bytecodealliance/componentize-js@0.23.0",
};

/// componentize-py, which builds Python plugins.
pub const COMPONENTIZE_PY: Tool = Tool {
    name: "componentize-py",
    language: "Python",
    env: "WEIR_COMPONENTIZE_PY",
    install: "pip install componentize-py==0.25.1",
};

impl Tool {
    /// The tool's path: `$ENV` when set, else the first match on the `PATH`.
    pub fn locate(&self) -> Result<PathBuf, BuildError> {
        if let Some(path) = std::env::var_os(self.env) {
            let path = PathBuf::from(path);
            if path.is_file() {
                return Ok(path);
            }
            return Err(self.missing(&format!(
                "{} names {}, which is not a file",
                self.env,
                path.display()
            )));
        }
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(self.name))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| self.missing(&format!("no {} on the PATH", self.name)))
    }

    /// A command that runs the tool.
    pub(super) fn command(&self) -> Result<Command, BuildError> {
        Ok(Command::new(self.locate()?))
    }

    /// The error for a tool that could not be started.
    pub(super) fn missing_or(&self, e: std::io::Error) -> BuildError {
        if e.kind() == std::io::ErrorKind::NotFound {
            self.missing(&format!("cannot run {}", self.name))
        } else {
            BuildError::Io(e)
        }
    }

    fn missing(&self, why: &str) -> BuildError {
        BuildError::ToolMissing {
            tool: self.name,
            language: self.language,
            install: format!(
                "{why}; install it with `{}` (or set {} to its path)",
                self.install, self.env
            ),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
