//! Packages: unpacking, manifests and the checks a package passes before it
//! is compiled.
//!
//! A package is a `.tar.gz` with a manifest (`weir.toml` or `package.json`)
//! and a WebAssembly component at its root. [`Package::unpack`] streams an
//! archive into a fresh directory under the hostile-input rules of
//! [`unpack`]; [`Package::open`] reads and checks an unpacked one.

mod grants;
mod manifest;
pub mod unpack;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub use grants::{GrantPolicy, Grants, HostPort, MAX_GRANT_ENTRIES, ManifestGrants, is_env_name};
pub use manifest::{
    Kind, MAX_MANIFEST_BYTES, Manifest, ManifestLimits, ManifestTopics, PACKAGE_JSON,
    SourceLanguage, WEIR_TOML,
};
pub use unpack::{UnpackLimits, UnpackStats};

/// Why a package was refused. Every variant but [`PackageError::Io`] is the
/// uploader's to fix (HTTP 422); `Io` is the hub's own failure (500).
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The upload had no bytes.
    #[error("the package is empty (0 bytes); send a .tar.gz")]
    EmptyUpload,
    /// The upload is not gzip data.
    #[error("the package is not a gzip file; send a .tar.gz (tar archive compressed with gzip)")]
    NotGzip,
    /// The gzip stream is corrupt or truncated.
    #[error("invalid package archive: {0}")]
    BadGzip(String),
    /// The gunzipped data is not a tar archive.
    #[error("invalid package archive: not a tar archive ({0})")]
    NotTar(String),
    /// The archive holds no entries.
    #[error("invalid package archive: the archive has no entries")]
    EmptyArchive,
    /// An entry path is absolute, has `..` or is too long.
    #[error(
        "invalid package archive: entry {0:?} {1}; paths must be relative and stay inside the package"
    )]
    UnsafePath(String, &'static str),
    /// A symlink or hard link.
    #[error(
        "invalid package archive: entry {0:?} is a link; packages may hold only regular files and directories"
    )]
    Link(String),
    /// A device file or FIFO.
    #[error(
        "invalid package archive: entry {0:?} is a device or FIFO; packages may hold only regular files and directories"
    )]
    SpecialFile(String),
    /// Another kind of tar entry.
    #[error("invalid package archive: entry {0:?} has unsupported type {1}")]
    UnsupportedEntry(String, String),
    /// The same path appears twice.
    #[error("invalid package archive: entry {0:?} appears more than once")]
    DuplicateEntry(String),
    /// More entries than allowed.
    #[error("invalid package archive: more than {0} entries")]
    TooManyEntries(usize),
    /// More unpacked bytes than allowed.
    #[error("invalid package archive: unpacks to more than {0} bytes")]
    TooLarge(u64),
    /// The archive compresses suspiciously well (a gzip bomb).
    #[error(
        "invalid package archive: compression ratio above {0}:1 (refused as a possible gzip bomb)"
    )]
    CompressionRatio(u64),
    /// Neither `weir.toml` nor `package.json` at the package root.
    #[error(
        "the package has no manifest: put weir.toml (or a package.json whose `main` names the .wasm) at the archive root"
    )]
    MissingManifest,
    /// The manifest does not parse or breaks a rule.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// The manifest's `[grants]` asks for capabilities the hub does not allow.
    #[error("the package asks for capabilities that are not allowed here: {0}")]
    GrantRefused(String),
    /// The manifest names a component file that is not in the package.
    #[error("the manifest names component {0:?}, which is not a file in the package")]
    MissingComponent(String),
    /// The manifest's `kind` does not match the world the component exports.
    #[error(
        "the manifest says kind = \"{kind}\" but the component exports the {world} world; {fix}"
    )]
    KindMismatch {
        /// The manifest's kind.
        kind: &'static str,
        /// The world the component exports (`sequence`, `render`, `command`).
        world: &'static str,
        /// What to change.
        fix: &'static str,
    },
    /// A source package's `main` is not a file in the package.
    #[error(
        "package.json's `main` names {0:?}, which is not a file in the package; put the sequence's source there or fix `main`"
    )]
    MissingMain(String),
    /// The runner of a source package's language is not built on this machine.
    #[error(
        "this package is a {language} sequence (its `main` is source code, run by weir's {language} runner), and the {language} runner is not built here: run `{command}` on this machine (it needs {tool}), then upload again"
    )]
    RunnerMissing {
        /// The language's name in sentences.
        language: &'static str,
        /// The command that builds the runner.
        command: String,
        /// What that command needs installed.
        tool: &'static str,
    },
    /// The component file is not WebAssembly.
    #[error("{0:?} is not a WebAssembly file")]
    NotWasm(String),
    /// The component file is a core module.
    #[error(
        "{0:?} is a core WebAssembly module, not a component; build it for the wasm32-wasip2 target (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule(String),
    /// Reading or writing files failed.
    #[error("package storage failed: {0}")]
    Io(#[source] io::Error),
}

impl PackageError {
    /// Whether the uploader caused the error (4xx) rather than the hub (5xx).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, PackageError::Io(_))
    }
}

/// An unpacked package whose manifest and component passed the checks.
#[derive(Debug, Clone)]
pub struct Package {
    /// Directory holding the unpacked files.
    pub dir: PathBuf,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Absolute path of the component file; for a source package, of its `main` source
    /// file (the component is its language's runner).
    pub component_path: PathBuf,
}

impl Package {
    /// Unpacks the archive read from `input` into `dest` (created; must not
    /// exist) and opens it. On error `dest` is removed again.
    pub fn unpack(
        input: impl Read,
        dest: &Path,
        limits: &UnpackLimits,
    ) -> Result<Package, PackageError> {
        fs::create_dir(dest).map_err(PackageError::Io)?;
        let result = unpack::unpack(input, dest, limits).and_then(|_| Package::open(dest));
        if result.is_err() {
            let _ = fs::remove_dir_all(dest);
        }
        result
    }

    /// Reads the manifest of an unpacked package and checks its component.
    pub fn open(dir: &Path) -> Result<Package, PackageError> {
        let manifest = read_manifest(dir)?;
        let rel = unpack::safe_relative(Path::new(&manifest.component))
            .ok()
            .flatten()
            .ok_or_else(|| {
                PackageError::InvalidManifest(format!(
                    "component {:?} must be a relative path inside the package",
                    manifest.component
                ))
            })?;
        let mut component_path = dir.join(rel);
        // A JavaScript `main` may leave out `.js`, as `require` does.
        if manifest.source == Some(SourceLanguage::JavaScript) && !component_path.is_file() {
            let with_js = component_path.with_file_name(format!(
                "{}.js",
                component_path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
            ));
            if with_js.is_file() {
                component_path = with_js;
            }
        }
        if !component_path.is_file() {
            return Err(match manifest.source {
                Some(_) => PackageError::MissingMain(manifest.component.clone()),
                None => PackageError::MissingComponent(manifest.component.clone()),
            });
        }
        if manifest.source.is_none() {
            check_component_header(&component_path, &manifest.component)?;
        }
        Ok(Package {
            dir: dir.to_path_buf(),
            manifest,
            component_path,
        })
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest, PackageError> {
    let toml_path = dir.join(WEIR_TOML);
    if toml_path.is_file() {
        return Manifest::from_toml(&read_small(&toml_path)?, None);
    }
    let json_path = dir.join(PACKAGE_JSON);
    if json_path.is_file() {
        return Manifest::from_package_json(&read_small(&json_path)?, |file| {
            dir.join(file).is_file()
        });
    }
    Err(PackageError::MissingManifest)
}

fn read_small(path: &Path) -> Result<String, PackageError> {
    let mut text = String::new();
    let file = fs::File::open(path).map_err(PackageError::Io)?;
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| PackageError::InvalidManifest(format!("{}: {e}", path.display())))?;
    if text.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(PackageError::InvalidManifest(format!(
            "the manifest is larger than {} KiB",
            MAX_MANIFEST_BYTES >> 10
        )));
    }
    Ok(text)
}

/// Refuses a manifest whose `kind` does not match `world`, the world its component exports
/// (as the runtime reads it from the component's exports; `None` when it exports neither, which loading
/// reports).
///
/// ```
/// use weir::package::{Kind, check_kind};
/// assert!(check_kind(Kind::Render, Some("render")).is_ok());
/// assert!(check_kind(Kind::Sequence, Some("command")).is_ok());
/// let err = check_kind(Kind::Sequence, Some("render")).unwrap_err().to_string();
/// assert!(err.contains("set kind = \"render\" in weir.toml"), "{err}");
/// ```
pub fn check_kind(kind: Kind, world: Option<&'static str>) -> Result<(), PackageError> {
    match (kind, world) {
        (Kind::Sequence, Some("render")) => Err(PackageError::KindMismatch {
            kind: "sequence",
            world: "render",
            fix: "set kind = \"render\" in weir.toml (a render plugin runs as render jobs)",
        }),
        (Kind::Render, Some(world @ ("sequence" | "command"))) => Err(PackageError::KindMismatch {
            kind: "render",
            world,
            fix: "a render package exports `render` (`#[weir_sdk::render]`); for a sequence set kind = \"sequence\"",
        }),
        _ => Ok(()),
    }
}

/// The 8-byte preamble of a WebAssembly component (magic, layer 1, version 0xd).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// The 8-byte preamble of a core WebAssembly module (version 1).
const CORE_MODULE_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/// Checks that `path` starts like a component, with a message for the usual mistakes.
pub fn check_component_header(path: &Path, name: &str) -> Result<(), PackageError> {
    let mut header = [0u8; 8];
    let mut file = fs::File::open(path).map_err(PackageError::Io)?;
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..]).map_err(PackageError::Io)? {
            0 => break,
            n => read += n,
        }
    }
    if read == 8 && header == COMPONENT_HEADER {
        Ok(())
    } else if read == 8 && header == CORE_MODULE_HEADER {
        Err(PackageError::CoreModule(name.to_string()))
    } else {
        Err(PackageError::NotWasm(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    const COMPONENT: &[u8] = &COMPONENT_HEADER;

    /// Builds a tar.gz from (path, entry type, data) triples, writing raw
    /// headers so that hostile paths survive.
    fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for (path, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            let name = path.as_bytes();
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if kind.is_symlink() || kind.is_hard_link() {
                header.set_link_name("/etc/passwd").unwrap();
            }
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn unpack_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<Package, PackageError>) {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("pkg");
        let result = Package::unpack(bytes, &dest, &UnpackLimits::default());
        (dir, result)
    }

    fn err_of(bytes: &[u8]) -> String {
        let (dir, result) = unpack_bytes(bytes);
        let err = result.unwrap_err().to_string();
        assert!(
            !dir.path().join("pkg").exists(),
            "a refused package leaves nothing behind"
        );
        err
    }

    const MANIFEST: &[u8] = b"name = 'ok'\ncomponent = 'ok.wasm'\n";
    use tar::EntryType as E;

    #[test]
    fn a_good_package_unpacks() {
        let bytes = archive(&[
            ("weir.toml", E::Regular, MANIFEST),
            ("./ok.wasm", E::Regular, COMPONENT),
        ]);
        let (_dir, result) = unpack_bytes(&bytes);
        let package = result.unwrap();
        assert_eq!(package.manifest.name, "ok");
        assert!(package.component_path.ends_with("ok.wasm"));
    }

    #[test]
    fn hostile_archives_are_refused_with_a_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "empty (0 bytes)"),
            (b"hello world".to_vec(), "not a gzip file"),
            (
                archive(&[("weir.toml", E::Regular, MANIFEST)])[..30].to_vec(),
                "truncated",
            ),
            (
                {
                    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
                    gz.write_all(&[7u8; 2000]).unwrap();
                    gz.finish().unwrap()
                },
                "not a tar archive",
            ),
            (archive(&[("../evil", E::Regular, b"x")]), "contains `..`"),
            (archive(&[("/etc/evil", E::Regular, b"x")]), "is absolute"),
            (archive(&[("link", E::Symlink, b"")]), "is a link"),
            (archive(&[("hard", E::Link, b"")]), "is a link"),
            (archive(&[("dev", E::Char, b"")]), "device"),
            (archive(&[("fifo", E::Fifo, b"")]), "device or FIFO"),
            (
                archive(&[("a", E::Regular, b"1"), ("a", E::Regular, b"2")]),
                "more than once",
            ),
            (
                archive(&[("ok.wasm", E::Regular, COMPONENT)]),
                "no manifest",
            ),
            (
                archive(&[("weir.toml", E::Regular, MANIFEST)]),
                "not a file in the package",
            ),
            (
                archive(&[
                    ("weir.toml", E::Regular, MANIFEST),
                    ("ok.wasm", E::Regular, b"\0asm\x01\0\0\0"),
                ]),
                "core WebAssembly module",
            ),
            (
                archive(&[
                    ("weir.toml", E::Regular, MANIFEST),
                    ("ok.wasm", E::Regular, b"MZ not wasm"),
                ]),
                "not a WebAssembly file",
            ),
            (
                archive(&[(
                    "weir.toml",
                    E::Regular,
                    b"name = 'ok'\ncomponent = '../x.wasm'",
                )]),
                "relative path inside",
            ),
            (
                archive(&[("package.json", E::Regular, br#"{"main":"lib/main.js"}"#)]),
                "`main` names \"lib/main.js\", which is not a file",
            ),
        ];
        for (bytes, expected) in cases {
            let err = err_of(&bytes);
            assert!(err.contains(expected), "expected {expected:?} in {err:?}");
        }
    }

    #[test]
    fn a_source_package_opens_without_a_component() {
        let bytes = archive(&[
            (
                "package.json",
                E::Regular,
                br#"{"name":"s","main":"index.js"}"#,
            ),
            ("index.js", E::Regular, b"module.exports = function () {};"),
        ]);
        let (_dir, result) = unpack_bytes(&bytes);
        let package = result.unwrap();
        assert_eq!(package.manifest.source, Some(SourceLanguage::JavaScript));
        assert!(package.component_path.ends_with("index.js"));
    }

    #[test]
    fn a_javascript_main_may_leave_out_its_extension() {
        for json in [
            &br#"{"name":"s","main":"lib/seq"}"#[..],
            br#"{"name":"s","main":"lib/seq","engines":{"node":">=10"}}"#,
        ] {
            let bytes = archive(&[
                ("package.json", E::Regular, json),
                (
                    "lib/seq.js",
                    E::Regular,
                    b"module.exports = function () {};",
                ),
            ]);
            let (_dir, result) = unpack_bytes(&bytes);
            let package = result.unwrap();
            assert_eq!(package.manifest.source, Some(SourceLanguage::JavaScript));
            assert!(package.component_path.ends_with("lib/seq.js"));
        }
    }

    #[test]
    fn a_gzip_bomb_is_refused_while_streaming() {
        let zeros = vec![0u8; 64 << 20];
        let bytes = archive(&[("bomb", E::Regular, &zeros)]);
        assert!(bytes.len() < 1 << 20, "the bomb compresses well");
        let err = err_of(&bytes);
        assert!(err.contains("compression ratio"), "{err}");
    }

    #[test]
    fn too_many_entries_and_too_large_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let limits = UnpackLimits {
            max_entries: 2,
            max_unpacked_bytes: 10,
            ..UnpackLimits::default()
        };
        let many = archive(&[
            ("a", E::Regular, b""),
            ("b", E::Regular, b""),
            ("c", E::Regular, b""),
        ]);
        let err = Package::unpack(&many[..], &dir.path().join("a"), &limits).unwrap_err();
        assert!(err.to_string().contains("more than 2 entries"), "{err}");
        let big = archive(&[("a", E::Regular, &[1u8; 11])]);
        let err = Package::unpack(&big[..], &dir.path().join("b"), &limits).unwrap_err();
        assert!(err.to_string().contains("unpacks to more than"), "{err}");
    }
}
