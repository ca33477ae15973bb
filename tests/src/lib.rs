//! Paths of the guest components the build script compiled from `plugins/`
//! and `tests/fixtures/`, for weir's integration tests and benchmarks.
//!
//! Every guest crate `foo-bar` gives constants `FOO_BAR` (the `.wasm`) and
//! `FOO_BAR_DIR` (its crate directory). [`GUEST_TARGET_DIR`] is the Cargo
//! target directory they were built in, so `weir pack` run by a test finds
//! them already built.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
