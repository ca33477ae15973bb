//! Hub-level and sequence routes over real HTTP.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::archive;
use crate::support::hub::{TestHub, assert_error, json_of};

#[tokio::test]
async fn hub_routes_answer_with_their_shapes() {
    let hub = TestHub::start().await;
    let (status, version) = json_of(hub.get("/version").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (version["service"].as_str(), version["apiVersion"].as_str()),
        (Some("weir"), Some("v1"))
    );
    let (_, load) = json_of(hub.get("/load-check").await).await;
    assert!(load["memFree"].as_u64().unwrap() > 0, "{load}");
    assert!(load["avgLoad"].is_number(), "{load}");
    let (_, config) = json_of(hub.get("/config").await).await;
    assert_eq!(config["maxInstances"], 64);
    let (_, status) = json_of(hub.get("/status").await).await;
    assert_eq!(status["capacity"]["maxInstances"], 64);
    assert_eq!(status["instances"]["running"], 0);
    let (_, entities) = json_of(hub.get("/entities").await).await;
    assert!(entities["sequences"].is_array() && entities["instances"].is_array());
    let (_, help) = json_of(hub.get("/help").await).await;
    assert!(
        help.as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/api/v1/instance/{id}/output")
    );
    assert_error(
        hub.get("/nope").await,
        StatusCode::NOT_FOUND,
        "no such route",
    )
    .await;
}

#[tokio::test]
async fn responses_carry_cors_and_request_ids() {
    let hub = TestHub::start().await;
    let response = hub
        .client
        .get(hub.url("/version"))
        .header("origin", "http://example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response.headers().contains_key("x-request-id"));
    let preflight = hub
        .client
        .request(reqwest::Method::OPTIONS, hub.url("/sequence"))
        .header("origin", "http://example.test")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("DELETE")
    );
}

#[tokio::test]
async fn uploaded_sequences_are_listed_by_id_and_name_and_survive_a_restart() {
    let hub = TestHub::start().await;
    let id = hub.upload(weir_tests::HELLO_DIR).await;
    let (_, list) = json_of(hub.get("/sequences").await).await;
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["config"]["name"], "hello");
    let (status, by_name) = json_of(hub.get("/sequence/hello").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_name["id"], id.as_str());
    let log = hub.client.get(hub.url("/log")).send().await.unwrap();
    let first = tokio::time::timeout(
        crate::support::hub::WAIT,
        log.bytes_stream().into_future_first(),
    )
    .await
    .unwrap();
    assert!(
        first.contains("listening") || first.contains("stored"),
        "{first}"
    );

    let restarted = TestHub::on(hub.stop(), |_| {}, None).await;
    let (_, list) = json_of(restarted.get("/sequences").await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str(), "same id after a restart");
    let instance = restarted.start_instance(&id, json!({})).await;
    restarted.input(&instance, "again\n").await;
    assert_eq!(
        restarted
            .read_to_end(&format!("/instance/{instance}/output"))
            .await,
        "Hello again!\n"
    );
}

/// First chunk of a streaming body, as text.
trait FirstChunk {
    async fn into_future_first(self) -> String;
}

impl<S: futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin> FirstChunk for S {
    async fn into_future_first(mut self) -> String {
        use futures::StreamExt;
        let chunk = self.next().await.unwrap().unwrap();
        String::from_utf8_lossy(&chunk).into_owned()
    }
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing_behind() {
    let hub = TestHub::with(|c| c.max_upload_bytes = 64 << 10, None).await;
    let post = |body: Vec<u8>, ct: &'static str| {
        hub.client
            .post(hub.url("/sequence"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_error(
        post(b"x".to_vec(), "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "octet-stream",
    )
    .await;
    assert_error(
        post(b"not gzip".to_vec(), "application/octet-stream")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not a gzip file",
    )
    .await;
    assert_error(
        post(Vec::new(), "application/octet-stream").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "empty",
    )
    .await;
    let no_manifest = std::fs::read(archive("api-no-manifest", &[("a.wasm", b"\0asm")])).unwrap();
    assert_error(
        post(no_manifest, "application/octet-stream").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no manifest",
    )
    .await;
    let bad_import = std::fs::read(crate::packages::archive_of(
        "bad-import",
        weir_tests::BAD_IMPORT,
    ))
    .unwrap();
    assert_error(
        post(bad_import, "application/octet-stream").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "weir:missing/nothing",
    )
    .await;
    let big = vec![7u8; 100 << 10];
    assert_error(
        post(big, "application/octet-stream").await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than",
    )
    .await;
    let (_, list) = json_of(hub.get("/sequences").await).await;
    assert_eq!(list, json!([]));
    let stored = std::fs::read_dir(hub.dir.path().join("sequences"))
        .unwrap()
        .count();
    let staged = std::fs::read_dir(hub.dir.path().join("staging"))
        .unwrap()
        .count();
    assert_eq!((stored, staged), (0, 0), "refused uploads leave no files");
}

#[tokio::test]
async fn unknown_sequences_get_404_with_a_json_error() {
    let hub = TestHub::start().await;
    assert_error(
        hub.get("/sequence/nope").await,
        StatusCode::NOT_FOUND,
        "Sequence nope not found",
    )
    .await;
    assert_error(
        hub.get("/sequence/nope/instances").await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
    assert_error(
        hub.post_json("/sequence/nope/start", json!({})).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
    let delete = hub
        .client
        .delete(hub.url("/sequence/nope"))
        .send()
        .await
        .unwrap();
    assert_error(delete, StatusCode::NOT_FOUND, "does not exist").await;
}

#[tokio::test]
async fn replace_and_delete_refuse_while_instances_run_unless_forced() {
    let hub = TestHub::start().await;
    let id = hub.upload(weir_tests::COUNTER_DIR).await;
    let instance = hub.start_instance(&id, json!({})).await;
    let (_, ids) = json_of(hub.get(&format!("/sequence/{id}/instances")).await).await;
    assert_eq!(ids, json!([instance]));
    let package = std::fs::read(crate::support::pack(weir_tests::HELLO_DIR)).unwrap();
    let put = hub
        .client
        .put(hub.url(&format!("/sequence/{id}")))
        .body(package.clone())
        .send()
        .await
        .unwrap();
    assert_error(
        put,
        StatusCode::CONFLICT,
        "Can't update sequence with instances",
    )
    .await;
    let delete = hub
        .client
        .delete(hub.url(&format!("/sequence/{id}")))
        .send()
        .await
        .unwrap();
    assert_error(delete, StatusCode::CONFLICT, "Sequence in use").await;
    let forced = hub
        .client
        .delete(hub.url(&format!("/sequence/{id}")))
        .header("x-seq-kill-inst", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(forced).await, (StatusCode::OK, json!({ "id": id })));
    // Forced removal kills the instances and forgets them at once.
    tokio::time::timeout(crate::support::hub::WAIT, async {
        while hub.get(&format!("/instance/{instance}")).await.status() != StatusCode::NOT_FOUND {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_error(
        hub.get(&format!("/sequence/{id}")).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;

    let id = hub.upload(weir_tests::COUNTER_DIR).await;
    let put = hub
        .client
        .put(hub.url(&format!("/sequence/{id}")))
        .body(package)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(put).await, (StatusCode::OK, json!({ "id": id })));
    let (_, info) = json_of(hub.get(&format!("/sequence/{id}")).await).await;
    assert_eq!(
        info["config"]["name"], "hello",
        "the package was replaced under the same id"
    );
}

#[tokio::test]
async fn start_validates_its_request() {
    let hub = TestHub::with(|c| c.max_instances = 1, None).await;
    let id = hub.upload(weir_tests::EVENTS_DIR).await;
    let start = |body: &'static str, ct: &'static str| {
        hub.client
            .post(hub.url(&format!("/sequence/{id}/start")))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_error(
        start("{nope", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "Could not parse content",
    )
    .await;
    assert_error(
        start("{}", "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "application/json",
    )
    .await;
    assert_error(
        start(r#"{"instanceId":"short"}"#, "application/json")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid Instance id",
    )
    .await;
    assert_error(
        start(r#"{"appConfig":[1]}"#, "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "appConfig must be a JSON object",
    )
    .await;
    let custom = "00000000-0000-4000-8000-000000000001";
    assert_eq!(
        hub.start_instance(&id, json!({ "instanceId": custom }))
            .await,
        custom
    );
    assert_error(
        start(
            r#"{"instanceId":"00000000-0000-4000-8000-000000000001"}"#,
            "application/json",
        )
        .await
        .unwrap(),
        StatusCode::CONFLICT,
        "already exists",
    )
    .await;
    assert_error(
        start("{}", "application/json").await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "capacity of 1 instances",
    )
    .await;
}

#[tokio::test]
async fn an_ended_instance_frees_its_place_at_once() {
    // At the capacity, one that has ended counts no more, whether or not the hub has
    // finished with it yet: the next start right after it ends is taken.
    let hub = TestHub::with(|c| c.max_instances = 1, None).await;
    let id = hub.upload(weir_tests::EVENTS_DIR).await;
    for _ in 0..20 {
        let instance = hub.start_instance(&id, json!({})).await;
        let killed = hub
            .post_json(&format!("/instance/{instance}/_kill"), json!({}))
            .await;
        assert!(killed.status().is_success(), "{}", killed.status());
        hub.wait_ended(&instance).await;
    }
    let last = hub.start_instance(&id, json!({})).await;
    assert_error(
        hub.post_json(&format!("/sequence/{id}/start"), json!({}))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "capacity of 1 instances",
    )
    .await;
    assert_eq!(hub.info(&last).await["status"], "running");
}

#[tokio::test]
async fn auth_requires_the_bearer_token_except_for_health() {
    let hub = TestHub::with(|_| {}, Some("s3cret")).await;
    assert_error(
        hub.get("/version").await,
        StatusCode::UNAUTHORIZED,
        "missing bearer token",
    )
    .await;
    let wrong = hub
        .client
        .get(hub.url("/version"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_error(wrong, StatusCode::FORBIDDEN, "invalid bearer token").await;
    let right = hub
        .client
        .get(hub.url("/version"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(hub.get("/health").await.status(), StatusCode::OK);
    assert_error(
        hub.get("/instance/x/health").await,
        StatusCode::UNAUTHORIZED,
        "bearer",
    )
    .await;
}

/// A browser's preflight succeeds for every method of every route (PATCH
/// `/jobs/:id` and `/workers/:id` among them): the allowed methods come from
/// the route table that builds the router.
#[tokio::test]
async fn preflights_allow_every_method_of_the_route_table() {
    let hub = TestHub::start().await;
    let methods: std::collections::BTreeSet<&str> =
        weir::api::ROUTES.iter().map(|r| r.method).collect();
    assert!(methods.contains("PATCH"), "{methods:?}");
    // A route for ANY method (the Space's forwarding) must allow each of them.
    let every = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let concrete = weir::api::ROUTES.iter().flat_map(|route| {
        let methods: Vec<&str> = if route.method == "ANY" {
            every.to_vec()
        } else {
            vec![route.method]
        };
        methods.into_iter().map(move |method| (method, route))
    });
    for (method, route) in concrete {
        let path = route.path.replace(['{', '}'], "");
        let preflight = hub
            .client
            .request(reqwest::Method::OPTIONS, hub.url(&path))
            .header("origin", "http://dashboard.test")
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            preflight.status(),
            StatusCode::OK,
            "{} {}",
            method,
            route.path
        );
        let allowed = preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            allowed.split(',').any(|m| m.trim() == method),
            "{} {}: allowed {allowed}",
            method,
            route.path
        );
    }
}

/// Any route that refuses a request before reading its body (a package of the
/// wrong content type, a missing token) still answers a client that writes
/// its whole 10 MiB body first: the unread body is drained, not cut off.
#[tokio::test]
async fn refusals_before_the_body_is_read_reach_a_client_still_sending() {
    let hub = TestHub::start().await;
    let text = hub
        .send_whole_body_then_read(
            "POST /api/v1/sequence",
            "content-type: text/plain",
            10 << 20,
        )
        .await;
    assert!(text.starts_with("HTTP/1.1 415"), "{text}");
    assert!(
        text.contains("send the package as a raw application/octet-stream body"),
        "{text}"
    );
    assert_eq!(json_of(hub.get("/sequences").await).await.1, json!([]));
    let guarded = TestHub::with(|_| {}, Some("sesame")).await;
    let text = guarded
        .send_whole_body_then_read(
            "POST /api/v1/sequence",
            "content-type: application/octet-stream",
            10 << 20,
        )
        .await;
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.contains("missing bearer token"), "{text}");
}
