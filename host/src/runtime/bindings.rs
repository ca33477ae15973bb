//! The host's bindings of weir's WIT worlds (`wit/`): the runner world (the sequence world
//! and `source-package`: one set of bindings serves both) and the render world, which shares
//! `types` and `log` with them so one linker serves every world.

// The runner world is the sequence world and `runner`: one set of bindings serves both.
wasmtime::component::bindgen!({
    world: "runner",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
});

pub use self::weir::plugin::types::{Event as WitEvent, LogLevel, Signal, StopRequest};

/// The render world's own part: `frames` and the `render` export.
pub(crate) mod render {
    wasmtime::component::bindgen!({
        world: "render",
        path: "../wit",
        imports: { default: async },
        exports: { default: async },
        // One `log` for both worlds, so one linker serves both.
        with: {
            "weir:plugin/types": crate::runtime::bindings::weir::plugin::types,
            "weir:plugin/log": crate::runtime::bindings::weir::plugin::log,
        },
    });
}
