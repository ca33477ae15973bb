//! Adds `"processed": true` to each JSON object record: the records/s benchmark.
//!
//! Shows a record transform over newline-delimited JSON. Records are read and written
//! through the buffered input and output, so there is no host call per record. Keys keep
//! their order and the new field comes last. A line that is not a JSON object ends the run
//! with an error naming the line, e.g. `line 3: expected a JSON object`.

use weir_sdk::serde_json::Value;
use weir_sdk::{Context, Result};

#[weir_sdk::sequence]
fn ndjson_map(ctx: &mut Context) -> Result<()> {
    ctx.map_records(|mut record: Value| {
        let fields = record.as_object_mut().ok_or("expected a JSON object")?;
        fields.insert("processed".to_owned(), Value::Bool(true));
        Ok(record)
    })
}
