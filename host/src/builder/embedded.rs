//! weir's WIT and the JavaScript and Python SDKs, carried inside the binary so that a plugin
//! builds against exactly the interfaces this weir provides, wherever it lives.

use std::fs;
use std::path::Path;

/// One embedded file: its path under the directory it is written to, and its text.
pub(super) type Files = &'static [(&'static str, &'static str)];

/// The `weir:plugin` WIT package (`wit/`).
pub(super) const WIT: Files = &[
    ("context.wit", include_str!("../../../wit/context.wit")),
    ("events.wit", include_str!("../../../wit/events.wit")),
    ("frames.wit", include_str!("../../../wit/frames.wit")),
    ("io.wit", include_str!("../../../wit/io.wit")),
    ("log.wit", include_str!("../../../wit/log.wit")),
    ("render.wit", include_str!("../../../wit/render.wit")),
    ("runner.wit", include_str!("../../../wit/runner.wit")),
    ("sequence.wit", include_str!("../../../wit/sequence.wit")),
    ("topics.wit", include_str!("../../../wit/topics.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
];

/// The JavaScript SDK (`sdk/js/`).
pub(super) const JS_SDK: Files = &[
    ("log.js", include_str!("../../../sdk/js/log.js")),
    ("sequence.js", include_str!("../../../sdk/js/sequence.js")),
    ("render.js", include_str!("../../../sdk/js/render.js")),
    ("index.d.ts", include_str!("../../../sdk/js/index.d.ts")),
    ("render.d.ts", include_str!("../../../sdk/js/render.d.ts")),
];

/// The Python SDK (`sdk/python/weir/`).
pub(super) const PY_SDK: Files = &[
    (
        "weir/__init__.py",
        include_str!("../../../sdk/python/weir/__init__.py"),
    ),
    (
        "weir/_json.py",
        include_str!("../../../sdk/python/weir/_json.py"),
    ),
    (
        "weir/_sequence.py",
        include_str!("../../../sdk/python/weir/_sequence.py"),
    ),
    (
        "weir/_render.py",
        include_str!("../../../sdk/python/weir/_render.py"),
    ),
    (
        "weir/py.typed",
        include_str!("../../../sdk/python/weir/py.typed"),
    ),
];

/// The JavaScript runner (`runners/js/`) and its entry module.
pub(super) const JS_RUNNER: Files = &[
    ("context.js", include_str!("../../../runners/js/context.js")),
    ("host.js", include_str!("../../../runners/js/host.js")),
    ("input.js", include_str!("../../../runners/js/input.js")),
    ("loader.js", include_str!("../../../runners/js/loader.js")),
    (
        "node/buffer.js",
        include_str!("../../../runners/js/node/buffer.js"),
    ),
    (
        "node/builtins.js",
        include_str!("../../../runners/js/node/builtins.js"),
    ),
    (
        "node/events.js",
        include_str!("../../../runners/js/node/events.js"),
    ),
    (
        "node/path.js",
        include_str!("../../../runners/js/node/path.js"),
    ),
    (
        "node/process.js",
        include_str!("../../../runners/js/node/process.js"),
    ),
    (
        "node/stream.js",
        include_str!("../../../runners/js/node/stream.js"),
    ),
    (
        "node/streams/duplex.js",
        include_str!("../../../runners/js/node/streams/duplex.js"),
    ),
    (
        "node/streams/pipeline.js",
        include_str!("../../../runners/js/node/streams/pipeline.js"),
    ),
    (
        "node/streams/readable.js",
        include_str!("../../../runners/js/node/streams/readable.js"),
    ),
    (
        "node/streams/shared.js",
        include_str!("../../../runners/js/node/streams/shared.js"),
    ),
    (
        "node/streams/writable.js",
        include_str!("../../../runners/js/node/streams/writable.js"),
    ),
    (
        "node/string_decoder.js",
        include_str!("../../../runners/js/node/string_decoder.js"),
    ),
    (
        "node/tick.js",
        include_str!("../../../runners/js/node/tick.js"),
    ),
    (
        "node/timers.js",
        include_str!("../../../runners/js/node/timers.js"),
    ),
    (
        "node/util.js",
        include_str!("../../../runners/js/node/util.js"),
    ),
    ("output.js", include_str!("../../../runners/js/output.js")),
    ("runner.js", include_str!("../../../runners/js/runner.js")),
    (
        "sequence.js",
        include_str!("../../../runners/js/sequence.js"),
    ),
];
pub(super) const JS_RUNNER_ENTRY: &str = "runner.js";

/// The Python runner (`runners/python/`) and its entry module.
pub(super) const PY_RUNNER: Files = &[
    (
        "scramjet/__init__.py",
        include_str!("../../../runners/python/scramjet/__init__.py"),
    ),
    (
        "scramjet/streams.py",
        include_str!("../../../runners/python/scramjet/streams.py"),
    ),
    (
        "weir_runner/__init__.py",
        include_str!("../../../runners/python/weir_runner/__init__.py"),
    ),
    (
        "weir_runner/codec.py",
        include_str!("../../../runners/python/weir_runner/codec.py"),
    ),
    (
        "weir_runner/context.py",
        include_str!("../../../runners/python/weir_runner/context.py"),
    ),
    (
        "weir_runner/finder.py",
        include_str!("../../../runners/python/weir_runner/finder.py"),
    ),
    (
        "weir_runner/host.py",
        include_str!("../../../runners/python/weir_runner/host.py"),
    ),
    (
        "weir_runner/loop.py",
        include_str!("../../../runners/python/weir_runner/loop.py"),
    ),
    (
        "weir_runner/package.py",
        include_str!("../../../runners/python/weir_runner/package.py"),
    ),
    (
        "weir_runner/preload.py",
        include_str!("../../../runners/python/weir_runner/preload.py"),
    ),
    (
        "weir_runner/sequence.py",
        include_str!("../../../runners/python/weir_runner/sequence.py"),
    ),
];
pub(super) const PY_RUNNER_MODULE: &str = "weir_runner";

/// Writes `files` under `dir`.
pub(super) fn write(dir: &Path, files: Files) -> std::io::Result<()> {
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// The files under `dir` (relative, `/`-separated) with one of `extensions`, leaving out
    /// tests and caches.
    fn on_disk(dir: &Path, extensions: &[&str]) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, extensions: &[&str], out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_dir() {
                    if !["test", "tests", "__pycache__", "node_modules"].contains(&name.as_str()) {
                        walk(root, &path, extensions, out);
                    }
                } else if extensions.iter().any(|ext| name.ends_with(ext)) {
                    let relative = path.strip_prefix(root).unwrap();
                    out.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, extensions, &mut out);
        out.sort();
        out
    }

    fn embedded(files: Files) -> Vec<String> {
        let mut names: Vec<String> = files.iter().map(|(name, _)| name.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn every_source_file_is_carried_in_the_binary() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(embedded(WIT), on_disk(&root.join("wit"), &[".wit"]));
        assert_eq!(
            embedded(JS_RUNNER),
            on_disk(&root.join("runners/js"), &[".js"])
        );
        assert_eq!(
            embedded(PY_RUNNER),
            on_disk(&root.join("runners/python"), &[".py"])
        );
    }
}
