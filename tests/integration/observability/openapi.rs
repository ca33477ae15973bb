//! The OpenAPI document: valid, naming exactly the routes, and every typed reply matching its
//! schema.

use super::*;

#[tokio::test]
async fn the_openapi_document_validates_and_lists_exactly_the_routes() {
    let hub = TestHub::start().await;
    let (status, doc) = json_of(hub.get("/openapi.json").await).await;
    assert_eq!(status, StatusCode::OK);
    let script = r#"
import json, sys
from openapi_spec_validator import validate
doc = json.load(sys.stdin)
validate(doc)
for path, item in sorted(doc["paths"].items()):
    for method in sorted(k for k in item if k in ("get", "post", "put", "patch", "delete")):
        print(method.upper(), path)
"#;
    let listed = python(script, &doc.to_string());
    let mut expected: Vec<String> = Vec::new();
    for route in weir::api::ROUTES {
        let path = route.path.replace("{*", "{");
        let methods: &[&str] = match route.method {
            "ANY" => &["DELETE", "GET", "PATCH", "POST", "PUT"],
            m => &[m][..],
        };
        for m in methods {
            expected.push(format!("{m} {path}"));
        }
    }
    expected.sort();
    let mut got: Vec<String> = listed.lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, expected, "the document's operations are the router's");
    assert_eq!(doc["openapi"], "3.1.0");
    let start = &doc["paths"]["/sequence/{id}/start"]["post"];
    assert_eq!(
        start["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/StartRequest"
    );
    let limits = &doc["components"]["schemas"]["StartRequest"]["properties"]["limits"];
    assert!(
        !limits.is_null(),
        "{}",
        doc["components"]["schemas"]["StartRequest"]
    );
    assert!(start["responses"]["422"].is_object(), "{start}");
    // Replies that are the code's own types name them.
    assert_eq!(
        doc["paths"]["/topics"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["items"]["$ref"],
        "#/components/schemas/TopicInfo"
    );
    let topic = &doc["components"]["schemas"]["TopicInfo"]["properties"];
    assert!(topic["retainedBytes"].is_object(), "{topic}");
}
/// The replies the document gives a schema (the client's own wire types)
/// match what the hub sends, checked with the reference JSON Schema
/// validator on real replies of every kind: a hub with a sequence, a
/// finished instance, a completed job with its tasks and artifacts, a
/// remote worker, a topic.
#[tokio::test]
async fn replies_match_the_schemas_the_document_gives_them() {
    let hub = TestHub::with(|c| c.jobs.slots = 1, None).await;
    let hello = hub.upload(weir_tests::HELLO_DIR).await;
    let mandelbrot = hub.upload(weir_tests::MANDELBROT_DIR).await;
    let mut cases: Vec<Value> = Vec::new();
    let mut record = |method: &str, template: &str, status: StatusCode, reply: Value| {
        assert!(status.is_success(), "{method} {template}: {status} {reply}");
        cases.push(json!({"method": method.to_lowercase(), "path": template,
                          "status": status.as_u16().to_string(), "reply": reply}));
    };
    let (status, started) = json_of(
        hub.post_json(&format!("/sequence/{hello}/start"), json!({}))
            .await,
    )
    .await;
    record("POST", "/sequence/{id}/start", status, started.clone());
    let instance = started["id"].as_str().unwrap().to_string();
    let ended = hub
        .client
        .post(hub.url(&format!("/instance/{instance}/input")))
        .header("content-type", "text/plain")
        .body("world\n")
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success(), "{:?}", ended.status());
    let (status, job) = json_of(
        hub.post_json(
            "/jobs",
            json!({"package": mandelbrot, "frames": "1-2", "settings": {"width": 16, "height": 16}}),
        )
        .await,
    )
    .await;
    record("POST", "/jobs", status, job.clone());
    let job = job["id"].as_str().unwrap().to_string();
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, now) = json_of(hub.get(&format!("/jobs/{job}")).await).await;
            let (_, inst) = json_of(hub.get(&format!("/instance/{instance}")).await).await;
            if now["state"] == "completed" && !inst["terminated"].is_null() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the job and the instance end");
    let (status, worker) = json_of(
        hub.post_json(
            "/workers",
            json!({"name": "schema-box", "slots": 1, "version": "9.9.9"}),
        )
        .await,
    )
    .await;
    record("POST", "/workers", status, worker.clone());
    let worker = worker["id"].as_str().unwrap().to_string();
    let (status, topic) = json_of(
        hub.post_json(
            "/topics",
            json!({"id": "schema-topic", "content-type": "text/plain"}),
        )
        .await,
    )
    .await;
    record("POST", "/topics", status, topic);
    for (template, path) in [
        ("/version", "/version".to_string()),
        ("/config", "/config".to_string()),
        ("/status", "/status".to_string()),
        ("/health", "/health".to_string()),
        ("/help", "/help".to_string()),
        ("/load-check", "/load-check".to_string()),
        ("/sequences", "/sequences".to_string()),
        ("/sequence/{id}", format!("/sequence/{hello}")),
        ("/instances", "/instances".to_string()),
        ("/instance/{id}", format!("/instance/{instance}")),
        ("/jobs", "/jobs".to_string()),
        ("/jobs/{id}", format!("/jobs/{job}")),
        ("/jobs/{id}/tasks", format!("/jobs/{job}/tasks")),
        ("/jobs/{id}/artifacts", format!("/jobs/{job}/artifacts")),
        ("/workers", "/workers".to_string()),
        ("/workers/{id}", format!("/workers/{worker}")),
        ("/topics", "/topics".to_string()),
        ("/access", "/access".to_string()),
        ("/entities", "/entities".to_string()),
        ("/spaces", "/spaces".to_string()),
        (
            "/instance/{id}/health",
            format!("/instance/{instance}/health"),
        ),
    ] {
        let (status, reply) = json_of(hub.get(&path).await).await;
        record("GET", template, status, reply);
    }
    let (status, gc) = json_of(hub.post_json("/gc", json!({})).await).await;
    record("POST", "/gc", status, gc);
    let (status, upload) = json_of(
        hub.post_json("/uploads", json!({"size": 4, "sha256": "0".repeat(64)}))
            .await,
    )
    .await;
    record("POST", "/uploads", status, upload.clone());
    let upload = upload["id"].as_str().unwrap().to_string();
    let (status, reply) = json_of(hub.get(&format!("/uploads/{upload}")).await).await;
    record("GET", "/uploads/{id}", status, reply);
    let published = hub
        .client
        .post(hub.url("/topic/schema-topic"))
        .header("content-type", "text/plain")
        .body("one\n")
        .send()
        .await
        .unwrap();
    let (status, reply) = json_of(published).await;
    record("POST", "/topic/{name}", status, reply);
    for (template, path) in [
        ("/uploads/{id}", format!("/uploads/{upload}")),
        ("/topics/{name}", "/topics/schema-topic".to_string()),
    ] {
        let removed = hub.client.delete(hub.url(&path)).send().await.unwrap();
        let (status, reply) = json_of(removed).await;
        record("DELETE", template, status, reply);
    }
    let (status, requeued) = json_of(
        hub.post_json(&format!("/jobs/{job}/requeue"), json!({}))
            .await,
    )
    .await;
    record("POST", "/jobs/{id}/{action}", status, requeued);
    let deleted = hub
        .client
        .delete(hub.url(&format!("/jobs/{job}")))
        .send()
        .await
        .unwrap();
    let (status, deleted) = json_of(deleted).await;
    record("DELETE", "/jobs/{id}", status, deleted);

    let (_, doc) = json_of(hub.get("/openapi.json").await).await;
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
given = json.load(sys.stdin)
doc = given["doc"]
for case in given["cases"]:
    response = doc["paths"][case["path"]][case["method"]]["responses"][case["status"]]
    schema = response["content"]["application/json"]["schema"]
    root = dict(schema, components=doc["components"])
    for error in Draft202012Validator(root).iter_errors(case["reply"]):
        path = "/".join(str(p) for p in error.absolute_path)
        print(f'{case["method"].upper()} {case["path"]}: at {path or "."}: {error.message[:200]}')
    print(f'checked {case["method"].upper()} {case["path"]} with {json.dumps(schema)[:60]}')
"#;
    let input = json!({"doc": doc, "cases": cases}).to_string();
    let printed = python(script, &input);
    let problems: Vec<&str> = printed
        .lines()
        .filter(|l| !l.starts_with("checked "))
        .collect();
    assert!(
        problems.is_empty(),
        "replies that break their schema:\n{}",
        problems.join("\n")
    );
    let checked = printed
        .lines()
        .filter(|l| l.starts_with("checked "))
        .count();
    assert_eq!(checked, cases.len());
    // Every case had a named schema, not just "any JSON".
    for line in printed.lines().filter(|l| l.starts_with("checked ")) {
        assert!(line.contains("#/components/schemas/"), "{line}");
    }
}
