//! Streams, not buffers: far more data than the instance buffers can hold
//! goes through `passthrough` while the `weir` process stays small.

use std::io::{Read, Write};
use std::process::Stdio;

use crate::support::{pack, weir};

const TOTAL: usize = 256 << 20;
const BLOCK: usize = 64 << 10;

/// Peak resident memory (VmHWM) of a live process, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn passthrough_streams_256_mib_with_bounded_memory() {
    let package = pack(weir_tests::PASSTHROUGH_DIR);
    let mut child = weir()
        .arg("run")
        .arg(&package)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut block = vec![0u8; BLOCK];
        for i in 0..TOTAL / BLOCK {
            block.fill((i % 251) as u8);
            stdin.write_all(&block).unwrap();
        }
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; BLOCK];
    let (mut received, mut peak, mut mismatches) = (0usize, 0u64, 0usize);
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (offset, byte) in buf[..n].iter().enumerate() {
            if *byte != (((received + offset) / BLOCK) % 251) as u8 {
                mismatches += 1;
            }
        }
        received += n;
        if received % (16 << 20) < n {
            peak = peak.max(peak_rss(pid).unwrap_or(0));
        }
    }
    writer.join().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(received, TOTAL, "every byte comes out");
    assert_eq!(mismatches, 0, "bytes come out in order, unchanged");
    assert!(peak > 0, "memory was sampled");
    // The whole weir process (engine, compiled code, guest memory, buffers)
    // stays far below the data that went through it.
    assert!(
        peak < 128 << 20,
        "peak RSS {} MiB while streaming 256 MiB",
        peak >> 20
    );
}
