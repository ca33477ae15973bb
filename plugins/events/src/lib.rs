//! Answers each `test-event` with a `test-response` event: `"reply to M"` for message `M`.
//!
//! Shows receiving events and the stop request with `wait`, and emitting events.

use weir_sdk::serde_json::Value;
use weir_sdk::{Context, Result, Signal};

#[weir_sdk::sequence]
fn events(ctx: &mut Context) -> Result<()> {
    loop {
        match ctx.wait(None) {
            Some(Signal::Event(event)) if event.name == "test-event" => {
                let message = match event.message {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                ctx.emit("test-response", &format!("reply to {message}"))?;
            }
            Some(Signal::Stop { .. }) => return Ok(()),
            Some(Signal::Event(_)) | None => {}
        }
    }
}
