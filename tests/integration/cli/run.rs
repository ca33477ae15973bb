//! `weir run`: a plugin run locally, with its stdout reader, topics through files, and its
//! log, stderr and events in order.

#[test]
fn run_stops_the_plugin_when_its_stdout_reader_goes_away() {
    use std::io::Read;
    let package = crate::support::pack(weir_tests::OUTPUT_FLOOD_DIR);
    let mut child = crate::support::weir()
        .arg("run")
        .arg(&package)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `weir run … | head -c 4096`: read a little, then close the pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 4096];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("weir run kept running after its reader went away");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
#[test]
fn weir_run_reads_and_publishes_topics_through_files() {
    let package = crate::packages::archive_of("topic-relay", weir_tests::TOPIC_RELAY);
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.ndjson"), dir.path().join("out.ndjson"));
    std::fs::write(&input, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n").unwrap();
    // Subscribed: two records of the topic's file go to the output.
    let config = r#"{"subscribe_to":"orders","count":2}"#;
    let topic_in = format!("orders={}", input.display());
    let out = crate::support::run(
        &package,
        &["--config", config, "--topic-in", &topic_in],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"{\"a\":1}\n{\"b\":2}\n");
    // Published: each input line lands in the topic's file.
    let topic_out = format!("audit={}", output.display());
    let config = r#"{"publish_to":"audit"}"#;
    let out = crate::support::run(
        &package,
        &["--config", config, "--topic-out", &topic_out],
        b"x\ny\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "x\ny\n");
    // A topic with no file says which flag wires it.
    let out = crate::support::run(&package, &["--config", config], b"x\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--topic-out audit=FILE"), "{stderr}");
}

#[test]
fn weir_run_shows_log_stderr_and_events_in_the_order_they_were_made() {
    let package = crate::support::pack(weir_tests::LINE_EVENTS_DIR);
    let output = crate::support::run(&package, &[], b"a\nb\n");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "a\nb\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let expected = [
        "stderr 1",
        "event line: {\"n\":1,\"text\":\"a\"}",
        "[info] log 1",
        "stderr 2",
        "event line: {\"n\":2,\"text\":\"b\"}",
        "[info] log 2",
        "[info] all lines seen",
    ];
    assert_eq!(lines, expected, "{stderr}");
}
