//! The host calls the SDK makes. In a component they are the `weir:plugin` imports; in
//! native code (a plugin's own `cargo test`) they reach the in-memory instance of
//! [`crate::testing`], so the same sequence function runs in both.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::__private::bindings::weir::plugin::{
    context::{args, config, instance_id},
    events::{emit, keep_alive, wait},
    io::{read_input, write_output},
    log::log,
    topics::{publish, read, subscribe},
};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::host::{
    args, config, emit, instance_id, keep_alive, log, publish, read, read_input, subscribe, wait,
    write_output,
};

pub(crate) use crate::__private::bindings::weir::plugin::io::WriteError;
