//! The wasm runtime: one wasmtime `Engine` and `Linker` per process, one
//! compiled [`Program`] per package, one task per running [`Instance`].
//!
//! Components are compiled once and the artifact is cached on disk keyed by
//! the component's SHA-256 and the engine's configuration, so a restart or a
//! second upload of the same bytes loads in about a millisecond. Instances
//! start from an `InstancePre` (with the pooling allocator when configured),
//! run on tokio with epoch interruption so no guest can hold a core, and talk
//! to the rest of the hub only over bounded channels and [`Pipe`]s. A render
//! component is not started as an instance: [`Runtime::render`] renders each
//! frame in a fresh one. Instances and frames reach nothing of the host but
//! what their program's [`Grants`] allow ([`Program::with_grants`]).
//!
//! [`Pipe`]: crate::streams::Pipe
//!
//! Layout (arrows point one way): `config`, `error`, `limits`, `io`, `topics`, `usage` and
//! `trap` depend on nothing here; `bindings` holds the WIT worlds' generated code; `state`
//! is what a store holds; `host/` implements the interfaces, one file each; `program` is a
//! compiled component; `engine` is the [`Runtime`] (engine, linker, compile cache); `instance`
//! and `render` run programs on it.

mod bindings;
mod cache;
mod compile;
mod config;
mod console;
mod engine;
mod error;
mod event_bus;
mod footprint;
mod host;
mod imports;
mod instance;
mod io;
mod limits;
mod program;
mod render;
mod sandbox;
mod state;
mod stdio;
mod topics;
mod trap;
mod usage;

pub use cache::CachePrune;
pub use compile::{EXIT_COMPILE_ERROR, compile_component};
pub use config::{EPOCH_TICK, RuntimeConfig};
pub use console::{ConsoleHook, ConsoleLine};
pub use engine::{CompileStats, Runtime};
pub use error::RuntimeError;
pub use event_bus::{EmittedEvent, EventBus, EventStream};
pub use footprint::{Footprint, PER_SLOT};
pub use imports::exported_world;
pub use instance::{
    EXIT_COMPLETED, EXIT_FAILED, EXIT_KILLED, EXIT_NO_MAIN, EXIT_START_FAILED, EXIT_STOPPED,
    EXIT_TRAPPED, EndHook, Instance, InstanceStatus, Launch, SendError, StartOptions, Terminated,
};
pub use io::{ChannelReader, INPUT_PIECE, InputError, InputWriter};
pub use limits::{CpuLimitExceeded, Limits, TimeLimitExceeded};
pub use program::Program;
pub use render::{
    Artifact, FrameRequest, MAX_ARTIFACT_BYTES, RenderError, RenderOptions, is_valid_artifact_name,
};
pub use sandbox::{PACKAGE_DIR, SCRATCH_DIR};
pub use state::{LogHook, MemoryLimitExceeded, ProgressHook};
pub use topics::{BoxFuture, TopicBus, TopicPublisher, TopicSubscriber};
pub use usage::{RenderUsage, Usage};

pub(crate) use state::log_line;
