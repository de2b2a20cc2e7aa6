//! The OpenAPI document and the API reference page: the document is OpenAPI 3.1, whole
//! (every operation it lists is served, and the server lists every one it serves), its
//! schemas match real answers, it carries the loaded plugins' routes with their auth, and
//! the reference page fetches nothing from elsewhere.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Session, TestServer, send};

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

async fn document(server: &TestServer) -> Value {
    // Public: no session.
    let response = reqwest::get(server.url("/api/openapi.json")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    response.json().await.unwrap()
}

/// Every operation: path, method, operation.
fn operations(spec: &Value) -> Vec<(String, &'static str, Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(*method) {
                found.push((path.clone(), *method, operation.clone()));
            }
        }
    }
    found
}

/// Every `$ref` anywhere in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => found.push(target),
                    _ => refs(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

/// Security requirements of an operation: `None` = open, `Some(true)` = sign-in needed,
/// `Some(false)` = sign-in optional.
fn needs_sign_in(spec: &Value, operation: &Value) -> Option<bool> {
    let requirements = operation.get("security").unwrap_or(&spec["security"]).as_array().unwrap();
    if requirements.is_empty() {
        return None;
    }
    Some(requirements.iter().all(|requirement| !requirement.as_object().unwrap().is_empty()))
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let server = TestServer::start(&["github-webhook", "all-hooks"]).await;
    let spec = document(&server).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"), "{}", spec["openapi"]);
    assert_eq!(spec["info"]["title"], "Plugboard");

    let mut targets = Vec::new();
    refs(&spec, &mut targets);
    assert!(targets.len() > 50, "the operations refer to their schemas: {targets:?}");
    for target in targets {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("`{target}` is not in the document"));
        assert!(spec.pointer(pointer).is_some(), "`{target}` does not resolve");
    }

    // The stable error shape and the security schemes actually used.
    let error = &spec["components"]["schemas"]["ApiError"];
    assert_eq!(error["required"], json!(["error"]));
    let detail = spec.pointer(error["properties"]["error"]["$ref"].as_str().unwrap().trim_start_matches('#')).unwrap();
    assert!(detail["properties"]["code"].is_object() && detail["properties"]["message"].is_object(), "{detail}");
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(
        schemes["session_cookie"],
        json!({"type": "apiKey", "in": "cookie", "name": "plugboard_session",
                                                 "description": schemes["session_cookie"]["description"]})
    );
    assert_eq!(
        (schemes["bearer_token"]["type"].as_str(), schemes["bearer_token"]["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );

    let tags: BTreeSet<&str> =
        spec["tags"].as_array().unwrap().iter().map(|tag| tag["name"].as_str().unwrap()).collect();
    for tag in [
        "auth",
        "conversations",
        "chat",
        "openai-compatible",
        "plugins",
        "plugin-management",
        "plugin-routes",
        "metrics",
        "github-webhook",
        "all-hooks",
    ] {
        assert!(tags.contains(tag), "tag {tag} missing: {tags:?}");
    }
    let mut ids = BTreeSet::new();
    for (path, method, operation) in operations(&spec) {
        let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        let operation_tags = operation["tags"].as_array().unwrap();
        assert!(!operation_tags.is_empty(), "{method} {path} has no tag");
        for tag in operation_tags {
            let tag = tag.as_str().unwrap();
            // The server lists a served route it has no annotation for as undocumented.
            assert_ne!(
                tag, "undocumented",
                "{method} {path} is served but not documented: annotate its handler \
                                             with #[utoipa::path] and name it in openapi::ApiDoc"
            );
            assert!(tags.contains(tag), "{method} {path}: tag {tag} is not declared");
        }
        assert!(operation["responses"].as_object().is_some_and(|responses| !responses.is_empty()), "{method} {path}");
    }
}

/// Regression guard for both directions: an operation added to the router without
/// documentation shows as undocumented (refused above); this checks that every documented
/// operation is really served, and that its documented security is the real one.
#[tokio::test]
async fn every_documented_operation_is_served_with_the_documented_security() {
    let server = TestServer::start(&["github-webhook", "all-hooks"]).await;
    let spec = document(&server).await;
    let listed = operations(&spec);
    let paths: BTreeSet<&str> = listed.iter().map(|(path, _, _)| path.as_str()).collect();
    for path in [
        "/api/auth/login",
        "/api/conversations/{id}",
        "/api/chat/stream",
        "/v1/chat/completions",
        "/api/plugins/{id}/config",
        "/api/plugins/{id}/http/{path}",
        "/metrics",
        "/api/openapi.json",
        "/api/docs",
    ] {
        assert!(paths.contains(path), "{path} is not documented");
    }
    let client = reqwest::Client::new();
    for (path, method, operation) in &listed {
        let concrete = path
            .split('/')
            .map(|segment| if segment.starts_with('{') { "probe" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body) = send(client.request(method.clone(), server.url(&concrete))).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is documented but not served");
        assert_ne!(body["error"]["message"], "no such endpoint", "{method} {path} is documented but not served");
        let plugin_route = path.starts_with("/api/plugins/") && path.contains("/http/");
        match needs_sign_in(&spec, operation) {
            Some(true) => assert_eq!(
                (status, body["error"]["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
                "{method} {path} is documented as needing sign-in: {body}"
            ),
            // An open plugin route may answer 401 itself (a webhook with a bad signature).
            None if !plugin_route => {
                assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path} is documented as open: {body}");
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn loaded_plugins_routes_are_listed_with_their_auth_and_leave_with_the_plugin() {
    let server = TestServer::start(&["github-webhook", "all-hooks"]).await;
    let spec = document(&server).await;

    let webhook = &spec["paths"]["/api/plugins/github-webhook/http/github"]["post"];
    assert_eq!(webhook["tags"], json!(["github-webhook"]));
    assert_eq!(webhook["security"], json!([]), "auth = \"none\" is open: {webhook}");
    assert!(webhook["summary"].as_str().unwrap().starts_with("A GitHub webhook delivery"), "{webhook}");
    assert!(webhook["requestBody"].is_object());

    let echo = &spec["paths"]["/api/plugins/all-hooks/http/echo/{name}"]["post"];
    assert_eq!(echo["tags"], json!(["all-hooks"]));
    assert_eq!(echo["security"], json!([{"session_cookie": []}, {"bearer_token": []}]), "{echo}");
    assert_eq!(
        echo["parameters"],
        json!([{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}])
    );
    assert_eq!(spec["paths"]["/api/plugins/all-hooks/http/hook"]["post"]["security"], json!([]));
    // What the document says is what the route does.
    let response = reqwest::Client::new().post(server.url("/api/plugins/all-hooks/http/echo/x")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = reqwest::Client::new().post(server.url("/api/plugins/all-hooks/http/hook")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // The document follows the plugins loaded now.
    let admin = server.signup("admin").await;
    let (status, body) = admin.post("/api/plugins/all-hooks/unload", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let spec = document(&server).await;
    assert!(spec["paths"].as_object().unwrap().keys().all(|path| !path.contains("/all-hooks/")));
    assert!(spec["tags"].as_array().unwrap().iter().all(|tag| tag["name"] != "all-hooks"));
    assert!(spec["paths"]["/api/plugins/github-webhook/http/github"]["post"].is_object());
}

/// A validator for the schema the document gives `status` of `method path` (JSON), strict
/// about undocumented fields so the schemas cannot drift from the handlers.
fn response_validator(spec: &Value, path: &str, method: &str, status: StatusCode) -> jsonschema::Validator {
    let response = &spec["paths"][path][method]["responses"][status.as_str()];
    let schema = response["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "{method} {path} documents no JSON body for {status}");
    let mut components = spec["components"].clone();
    close_objects(&mut components);
    jsonschema::validator_for(&json!({"components": components, "allOf": [schema]})).unwrap()
}

/// Objects with listed properties get `additionalProperties: false`.
fn close_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), json!(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Sends a request and checks its answer against the document.
async fn checked(spec: &Value, path: &str, request: reqwest::RequestBuilder, expected: StatusCode) -> Value {
    let request = request.build().unwrap();
    let method = request.method().as_str().to_ascii_lowercase();
    let response = reqwest::Client::new().execute(request).await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, expected, "{method} {path}: {body}");
    let validator = response_validator(spec, path, &method, status);
    let problems: Vec<String> =
        validator.iter_errors(&body).map(|error| format!("{error} at {}", error.instance_path)).collect();
    assert!(problems.is_empty(), "{method} {path} ({status}) does not match the document: {problems:?}\n{body}");
    body
}

#[tokio::test]
async fn real_answers_match_the_documented_schemas() {
    let server = TestServer::start(&["calculator", "github-webhook"]).await;
    let spec = document(&server).await;
    let anonymous = reqwest::Client::new();
    let credentials = json!({"username": "alice", "password": "correct horse battery"});
    checked(
        &spec,
        "/api/auth/signup",
        anonymous.post(server.url("/api/auth/signup")).json(&credentials),
        StatusCode::CREATED,
    )
    .await;
    checked(
        &spec,
        "/api/auth/signup",
        anonymous.post(server.url("/api/auth/signup")).json(&credentials),
        StatusCode::CONFLICT,
    )
    .await;
    checked(&spec, "/api/me", anonymous.get(server.url("/api/me")), StatusCode::UNAUTHORIZED).await;
    // JSON of the wrong shape: 400, documented (it was an undocumented 422).
    let wrong_shape = anonymous.post(server.url("/api/auth/login")).json(&json!([null, null]));
    checked(&spec, "/api/auth/login", wrong_shape, StatusCode::BAD_REQUEST).await;
    checked(&spec, "/api/session", anonymous.get(server.url("/api/session")), StatusCode::OK).await;
    let alice: Session = {
        let response = anonymous.post(server.url("/api/auth/login")).json(&credentials).send().await.unwrap();
        Session { client: anonymous.clone(), base: server.url(""), cookie: crate::session_cookie(&response) }
    };
    let get = |path: &str| alice.request(Method::GET, path);
    checked(&spec, "/api/session", get("/api/session"), StatusCode::OK).await;
    checked(&spec, "/api/me", get("/api/me"), StatusCode::OK).await;
    let token = alice.request(Method::POST, "/api/tokens").json(&json!({"name": "script"}));
    checked(&spec, "/api/tokens", token, StatusCode::CREATED).await;
    checked(&spec, "/api/tokens", get("/api/tokens"), StatusCode::OK).await;

    let chat = alice.request(Method::POST, "/api/chat").json(&json!({"message": "hello"}));
    let turn = checked(&spec, "/api/chat", chat, StatusCode::OK).await;
    let conversation = turn["conversation_id"].as_str().unwrap();
    let message = turn["reply"]["id"].as_str().unwrap();
    checked(&spec, "/api/conversations", get("/api/conversations"), StatusCode::OK).await;
    let create = alice.request(Method::POST, "/api/conversations").json(&json!({"title": "Plans"}));
    checked(&spec, "/api/conversations", create, StatusCode::CREATED).await;
    let one = format!("/api/conversations/{conversation}");
    checked(&spec, "/api/conversations/{id}", get(&one), StatusCode::OK).await;
    let change = alice.request(Method::PATCH, &one).json(&json!({"plugins": {"disabled_tools": ["calculator"]}}));
    checked(&spec, "/api/conversations/{id}", change, StatusCode::OK).await;
    checked(&spec, "/api/conversations/{id}", get("/api/conversations/nope"), StatusCode::NOT_FOUND).await;
    checked(&spec, "/api/conversations/{id}/messages", get(&format!("{one}/messages")), StatusCode::OK).await;
    checked(&spec, "/api/conversations/{id}/audit", get(&format!("{one}/audit")), StatusCode::OK).await;
    checked(&spec, "/api/messages/{id}/trace", get(&format!("/api/messages/{message}/trace")), StatusCode::OK).await;
    let upload = alice
        .request(Method::POST, &format!("{one}/attachments"))
        .header("content-type", "text/plain")
        .header("x-file-name", "notes.txt")
        .body("hello");
    checked(&spec, "/api/conversations/{id}/attachments", upload, StatusCode::CREATED).await;
    checked(&spec, "/api/conversations/{id}/attachments", get(&format!("{one}/attachments")), StatusCode::OK).await;
    let edit = alice.request(Method::PATCH, &format!("/api/messages/{message}")).json(&json!({"content": "edited"}));
    checked(&spec, "/api/messages/{id}", edit, StatusCode::OK).await;
    // The errors answered before a handler runs, and the limits, are documented too.
    let too_long = json!({"content": "x".repeat(64 * 1024 + 1)});
    let edit = alice.request(Method::PATCH, &format!("/api/messages/{message}")).json(&too_long);
    checked(&spec, "/api/messages/{id}", edit, StatusCode::PAYLOAD_TOO_LARGE).await;
    let huge = alice.request(Method::POST, "/api/chat").json(&json!({"message": "x".repeat(3 << 20)}));
    checked(&spec, "/api/chat", huge, StatusCode::PAYLOAD_TOO_LARGE).await;
    let as_text = alice.request(Method::POST, "/api/chat").header("content-type", "text/plain").body("{}");
    checked(&spec, "/api/chat", as_text, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    checked(&spec, "/api/conversations", get("/api/conversations?limit=many"), StatusCode::BAD_REQUEST).await;
    checked(&spec, "/api/conversations/{id}", get("/api/conversations/%FF"), StatusCode::BAD_REQUEST).await;
    // Errors of the handlers themselves.
    let bad_json =
        alice.request(Method::POST, "/api/conversations").header("content-type", "application/json").body("{");
    checked(&spec, "/api/conversations", bad_json, StatusCode::BAD_REQUEST).await;
    checked(&spec, "/api/attachments/{id}", get("/api/attachments/nope"), StatusCode::NOT_FOUND).await;
    checked(&spec, "/api/tokens/{id}", alice.request(Method::DELETE, "/api/tokens/nope"), StatusCode::NOT_FOUND).await;
    checked(&spec, "/api/plugins/{id}", get("/api/plugins/nope"), StatusCode::NOT_FOUND).await;
    checked(&spec, "/api/conversations/{id}/export", get(&format!("{one}/export")), StatusCode::BAD_REQUEST).await;
    checked(&spec, "/api/messages/{id}/trace", get("/api/messages/nope/trace"), StatusCode::NOT_FOUND).await;
    checked(
        &spec,
        "/api/messages/{id}",
        alice.request(Method::PATCH, "/api/messages/nope").json(&json!({"content": "x"})),
        StatusCode::NOT_FOUND,
    )
    .await;
    checked(
        &spec,
        "/api/messages/{id}",
        alice.request(Method::PATCH, &format!("/api/messages/{message}")).json(&json!({"content": " "})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    checked(
        &spec,
        "/api/chat",
        alice.request(Method::POST, "/api/chat").json(&json!({"message": ""})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let wrong_shape = alice.request(Method::POST, "/api/chat").json(&json!({"message": 7}));
    checked(&spec, "/api/chat", wrong_shape, StatusCode::BAD_REQUEST).await;
    checked(&spec, "/api/plugins/{id}/tasks", get("/api/plugins/nope/tasks"), StatusCode::NOT_FOUND).await;
    checked(&spec, "/api/plugins/{id}/config", get("/api/plugins/nope/config"), StatusCode::NOT_FOUND).await;
    checked(&spec, "/api/exports", get("/api/exports"), StatusCode::OK).await;
    checked(&spec, "/api/models", get("/api/models"), StatusCode::OK).await;
    checked(&spec, "/v1/models", get("/v1/models"), StatusCode::OK).await;
    let bad = alice.request(Method::POST, "/v1/chat/completions").json(&json!({"messages": "no"}));
    checked(&spec, "/v1/chat/completions", bad, StatusCode::BAD_REQUEST).await;

    checked(&spec, "/api/plugins", get("/api/plugins"), StatusCode::OK).await;
    checked(&spec, "/api/plugins/health", get("/api/plugins/health"), StatusCode::OK).await;
    checked(&spec, "/api/plugins/available", get("/api/plugins/available"), StatusCode::OK).await;
    checked(&spec, "/api/trusted-keys", get("/api/trusted-keys"), StatusCode::OK).await;
    let trust = alice.request(Method::POST, "/api/trusted-keys").json(&json!({"key": "plugboard-ed25519 AAAA x"}));
    checked(&spec, "/api/trusted-keys", trust, StatusCode::UNPROCESSABLE_ENTITY).await;
    let execute = alice
        .request(Method::POST, "/api/plugins/execute")
        .json(&json!({"plugin_id": "calculator", "method": "calculate", "kwargs": {"expression": "6*7"}}));
    checked(&spec, "/api/plugins/execute", execute, StatusCode::OK).await;
    checked(&spec, "/api/plugins/{id}/config", get("/api/plugins/github-webhook/config"), StatusCode::OK).await;
    let settings = alice.request(Method::PUT, "/api/plugins/github-webhook/config").json(&json!({"nope": 1}));
    checked(&spec, "/api/plugins/{id}/config", settings, StatusCode::UNPROCESSABLE_ENTITY).await;
    checked(&spec, "/api/plugins/{id}/faults", get("/api/plugins/calculator/faults"), StatusCode::OK).await;
    let disable = alice.request(Method::POST, "/api/plugins/calculator/disable");
    checked(&spec, "/api/plugins/{id}/disable", disable, StatusCode::OK).await;
    let unload = alice.request(Method::POST, "/api/plugins/calculator/unload");
    checked(&spec, "/api/plugins/{id}/unload", unload, StatusCode::OK).await;
}

/// Every script and style sheet the page loads, and every module a script imports.
fn assets_of(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for marker in ["src=\"", "href=\"", "from \"", "import(\""] {
        for (index, _) in text.match_indices(marker) {
            let rest = &text[index + marker.len()..];
            let target = &rest[..rest.find('"').unwrap()];
            if target.ends_with(".js") || target.ends_with(".css") {
                found.push(target.to_owned());
            }
        }
    }
    found
}

#[tokio::test]
async fn the_reference_page_is_served_and_fetches_nothing_from_elsewhere() {
    let server = TestServer::start(&[]).await;
    let response = reqwest::get(server.url("/api/docs")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("default-src 'self'") && policy.contains("connect-src 'self'"), "{policy}");
    let page = response.text().await.unwrap();

    let mut seen = BTreeSet::new();
    let mut queue = vec![("/api/docs".to_owned(), page)];
    let mut scripts = String::new();
    while let Some((name, text)) = queue.pop() {
        for scheme in ["http://", "https://"] {
            assert!(!text.contains(scheme), "{name} refers to `{scheme}`: the reference must work offline");
        }
        if name.ends_with(".js") {
            scripts.push_str(&text);
        }
        for asset in assets_of(&text) {
            assert!(asset.starts_with('/') && !asset.starts_with("//"), "{name} loads {asset} from elsewhere");
            if seen.insert(asset.clone()) {
                let response = reqwest::get(server.url(&asset)).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{asset}");
                queue.push((asset, response.text().await.unwrap()));
            }
        }
    }
    for asset in ["/ui/api-docs.js", "/ui/api-docs.css", "/ui/style.css", "/ui/markdown.js"] {
        assert!(seen.contains(asset), "the page does not load {asset}: {seen:?}");
    }
    // It reads the document, tries operations with the session cookie, and writes text only.
    assert!(scripts.contains("\"/api/openapi.json\"") && scripts.contains("credentials: \"same-origin\""));
    for markup in [".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("] {
        assert!(!scripts.contains(markup), "the reference's scripts use {markup}");
    }

    // The chat page links to it.
    let index = reqwest::get(server.url("/")).await.unwrap().text().await.unwrap();
    assert!(index.contains("href=\"/api/docs\""));
}
