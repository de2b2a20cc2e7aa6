//! The OpenAPI 3.1 document of the whole HTTP API, served at `GET /api/openapi.json`.
//! `utoipa` generates it from the `#[utoipa::path]` annotation on each handler (listed in
//! [`ApiDoc`]); at each request the routes that the loaded plugins declare in their
//! manifests are added, as the concrete paths they are served at. The interactive
//! reference that reads it is `ui/api-docs.js`, served at `GET /api/docs`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use plugboard_host::Plugin;
use plugboard_manifest::RouteAuth;
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::auth::SESSION_COOKIE;
use crate::{
    AppState, account, approvals, auth, chat, conversations, health, live, manage, mcp_servers, openai, packages,
    plugin_http, plugins, prometheus, tasks, trusted_keys, ui, users,
};

pub(crate) use crate::schemas::*;

/// The security scheme of the session cookie, as named in the document.
pub(crate) const SESSION: &str = "session_cookie";
/// The security scheme of API tokens, as named in the document.
pub(crate) const BEARER: &str = "bearer_token";

/// The annotated part of the document. Every operation needs sign-in (a session cookie or
/// an API token) unless its annotation says `security()`. The security scheme names here
/// and in the annotations are [`SESSION`] and [`BEARER`] (the macros take only literals).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Plugboard",
        description = "The HTTP API of a Plugboard server: users and API tokens, conversations, chat turns \
                       (JSON and server-sent events), an OpenAI-compatible API, plugins and their \
                       management, and the routes each loaded plugin declares.\n\n\
                       Errors are `{\"error\": {\"code\", \"message\"}}` with a stable `code` \
                       (the `/v1` endpoints answer in OpenAI's shape instead)."
    ),
    paths(
        document,
        ui::api_reference,
        auth::signup,
        auth::login,
        auth::logout,
        auth::me,
        account::change_password,
        account::sessions,
        account::end_session,
        users::list,
        users::create,
        users::set_admin,
        users::reset_password,
        users::set_disabled,
        users::delete,
        auth::session,
        auth::list_tokens,
        auth::create_token,
        auth::delete_token,
        conversations::list,
        conversations::create,
        conversations::get,
        conversations::update,
        conversations::delete,
        conversations::messages,
        live::events,
        conversations::audit,
        conversations::export,
        conversations::export_formats,
        conversations::attachments,
        conversations::upload,
        conversations::download,
        conversations::delete_attachment,
        conversations::edit_message,
        conversations::delete_message,
        conversations::trace,
        chat::chat,
        chat::chat_stream,
        chat::models,
        openai::models,
        openai::chat_completions,
        plugins::list_plugins,
        plugins::health,
        plugins::execute,
        plugins::plugin_details,
        manage::events,
        manage::load,
        manage::unload,
        manage::reload,
        manage::enable,
        manage::disable,
        manage::get_config,
        manage::put_config,
        manage::faults,
        manage::self_test,
        tasks::list,
        tasks::runs,
        tasks::run_now,
        packages::install,
        packages::uninstall,
        packages::available,
        trusted_keys::list,
        trusted_keys::trust,
        trusted_keys::untrust,
        approvals::list_policies,
        approvals::set_policy,
        approvals::remove_policy,
        approvals::conversation_approvals,
        approvals::approve,
        approvals::deny,
        mcp_servers::list,
        mcp_servers::get,
        mcp_servers::add,
        mcp_servers::replace,
        mcp_servers::remove,
        mcp_servers::restart,
        mcp_servers::tools,
        plugin_http::route,
        plugin_http::ui_file,
        plugin_http::docs,
        plugin_http::doc_file,
        prometheus::metrics,
        health::healthz,
        health::readyz,
    ),
    components(schemas(ApiError, OpenAiError)),
    modifiers(&SecuritySchemes),
    security(("session_cookie" = []), ("bearer_token" = [])),
    tags(
        (name = "reference", description = "This document and the interactive reference"),
        (name = "auth", description = "Sign-up, login, sessions and API tokens"),
        (name = "conversations", description = "Conversations, messages, attachments, exports and plugin traces; \
                                                each visible to its owner only"),
        (name = "chat", description = "Chat turns (JSON or server-sent events) and the models"),
        (name = "openai-compatible", description = "The OpenAI API subset that existing clients use, \
                                                    with the plugin pipeline applied"),
        (name = "plugins", description = "The installed plugins, their health and tools"),
        (name = "plugin-management", description = "Installing, loading, reloading, enabling and configuring \
                                                    plugins (administrators)"),
        (name = "plugin-routes", description = "What plugins serve over HTTP. Each loaded plugin's declared \
                                                routes are also listed under the plugin's own tag, at the \
                                                path they are served at"),
        (name = "mcp-servers", description = "MCP servers whose tools the model is offered beside the plugins' \
                                              (administrators; their tools' list for everyone)"),
        (name = "tool-approvals", description = "Tool policies (auto, ask, deny) and the tool calls waiting for \
                                                  a person's approval"),
        (name = "metrics", description = "Prometheus metrics (administrators)"),
        (name = "health", description = "Liveness and readiness probes for load balancers (no sign-in)"),
    )
)]
pub(crate) struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The browser session, set (HttpOnly) by `POST /api/auth/login` and `POST /api/auth/signup`",
            ))),
        );
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`pb_...`) from `POST /api/tokens`"))
                    .build(),
            ),
        );
    }
}

/// The part of the document that changes only with the binary, built once.
fn built_in() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|error| {
            tracing::error!("cannot serialize the OpenAPI document: {error}");
            json!({"openapi": "3.1.0", "info": {"title": "Plugboard", "version": env!("CARGO_PKG_VERSION")}})
        });
        let served = crate::operations(0).into_iter().map(|operation| (operation.method, operation.path));
        add_undocumented(&mut document, served);
        add_common_errors(&mut document);
        unique_operation_ids(&mut document);
        document
    })
}

/// An axum path (`/files/{*path}`) as an OpenAPI path template (`/files/{path}`).
pub(crate) fn template(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// Lists every served operation that has no annotation, so the document never leaves one
/// out in silence; the tests refuse any.
fn add_undocumented(document: &mut Value, served: impl Iterator<Item = (axum::http::Method, &'static str)>) {
    let mut missing = false;
    for (method, path) in served {
        let method = method.as_str().to_ascii_lowercase();
        let path = template(path);
        let item = &mut document["paths"][&path];
        if item.get(&method).is_none() {
            missing = true;
            item[&method] = json!({
                "tags": ["undocumented"],
                "summary": "Not documented yet",
                "operationId": format!("undocumented_{method}_{path}"),
                "responses": {"default": {"description": "not documented"}},
            });
        }
    }
    if missing && let Some(tags) = document["tags"].as_array_mut() {
        tags.push(json!({"name": "undocumented", "description": "Served but not described yet"}));
    }
}

/// The errors any operation may answer before its handler runs, where it does not list
/// them itself: 400 for a bad path or query string or a JSON body that does not parse into
/// the endpoint's shape, 413 for a body over the limit, 415 for a JSON body sent as
/// another media type.
fn add_common_errors(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter(|operation| operation.is_object())
    {
        let parameters = operation["parameters"].as_array().map(Vec::as_slice).unwrap_or_default();
        let in_url = parameters.iter().any(|parameter| matches!(parameter["in"].as_str(), Some("path" | "query")));
        let body = operation.get("requestBody").cloned();
        let json_body = body.as_ref().is_some_and(|body| body["content"].get("application/json").is_some());
        let Some(responses) = operation["responses"].as_object_mut() else { continue };
        if !responses.contains_key("400") {
            let description = match (in_url, json_body) {
                (true, true) => Some(
                    "A bad path or query string (`invalid_path`, `invalid_query`), or a body that is not JSON \
                     or not of this endpoint's shape (`invalid_json`)",
                ),
                (true, false) => Some("A bad path or query string (`invalid_path`, `invalid_query`)"),
                (false, true) => Some("A body that is not JSON or not of this endpoint's shape (`invalid_json`)"),
                (false, false) => None,
            };
            if let Some(description) = description {
                responses.insert("400".into(), error_response(description));
            }
        }
        if let Some(body) = body {
            if !responses.contains_key("413") {
                responses
                    .insert("413".into(), error_response("The body is over this endpoint's limit (`body_too_large`)"));
            }
            if body["content"].get("application/json").is_some() && !responses.contains_key("415") {
                responses.insert(
                    "415".into(),
                    error_response("Not sent as `Content-Type: application/json` (`invalid_json`)"),
                );
            }
        }
    }
}

/// `utoipa` gives every method of a handler annotated with several the same operation id;
/// an id must be unique, so the later ones get the method appended.
fn unique_operation_ids(document: &mut Value) {
    let mut seen = BTreeSet::new();
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            let Some(id) = operation["operationId"].as_str().map(str::to_owned) else { continue };
            if !seen.insert(id.clone()) {
                let unique = format!("{id}_{method}");
                seen.insert(unique.clone());
                operation["operationId"] = json!(unique);
            }
        }
    }
}

/// The security of a plugin route: open for webhooks, else a session or an API token.
fn route_security(auth: RouteAuth) -> Value {
    match auth {
        RouteAuth::None => json!([]),
        RouteAuth::User => json!([{SESSION: []}, {BEARER: []}]),
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}},
    })
}

/// An error the server answers on a plugin's route. No body schema: the plugin may answer
/// the same status itself, with a body of its own (word-stats answers 404 for a
/// conversation it does not find), and only the plugin's answers carry
/// `Content-Security-Policy: sandbox`.
fn plugin_route_error(description: &str) -> Value {
    json!({"description": format!("{description}: an `ApiError` from the server, or the plugin's own answer \
                                   (served with `Content-Security-Policy: sandbox`)")})
}

/// Adds `plugin`'s declared routes, at the paths they are served at, under a tag named
/// after the plugin.
fn add_plugin_routes(document: &mut Value, plugin: &Plugin) {
    let manifest = plugin.manifest();
    if manifest.routes.is_empty() {
        return;
    }
    let id = manifest.id.as_str();
    if let Some(tags) = document["tags"].as_array_mut() {
        tags.push(json!({
            "name": id,
            "description": format!("Routes of plugin `{id}` ({} {}): {}", manifest.name, manifest.version,
                                   manifest.description),
        }));
    }
    for route in &manifest.routes {
        let path = format!("/api/plugins/{id}/http{}", route.path);
        let method = route.method.to_ascii_lowercase();
        let parameters: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut responses = Map::new();
        responses.insert(
            "default".into(),
            json!({"description": "The plugin's answer, served with `Content-Security-Policy: sandbox`"}),
        );
        if route.auth == RouteAuth::User {
            responses.insert("401".into(), plugin_route_error("Not signed in"));
        }
        responses.insert("404".into(), plugin_route_error("The plugin is not loaded (`route_not_found`)"));
        responses.insert("413".into(), plugin_route_error("The body is over 1 MiB (`body_too_large`)"));
        responses.insert("429".into(), plugin_route_error("Too many calls to this plugin; see `Retry-After`"));
        let who = match route.auth {
            RouteAuth::None => "Open to anyone (a webhook): the plugin checks the caller itself.",
            RouteAuth::User => "For signed-in users: the plugin gets the verified user.",
        };
        let mut operation = json!({
            "tags": [id],
            "summary": route.summary,
            "description": format!("{who} Declared by plugin `{id}` as `{} {}`; the cookie and \
                                    `Authorization` headers are not passed on.", route.method, route.path),
            "operationId": format!("plugin_{id}_{method}{}", route.path.replace(['/', '{', '}', '.'], "_")),
            "parameters": parameters,
            "security": route_security(route.auth),
            "responses": responses,
        });
        if route.method != "GET" && route.method != "DELETE" {
            operation["requestBody"] = json!({
                "description": "Passed to the plugin as it is (at most 1 MiB)",
                "content": {"*/*": {}},
            });
        }
        document["paths"][&path][&method] = operation;
    }
}

/// The OpenAPI 3.1 document of the whole API, with the routes of the plugins loaded now
///
/// Public: it describes the API, not anyone's data, so client generators and the reference
/// page can read it before signing in. The plugin routes it lists reveal nothing new: a
/// plugin route already answers whether its plugin is loaded before it asks who calls.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "reference",
    operation_id = "openapi_document",
    security(),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub(crate) async fn document(State(state): State<AppState>) -> Json<Value> {
    let mut document = built_in().clone();
    for plugin in state.registry.runtime().plugins() {
        add_plugin_routes(&mut document, &plugin);
    }
    Json(document)
}
