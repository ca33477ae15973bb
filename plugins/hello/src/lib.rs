//! Greets each input line: `X` becomes `Hello X!`.
//!
//! The smallest weir plugin: one annotated function and a line transform.

use weir_sdk::{Context, Result};

#[weir_sdk::sequence]
fn hello(ctx: &mut Context) -> Result<()> {
    ctx.map_lines(|name| Ok(format!("Hello {name}!")))
}
