//! Scramjet sequences in JavaScript and Python, uploaded unchanged (`package.json` and
//! source, no component) to a hub whose runners `weir runner build` built: the five
//! sequences of the Scramjet hub's own benchmark, and sequences that use the rest of the
//! code contract (pipelines, config, events, timers, their own modules, topics, Python's
//! `scramjet.streams`). And what a user gets when it cannot work: 422 with the command
//! that builds a missing runner, the Scramjet exit codes when the code fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::hub::{TestHub, WAIT, assert_error, json_of};
use crate::support::{archive_dir, runners_dir};

/// A hub with the runners built for this test run.
async fn hub() -> TestHub {
    TestHub::with(
        |config| config.runners_dir = Some(runners_dir().to_path_buf()),
        None,
    )
    .await
}

/// One of the Scramjet hub benchmark's sequences, packed as the Scramjet CLI packs a
/// directory (its files at the archive root).
fn peer(name: &str) -> PathBuf {
    let dir = Path::new(weir_tests::WORKSPACE_DIR)
        .join("../shared/peers/scramjet-hub/sequences")
        .join(name);
    archive_dir(&format!("peer-{name}"), &dir)
}

/// A sequence of `tests/scramjet/<language>/<name>`.
fn sample(language: &str, name: &str) -> PathBuf {
    let dir = Path::new(weir_tests::WORKSPACE_DIR)
        .join("tests/scramjet")
        .join(language)
        .join(name);
    archive_dir(&format!("scramjet-{language}-{name}"), &dir)
}

/// Posts `body` as the whole input with `content_type`.
async fn input(hub: &TestHub, instance: &str, content_type: &str, body: Vec<u8>) {
    let response = hub
        .client
        .post(hub.url(&format!("/instance/{instance}/input")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Starts `package` with `body`, feeds it `data` as `content_type`, and returns its whole
/// output and its end (`terminated`).
async fn run(
    hub: &TestHub,
    package: &Path,
    body: Value,
    content_type: &str,
    data: Vec<u8>,
) -> (Vec<u8>, Value) {
    let sequence = hub.upload_file(package).await;
    let instance = hub.start_instance(&sequence, body).await;
    let output = hub
        .client
        .get(hub.url(&format!("/instance/{instance}/output")))
        .send();
    let (_, response) = tokio::join!(input(hub, &instance, content_type, data), output);
    let bytes = response.unwrap().bytes().await.unwrap().to_vec();
    let info = hub.wait_ended(&instance).await;
    (bytes, info["terminated"].clone())
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line:?}")))
        .collect()
}

#[tokio::test]
async fn the_scramjet_benchmark_sequences_run_unchanged() {
    let hub = hub().await;

    // passthrough: a plain PassThrough; the bytes come back exactly.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (out, end) = run(
        &hub,
        &peer("passthrough"),
        json!({}),
        "application/octet-stream",
        data.clone(),
    )
    .await;
    assert_eq!(end["exitcode"], 0, "{end}");
    assert!(
        out == data,
        "passthrough changed the bytes ({} of {})",
        out.len(),
        data.len()
    );

    // uppercase: text chunks upper-cased through Readable.from(generator), raw bytes out.
    let (out, end) = run(
        &hub,
        &peer("uppercase"),
        json!({}),
        "text/plain",
        "Hello, wörld 123\nno newline".into(),
    )
    .await;
    assert_eq!(end["exitcode"], 0, "{end}");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HELLO, WÖRLD 123\nNO NEWLINE"
    );

    // ndjson-map: x-ndjson input arrives as objects; yielded objects go out as NDJSON.
    let records: String = (0..2000)
        .map(|i| format!("{{\"id\":{i},\"name\":\"user-{i}\",\"n\":{i}}}\n"))
        .collect();
    let (out, end) = run(
        &hub,
        &peer("ndjson-map"),
        json!({}),
        "application/x-ndjson",
        records.into(),
    )
    .await;
    assert_eq!(end["exitcode"], 0, "{end}");
    let out = lines(&out);
    assert_eq!(out.len(), 2000);
    assert_eq!(out[0], json!({"id": 0, "name": "USER-0", "n": 0}));
    assert_eq!(
        out[1999],
        json!({"id": 1999, "name": "USER-1999", "n": 3998})
    );

    // first-output: one record as soon as it runs, then its input echoed.
    let (out, end) = run(
        &hub,
        &peer("first-output"),
        json!({}),
        "application/x-ndjson",
        b"{\"a\":1}\n{\"b\":[2]}\n".to_vec(),
    )
    .await;
    assert_eq!(end["exitcode"], 0, "{end}");
    let out = lines(&out);
    assert!(
        out[0]["ready"].as_f64().is_some_and(|t| t > 1.6e12),
        "{out:?}"
    );
    assert_eq!(&out[1..], &[json!({"a": 1}), json!({"b": [2]})]);
}

#[tokio::test]
async fn the_events_sequence_answers_pings_while_it_waits_for_input() {
    let hub = hub().await;
    let sequence = hub.upload_file(&peer("events")).await;
    let instance = hub.start_instance(&sequence, json!({})).await;
    // `hello` is emitted at start.
    let hello = hub.get(&format!("/instance/{instance}/event/hello")).await;
    let (status, hello) = json_of(hello).await;
    assert_eq!(status, StatusCode::OK);
    assert!(hello["started"].as_f64().is_some(), "{hello}");
    // A ping while the sequence waits in `for await (… of input)`: its handler answers.
    let pong = tokio::spawn(
        hub.client
            .get(hub.url(&format!("/instance/{instance}/once/pong")))
            .send(),
    );
    // The `once` request is waiting before the ping is sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ping = hub
        .post_json(
            &format!("/instance/{instance}/_event"),
            json!({"eventName": "ping", "message": {"n": 1}}),
        )
        .await;
    assert_eq!(ping.status(), StatusCode::OK);
    let (status, pong) = json_of(pong.await.unwrap().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pong["got"], json!({"n": 1}), "{pong}");
    assert!(pong["at"].as_f64().is_some(), "{pong}");
    // console.log went to stdout; each input chunk is echoed; the log has the lines.
    let output = hub
        .client
        .get(hub.url(&format!("/instance/{instance}/output")))
        .send();
    let (_, output) = tokio::join!(
        input(&hub, &instance, "text/plain", b"line one".to_vec()),
        output
    );
    let output = output.unwrap().text().await.unwrap();
    // A generator's strings are serialised as JSON, as the Scramjet runner does.
    assert_eq!(output, "\"echo: line one\"\n");
    let end = hub.wait_ended(&instance).await;
    assert_eq!(end["terminated"]["exitcode"], 0, "{end}");
    let stdout = hub
        .read_to_end(&format!("/instance/{instance}/stdout"))
        .await;
    assert!(stdout.contains("events sequence started"), "{stdout:?}");
    let log = hub.read_to_end(&format!("/instance/{instance}/log")).await;
    assert!(log.contains("got ping"), "{log}");
    assert!(log.contains("line one"), "{log}");
}

#[tokio::test]
async fn a_package_whose_runner_is_not_built_is_refused_with_the_command_that_builds_it() {
    let empty = tempfile::tempdir().unwrap();
    let runners = empty.path().to_path_buf();
    let hub = TestHub::with(move |config| config.runners_dir = Some(runners), None).await;
    for (package, language) in [
        (peer("passthrough"), "js"),
        (sample("python", "async-gen"), "python"),
    ] {
        let response = hub
            .client
            .post(hub.url("/sequence"))
            .header("content-type", "application/octet-stream")
            .body(std::fs::read(&package).unwrap())
            .send()
            .await
            .unwrap();
        let command = format!(
            "weir runner build {language} --runners-dir {}",
            empty.path().display()
        );
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, &command).await;
    }
    // Nothing was stored.
    let (_, sequences) = json_of(hub.get("/sequences").await).await;
    assert_eq!(sequences, json!([]));
}

#[tokio::test]
async fn a_main_that_names_no_file_is_refused_at_upload() {
    let hub = hub().await;
    let package = crate::support::archive(
        "scramjet-no-main",
        &[("package.json", br#"{"name":"x","main":"lib/missing.js"}"#)],
    );
    let response = hub
        .client
        .post(hub.url("/sequence"))
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(&package).unwrap())
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "`main` names \"lib/missing.js\", which is not a file in the package",
    )
    .await;
}

/// Waits for the instance to end and returns `terminated`.
async fn ended(hub: &TestHub, instance: &str) -> Value {
    hub.wait_ended(instance).await["terminated"].clone()
}

#[tokio::test]
async fn code_that_fails_ends_with_the_scramjet_exit_codes_and_says_why() {
    let hub = hub().await;
    for (language, name, code, needle) in [
        ("js", "syntax-error", 22, "SyntaxError"),
        ("js", "throws", 23, "bad input: x"),
        ("python", "syntax-error", 22, "SyntaxError"),
        ("python", "throws", 23, "this sequence fails on purpose"),
    ] {
        let sequence = hub.upload_file(&sample(language, name)).await;
        let instance = hub.start_instance(&sequence, json!({})).await;
        input(&hub, &instance, "text/plain", b"x\n".to_vec()).await;
        let end = tokio::time::timeout(WAIT, ended(&hub, &instance))
            .await
            .unwrap();
        assert_eq!(end["exitcode"], code, "{language} {name}: {end}");
        let reason = end["reason"].as_str().unwrap();
        assert!(reason.contains(needle), "{language} {name}: {reason}");
        let log = hub.read_to_end(&format!("/instance/{instance}/log")).await;
        assert!(log.contains(needle), "{language} {name}: {log}");
    }
}

#[tokio::test]
async fn a_javascript_pipeline_of_two_functions_reads_its_config() {
    let hub = hub().await;
    let (out, end) = run(
        &hub,
        &sample("js", "pipeline-config"),
        json!({"appConfig": {"prefix": "> ", "repeat": 2}}),
        "application/x-ndjson",
        b"{\"name\":\"a\"}\n{\"name\":\"b\"}\n".to_vec(),
    )
    .await;
    assert_eq!(end["exitcode"], 0, "{end}");
    assert_eq!(String::from_utf8(out).unwrap(), "> a\n> a\n> b\n> b\n");
}

#[tokio::test]
async fn javascript_requires_its_own_files_and_bundled_modules_and_runs_timers() {
    let hub = hub().await;
    let (out, end) = run(
        &hub,
        &sample("js", "requires-lib"),
        json!({}),
        "text/plain",
        b"hi".to_vec(),
    )
    .await;
    assert_eq!(end["exitcode"], 0, "{end}");
    assert_eq!(String::from_utf8(out).unwrap(), "HI! (dep 1.2.3)\n");

    // setInterval ticks while nothing comes in; `this.end()` ends the instance.
    let sequence = hub.upload_file(&sample("js", "timers")).await;
    let instance = hub.start_instance(&sequence, json!({})).await;
    let out = hub
        .read_to_end(&format!("/instance/{instance}/output"))
        .await;
    assert_eq!(out, "tick 1\ntick 2\ntick 3\n");
    let end = ended(&hub, &instance).await;
    assert_eq!(end["exitcode"], 0, "{end}");
}

#[tokio::test]
async fn topics_declared_in_javascript_code_are_read_and_published() {
    let hub = hub().await;
    let sequence = hub.upload_file(&sample("js", "topics")).await;
    // A reader of "greetings" first, so nothing published is missed.
    let greetings = tokio::spawn(
        hub.client
            .get(hub.url("/topic/greetings"))
            .header("content-type", "application/x-ndjson")
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let instance = hub.start_instance(&sequence, json!({})).await;
    let sent = hub
        .client
        .post(hub.url("/topic/names"))
        .header("content-type", "application/x-ndjson")
        .body("{\"name\":\"ann\"}\n{\"name\":\"bo\"}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let mut response = greetings.await.unwrap().unwrap();
    let mut got = String::new();
    while got.lines().count() < 2 {
        let chunk = tokio::time::timeout(WAIT, response.chunk())
            .await
            .expect("no greeting published")
            .unwrap()
            .expect("the topic ended");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(got, "{\"hello\":\"ann\"}\n{\"hello\":\"bo\"}\n");
    let info = hub.info(&instance).await;
    assert!(info.get("terminated").is_none(), "{info}");
}

#[tokio::test]
async fn the_scramjet_cli_deploys_a_sequence_directory_and_feeds_it() {
    use crate::space::scramjet_cli::{Si, field};
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let hub = hub().await;
    let api = hub.base.clone();
    let dir = Path::new(weir_tests::WORKSPACE_DIR)
        .join("../shared/peers/scramjet-hub/sequences/uppercase")
        .to_string_lossy()
        .into_owned();
    let output = tokio::task::spawn_blocking(move || {
        let si = Si::new();
        si.run(&["config", "set", "apiUrl", &api]);
        // `si seq deploy DIR` packs the directory as it is, sends it and starts it.
        let deployed = si.run(&["seq", "deploy", &dir]);
        let instance = field(&deployed, "_id");
        let input = si.home.path().join("input.txt");
        std::fs::write(&input, "shout this\n").unwrap();
        si.run(&["inst", "input", "--end", &instance, input.to_str().unwrap()]);
        let mut follow = si
            .command(&["inst", "output", &instance])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
        let line = lines.next().and_then(|l| l.ok());
        let _ = follow.kill();
        let _ = follow.wait();
        line
    });
    let output = tokio::time::timeout(crate::support::hub::COMPILE_WAIT, output)
        .await
        .expect("si printed no output")
        .unwrap();
    assert_eq!(output.as_deref(), Some("SHOUT THIS"));
}

#[test]
fn weir_run_runs_a_scramjet_sequence_locally() {
    let runners = runners_dir().to_str().unwrap();
    let output = crate::support::run(
        &peer("uppercase"),
        &["--runners-dir", runners],
        "local and unchanged\n".as_bytes(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"LOCAL AND UNCHANGED\n");
}

#[tokio::test]
async fn python_sequences_return_a_stringstream_chain_or_an_async_generator() {
    let hub = hub().await;
    let (out, end) = run(
        &hub,
        &sample("python", "stringstream"),
        json!({}),
        "text/plain",
        b"hello\nworld\n\nbye".to_vec(),
    )
    .await;
    assert_eq!(end["exitcode"], 0, "{end}");
    assert_eq!(String::from_utf8(out).unwrap(), "HELLO\nWORLD\nBYE\n");

    let (out, end) = run(
        &hub,
        &sample("python", "async-gen"),
        json!({"appConfig": {"count": 4}}),
        "text/plain",
        Vec::new(),
    )
    .await;
    assert_eq!(end["exitcode"], 0, "{end}");
    let squares: Vec<Value> = (0..4).map(|n| json!({"n": n, "square": n * n})).collect();
    assert_eq!(lines(&out), squares);

    // Bundled __pypackages__ are importable, both as pip -t and as PEP 582 lay them out.
    let (out, end) = run(
        &hub,
        &sample("python", "uses-pypackages"),
        json!({}),
        "text/plain",
        b"ann\nbob\n".to_vec(),
    )
    .await;
    assert_eq!(end["exitcode"], 0, "{end}");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Hello, ann!\nHELLO, BOB!\n"
    );
}

#[tokio::test]
async fn python_sequences_use_asyncio_and_answer_events_while_they_wait() {
    let hub = hub().await;
    // Three overlapping asyncio.sleep tasks and a Queue.
    let sequence = hub.upload_file(&sample("python", "sleep")).await;
    let instance = hub.start_instance(&sequence, json!({})).await;
    let ticks = hub.get(&format!("/instance/{instance}/events/tick")).await;
    let out = hub
        .read_to_end(&format!("/instance/{instance}/output"))
        .await;
    assert_eq!(lines(out.as_bytes()), [json!({"order": [50, 100, 150]})]);
    let ticks = tokio::time::timeout(WAIT, ticks.text())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ticks, "50\n100\n150\n");

    let sequence = hub.upload_file(&sample("python", "events")).await;
    let instance = hub.start_instance(&sequence, json!({})).await;
    let (status, hello) =
        json_of(hub.get(&format!("/instance/{instance}/event/hello")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(hello["started"].as_f64().is_some(), "{hello}");
    let pong = tokio::spawn(
        hub.client
            .get(hub.url(&format!("/instance/{instance}/once/pong")))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ping = hub
        .post_json(
            &format!("/instance/{instance}/_event"),
            json!({"eventName": "ping", "message": "hi"}),
        )
        .await;
    assert_eq!(ping.status(), StatusCode::OK);
    let (_, pong) = json_of(pong.await.unwrap().unwrap()).await;
    assert_eq!(pong["got"], "hi", "{pong}");
    let output = hub
        .client
        .get(hub.url(&format!("/instance/{instance}/output")))
        .send();
    let (_, output) = tokio::join!(
        input(&hub, &instance, "text/plain", b"one\ntwo\n".to_vec()),
        output
    );
    assert_eq!(
        output.unwrap().text().await.unwrap(),
        "echo: one\necho: two\n"
    );
    let stdout = hub
        .read_to_end(&format!("/instance/{instance}/stdout"))
        .await;
    assert!(stdout.contains("events sequence started"), "{stdout:?}");
}
