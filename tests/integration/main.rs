//! weir's integration tests: the real `weir` binary and the real runtime,
//! running real components built from `plugins/` and `tests/fixtures/`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod auth;
mod build_share;
mod cli;
mod componentizers;
mod dashboard;
mod grants;
mod hostile;
mod hostile_clients;
mod hostile_extractor_errors;
mod hub_instances;
mod hub_scale;
mod hub_sequences;
mod jobs;
mod jobs_cli;
mod languages;
mod layout;
mod limits;
mod observability;
mod ops;
mod packages;
mod plugins;
mod render;
mod runtime;
mod scaffold;
mod scramjet;
mod sdk_scripts;
mod soak;
mod space;
mod streaming;
mod support;
mod topics;
mod wasm_bombs;
mod wasm_start;
