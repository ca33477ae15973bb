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
pub(super) const JS_RUNNER: Files = &[];
pub(super) const JS_RUNNER_ENTRY: &str = "runner.js";

/// The Python runner (`runners/python/`) and its entry module.
pub(super) const PY_RUNNER: Files = &[];
pub(super) const PY_RUNNER_MODULE: &str = "runner";

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
