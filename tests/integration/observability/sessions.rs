//! Session tokens: a token minted at start opens that instance's routes and nothing else.

use super::*;

/// A path of `route` with its parameters filled in.
fn concrete(path: &str, instance: &str) -> String {
    path.replace("{space}", "s")
        .replace("{hub}", "h")
        .replace("{*rest}", "version")
        .replace("{id}", instance)
        .replace("{offset}", "0")
        .replace("{name}", "n")
        .replace("{action}", "cancel")
        .replace("{digest}", "d")
}

#[tokio::test]
async fn a_session_token_opens_its_instance_and_nothing_else() {
    let admin = "admin-token-0123456789";
    let read = "read-token-0123456789";
    let hub = TestHub::with_read_token(admin, read).await;
    let client = &hub.client;
    let package = std::fs::read(
        tokio::task::spawn_blocking(|| crate::support::pack(weir_tests::PASSTHROUGH_DIR))
            .await
            .unwrap(),
    )
    .unwrap();
    let (status, up) = json_of(
        client
            .post(hub.url("/sequence"))
            .bearer_auth(admin)
            .body(package.clone())
            .timeout(crate::support::hub::COMPILE_WAIT)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{up}");
    let seq = up["id"].as_str().unwrap().to_string();
    let start = |body: Value| {
        client
            .post(hub.url(&format!("/sequence/{seq}/start")))
            .bearer_auth(admin)
            .json(&body)
            .send()
    };
    let (status, started) = json_of(start(json!({"sessionToken": true})).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let token = started["sessionToken"]
        .as_str()
        .expect("a minted token")
        .to_string();
    assert!(token.len() >= 32, "{token}");
    let id = started["id"].as_str().unwrap().to_string();
    let (_, other) = json_of(start(json!({})).await.unwrap()).await;
    let other = other["id"].as_str().unwrap().to_string();
    let (status, refused) = json_of(start(json!({"sessionToken": "short"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

    // Its own routes: info, input, output.
    let info = client
        .get(hub.url(&format!("/instance/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);
    let info: Value = info.json().await.unwrap();
    assert!(
        info.get("sessionToken").is_none(),
        "the token is never shown again"
    );
    let sent = client
        .post(hub.url(&format!("/instance/{id}/input")))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("through\n")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let output = client
        .get(hub.url(&format!("/instance/{id}/output")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(output.status(), StatusCode::OK);
    assert_eq!(output.text().await.unwrap(), "through\n");

    // A browser's WebSocket: the token as a subprotocol, chosen back by the hub.
    {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let (_, ws_reply) = json_of(start(json!({"sessionToken": true})).await.unwrap()).await;
        let ws_id = ws_reply["id"].as_str().unwrap();
        let ws_token = ws_reply["sessionToken"].as_str().unwrap();
        let url = format!(
            "{}/instance/{ws_id}/ws",
            hub.base.replace("http://", "ws://")
        );
        let protocol = format!("weir.bearer.{ws_token}");
        let mut request = url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (mut socket, reply) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(
            reply.headers()["sec-websocket-protocol"].to_str().unwrap(),
            protocol
        );
        socket.send(Message::text("by socket\n")).await.unwrap();
        socket
            .send(Message::binary(Vec::<u8>::new()))
            .await
            .unwrap();
        let mut out = Vec::new();
        while let Some(Ok(message)) = tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
            match message {
                Message::Binary(data) => out.extend_from_slice(&data),
                Message::Close(_) => break,
                _ => {}
            }
        }
        assert_eq!(String::from_utf8(out).unwrap(), "by socket\n");
        // Another instance's WebSocket does not open with it.
        let other_url = format!(
            "{}/instance/{other}/ws",
            hub.base.replace("http://", "ws://")
        );
        let mut request = other_url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let refused = tokio_tungstenite::connect_async(request).await;
        assert!(refused.is_err(), "another instance's socket opened");
    }

    // Every other route of the API: 403 with the session token.
    for route in weir::api::ROUTES {
        // Open to everyone (what a token opens, liveness): nothing to refuse.
        if route.path == "/health" || route.path == "/access" {
            continue;
        }
        let own = route.path.starts_with("/instance/{id}");
        let target = if own { &other } else { &id };
        let method = match route.method {
            "ANY" => Method::GET,
            m => Method::from_bytes(m.as_bytes()).unwrap(),
        };
        let response = client
            .request(method.clone(), hub.url(&concrete(route.path, target)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{method} {} with instance {id}'s session token",
            route.path
        );
    }
    let metrics = client
        .get(hub.base.replace("/api/v1", "/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::FORBIDDEN);

    // The read-only token: GET routes, nothing that changes anything.
    let listed = client
        .get(hub.url("/instances"))
        .bearer_auth(read)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    for (method, path) in [
        (Method::POST, format!("/sequence/{seq}/start")),
        (Method::DELETE, format!("/sequence/{seq}")),
        (Method::POST, format!("/instance/{other}/_kill")),
        (Method::POST, "/sequence".to_string()),
    ] {
        let response = client
            .request(method.clone(), hub.url(&path))
            .bearer_auth(read)
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("read-only"),
            "{body}"
        );
    }
    // A client's own token works the same as a minted one.
    let (status, mine) = json_of(
        start(json!({"sessionToken": "my-own-viewer-token-42"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert!(
        mine.get("sessionToken").is_none(),
        "a given token is not echoed"
    );
    let mine = mine["id"].as_str().unwrap();
    let info = client
        .get(hub.url(&format!("/instance/{mine}")))
        .bearer_auth("my-own-viewer-token-42")
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);
}
