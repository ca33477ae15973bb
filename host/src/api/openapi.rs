//! The OpenAPI 3.1 document of the API (`GET /api/v1/openapi.json`), made
//! from the route table itself ([`super::ROUTES`]: every path, method and
//! summary) and the request types' own schemas (`utoipa::ToSchema` on the
//! structs the handlers deserialize), so it cannot drift from the router.
//!
//! Replies are JSON the handlers build, streams or Server-Sent Events; the
//! document names each one's content type and status codes, with the one
//! error body every failure has (`{"error": "..."}`).

use std::sync::OnceLock;

use axum::Json;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder, Schema, ServerBuilder,
};

use super::{ROUTES, Route};

/// What a route reads: a JSON body of a type, or bytes.
enum Body {
    Json(&'static str),
    /// Any JSON (an object whose fields the handler picks).
    AnyJson,
    Bytes,
}

/// The request body of `route`, if it reads one.
fn request_body(route: &Route) -> Option<Body> {
    Some(match (route.method, route.path) {
        ("POST", "/sequence/{id}/start") => Body::Json("StartRequest"),
        ("POST", "/uploads") => Body::Json("UploadRequest"),
        ("POST", "/jobs") => Body::Json("SubmitJob"),
        ("PATCH" | "PUT", "/jobs/{id}") => Body::Json("PatchJob"),
        ("POST", "/workers") => Body::Json("WorkerRegistration"),
        ("PATCH", "/workers/{id}") => Body::Json("PatchWorker"),
        ("POST", "/workers/{id}/heartbeat") => Body::Json("Heartbeat"),
        ("POST", "/tasks/{id}/complete" | "/tasks/{id}/fail") => Body::Json("TaskResult"),
        ("POST", "/topics") => Body::Json("CreateTopic"),
        (
            "POST",
            "/shutdown"
            | "/instance/{id}/_stop"
            | "/instance/{id}/_kill"
            | "/instance/{id}/_event"
            | "/space/{space}/api/v1/sequence/{id}/start",
        ) => Body::AnyJson,
        ("POST", "/sequence")
        | (
            "PUT",
            "/sequence/{id}" | "/uploads/{id}/chunks/{offset}" | "/tasks/{id}/artifacts/{name}",
        )
        | (
            "POST",
            "/instance/{id}/input"
            | "/instance/{id}/stdin"
            | "/instance/{id}/inout"
            | "/topic/{name}"
            | "/space/{space}/api/v1/topic/{name}",
        ) => Body::Bytes,
        _ => return None,
    })
}

/// The content type of `route`'s successful reply.
fn reply_type(route: &Route) -> &'static str {
    let path = route.path;
    if path == "/metrics" {
        crate::metrics::CONTENT_TYPE
    } else if path == "/events" || path == "/jobs/{id}/events" {
        "text/event-stream"
    } else if path.starts_with("/instance/{id}/events/") {
        "application/x-ndjson"
    } else if route.method == "GET"
        && (path.ends_with("/output")
            || path.ends_with("/stdout")
            || path.ends_with("/stderr")
            || path.ends_with("/log")
            || path.starts_with("/topic/")
            || path.ends_with("/topic/{name}")
            || path == "/jobs/{id}/artifacts/{name}"
            || path == "/packages/{digest}")
        || path.ends_with("/inout")
    {
        "application/octet-stream"
    } else {
        "application/json"
    }
}

/// The schema of `route`'s JSON reply, where the reply is one of the code's
/// own types (the rest are JSON values the handlers build).
fn reply_schema(route: &Route) -> Option<RefOr<Schema>> {
    use utoipa::openapi::schema::ArrayBuilder;
    Some(match (route.method, route.path) {
        ("GET", "/topics") => ArrayBuilder::new()
            .items(Ref::from_schema_name("TopicInfo"))
            .into(),
        ("POST", "/workers/{id}/heartbeat") => Ref::from_schema_name("HeartbeatReply").into(),
        _ => {
            let (name, many) = client_reply(route)?;
            let one = Ref::from_schema_name(name);
            if many {
                ArrayBuilder::new().items(one).into()
            } else {
                one.into()
            }
        }
    })
}

/// The replies built from the wire types (`crate::wire`, which the client reads too):
/// the schema's name and whether the reply is a list of them. The same
/// types are the document's schemas, so the CLI, the document and (through
/// the schema checks of the tests and of schemathesis in CI) the server
/// agree on each shape.
fn client_reply(route: &Route) -> Option<(&'static str, bool)> {
    Some(match (route.method, route.path) {
        ("GET", "/version") => ("HubVersion", false),
        ("GET", "/config") => ("HubSettings", false),
        ("GET", "/status") => ("HubStatus", false),
        ("GET", "/health") => ("Health", false),
        ("GET", "/help") => ("RouteInfo", true),
        ("GET", "/load-check") => ("LoadCheck", false),
        ("GET", "/sequences") => ("SequenceInfo", true),
        ("GET", "/sequence/{id}") => ("SequenceInfo", false),
        ("POST", "/sequence" | "/uploads/{id}/complete") | ("PUT", "/sequence/{id}") => {
            ("SequenceId", false)
        }
        ("POST", "/sequence/{id}/start") => ("StartReply", false),
        ("GET", "/instances") => ("InstanceInfo", true),
        ("GET", "/instance/{id}") => ("InstanceInfo", false),
        ("GET", "/jobs") => ("Job", true),
        ("POST", "/jobs" | "/jobs/{id}/{action}") | ("GET" | "PATCH" | "PUT", "/jobs/{id}") => {
            ("Job", false)
        }
        ("DELETE", "/jobs/{id}" | "/workers/{id}") => ("Removed", false),
        ("GET", "/jobs/{id}/tasks") => ("Task", true),
        ("GET", "/jobs/{id}/artifacts") => ("ArtifactInfo", true),
        ("GET", "/workers") => ("Worker", true),
        ("POST", "/workers") | ("GET" | "PATCH", "/workers/{id}") => ("Worker", false),
        ("POST", "/topics") => ("TopicId", false),
        ("GET", "/access") => ("Access", false),
        ("GET", "/entities") => ("Entities", false),
        ("POST", "/shutdown") => ("ShutdownReply", false),
        ("POST", "/gc") => ("GcReply", false),
        ("POST", "/uploads")
        | ("GET", "/uploads/{id}")
        | ("PUT", "/uploads/{id}/chunks/{offset}") => ("ChunkedUpload", false),
        ("DELETE", "/uploads/{id}") => ("UploadId", false),
        ("GET", "/instance/{id}/health") => ("InstanceHealth", false),
        ("POST", "/instance/{id}/_stop" | "/instance/{id}/_kill") => ("InstanceInfo", false),
        ("POST", "/instance/{id}/_event") => ("EventAccepted", false),
        ("POST", "/tasks/{id}/complete" | "/tasks/{id}/fail") => ("TaskEnded", false),
        ("POST", "/tasks/{id}/requeue") => ("Task", false),
        ("PUT", "/tasks/{id}/artifacts/{name}") => ("StoredArtifact", false),
        ("POST", "/workers/{id}/pickup") => ("TaskLease", false),
        ("DELETE", "/topics/{name}") => ("TopicRemoved", false),
        ("POST", "/topic/{name}" | "/space/{space}/api/v1/topic/{name}") => ("Published", false),
        ("GET", "/spaces") => ("SpaceSummary", true),
        ("GET", "/space/{space}/api/v1/version") => ("HubVersion", false),
        ("GET", "/space/{space}/api/v1/list") => ("SpaceHub", true),
        ("GET", "/space/{space}/api/v1/sth/{hub}/info") => ("SpaceHub", false),
        ("GET", "/space/{space}/api/v1/load") => ("SpaceLoad", false),
        ("GET", "/space/{space}/api/v1/config") => ("SpaceSettings", false),
        ("GET", "/space/{space}/api/v1/sequences" | "/space/{space}/api/v1/instances") => {
            ("OnHub", true)
        }
        ("GET", "/space/{space}/api/v1/topics") => ("SpaceTopic", true),
        ("POST", "/space/{space}/api/v1/sequence/{id}/start") => ("OnHub", false),
        _ => return None,
    })
}

/// The success statuses of `route`.
fn ok_statuses(route: &Route) -> &'static [&'static str] {
    match (route.method, route.path) {
        ("POST", "/jobs" | "/uploads" | "/workers") => &["201"],
        ("POST", "/workers/{id}/pickup") => &["200", "204"],
        ("GET", "/jobs/{id}/events") => &["200", "204"],
        ("GET", "/instance/{id}/ws") => &["101"],
        _ => &["200"],
    }
}

fn any_json() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .into()
}

fn bytes_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .content_media_type("application/octet-stream")
        .into()
}

/// The `{param}` names of `path`.
fn parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|p| p.trim_start_matches('*'))
        .collect()
}

/// `path` as OpenAPI writes it (a catch-all `{*rest}` is `{rest}`).
pub fn document_path(path: &str) -> String {
    path.replace("{*", "{")
}

fn methods(route: &Route) -> Vec<HttpMethod> {
    match route.method {
        "GET" => vec![HttpMethod::Get],
        "POST" => vec![HttpMethod::Post],
        "PUT" => vec![HttpMethod::Put],
        "PATCH" => vec![HttpMethod::Patch],
        "DELETE" => vec![HttpMethod::Delete],
        _ => vec![
            HttpMethod::Get,
            HttpMethod::Post,
            HttpMethod::Put,
            HttpMethod::Patch,
            HttpMethod::Delete,
        ],
    }
}

fn operation_id(route: &Route, method: HttpMethod) -> String {
    let mut id = serde_json::to_value(method)
        .ok()
        .and_then(|m| m.as_str().map(str::to_string))
        .unwrap_or_default();
    for part in route.path.split(['/', '{', '}', '*', '-', '_', '.']) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    id
}

fn components() -> ComponentsBuilder {
    fn add<T: ToSchema>(components: ComponentsBuilder) -> ComponentsBuilder {
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        components.schema_from::<T>().schemas_from_iter(nested)
    }
    let mut components = ComponentsBuilder::new().schema(
        "Error",
        <crate::wire::ErrorBody as utoipa::PartialSchema>::schema(),
    );
    components = add::<crate::hub::StartRequest>(components);
    components = add::<crate::hub::StartLimits>(components);
    components = add::<crate::hub::SessionToken>(components);
    components = add::<crate::hub::UploadRequest>(components);
    components = add::<crate::jobs::SubmitJob>(components);
    components = add::<crate::jobs::FrameSpec>(components);
    components = add::<crate::jobs::PatchJob>(components);
    components = add::<crate::jobs::TaskReport>(components);
    components = add::<crate::wire::WorkerRegistration>(components);
    components = add::<crate::wire::PatchWorker>(components);
    components = add::<crate::wire::Heartbeat>(components);
    components = add::<crate::wire::TaskResult>(components);
    components = add::<crate::wire::CreateTopic>(components);
    components = add::<crate::hub::TopicInfo>(components);
    components = add::<crate::jobs::HeartbeatReply>(components);
    {
        use crate::wire;
        components = add::<wire::HubVersion>(components);
        components = add::<wire::HubSettings>(components);
        components = add::<wire::HubStatus>(components);
        components = add::<wire::Health>(components);
        components = add::<wire::RouteInfo>(components);
        components = add::<wire::LoadCheck>(components);
        components = add::<wire::SequenceInfo>(components);
        components = add::<wire::SequenceId>(components);
        components = add::<wire::StartReply>(components);
        components = add::<wire::InstanceInfo>(components);
        components = add::<wire::Job>(components);
        components = add::<wire::Removed>(components);
        components = add::<wire::Task>(components);
        components = add::<wire::ArtifactInfo>(components);
        components = add::<wire::Worker>(components);
        components = add::<wire::TopicId>(components);
        components = add::<wire::Access>(components);
        components = add::<wire::Entities>(components);
        components = add::<wire::ShutdownReply>(components);
        components = add::<wire::GcReply>(components);
        components = add::<wire::ChunkedUpload>(components);
        components = add::<wire::UploadId>(components);
        components = add::<wire::InstanceHealth>(components);
        components = add::<wire::EventAccepted>(components);
        components = add::<wire::TaskEnded>(components);
        components = add::<wire::StoredArtifact>(components);
        components = add::<wire::TaskLease>(components);
        components = add::<wire::TopicRemoved>(components);
        components = add::<wire::Published>(components);
        components = add::<wire::SpaceSummary>(components);
        components = add::<wire::SpaceHub>(components);
        components = add::<wire::SpaceLoad>(components);
        components = add::<wire::SpaceSettings>(components);
        components = add::<wire::OnHub>(components);
        components = add::<wire::SpaceTopic>(components);
        components = add::<wire::InstanceChange>(components);
        components = add::<wire::FeedReset>(components);
    }
    components.security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    )
}

fn operation(route: &Route, method: HttpMethod) -> utoipa::openapi::path::Operation {
    let mut op = OperationBuilder::new()
        .operation_id(Some(operation_id(route, method)))
        .summary(Some(route.about));
    for name in parameters(route.path) {
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(
                    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)),
                )),
        );
    }
    let body = request_body(route);
    if let Some(body) = &body {
        let request = match body {
            Body::Json(name) => RequestBodyBuilder::new().content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(*name)))
                    .build(),
            ),
            Body::AnyJson => RequestBodyBuilder::new().content(
                "application/json",
                ContentBuilder::new().schema(Some(any_json())).build(),
            ),
            Body::Bytes => RequestBodyBuilder::new().content(
                "application/octet-stream",
                ContentBuilder::new().schema(Some(bytes_schema())).build(),
            ),
        };
        op = op.request_body(Some(request.build()));
    }
    let content_type = reply_type(route);
    let schema = if content_type == "application/json" {
        reply_schema(route).unwrap_or_else(any_json)
    } else {
        bytes_schema()
    };
    for status in ok_statuses(route) {
        let mut reply = ResponseBuilder::new().description(match *status {
            "204" => "nothing (more) to send",
            "101" => "switching to the WebSocket protocol",
            _ => route.about,
        });
        if !matches!(*status, "204" | "101") {
            reply = reply.content(
                content_type,
                ContentBuilder::new().schema(Some(schema.clone())).build(),
            );
        }
        op = op.response(*status, reply.build());
    }
    let error = |why: &str| {
        ResponseBuilder::new()
            .description(why)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Error")))
                    .build(),
            )
            .build()
    };
    if route.path != "/health" {
        op = op
            .response("401", error("no bearer token (the hub has --token)"))
            .response("403", error("the token does not open this route"));
    }
    if !parameters(route.path).is_empty() {
        op = op.response("404", error("no such object"));
    }
    if body.is_some() {
        op = op
            .response("400", error("the body is malformed"))
            .response("413", error("the body is too large"))
            .response("415", error("the content type is not accepted here"))
            .response("422", error("well-formed but refused"));
    }
    op.response("default", error("any other failure (409, 503, 5xx)"))
        .build()
}

/// The document.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut paths = PathsBuilder::new();
        for route in ROUTES {
            for method in methods(route) {
                let item = PathItem::new(method.clone(), operation(route, method.clone()));
                paths = paths.path(document_path(route.path), item);
            }
        }
        let openapi = OpenApiBuilder::new()
            .info(
                InfoBuilder::new()
                    .title("weir")
                    .version(env!("CARGO_PKG_VERSION"))
                    .description(Some(
                        "The weir hub: the Scramjet Transform Hub API, render jobs, topics and the Space.",
                    ))
                    .build(),
            )
            .servers(Some([ServerBuilder::new().url("/api/v1").build()]))
            .paths(paths)
            .components(Some(components().build()))
            .security(Some([utoipa::openapi::security::SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]))
            .build();
        serde_json::to_value(&openapi).unwrap_or(Value::Null)
    })
}

/// `GET /openapi.json`: the OpenAPI 3.1 document of this API.
pub async fn openapi() -> Json<&'static Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_with_its_methods() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        for route in ROUTES {
            let item = &paths[&document_path(route.path)];
            for method in methods(route) {
                let name = serde_json::to_value(method).unwrap();
                assert!(
                    item.get(name.as_str().unwrap()).is_some(),
                    "{} {}",
                    route.method,
                    route.path
                );
            }
        }
        let listed: std::collections::BTreeSet<String> =
            ROUTES.iter().map(|r| document_path(r.path)).collect();
        let documented: std::collections::BTreeSet<String> = paths.keys().cloned().collect();
        assert_eq!(listed, documented);
        assert!(
            doc["components"]["schemas"]["StartRequest"].is_object(),
            "{doc}"
        );
    }
}
