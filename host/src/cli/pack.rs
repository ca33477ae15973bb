//! `weir pack DIR [-o FILE]`: build (Cargo crates, JavaScript and Python plugins) and
//! package a plugin.

use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use flate2::{Compression, write::GzEncoder};

use crate::builder::{self, Language};
use crate::package::{self, Manifest, PACKAGE_JSON, WEIR_TOML};

/// Arguments of `weir pack`.
#[derive(Debug, clap::Args)]
pub struct PackArgs {
    /// The plugin directory: holds weir.toml (or package.json), and may be a Cargo crate, a
    /// JavaScript plugin (app.js) or a Python plugin (app.py).
    pub dir: PathBuf,
    /// Where to write the package (default: `<name>.tar.gz` in the current directory).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Packs `args.dir` and returns the path of the written `.tar.gz`.
pub fn pack(args: &PackArgs) -> anyhow::Result<PathBuf> {
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("cannot open plugin directory {}", args.dir.display()))?;
    let language = builder::detect(&dir);
    // Where a JavaScript or Python build stages its sources; removed when packed.
    let staging = tempfile::tempdir()?;
    let (manifest, files) = match language {
        Some(Language::Rust) => {
            // A bad weir.toml is reported before the build, not after it.
            if dir.join(WEIR_TOML).is_file() {
                let text = fs::read_to_string(dir.join(WEIR_TOML))?;
                Manifest::from_toml(&text, Some("plugin.wasm"))?;
            }
            let wasm = build_crate(&dir)?;
            let file_name = file_name(&wasm)?;
            let manifest = crate_manifest(&dir, &wasm, &file_name)?;
            (manifest, vec![(file_name, wasm)])
        }
        Some(language) => {
            let text = fs::read_to_string(dir.join(WEIR_TOML)).with_context(|| {
                format!(
                    "a {} plugin needs a {WEIR_TOML} next to it (name, version, kind)",
                    language.entry()
                )
            })?;
            let mut manifest = Manifest::from_toml(&text, Some("plugin.wasm"))?;
            manifest.component = format!("{}.wasm", file_stem_for(&manifest.name));
            let wasm = builder::build(&dir, language, &manifest, staging.path())?;
            let component = manifest.component.clone();
            (manifest, vec![(component, wasm)])
        }
        None => directory_contents(&dir)?,
    };
    let built = language.is_some();
    let component = files
        .iter()
        .find(|(name, _)| *name == manifest.component)
        .map(|(_, path)| path.clone())
        .ok_or_else(|| match manifest.source {
            // A Scramjet sequence in JavaScript or Python: packed as it is, its runner runs it.
            Some(_) => package::PackageError::MissingMain(manifest.component.clone()),
            None => package::PackageError::MissingComponent(manifest.component.clone()),
        })?;
    if manifest.source.is_none() {
        package::check_component_header(&component, &manifest.component)?;
        let bytes =
            fs::read(&component).with_context(|| format!("cannot read {}", component.display()))?;
        package::check_kind(manifest.kind, crate::runtime::exported_world(&bytes))?;
    }
    let output = match &args.output {
        Some(path) => path.clone(),
        None => PathBuf::from(format!("{}.tar.gz", file_stem_for(&manifest.name))),
    };
    write_archive(&output, &manifest, built, &files)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(output)
}

/// Builds the crate for wasm32-wasip2 in release mode and returns its `.wasm`.
fn build_crate(dir: &Path) -> anyhow::Result<PathBuf> {
    crate::toolchain::ensure_wasm_target(dir, &|line| eprintln!("weir: {line}"))
        .map_err(anyhow::Error::msg)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest_path = dir.join("Cargo.toml");
    let mut child = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(&manifest_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot run cargo to build the plugin (is Rust installed?)")?;
    let stdout = child.stdout.take().context("cargo has no stdout")?;
    let mut wasm = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let ours = message["manifest_path"]
            .as_str()
            .is_some_and(|p| Path::new(p) == manifest_path);
        if message["reason"] == "compiler-artifact" && ours {
            let files = message["filenames"].as_array().into_iter().flatten();
            if let Some(path) = files
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
            {
                wasm = Some(PathBuf::from(path));
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo build of {} failed ({status})", dir.display());
    }
    wasm.with_context(|| {
        format!(
            "cargo built no .wasm for {}; a plugin crate needs crate-type = [\"cdylib\"] (or a `fn main` for a WASI command)",
            dir.display()
        )
    })
}

/// The manifest of a crate: its weir.toml or package.json, with the built
/// component's name filled in; a plain sequence named after the crate when
/// it has neither.
fn crate_manifest(dir: &Path, wasm: &Path, file_name: &str) -> anyhow::Result<Manifest> {
    let mut manifest = if dir.join(WEIR_TOML).is_file() {
        let text = fs::read_to_string(dir.join(WEIR_TOML))?;
        Manifest::from_toml(&text, Some(file_name))?
    } else if dir.join(PACKAGE_JSON).is_file() {
        Manifest::from_package_json(&fs::read_to_string(dir.join(PACKAGE_JSON))?, |file| {
            dir.join(file).is_file()
        })?
    } else {
        let name = wasm
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin");
        Manifest::from_toml(&format!("name = {name:?}\n"), Some(file_name))?
    };
    manifest.component = file_name.to_string();
    Ok(manifest)
}

/// Every regular file under `dir` (hidden files and `.tar.gz` left out), and
/// the manifest found among them.
fn directory_contents(dir: &Path) -> anyhow::Result<(Manifest, Vec<(String, PathBuf)>)> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let manifest = if dir.join(WEIR_TOML).is_file() {
        Manifest::from_toml(&fs::read_to_string(dir.join(WEIR_TOML))?, None)?
    } else if dir.join(PACKAGE_JSON).is_file() {
        Manifest::from_package_json(&fs::read_to_string(dir.join(PACKAGE_JSON))?, |file| {
            dir.join(file).is_file()
        })?
    } else {
        return Err(package::PackageError::MissingManifest.into());
    };
    Ok((manifest, files))
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".tar.gz") {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(root, &path, files)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            files.push((rel, path));
        }
    }
    Ok(())
}

fn write_archive(
    output: &Path,
    manifest: &Manifest,
    rewrite_manifest: bool,
    files: &[(String, PathBuf)],
) -> anyhow::Result<()> {
    let tmp = tempfile::NamedTempFile::new_in(
        output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )?;
    let mut builder = tar::Builder::new(GzEncoder::new(tmp.reopen()?, Compression::default()));
    builder.mode(tar::HeaderMode::Deterministic);
    if rewrite_manifest {
        let text = manifest.to_toml()?;
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, WEIR_TOML, text.as_bytes())?;
    }
    for (name, path) in files {
        builder.append_path_with_name(path, name)?;
    }
    builder.into_inner()?.finish()?.sync_all()?;
    tmp.persist(output)?;
    Ok(())
}

fn file_name(path: &Path) -> anyhow::Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .with_context(|| format!("odd component path {}", path.display()))
}

/// `@scope/name` → `scope-name`, safe as a file name.
fn file_stem_for(name: &str) -> String {
    name.trim_start_matches('@').replace('/', "-")
}
