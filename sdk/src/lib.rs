//! Write weir plugins in Rust: one annotated function becomes a WebAssembly component.
//!
//! A sequence is a long-running stream processor. Its function receives a [`Context`] with
//! the instance's input and output streams, events, config, args and log, and returns
//! [`Result<()>`](Result): `Ok` completes the instance, an `Err` ends it as errored with the
//! error's text as the reason. The output is flushed when the function returns.
//!
//! # A complete plugin
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "shout"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! # Until weir-sdk is on crates.io: the sdk/ directory of a weir checkout (what `weir new`
//! # writes), or the crate `cargo package -p weir-sdk-macros -p weir-sdk` makes, vendored.
//! weir-sdk = { path = "../weir/sdk" }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use weir_sdk::{Context, Result};
//!
//! /// Upper-cases each input line and appends the configured suffix.
//! #[weir_sdk::sequence]
//! fn shout(ctx: &mut Context) -> Result<()> {
//!     let suffix = ctx.config()["suffix"].as_str().unwrap_or("!").to_owned();
//!     ctx.info("shouting");
//!     ctx.map_lines(|line| Ok(format!("{}{suffix}", line.to_uppercase())))
//! }
//! # fn main() {}
//! ```
//!
//! `weir.toml`, next to `Cargo.toml`:
//!
//! ```toml
//! name = "shout"
//! version = "0.1.0"
//! kind = "sequence"
//! description = "Upper-cases each line"
//!
//! [config]
//! suffix = "!"
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`: the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component; `weir pack` turns the crate into a
//! package.
//!
//! # Render plugins
//!
//! A render plugin (`kind = "render"`) turns one frame of a render job into files. Its
//! function receives a [`render::Frame`] (number, attempt, config, progress, log) and
//! returns the frame's [`render::Artifact`]s, or an error that fails the frame. Both kinds
//! speak alike: they return [`Result`], read their configuration with `config()` and
//! `config_as()`, and log with `info()`, `warn()`, …; `use weir_sdk::prelude::*` brings in
//! the types of both.
//!
//! ```no_run
//! use weir_sdk::prelude::*;
//!
//! #[weir_sdk::render]
//! fn render(frame: &Frame) -> Result<Vec<Artifact>> {
//!     let text = format!("frame {}\n", frame.number());
//!     Ok(vec![Artifact::new(format!("frame-{:06}.txt", frame.number()), "text/plain", text)])
//! }
//! # fn main() {}
//! ```
//!
//! # Layout
//!
//! - [`sequence`]: the attribute that exports a function as the plugin's `run`.
//! - [`render`](macro@render): the attribute that exports a function as a render plugin's `render`;
//!   [`render`](mod@render) holds its [`Frame`](render::Frame) and
//!   [`Artifact`](render::Artifact).
//! - [`Context`]: the running instance — [`Input`] (`Read`/`BufRead`, lines, ndjson
//!   records), [`Output`] (`Write`, records), events ([`Signal`], [`Event`]), keep-alive,
//!   config, args and log ([`Level`]).
//! - [`transform`]: map, filter and flat-map over lines or serde records, on any
//!   `BufRead`/`Write`, so a plugin's logic can be tested natively.
//! - [`Error`] and [`Result`].
//!
//! Records are serde values one per line (newline-delimited JSON); JSON objects keep their
//! key order ([`serde_json`] is built with `preserve_order`). The WIT bindings are generated
//! here and hidden: a plugin depends on this crate only.

extern crate self as weir_sdk;

mod context;
mod error;
mod host;
mod io;
pub mod render;
pub mod testing;
pub mod topic;
pub mod transform;

pub use context::{Context, Event, Level, Link, Signal};
pub use error::{Error, Result};
pub use io::{Input, Output};
pub use transform::Records;

/// Exports a function as the plugin's sequence.
///
/// The function has the signature `fn NAME(ctx: &mut weir_sdk::Context) ->
/// weir_sdk::Result<()>`; a crate has exactly one. The attribute generates the component's
/// `run` export, which builds the [`Context`], calls the function, flushes the output and
/// reports an error as the instance's failure reason.
///
/// ```no_run
/// #[weir_sdk::sequence]
/// fn greet(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
///     ctx.map_lines(|name| Ok(format!("Hello {name}!")))
/// }
/// # fn main() {}
/// ```
pub use weir_sdk_macros::sequence;

/// Exports a function as the plugin's frame renderer (the `render` world).
///
/// The function has the signature `fn NAME(frame: &weir_sdk::render::Frame) ->
/// weir_sdk::Result<Vec<weir_sdk::render::Artifact>>` (or `Result<_, E>` with any other
/// `Display` error, e.g. `String`); a crate has exactly one. The attribute generates the component's
/// `render` export, which is called once per frame, each time in a fresh instance. An
/// error fails this attempt of the frame with its text; a panic traps the instance.
///
/// ```no_run
/// use weir_sdk::prelude::*;
///
/// #[weir_sdk::render]
/// fn render(frame: &Frame) -> Result<Vec<Artifact>> {
///     let name = format!("frame-{:06}.txt", frame.number());
///     Ok(vec![Artifact::new(name, "text/plain", frame.config_json())])
/// }
/// # fn main() {}
/// ```
pub use weir_sdk_macros::render;

/// Re-exported so that plugins can use JSON values without their own dependency.
pub use serde_json;

/// Re-exported for `#[derive(Serialize, Deserialize)]` with
/// `#[serde(crate = "weir_sdk::serde")]`, or add `serde` to your own dependencies.
pub use serde;

/// Reads `value` as a `T`, naming the field at fault: "`count`: invalid
/// type: string \"two\", expected u64" (the config's and the settings'
/// typed readers say it so).
pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> std::result::Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "." | "" => e.into_inner().to_string(),
            _ => format!("`{path}`: {}", e.into_inner()),
        }
    })
}

/// What a plugin usually needs: `use weir_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::render::{Artifact, Frame};
    pub use crate::{Context, Error, Event, Level, Link, Result, Signal};
    pub use serde_json::{Value, json};
    pub use std::io::{BufRead, Read, Write};
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Config {
        count: u64,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        names: Vec<String>,
    }

    #[test]
    fn typed_reads_name_the_field_at_fault() {
        let bad = serde_json::json!({"count": "two", "inner": {"names": []}});
        let err = super::typed::<Config>(&bad).unwrap_err();
        assert_eq!(err, "`count`: invalid type: string \"two\", expected u64");
        let nested = serde_json::json!({"count": 2, "inner": {"names": ["a", 3]}});
        let err = super::typed::<Config>(&nested).unwrap_err();
        assert!(
            err.starts_with("`inner.names[1]`: invalid type: integer `3`"),
            "{err}"
        );
        assert_eq!(
            super::typed::<u64>(&serde_json::json!("x")).unwrap_err(),
            "invalid type: string \"x\", expected u64"
        );
    }
}

/// Used by the code that [`sequence`] generates; not a public API.
#[doc(hidden)]
pub mod __private {
    /// Bindings of the `weir:plugin/sequence` world.
    #[allow(unsafe_code, missing_docs, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "wit",
            world: "sequence",
            pub_export_macro: true,
            export_macro_name: "export_sequence",
            default_bindings_module: "::weir_sdk::__private::bindings",
        });
    }

    pub use bindings::{Guest, export_sequence};

    /// Bindings of the `weir:plugin/render` world; `log` and `types` are the ones above.
    #[allow(unsafe_code, missing_docs, clippy::all)]
    pub mod render_bindings {
        wit_bindgen::generate!({
            path: "wit",
            world: "render",
            pub_export_macro: true,
            export_macro_name: "export_render",
            default_bindings_module: "::weir_sdk::__private::render_bindings",
            with: {
                "weir:plugin/types@0.1.0": crate::__private::bindings::weir::plugin::types,
                "weir:plugin/log@0.1.0": crate::__private::bindings::weir::plugin::log,
            },
        });
    }

    pub use render_bindings::weir::plugin::frames::{Artifact as WitArtifact, FrameRequest};
    pub use render_bindings::{Guest as RenderGuest, export_render};

    /// The body of the exported `render`: runs `render` on the requested frame.
    pub fn render<E: std::fmt::Display>(
        render: fn(&crate::render::Frame) -> Result<Vec<crate::render::Artifact>, E>,
        request: FrameRequest,
    ) -> Result<Vec<WitArtifact>, String> {
        let frame = crate::render::Frame::from_request(request);
        match render(&frame) {
            Ok(artifacts) => Ok(artifacts.into_iter().map(WitArtifact::from).collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The body of the exported `run`: runs `sequence`, then flushes the output.
    pub fn run(sequence: fn(&mut crate::Context) -> crate::Result<()>) -> Result<(), String> {
        let mut ctx = crate::Context::new();
        let outcome = sequence(&mut ctx);
        // Flush even after an error: the output written before it is still output.
        let flushed = ctx.finish();
        match (outcome, flushed) {
            (Err(e), _) => Err(e.to_string()),
            (Ok(()), Err(e)) => Err(format!("flushing the output failed: {e}")),
            (Ok(()), Ok(())) => Ok(()),
        }
    }
}
