//! `weir topic`: what `send` publishes, `get` receives, and a content-type mismatch.

use super::*;

/// The entry `weir --json topic list` prints for topic `name`, if any.
fn topic_entry(hub: &Hub, name: &str) -> Option<Value> {
    let list: Value = serde_json::from_str(&hub.ok(&["--json", "topic", "list"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|topic| topic["topic"] == name)
        .cloned()
}

#[test]
fn topic_get_receives_exactly_what_topic_send_publishes() {
    let hub = Hub::start();
    assert_eq!(
        hub.ok(&["topic", "create", "records"]),
        "created records (application/x-ndjson)\n"
    );
    hub.ok(&["topic", "create", "notes", "-t", "text/plain"]);
    assert_eq!(
        topic_entry(&hub, "records").unwrap()["contentType"],
        "application/x-ndjson"
    );
    assert_eq!(
        topic_entry(&hub, "notes").unwrap()["contentType"],
        "text/plain"
    );

    let mut reader = hub.spawn(&["topic", "get", "records"], b"");
    let lines = Lines::of(&mut reader);
    // Publish once the reader is subscribed, so that it reads live.
    let deadline = Instant::now() + WAIT;
    while topic_entry(&hub, "records").unwrap()["subscribers"] != 1 {
        assert!(Instant::now() < deadline, "topic get did not subscribe");
        thread::sleep(Duration::from_millis(50));
    }
    let records: Vec<String> = (0..5000)
        .map(|n| format!(r#"{{"n":{n},"text":"record {n}"}}"#))
        .collect();
    let file = hub.dir.path().join("records.ndjson");
    let data = records.join("\n") + "\n";
    std::fs::write(&file, &data).unwrap();
    assert_eq!(
        hub.ok(&["topic", "send", "records", file.to_str().unwrap()]),
        ""
    );
    let received: Vec<String> = records.iter().map(|_| lines.next().unwrap()).collect();
    assert!(received == records, "the records arrived changed");
    assert_eq!(
        topic_entry(&hub, "records").unwrap()["publishedBytes"],
        data.len()
    );
    let table = hub.ok(&["topic", "ls"]);
    assert!(table.starts_with("TOPIC "), "{table}");
    assert!(table.contains("\nnotes  "), "{table}");

    // Deleting the topic ends the reader's stream.
    assert_eq!(hub.ok(&["topic", "delete", "records"]), "deleted records\n");
    assert_eq!(lines.rest(), Vec::<String>::new());
    assert!(crate::support::finish(reader, WAIT).status.success());

    // From stdin, before anyone reads: the first reader gets what was kept.
    hub.ok_with(&["topic", "send", "notes", "-t", "text/plain"], b"one\ntwo");
    let mut reader = hub.spawn(&["topic", "get", "notes", "-t", "text/plain"], b"");
    let lines = Lines::of(&mut reader);
    assert_eq!(lines.next().as_deref(), Some("one"));
    assert_eq!(lines.next().as_deref(), Some("two"));
    hub.ok(&["topic", "rm", "notes"]);
    assert_eq!(lines.rest(), Vec::<String>::new());
    assert!(crate::support::finish(reader, WAIT).status.success());
    assert_eq!(hub.ok(&["--json", "topic", "list"]).trim(), "[]");
}

#[test]
fn topic_content_type_mismatch_fails_with_the_hubs_message() {
    let hub = Hub::start();
    hub.ok(&["topic", "create", "plain", "-t", "text/plain"]);
    hub.ok(&["topic", "create", "bytes", "-t", "application/octet-stream"]);
    // Large enough that the hub refuses it while it is still being sent.
    let file = hub.dir.path().join("many.ndjson");
    std::fs::write(&file, "{\"a\":1}\n".repeat(2 << 20)).unwrap();
    // Line-framed types mix (ndjson records are text lines); bytes and lines do not.
    let send = ["topic", "send", "bytes", file.to_str().unwrap()];
    let get = ["topic", "get", "bytes", "-t", "application/x-ndjson"];
    for args in [&send[..], &send[..], &send[..], &get[..]] {
        let output = hub.run(args, b"");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "error: Acceptable Content-Type for bytes is application/octet-stream\n"
        );
        assert!(output.stdout.is_empty());
    }
    assert_eq!(topic_entry(&hub, "bytes").unwrap()["publishedBytes"], 0);

    let refusals = [
        (
            &["topic", "create", "plain"][..],
            "Topic plain already exists",
        ),
        (&["topic", "delete", "nope"][..], "Topic nope not found"),
    ];
    for (args, message) in refusals {
        let output = hub.run(args, b"");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!("error: {message}\n")
        );
    }
}
