//! Building JavaScript and Python plugin directories into components.
//!
//! A plugin directory holds a `weir.toml` and, for JavaScript, an `app.js` whose default
//! export is the plugin function, or, for Python, an `app.py` with a `@weir.sequence` or
//! `@weir.render` function. [`build`] stages the sources next to weir's WIT and the
//! language's SDK (both carried inside the weir binary, so a plugin builds the same in and
//! out of this repository), adds a few lines of glue that export the world's entry point,
//! and runs the language's componentizer:
//!
//! - JavaScript: `componentize-js` (npm `@bytecodealliance/componentize-js`), with
//!   `-d http fetch-event` so the component imports no `wasi:http`;
//! - Python: `componentize-py` (PyPI `componentize-py`).
//!
//! Each tool is `$WEIR_COMPONENTIZE_JS` / `$WEIR_COMPONENTIZE_PY` or found on the `PATH`;
//! when it is missing the error says how to install it ([`BuildError::ToolMissing`]).
//!
//! ```no_run
//! use weir::builder::{self, Language};
//! use weir::package::Manifest;
//!
//! let dir = std::path::Path::new("plugins/js/hello");
//! assert_eq!(builder::detect(dir), Some(Language::JavaScript));
//! let manifest = Manifest::from_toml(&std::fs::read_to_string(dir.join("weir.toml"))?, Some("x.wasm"))?;
//! let staging = tempfile::tempdir()?;
//! let wasm = builder::build(dir, Language::JavaScript, &manifest, staging.path())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod embedded;
mod tools;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::package::{Kind, Manifest, SourceLanguage};
pub use tools::{COMPONENTIZE_JS, COMPONENTIZE_PY, Tool};

/// The language of a plugin directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// A Cargo crate built for wasm32-wasip2 (`Cargo.toml`).
    Rust,
    /// `app.js`, built with componentize-js.
    JavaScript,
    /// `app.py`, built with componentize-py.
    Python,
}

impl Language {
    /// The entry file of a JavaScript or Python plugin.
    pub fn entry(self) -> &'static str {
        match self {
            Language::Rust => "Cargo.toml",
            Language::JavaScript => "app.js",
            Language::Python => "app.py",
        }
    }
}

/// Why a plugin directory could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The componentizer is not installed; the message says how to install it.
    #[error("{tool} is not installed, and building a {language} plugin needs it: {install}")]
    ToolMissing {
        /// The tool's command name.
        tool: &'static str,
        /// The language it builds.
        language: &'static str,
        /// How to install it (a command and the environment variable to set instead).
        install: String,
    },
    /// The componentizer ran and failed (its own output went to stderr).
    #[error("{tool} failed ({status}) building {dir}; its output is above")]
    Failed {
        /// The tool's command name.
        tool: &'static str,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The plugin directory.
        dir: String,
    },
    /// A Rust crate was given: cargo builds those (`weir pack` does).
    #[error("a Rust plugin is built with cargo, not a componentizer")]
    NotComponentized,
    /// Reading the sources or writing the staging directory failed.
    #[error("cannot stage the plugin: {0}")]
    Io(#[from] std::io::Error),
}

/// The language of the plugin in `dir`: Rust for a Cargo crate, JavaScript for `app.js`,
/// Python for `app.py`; `None` for a directory that holds a built component.
pub fn detect(dir: &Path) -> Option<Language> {
    [Language::Rust, Language::JavaScript, Language::Python]
        .into_iter()
        .find(|language| dir.join(language.entry()).is_file())
}

/// Builds the JavaScript or Python plugin in `dir` as `manifest.kind` into `staging` (a
/// fresh directory the caller removes) and returns the component's path.
pub fn build(
    dir: &Path,
    language: Language,
    manifest: &Manifest,
    staging: &Path,
) -> Result<PathBuf, BuildError> {
    let world = match manifest.kind {
        Kind::Sequence => "sequence",
        Kind::Render => "render",
    };
    let wit = staging.join("wit");
    embedded::write(&wit, embedded::WIT)?;
    let output = staging.join("component.wasm");
    let (tool, command) = match language {
        Language::Rust => return Err(BuildError::NotComponentized),
        Language::JavaScript => {
            let tool = &COMPONENTIZE_JS;
            copy_sources(dir, &staging.join("app"))?;
            embedded::write(&staging.join("weir-sdk"), embedded::JS_SDK)?;
            fs::write(staging.join("weir-main.js"), js_glue(manifest.kind))?;
            let mut command = tool.command()?;
            command
                .arg(staging.join("weir-main.js"))
                .arg("--wit")
                .arg(&wit)
                .args(["--world-name", world, "--disable"])
                .args(js_disabled(manifest.kind))
                .arg("--out")
                .arg(&output);
            (tool, command)
        }
        Language::Python => {
            let tool = &COMPONENTIZE_PY;
            let sdk = staging.join("sdk");
            embedded::write(&sdk, embedded::PY_SDK)?;
            fs::write(staging.join("weir_main.py"), python_glue(manifest.kind))?;
            let mut command = tool.command()?;
            command
                .arg("--wit-path")
                .arg(&wit)
                .args(["--world", world, "componentize"])
                .arg("--python-path")
                .arg(staging)
                .arg("--python-path")
                .arg(&sdk)
                .arg("--python-path")
                .arg(dir)
                .args(["weir_main", "--output"])
                .arg(&output);
            (tool, command)
        }
    };
    eprintln!(
        "weir: building {} with {} (a {world} component; this takes 10–45 s)",
        manifest.name, tool.name
    );
    componentize(tool, command, staging, output, dir.display().to_string())
}

/// Runs a componentizer in `staging` with its output shown, and returns `output`, the
/// component it must have written; `what` names what was built in the error.
fn componentize(
    tool: &Tool,
    mut command: std::process::Command,
    staging: &Path,
    output: PathBuf,
    what: String,
) -> Result<PathBuf, BuildError> {
    let status = command
        .current_dir(staging)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| tool.missing_or(e))?;
    if !status.success() || !output.is_file() {
        return Err(BuildError::Failed {
            tool: tool.name,
            status,
            dir: what,
        });
    }
    Ok(output)
}

/// Builds `language`'s runner (the component that runs Scramjet sequences in that language,
/// `docs/scramjet-sequences.md`) from the sources carried in this binary into `staging` (a
/// fresh directory the caller removes) and returns the component's path.
pub fn build_runner(language: SourceLanguage, staging: &Path) -> Result<PathBuf, BuildError> {
    let wit = staging.join("wit");
    embedded::write(&wit, embedded::WIT)?;
    let sources = staging.join("runner");
    let output = staging.join("runner.wasm");
    let (tool, command) = match language {
        SourceLanguage::JavaScript => {
            let tool = &COMPONENTIZE_JS;
            embedded::write(&sources, embedded::JS_RUNNER)?;
            let mut command = tool.command()?;
            command
                .arg(sources.join(embedded::JS_RUNNER_ENTRY))
                .arg("--wit")
                .arg(&wit)
                .args(["--world-name", "runner", "--disable"])
                .args(js_disabled(Kind::Sequence))
                .arg("--out")
                .arg(&output);
            (tool, command)
        }
        SourceLanguage::Python => {
            let tool = &COMPONENTIZE_PY;
            embedded::write(&sources, embedded::PY_RUNNER)?;
            let mut command = tool.command()?;
            command
                .arg("--wit-path")
                .arg(&wit)
                .args(["--world", "runner", "componentize"])
                .arg("--python-path")
                .arg(&sources)
                .arg(embedded::PY_RUNNER_MODULE)
                .arg("--output")
                .arg(&output);
            (tool, command)
        }
    };
    eprintln!(
        "weir: building the {} runner with {} (this takes 15–60 s)",
        language.title(),
        tool.name
    );
    let what = format!("the {} runner", language.title());
    componentize(tool, command, staging, output, what)
}

/// What componentize-js leaves out: `wasi:http` always (weir grants no outgoing HTTP), and
/// for a render plugin the clocks, randomness and stdio as well (a frame's bytes depend only
/// on its request).
fn js_disabled(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Sequence => &["http", "fetch-event"],
        Kind::Render => &["stdio", "random", "clocks", "http", "fetch-event"],
    }
}

/// The module componentize-js builds: the plugin's default export behind the world's entry.
fn js_glue(kind: Kind) -> String {
    let (module, runner, export) = match kind {
        Kind::Sequence => (
            "sequence",
            "runSequence",
            "export async function run() {\n  return runSequence(main);\n}\n",
        ),
        Kind::Render => (
            "render",
            "runRender",
            "export async function render(request) {\n  return runRender(main, request);\n}\n",
        ),
    };
    format!(
        "// Generated by `weir pack`: the {module} world's export around app.js.\n\
         import main from \"./app/app.js\";\n\
         import {{ {runner} }} from \"./weir-sdk/{module}.js\";\n\n\
         if (typeof main !== \"function\") {{\n  throw new Error(\"app.js must export a function as its default export\");\n}}\n\n\
         {export}"
    )
}

/// The module componentize-py builds: imports app.py (which registers its function) and the
/// world's export class.
fn python_glue(kind: Kind) -> String {
    let module = match kind {
        Kind::Sequence => "_sequence",
        Kind::Render => "_render",
    };
    format!(
        "# Generated by `weir pack`: the world's export around app.py.\n\
         import app  # noqa: F401  (registers its @weir function)\n\
         from weir.{module} import WitWorld  # noqa: F401  (the export componentize-py looks for)\n"
    )
}

/// Copies the plugin's files (not hidden ones, `node_modules`, packages or components).
fn copy_sources(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let skipped = name.starts_with('.')
            || name == "node_modules"
            || name == "__pycache__"
            || name.ends_with(".tar.gz")
            || name.ends_with(".wasm");
        if skipped {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_sources(&entry.path(), &to.join(&*name))?;
        } else if kind.is_file() {
            fs::copy(entry.path(), to.join(&*name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_detected_by_its_entry_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(detect(dir.path()), None);
        fs::write(dir.path().join("app.py"), "").unwrap();
        assert_eq!(detect(dir.path()), Some(Language::Python));
        fs::write(dir.path().join("app.js"), "").unwrap();
        assert_eq!(detect(dir.path()), Some(Language::JavaScript));
        fs::write(dir.path().join("Cargo.toml"), "").unwrap();
        assert_eq!(detect(dir.path()), Some(Language::Rust));
    }

    #[test]
    fn a_javascript_build_never_imports_wasi_http() {
        for kind in [Kind::Sequence, Kind::Render] {
            assert!(js_disabled(kind).contains(&"http"));
            assert!(js_disabled(kind).contains(&"fetch-event"));
        }
        assert!(js_glue(Kind::Render).contains("export async function render(request)"));
        assert!(python_glue(Kind::Sequence).contains("from weir._sequence import WitWorld"));
    }
}
