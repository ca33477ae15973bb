//! The host side of the `weir:plugin` interfaces, one file per interface (as wasmtime-wasi
//! lays out WASI's): each implements its interface's `Host` trait for the store's
//! [`InstanceState`], and [`add_to_linker`] links them all, with WASI, for every world.

mod context;
mod events;
mod frames;
mod io;
mod log;
mod source_package;
mod topics;

use wasmtime::component::{HasSelf, Linker};

use super::bindings::{self, Runner};
use super::state::InstanceState;

impl bindings::weir::plugin::types::Host for InstanceState {}

/// Links WASI and every `weir:plugin` interface: the sequence and runner worlds', and the
/// render world's `frames` (it shares `log` and `types` with them).
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Runner::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    frames::add_to_linker(linker)
}
