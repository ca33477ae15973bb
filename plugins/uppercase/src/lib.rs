//! Upper-cases ASCII letters as the bytes stream through.
//!
//! Works on raw bytes with `Read`/`Write`: each chunk is converted and flushed as soon as it
//! arrives, so a reader sees the output without waiting for a line end or the input's end.

use std::io::{Read, Write};

use weir_sdk::{Context, Result};

#[weir_sdk::sequence]
fn uppercase(ctx: &mut Context) -> Result<()> {
    let (input, output) = ctx.io();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let chunk = &mut buf[..n];
        chunk.make_ascii_uppercase();
        output.write_all(chunk)?;
        output.flush()?;
    }
}
