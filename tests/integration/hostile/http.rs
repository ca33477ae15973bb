//! Odd HTTP input, sent byte for byte over a raw TCP connection: header values with
//! non-UTF-8 bytes, NULs, `..` and huge or non-ASCII segments in paths, unknown routes and
//! wrong methods. Each gets an exact status and, where the hub answers at all, a JSON error.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::hub::{TestHub, WAIT};

/// A response as it came off the wire.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl RawReply {
    /// The message of a JSON `{"error": "..."}` body; fails if the body is anything else.
    pub fn error(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/json"),
            "status {} with a non-JSON body: {text:?}",
            self.status
        );
        let body: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {}: body is not JSON ({e}): {text:?}", self.status));
        body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("status {}: no \"error\" in {body}", self.status))
            .to_string()
    }
}

/// Sends `method path` with `headers` and `body` as raw bytes on a fresh connection and
/// reads the reply to the end (`Connection: close`).
pub async fn raw(
    hub: &TestHub,
    method: &str,
    path: &[u8],
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> RawReply {
    let addr = hub
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/api/v1");
    let mut request = format!("{method} ").into_bytes();
    request.extend_from_slice(path);
    request.extend_from_slice(
        format!(" HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n").as_bytes(),
    );
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    request.extend_from_slice(body);
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.unwrap();
        reply
    };
    let reply = tokio::time::timeout(WAIT, exchange).await.unwrap();
    parse_reply(&reply)
}

fn parse_reply(reply: &[u8]) -> RawReply {
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete response head: {:?}",
                String::from_utf8_lossy(reply)
            )
        });
    let head = String::from_utf8_lossy(&reply[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut content_type = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        match name.to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.trim().to_string()),
            "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let mut body = reply[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body);
    }
    RawReply {
        status,
        content_type,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 4 + size..];
    }
}

/// Sends a request with no headers and no body.
async fn get(hub: &TestHub, method: &str, path: &str) -> RawReply {
    raw(hub, method, path.as_bytes(), &[], b"").await
}

/// Asserts a JSON error with `status` whose message contains `needle`.
fn assert_json_error(reply: &RawReply, status: u16, needle: &str) {
    let message = reply.error();
    assert_eq!(reply.status, status, "{message:?}");
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

/// Answers `/health` (on a new connection) after whatever came before.
async fn assert_healthy(hub: &TestHub) {
    let reply = get(hub, "GET", "/api/v1/health").await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn header_values_with_odd_bytes_get_exact_statuses() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::HELLO_DIR).await;
    let id = hub.start_instance(&seq, json!({})).await;
    let input = format!("/api/v1/instance/{id}/input");
    let post = |headers: Vec<(&'static str, &'static [u8])>, body: &'static [u8]| {
        let (hub, input) = (&hub, input.clone());
        async move { raw(hub, "POST", input.as_bytes(), &headers, body).await }
    };
    // obs-text is a valid header byte: an `x-end-stream` that is not `true` keeps the
    // input open (202) and any content type is accepted for input.
    let odd_end = vec![
        ("content-type", &b"text/plain"[..]),
        ("x-end-stream", b"\xff\xfe"),
    ];
    assert_eq!(post(odd_end, b"a\n").await.status, 202);
    let odd_type = vec![
        ("content-type", &b"text/\xe9plain"[..]),
        ("x-end-stream", b"tru\xe9"),
    ];
    assert_eq!(post(odd_type, b"b\n").await.status, 202);
    // A control byte is not a valid header value: the HTTP layer refuses the request
    // before the hub sees it, with an empty 400.
    let control = vec![
        ("content-type", &b"text/plain"[..]),
        ("x-end-stream", b"\x01true"),
    ];
    let refused = post(control, b"x\n").await;
    assert_eq!(
        (refused.status, refused.body.len()),
        (400, 0),
        "{refused:?}"
    );
    // Where a content type is checked, one that is not valid text is refused with 415
    // (the message shows it as "").
    let start = format!("/api/v1/sequence/{seq}/start");
    let odd_json = [("content-type", &b"application/\xffjson"[..])];
    let reply = raw(&hub, "POST", start.as_bytes(), &odd_json, b"{}").await;
    assert_json_error(&reply, 415, "expected content-type application/json");
    let odd_package = [("content-type", &b"\xff"[..])];
    let reply = raw(&hub, "POST", b"/api/v1/sequence", &odd_package, b"xx").await;
    assert_json_error(&reply, 415, "application/octet-stream");
    hub.input(&id, "c\n").await;
    assert_eq!(
        hub.read_to_end(&format!("/instance/{id}/output")).await,
        "Hello a!\nHello b!\nHello c!\n"
    );
    assert_healthy(&hub).await;
}

#[tokio::test]
async fn an_odd_authorization_header_is_refused_with_401() {
    let hub = TestHub::with(|_| {}, Some("s3cret")).await;
    // A token that is not valid text counts as no token.
    let bearer = [("authorization", &b"Bearer \xffs3cret"[..])];
    let reply = raw(&hub, "GET", b"/api/v1/version", &bearer, b"").await;
    assert_json_error(&reply, 401, "missing bearer token");
    assert_healthy(&hub).await;
}

#[tokio::test]
async fn odd_paths_and_ids_get_json_404s_and_reach_nothing() {
    let hub = TestHub::start().await;
    let seq = hub.upload(weir_tests::HELLO_DIR).await;
    let not_found = [
        (
            "GET",
            "/api/v1/instance/%00".to_string(),
            "Instance \u{0} not found",
        ),
        (
            "GET",
            "/api/v1/instance/a%00b/output".into(),
            "Instance a\u{0}b not found",
        ),
        (
            "GET",
            "/api/v1/sequence/..%2F..%2Fetc%2Fpasswd".into(),
            "Sequence ../../etc/passwd not found",
        ),
        (
            "DELETE",
            "/api/v1/sequence/..%2F..%2Fetc%2Fpasswd".into(),
            "The sequence ../../etc/passwd does not exist.",
        ),
        (
            "POST",
            "/api/v1/sequence/..%2F..%2Fetc%2Fpasswd/start".into(),
            "Sequence ../../etc/passwd not found",
        ),
        (
            "GET",
            "/api/v1/sequence/../../etc/passwd".into(),
            "no such route; GET /api/v1/help lists them",
        ),
        (
            "GET",
            "/api/v1/instance/%ZZ".into(),
            "Instance %ZZ not found",
        ),
        (
            "GET",
            "/api/v1/instance/%C3%BC%F0%9F%A6%80".into(),
            "Instance ü🦀 not found",
        ),
        (
            "GET",
            "/api/v1/instance/ü🦀".into(),
            "Instance ü🦀 not found",
        ),
        (
            "GET",
            format!("/api/v1/instance/{}", "a".repeat(10 << 10)),
            &format!("Instance {} not found", "a".repeat(10 << 10)),
        ),
    ];
    for (method, path, message) in &not_found {
        let reply = get(&hub, method, path).await;
        assert_eq!(reply.error(), *message, "{method} {path:.80}");
        assert_eq!(reply.status, 404, "{method} {path:.80}");
    }
    // Past 64 KiB a URI is refused by the HTTP layer (414, no body).
    let reply = get(
        &hub,
        "GET",
        &format!("/api/v1/instance/{}", "a".repeat(70 << 10)),
    )
    .await;
    assert_eq!((reply.status, reply.body.len()), (414, 0), "{reply:?}");
    let unicode_id = json!({ "instanceId": "ü".repeat(36) }).to_string();
    let start = format!("/api/v1/sequence/{seq}/start");
    let json_type = [("content-type", &b"application/json"[..])];
    let reply = raw(
        &hub,
        "POST",
        start.as_bytes(),
        &json_type,
        unicode_id.as_bytes(),
    )
    .await;
    assert_json_error(&reply, 422, "Invalid Instance id");
    // Nothing was deleted: the one sequence is still there and runs.
    let (_, list) = crate::support::hub::json_of(hub.get("/sequences").await).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let id = hub.start_instance(&seq, json!({})).await;
    hub.input(&id, "still here\n").await;
    assert_eq!(
        hub.read_to_end(&format!("/instance/{id}/output")).await,
        "Hello still here!\n"
    );
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_json_404_and_405() {
    let hub = TestHub::start().await;
    let cases = [
        (
            "GET",
            "/api/v1/nope",
            404,
            "no such route; GET /api/v1/help lists them",
        ),
        (
            "GET",
            "/nope",
            404,
            "no such route; GET /api/v1/help lists them",
        ),
        ("POST", "/api/v1", 404, "no such route"),
        (
            "DELETE",
            "/api/v1/health",
            405,
            "method not allowed on this route",
        ),
        (
            "PUT",
            "/api/v1/instance/x/output",
            405,
            "method not allowed on this route",
        ),
        (
            "FOO",
            "/api/v1/health",
            405,
            "method not allowed on this route",
        ),
    ];
    for (method, path, status, needle) in cases {
        let reply = get(&hub, method, path).await;
        assert_json_error(&reply, status, needle);
    }
    assert_healthy(&hub).await;
}
