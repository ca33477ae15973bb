//! `weir new NAME --lang rust|js|python --kind sequence|render`: scaffold a plugin that
//! builds with `weir pack` and runs as it is.
//!
//! A JavaScript or Python plugin needs nothing but its directory: `weir pack` carries weir's
//! WIT and the language's SDK inside the binary. A Rust plugin depends on the `weir-sdk`
//! crate by path: `--sdk DIR`, else `$WEIR_SDK`, else the `sdk/` of the weir source tree
//! this binary was built from, when it is still there.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Arguments of `weir new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits and `-`, starting with a letter.
    pub name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
    /// What it runs as: a stream processor or a frame renderer.
    #[arg(long, value_enum, default_value_t = NewKind::Sequence)]
    pub kind: NewKind,
    /// Where to create it (default: `./NAME`); must not exist yet.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The weir-sdk crate a Rust plugin depends on (default: `$WEIR_SDK`, else this weir's
    /// source tree).
    #[arg(long, env = "WEIR_SDK")]
    pub sdk: Option<PathBuf>,
}

/// A plugin language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the weir-sdk crate.
    Rust,
    /// JavaScript, built with componentize-js.
    Js,
    /// Python, built with componentize-py.
    Python,
}

/// What a new plugin runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NewKind {
    /// A sequence: input lines in, greetings out.
    Sequence,
    /// A render plugin: one text artifact per frame.
    Render,
}

/// Creates the plugin and returns its directory.
pub fn new(args: &NewArgs) -> anyhow::Result<PathBuf> {
    let name = &args.name;
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "invalid plugin name {name:?}: use lowercase letters, digits and -, starting with a letter"
        );
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let kind = match args.kind {
        NewKind::Sequence => "sequence",
        NewKind::Render => "render",
    };
    let mut files = vec![(
        "weir.toml".to_string(),
        format!("name = \"{name}\"\nversion = \"0.1.0\"\nkind = \"{kind}\"\n"),
    )];
    let (source, text) = match (args.lang, args.kind) {
        (Lang::Js, NewKind::Sequence) => ("app.js", JS_SEQUENCE),
        (Lang::Js, NewKind::Render) => ("app.js", JS_RENDER),
        (Lang::Python, NewKind::Sequence) => ("app.py", PY_SEQUENCE),
        (Lang::Python, NewKind::Render) => ("app.py", PY_RENDER),
        (Lang::Rust, NewKind::Sequence) => ("src/lib.rs", RUST_SEQUENCE),
        (Lang::Rust, NewKind::Render) => ("src/lib.rs", RUST_RENDER),
    };
    files.push((source.to_string(), text.to_string()));
    if args.lang == Lang::Rust {
        let sdk = rust_sdk(args.sdk.as_deref())?;
        files.push(("Cargo.toml".to_string(), cargo_toml(name, &sdk)));
        files.push((".gitignore".to_string(), "/target\n*.tar.gz\n".to_string()));
    } else {
        files.push((".gitignore".to_string(), "*.tar.gz\n".to_string()));
    }
    files.push(("README.md".to_string(), readme(name, args.lang, kind)));
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(dir)
}

/// The weir-sdk crate directory for a Rust plugin.
fn rust_sdk(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    let sdk = given.map(Path::to_path_buf).unwrap_or(built_from);
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "no weir-sdk crate at {}: a Rust plugin depends on it by path; pass --sdk DIR (or set WEIR_SDK) to the sdk/ directory of a weir checkout",
            sdk.display()
        );
    }
    Ok(sdk.canonicalize()?)
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nweir-sdk = {{ path = {:?} }}\n\n\
         # Its own workspace: built by `weir pack` for wasm32-wasip2.\n[workspace]\n\n\
         [profile.release]\nopt-level = 3\nstrip = \"debuginfo\"\n",
        sdk.display().to_string()
    )
}

fn readme(name: &str, lang: Lang, kind: &str) -> String {
    let (what, needs) = match lang {
        Lang::Rust => (
            "Rust",
            "Rust with the wasm32-wasip2 target (`rustup target add wasm32-wasip2`)",
        ),
        Lang::Js => (
            "JavaScript",
            "componentize-js (`npm install -g @bytecodealliance/componentize-js@0.23.0`)",
        ),
        Lang::Python => (
            "Python",
            "componentize-py (`pip install componentize-py==0.25.1`)",
        ),
    };
    let try_it = if kind == "sequence" {
        format!("printf 'world\\n' | weir run {name}.tar.gz   # Hello world!")
    } else {
        format!("weir job submit {name}.tar.gz --frames 1-3   # on a running hub (weir serve)")
    };
    format!(
        "# {name}\n\nA weir {kind} plugin in {what}. Building it needs {needs}.\n\n```sh\nweir pack . -o {name}.tar.gz\n{try_it}\n```\n"
    )
}

const JS_SEQUENCE: &str = r#"// Greets each input line: `X` becomes `Hello X!`.
// The default export is the plugin; `ctx` has input, output, events, topics, config and log.

/** @param {import("weir-sdk").Context} ctx */
export default async function main(ctx) {
  await ctx.mapLines((line) => `Hello ${line}!`);
}
"#;

const JS_RENDER: &str = r#"// Renders frame N as `frame-N.txt` holding "TEXT N" (setting `text`, default "frame").

/** @param {import("weir-sdk/render").Frame} frame */
export default async function render(frame) {
  const { text } = frame.settingsWith({ text: "frame" });
  frame.progress(1);
  return [frame.artifact(`frame-${frame.padded()}.txt`, "text/plain", `${text} ${frame.number}\n`)];
}
"#;

const PY_SEQUENCE: &str = r#""""Greets each input line: ``X`` becomes ``Hello X!``."""

import weir


@weir.sequence
async def main(ctx: weir.Context) -> None:
    await ctx.map_lines(lambda line: f"Hello {line}!")
"#;

const PY_RENDER: &str = r#""""Renders frame N as ``frame-N.txt`` holding "TEXT N" (setting ``text``, default "frame")."""

import weir


@weir.render
async def render(frame: weir.Frame) -> list:
    text = frame.settings_with({"text": "frame"})["text"]
    frame.progress(1.0)
    return [frame.artifact(f"frame-{frame.padded()}.txt", "text/plain", f"{text} {frame.number}\n")]
"#;

const RUST_SEQUENCE: &str = r#"//! Greets each input line: `X` becomes `Hello X!`.

use weir_sdk::{Context, Result};

#[weir_sdk::sequence]
fn run(ctx: &mut Context) -> Result<()> {
    ctx.map_lines(|line| Ok(format!("Hello {line}!")))
}

// `cargo test` runs the function natively, against an in-memory instance.
#[cfg(test)]
mod tests {
    use weir_sdk::testing::Instance;

    #[test]
    fn greets_each_line() {
        let ended = Instance::new().input("world\n").run(super::run);
        assert_eq!(ended.result, Ok(()));
        assert_eq!(ended.output_text(), "Hello world!\n");
    }
}
"#;

const RUST_RENDER: &str = r#"//! Renders frame N as `frame-N.txt` holding "TEXT N" (setting `text`, default "frame").

use weir_sdk::prelude::*;

#[weir_sdk::render]
fn render(frame: &Frame) -> Result<Vec<Artifact>> {
    let text = frame.config()["text"].as_str().unwrap_or("frame").to_owned();
    frame.progress(1.0);
    let name = format!("frame-{:06}.txt", frame.number());
    Ok(vec![Artifact::new(name, "text/plain", format!("{text} {}\n", frame.number()))])
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_lowercase_words() {
        for name in ["Hello", "1x", "a_b", ""] {
            let args = NewArgs {
                name: name.into(),
                lang: Lang::Js,
                kind: NewKind::Sequence,
                dir: None,
                sdk: None,
            };
            assert!(
                new(&args)
                    .unwrap_err()
                    .to_string()
                    .contains("invalid plugin name")
            );
        }
    }

    #[test]
    fn a_python_render_plugin_has_its_manifest_and_source() {
        let root = tempfile::tempdir().unwrap();
        let args = NewArgs {
            name: "frames".into(),
            lang: Lang::Python,
            kind: NewKind::Render,
            dir: Some(root.path().join("frames")),
            sdk: None,
        };
        let dir = new(&args).unwrap();
        let manifest = fs::read_to_string(dir.join("weir.toml")).unwrap();
        assert!(manifest.contains("kind = \"render\""), "{manifest}");
        assert!(
            fs::read_to_string(dir.join("app.py"))
                .unwrap()
                .contains("@weir.render")
        );
        assert!(
            new(&args)
                .unwrap_err()
                .to_string()
                .contains("already exists")
        );
    }
}
