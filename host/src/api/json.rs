//! JSON shapes of the Scramjet-compatible API and request-body parsing.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::ApiError;
use crate::hub::{InstanceRecord, Sequence};
use crate::runtime::Usage;
use crate::streams::Flow;
use crate::time::iso;
use crate::wire;

/// Largest JSON request body.
const MAX_JSON_BYTES: usize = 1 << 20;

/// Reads a JSON body. An empty body gives `T::default()`; a body needs a
/// JSON content type (or none).
pub async fn read_json<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "JSON bodies are limited to {} KiB",
                MAX_JSON_BYTES >> 10
            ))
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        if !(ct.starts_with("application/json") || ct.starts_with("text/json")) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "expected content-type application/json, got {ct:?}"
            )));
        }
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("Could not parse content: {e}")))
}

/// `SequenceConfig`: the manifest as Scramjet clients expect it.
pub fn sequence_config(sequence: &Sequence) -> Value {
    sequence.config_json()
}

/// `SequenceInfo` (`GET /sequences`, `GET /sequence/:id`).
pub fn sequence_info(sequence: &Sequence, instances: &[String]) -> wire::SequenceInfo {
    wire::SequenceInfo {
        id: sequence.id.clone(),
        name: sequence.package.manifest.name.clone(),
        config: manifest_map(sequence),
        instances: instances.to_vec(),
        location: "weir".into(),
        created: Some(iso(sequence.created)),
        extra: Map::new(),
    }
}

/// The manifest as a JSON object.
fn manifest_map(sequence: &Sequence) -> Map<String, Value> {
    match sequence_config(sequence) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `InstanceInfo` (`GET /instance/:id` and the `_stop`/`_kill` replies).
pub fn instance_info(record: &InstanceRecord) -> wire::InstanceInfo {
    let instance = &record.instance;
    let (created, started, ended) = instance.times();
    let (status, terminated) = instance.status_and_end();
    wire::InstanceInfo {
        id: instance.id().to_string(),
        sequence: wire::SequenceRef {
            id: record.sequence.id.clone(),
            config: manifest_map(&record.sequence),
            name: record.sequence.package.manifest.name.clone(),
            location: "weir".into(),
            extra: Map::new(),
        },
        status: status.as_str().to_string(),
        app_config: record.app_config.clone(),
        args: record.args.clone(),
        provides: record.provides.clone().unwrap_or_default(),
        requires: record.requires.clone().unwrap_or_default(),
        ports: Map::new(),
        created: Some(iso(created)),
        started: started.map(iso),
        ended: ended.map(iso),
        terminated: terminated.map(|t| wire::Terminated {
            exitcode: t.exitcode,
            reason: t.reason,
        }),
        usage: Some(usage(&instance.usage())),
        extra: Map::new(),
    }
}

/// An instance's accounting: CPU, memory, each stream, backpressure, limits.
fn usage(usage: &Usage) -> wire::InstanceUsage {
    let flow = |flow: Flow| wire::StreamUsage {
        bytes: flow.bytes,
        chunks: flow.chunks,
        lines: flow.lines,
    };
    let millis = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    wire::InstanceUsage {
        cpu_ms: millis(usage.cpu),
        memory_bytes: usage.memory_bytes as u64,
        peak_memory_bytes: usage.peak_memory_bytes as u64,
        input: flow(usage.input),
        stdin: flow(usage.stdin),
        output: flow(usage.output),
        stdout: flow(usage.stdout),
        stderr: flow(usage.stderr),
        output_blocked_ms: millis(usage.output_blocked),
        limits: usage.limits.map(|limits| wire::InstanceLimits {
            memory_bytes: limits.memory_bytes.map(|b| b as u64),
            timeout_ms: limits.wall_time.map(|d| d.as_millis() as u64),
            cpu_ms: limits.cpu_time.map(|d| d.as_millis() as u64),
        }),
    }
}
