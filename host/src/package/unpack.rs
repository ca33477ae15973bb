//! Unpacking uploaded `.tar.gz` packages, which are hostile until checked.
//!
//! Entries are streamed to disk one at a time; only regular files and
//! directories with plain relative paths are accepted, and the entry count,
//! the unpacked size and the compression ratio are capped while reading, so a
//! gzip bomb is refused before it fills the disk.

use std::cell::Cell;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use flate2::read::GzDecoder;
use tar::EntryType;

use super::PackageError;

/// Caps applied while unpacking a package.
#[derive(Debug, Clone)]
pub struct UnpackLimits {
    /// Most entries (files and directories) in one archive.
    pub max_entries: usize,
    /// Most bytes all files may add up to once unpacked.
    pub max_unpacked_bytes: u64,
    /// Highest unpacked/compressed ratio, checked once past `ratio_grace_bytes`.
    pub max_ratio: u64,
    /// Unpacked bytes allowed before the ratio is checked.
    pub ratio_grace_bytes: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_entries: 1_000,
            max_unpacked_bytes: 256 << 20,
            max_ratio: 100,
            ratio_grace_bytes: 8 << 20,
        }
    }
}

/// What an unpack produced.
#[derive(Debug, Clone, Default)]
pub struct UnpackStats {
    /// Files written.
    pub files: usize,
    /// Bytes of file content written.
    pub unpacked_bytes: u64,
    /// Bytes of the archive read.
    pub compressed_bytes: u64,
}

/// Unpacks the `.tar.gz` read from `input` into `dest`, which must exist and
/// be empty. On error `dest` may hold part of the archive; the caller removes it.
pub fn unpack(
    input: impl Read,
    dest: &Path,
    limits: &UnpackLimits,
) -> Result<UnpackStats, PackageError> {
    let compressed = Rc::new(Cell::new(0u64));
    let mut counted = BufReader::with_capacity(
        64 * 1024,
        Counting {
            inner: input,
            count: compressed.clone(),
        },
    );
    let head = counted.fill_buf().map_err(PackageError::Io)?;
    if head.is_empty() {
        return Err(PackageError::EmptyUpload);
    }
    if head.len() < 2 || head[..2] != [0x1f, 0x8b] {
        return Err(PackageError::NotGzip);
    }
    let gz = GzipErrors(GzDecoder::new(counted));
    let mut archive = tar::Archive::new(gz);
    let mut stats = UnpackStats::default();
    let mut entries_seen = 0usize;
    let entries = archive.entries().map_err(classify)?;
    for entry in entries {
        let mut entry = entry.map_err(classify)?;
        entries_seen += 1;
        if entries_seen > limits.max_entries {
            return Err(PackageError::TooManyEntries(limits.max_entries));
        }
        let raw_path = entry.path().map_err(classify)?.into_owned();
        let display = raw_path.display().to_string();
        let entry_type = entry.header().entry_type();
        if entry_type == EntryType::XGlobalHeader {
            continue;
        }
        let Some(rel) = safe_relative(&raw_path)? else {
            continue; // "." or "./": the archive root itself
        };
        let target = dest.join(&rel);
        match entry_type {
            EntryType::Directory => fs::create_dir_all(&target).map_err(PackageError::Io)?,
            EntryType::Regular | EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(PackageError::Io)?;
                }
                let remaining = limits.max_unpacked_bytes - stats.unpacked_bytes;
                let mut file = match fs::File::create_new(&target) {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return Err(PackageError::DuplicateEntry(display));
                    }
                    Err(e) => return Err(PackageError::Io(e)),
                };
                let written =
                    io::copy(&mut (&mut entry).take(remaining + 1), &mut file).map_err(classify)?;
                stats.unpacked_bytes += written;
                stats.files += 1;
                if stats.unpacked_bytes > limits.max_unpacked_bytes {
                    return Err(PackageError::TooLarge(limits.max_unpacked_bytes));
                }
            }
            EntryType::Symlink | EntryType::Link => {
                return Err(PackageError::Link(display));
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                return Err(PackageError::SpecialFile(display));
            }
            other => {
                return Err(PackageError::UnsupportedEntry(
                    display,
                    format!("{other:?}"),
                ));
            }
        }
        check_ratio(&stats, compressed.get(), limits)?;
    }
    if entries_seen == 0 {
        return Err(PackageError::EmptyArchive);
    }
    stats.compressed_bytes = compressed.get();
    Ok(stats)
}

fn check_ratio(
    stats: &UnpackStats,
    compressed: u64,
    limits: &UnpackLimits,
) -> Result<(), PackageError> {
    if stats.unpacked_bytes > limits.ratio_grace_bytes
        && stats.unpacked_bytes > compressed.max(1) * limits.max_ratio
    {
        return Err(PackageError::CompressionRatio(limits.max_ratio));
    }
    Ok(())
}

/// Normalises an entry path to a plain relative path inside the package, or
/// `None` for the archive root. Absolute paths and `..` are refused.
pub(crate) fn safe_relative(path: &Path) -> Result<Option<PathBuf>, PackageError> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(PackageError::UnsafePath(
                    path.display().to_string(),
                    "contains `..`",
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(PackageError::UnsafePath(
                    path.display().to_string(),
                    "is absolute",
                ));
            }
        }
    }
    if out.components().count() > 32 || out.as_os_str().len() > 1024 {
        return Err(PackageError::UnsafePath(
            path.display().to_string(),
            "is too long",
        ));
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Counts the compressed bytes read, for the ratio check.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Marks errors that come from the gzip layer so they are reported as such
/// and not as a broken tar archive.
struct GzipErrors<R>(GzDecoder<R>);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct GzipError(String);

impl<R: Read> Read for GzipErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let message = if e.kind() == io::ErrorKind::UnexpectedEof {
                "the gzip data is truncated".to_string()
            } else {
                format!("the gzip data is corrupt ({e})")
            };
            io::Error::other(GzipError(message))
        })
    }
}

/// Sorts an I/O error from the tar reader into a user-facing package error.
fn classify(err: io::Error) -> PackageError {
    if let Some(gz) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<GzipError>())
    {
        return PackageError::BadGzip(gz.0.clone());
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof => PackageError::NotTar("the tar data is truncated".into()),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
            PackageError::NotTar(err.to_string())
        }
        _ => PackageError::Io(err),
    }
}
