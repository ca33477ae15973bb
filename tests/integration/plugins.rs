//! Every example plugin, packed with `weir pack` and run with `weir run`,
//! gives exactly the output its README promises.

use crate::support::{pack, run_ok};

#[test]
fn hello_greets_each_line() {
    let out = run_ok(&pack(weir_tests::HELLO_DIR), &[], b"world\nweir\n");
    assert_eq!(out, "Hello world!\nHello weir!\n");
}

#[test]
fn uppercase_upper_cases_bytes() {
    let out = run_ok(
        &pack(weir_tests::UPPERCASE_DIR),
        &[],
        "Hello, wörld 123\nno newline".as_bytes(),
    );
    assert_eq!(out, "HELLO, WöRLD 123\nNO NEWLINE");
}

#[test]
fn passthrough_copies_bytes_exactly() {
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let output = crate::support::run(&pack(weir_tests::PASSTHROUGH_DIR), &[], &data);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout == data, "passthrough changed the bytes");
}

#[test]
fn ndjson_map_marks_each_record_processed() {
    let out = run_ok(
        &pack(weir_tests::NDJSON_MAP_DIR),
        &[],
        b"{\"a\":1}\n\n{\"id\":\"x\",\"n\":[1,2]}\n",
    );
    assert_eq!(
        out,
        "{\"a\":1,\"processed\":true}\n{\"id\":\"x\",\"n\":[1,2],\"processed\":true}\n"
    );
}

#[test]
fn ndjson_map_names_the_bad_line() {
    let output = crate::support::run(
        &pack(weir_tests::NDJSON_MAP_DIR),
        &[],
        b"{\"a\":1}\nnot json\n",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert_eq!(output.status.code(), Some(23), "{stderr}");
}

#[test]
fn counter_counts_to_count() {
    let out = run_ok(
        &pack(weir_tests::COUNTER_DIR),
        &["--config", r#"{"count":3,"interval_ms":5}"#],
        b"",
    );
    assert_eq!(out, "1\n2\n3\n");
}

#[test]
fn args_to_output_writes_args_then_config() {
    let out = run_ok(
        &pack(weir_tests::ARGS_TO_OUTPUT_DIR),
        &[
            "--config",
            r#"{"mode":"test","n":2}"#,
            "--",
            "first",
            "second arg",
        ],
        b"",
    );
    assert_eq!(out, "first\nsecond arg\n{\"mode\":\"test\",\"n\":2}\n");
}

#[test]
fn plain_wasi_command_runs_as_a_sequence() {
    let out = run_ok(
        &pack(weir_tests::WASI_WC_DIR),
        &[],
        b"hello world\nfoo  bar baz\n",
    );
    assert_eq!(out, "2 5 25\n");
}
