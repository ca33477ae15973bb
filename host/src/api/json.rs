//! JSON shapes of the Scramjet-compatible API and request-body parsing.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::ApiError;
use crate::hub::{InstanceRecord, Sequence};
use crate::runtime::Usage;
use crate::streams::Flow;
use crate::time::iso;

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
pub fn sequence_info(sequence: &Sequence, instances: &[String]) -> Value {
    json!({
        "id": sequence.id,
        "name": sequence.package.manifest.name,
        "config": sequence_config(sequence),
        "instances": instances,
        "location": "weir",
        "created": iso(sequence.created),
    })
}

/// `InstanceInfo` (`GET /instance/:id` and the `_stop`/`_kill` replies).
pub fn instance_info(record: &InstanceRecord) -> Value {
    let instance = &record.instance;
    let (created, started, ended) = instance.times();
    let mut info = json!({
        "id": instance.id(),
        "appConfig": record.app_config,
        "args": record.args,
        "provides": record.provides.clone().unwrap_or_default(),
        "requires": record.requires.clone().unwrap_or_default(),
        "sequence": {
            "id": record.sequence.id,
            "config": sequence_config(&record.sequence),
            "name": record.sequence.package.manifest.name,
            "location": "weir",
        },
        "ports": {},
        "created": iso(created),
        "status": instance.status(),
    });
    if let Value::Object(map) = &mut info {
        if let Some(started) = started {
            map.insert("started".into(), iso(started).into());
        }
        if let Some(ended) = ended {
            map.insert("ended".into(), iso(ended).into());
        }
        if let Some(terminated) = instance.terminated() {
            map.insert("terminated".into(), json!(terminated));
        }
        map.insert("usage".into(), usage(&instance.usage()));
    }
    info
}

/// An instance's accounting: CPU, memory, each stream, backpressure, limits.
fn usage(usage: &Usage) -> Value {
    let flow =
        |flow: Flow| json!({ "bytes": flow.bytes, "chunks": flow.chunks, "lines": flow.lines });
    let millis = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let limits = usage.limits.map(|limits| {
        json!({
            "memoryBytes": limits.memory_bytes,
            "timeoutMs": limits.wall_time.map(|d| d.as_millis() as u64),
            "cpuMs": limits.cpu_time.map(|d| d.as_millis() as u64),
        })
    });
    json!({
        "cpuMs": millis(usage.cpu),
        "memoryBytes": usage.memory_bytes,
        "peakMemoryBytes": usage.peak_memory_bytes,
        "input": flow(usage.input),
        "stdin": flow(usage.stdin),
        "output": flow(usage.output),
        "stdout": flow(usage.stdout),
        "stderr": flow(usage.stderr),
        "outputBlockedMs": millis(usage.output_blocked),
        "limits": limits,
    })
}
