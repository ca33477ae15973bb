//! Writes each start argument on its own line, then the config as one JSON line.
//!
//! Shows `args` and `config`: a JSON string argument is written as its text, any other
//! value as compact JSON.

use std::io::Write;

use weir_sdk::serde_json::Value;
use weir_sdk::{Context, Result};

#[weir_sdk::sequence]
fn args_to_output(ctx: &mut Context) -> Result<()> {
    let mut text = String::new();
    for arg in ctx.args() {
        match arg {
            Value::String(s) => text.push_str(s),
            other => text.push_str(&other.to_string()),
        }
        text.push('\n');
    }
    text.push_str(&ctx.config().to_string());
    text.push('\n');
    ctx.output().write_all(text.as_bytes())?;
    Ok(())
}
