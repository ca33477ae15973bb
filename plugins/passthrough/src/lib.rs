//! Copies the input to the output unchanged: the byte-throughput benchmark.
//!
//! Each chunk the hub delivers (up to 64 KiB) is written back whole, straight from the
//! input's buffer: one host call in and one out per chunk, no per-byte work.

use std::io::{BufRead, Write};

use weir_sdk::{Context, Result};

#[weir_sdk::sequence]
fn passthrough(ctx: &mut Context) -> Result<()> {
    let (input, output) = ctx.io();
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        let n = chunk.len();
        output.write_all(chunk)?;
        // A chunk smaller than the output buffer would wait in it; send it now.
        output.flush()?;
        input.consume(n);
    }
}
