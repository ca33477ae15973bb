//! A compiled component ready to instantiate, with the limits and grants its instances get.

use std::path::Path;
use std::sync::Arc;

use wasmtime_wasi::p2::bindings::CommandPre;

use super::bindings::RunnerPre;
use super::bindings::render::RenderPre;
use super::error::RuntimeError;
use super::footprint::Footprint;
use super::limits::Limits;
use super::sandbox;
use super::state::InstanceState;
use crate::package::Grants;

/// How a program is entered.
#[derive(Clone)]
pub(crate) enum Entry {
    /// Exports `run` from the `weir:plugin` sequence world.
    Sequence(RunnerPre<InstanceState>),
    /// A plain WASI command (`wasi:cli/run`).
    Command(CommandPre<InstanceState>),
    /// Exports `render` from the `weir:plugin` render world.
    Render(RenderPre<InstanceState>),
}

/// A compiled component, ready to instantiate any number of times, and the
/// capabilities its instances get (none unless [`Program::with_grants`]).
#[derive(Clone)]
pub struct Program {
    pub(crate) entry: Entry,
    /// SHA-256 of the component bytes (hex).
    pub digest: String,
    pub(crate) sandbox: Arc<sandbox::Sandbox>,
    /// The package's own limits, applied to every instance and frame.
    pub(crate) limits: Limits,
    /// What one instance takes from the pool.
    pub(crate) footprint: Footprint,
}

impl Program {
    /// The same program with the package's limits (`[limits]` in its
    /// manifest). They tighten the runtime's and the start options' limits
    /// for every instance and render frame; they never loosen them.
    pub fn with_limits(self, limits: Limits) -> Program {
        Program { limits, ..self }
    }

    /// The package's limits (see [`Program::with_limits`]).
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// What one instance of this program needs: core instances, memories, tables and the
    /// memory it starts with.
    pub fn footprint(&self) -> Footprint {
        self.footprint
    }

    /// Refuses `limits` when their memory limit (which `limit` names in the message, e.g.
    /// "the package's limits.memory_mb") is below what the component starts with.
    pub fn check_limits(&self, limits: &Limits, limit: &str) -> Result<(), RuntimeError> {
        self.footprint.check_memory(limits.memory_bytes, limit)
    }

    /// `"sequence"` for the weir sequence world, `"render"` for the render
    /// world, `"command"` for a WASI command.
    pub fn entry_kind(&self) -> &'static str {
        match self.entry {
            Entry::Sequence(_) => "sequence",
            Entry::Command(_) => "command",
            Entry::Render(_) => "render",
        }
    }

    /// Whether this is a render component (see [`Runtime::render`]).
    pub fn is_render(&self) -> bool {
        matches!(self.entry, Entry::Render(_))
    }

    /// The same program with `grants` for every instance and frame;
    /// `package_dir` is what a `files` grant shows at [`PACKAGE_DIR`].
    pub fn with_grants(self, grants: Grants, package_dir: &Path) -> Program {
        let sandbox = sandbox::Sandbox {
            grants,
            package_dir: Some(package_dir.to_path_buf()),
            source: false,
        };
        Program {
            sandbox: Arc::new(sandbox),
            ..self
        }
    }

    /// This language runner as the program of the source package in `package_dir`: its
    /// instances read the package's files (their code) through `source-package.read-file` and at
    /// [`PACKAGE_DIR`], read-only, and get `grants` as any program.
    pub fn with_source(self, grants: Grants, package_dir: &Path) -> Program {
        let sandbox = sandbox::Sandbox {
            grants,
            package_dir: Some(package_dir.to_path_buf()),
            source: true,
        };
        Program {
            sandbox: Arc::new(sandbox),
            ..self
        }
    }

    /// The same program with its package's files now in `package_dir` (the package moved).
    pub fn with_package_dir(self, package_dir: &Path) -> Program {
        let sandbox = sandbox::Sandbox {
            package_dir: Some(package_dir.to_path_buf()),
            ..(*self.sandbox).clone()
        };
        Program {
            sandbox: Arc::new(sandbox),
            ..self
        }
    }

    /// Whether this program runs a source package (see [`Program::with_source`]).
    pub fn is_source(&self) -> bool {
        self.sandbox.source
    }

    /// What this program's instances are granted.
    pub fn grants(&self) -> &Grants {
        &self.sandbox.grants
    }
}
