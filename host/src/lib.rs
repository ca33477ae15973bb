//! weir: a hub for WebAssembly plugins.
//!
//! A package (a `.tar.gz` holding a WebAssembly component and a manifest) is
//! unpacked and checked ([`package`]), compiled once and cached
//! ([`runtime`]), and run in wasmtime sandboxes as long-running sequence
//! instances whose streams are bounded fan-out pipes ([`streams`]).
//!
//! The modules follow the data: `package` → `runtime` → `streams`; the
//! `weir` binary's commands live in [`cli`].
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use weir::package::{Package, UnpackLimits};
//! use weir::runtime::{Runtime, RuntimeConfig, StartOptions};
//!
//! let archive = std::fs::File::open("hello.tar.gz")?;
//! let package = Package::unpack(archive, "unpacked".as_ref(), &UnpackLimits::default())?;
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let program = runtime.load(&package.component_path)?;
//! let instance = runtime.start(&program, StartOptions { id: "demo".into(), ..Default::default() });
//! instance.input().unwrap().send("world\n".into()).await?;
//! instance.close_input();
//! let mut output = instance.output().reader();
//! while let Some(chunk) = output.next().await {
//!     print!("{}", String::from_utf8_lossy(&chunk)); // Hello world!
//! }
//! # Ok(()) }
//! ```

pub mod api;
pub mod builder;
pub mod cli;
pub mod client;
pub mod events;
pub mod hub;
pub mod jobs;
pub mod metrics;
pub mod package;
pub mod runners;
pub mod runtime;
pub mod space;
pub mod streams;
mod time;
pub mod toolchain;
pub mod wire;
pub mod worker;
