//! Hostile archives: unpacking must never panic, never write outside its
//! directory, and must leave nothing behind when it refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir::package::{Package, UnpackLimits};

fuzz_target!(|data: &[u8]| {
    let Ok(root) = tempfile::tempdir() else { return };
    let dest = root.path().join("pkg");
    let limits = UnpackLimits { max_unpacked_bytes: 4 << 20, ratio_grace_bytes: 1 << 20, ..UnpackLimits::default() };
    let result = Package::unpack(data, &dest, &limits);
    if result.is_err() {
        assert!(!dest.exists(), "a refused package left files behind");
    }
    // Nothing may appear next to the package directory.
    let siblings = std::fs::read_dir(root.path()).map(|d| d.count()).unwrap_or(0);
    assert!(siblings <= 1, "unpacking wrote outside its directory");
});
