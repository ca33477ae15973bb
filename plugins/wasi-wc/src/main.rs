//! Prints `LINES WORDS BYTES` of stdin, like `wc`: a plain WASI command, no SDK.
//!
//! Any `wasm32-wasip2` command runs as a weir sequence, with stdin as the instance's
//! input and stdout as its output. Reads in 64 KiB chunks, so memory stays constant.

use std::io::{self, Read, Write};

/// Counts so far, and whether the last byte seen was inside a word.
#[derive(Default)]
struct Counts {
    lines: u64,
    words: u64,
    bytes: u64,
    in_word: bool,
}

impl Counts {
    fn add(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        for &b in chunk {
            // C `isspace` in the "C" locale, as `wc` uses.
            let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
            self.lines += u64::from(b == b'\n');
            self.words += u64::from(!space && !self.in_word);
            self.in_word = !space;
        }
    }
}

fn main() -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0; 64 * 1024];
    let mut counts = Counts::default();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => counts.add(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let Counts {
        lines,
        words,
        bytes,
        ..
    } = counts;
    writeln!(io::stdout().lock(), "{lines} {words} {bytes}")
}
