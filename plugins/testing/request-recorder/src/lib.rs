//! Test fixture: request middleware that records what it sees. `before-request` stores
//! the request it was shown under its request id in KV and adds `x-recorder: <user id>`;
//! `after-request` reads that record back and adds it, with what it sees itself, to the
//! response as `x-recorder-before` and `x-recorder-after` (JSON, non-ASCII as `?`).
//! `?recorder=<action>` in a request's query makes it misbehave:
//!
//! - `refuse`: answers 403 "refused by the recorder" (adding one allowed and one forbidden header);
//! - `status-<n>`: answers with status `n` (outside 400-499, a plugin error for the host);
//! - `panic`, `after-panic`: panics in `before-request` or `after-request`;
//! - `overreach`: tries every change a middleware plugin may not make.

use plugboard_sdk::{
    CallContext, HttpRequest, HttpResponse, Plugin, RequestOutcome, ResponseOutcome, Settings, export_plugin, kv,
};
use serde_json::{Value, json};

struct Recorder;

/// The `recorder` query parameter of `uri`.
fn action(uri: &str) -> &str {
    let query = uri.split_once('?').map_or("", |(_, query)| query);
    query.split('&').find_map(|pair| pair.strip_prefix("recorder=")).unwrap_or("")
}

fn describe(context: &CallContext, request: &HttpRequest) -> Value {
    json!({
        "user": context.user_id,
        "request_id": context.request_id,
        "method": request.method,
        "uri": request.uri,
        "headers": request.headers,
        "body_len": request.body.len(),
    })
}

/// `value` as a header value: printable ASCII only.
fn header_text(value: &Value) -> String {
    value.to_string().chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
}

fn key(context: &CallContext) -> String {
    format!("seen/{}", context.request_id)
}

impl Plugin for Recorder {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Recorder)
    }

    fn before_request(&mut self, context: &CallContext, request: HttpRequest) -> RequestOutcome {
        if let Err(error) = kv::set(&key(context), describe(context, &request).to_string().as_bytes()) {
            plugboard_sdk::error!("kv: {error}");
        }
        match action(&request.uri) {
            "refuse" => {
                let mut answer = HttpResponse::text(403, "refused by the recorder");
                answer.headers.push(("x-recorder-refusal".into(), "yes".into()));
                answer.headers.push(("set-cookie".into(), "forged=1".into()));
                RequestOutcome::Respond(answer)
            }
            "panic" => panic!("the recorder panics on purpose"),
            "overreach" => {
                let mut forged = request.clone();
                forged.method = "DELETE".into();
                forged.uri = "/api/elsewhere".into();
                forged.body = b"forged".to_vec();
                for (name, value) in &mut forged.headers {
                    if name == "user-agent" {
                        *value = "forged".into();
                    }
                }
                for (name, value) in [
                    ("authorization", "Bearer forged"),
                    ("cookie", "plugboard_session=forged"),
                    ("x-api-key", "forged"),
                    ("host", "evil.example"),
                    ("content-length", "1"),
                    ("x-plugboard-client-ip", "203.0.113.9"),
                    ("x-recorder", "overreached"),
                ] {
                    forged.headers.push((name.into(), value.into()));
                }
                RequestOutcome::Rewrite(forged)
            }
            other => match other.strip_prefix("status-").and_then(|status| status.parse().ok()) {
                Some(status) => RequestOutcome::Respond(HttpResponse::text(status, "the recorder answers this itself")),
                None => {
                    let mut changed = request;
                    let user = if context.user_id.is_empty() { "anonymous" } else { &context.user_id };
                    changed.headers.push(("x-recorder".into(), user.to_owned()));
                    RequestOutcome::Rewrite(changed)
                }
            },
        }
    }

    fn after_request(
        &mut self,
        context: &CallContext,
        request: HttpRequest,
        response: HttpResponse,
    ) -> ResponseOutcome {
        let before = kv::get(&key(context)).ok().flatten().unwrap_or_default();
        let _ = kv::delete(&key(context));
        let before: Value = serde_json::from_slice(&before).unwrap_or(Value::Null);
        let after = json!({
            "request": describe(context, &request),
            "status": response.status,
            "headers": response.headers,
            "body_len": response.body.len(),
        });
        let mode = action(&request.uri);
        if mode == "after-panic" {
            panic!("the recorder panics on purpose after the request");
        }
        let mut changed = response;
        changed.headers.push(("x-recorder-before".into(), header_text(&before)));
        changed.headers.push(("x-recorder-after".into(), header_text(&after)));
        if mode == "overreach" {
            changed.status = 500;
            changed.body = b"forged".to_vec();
            changed.headers.push(("set-cookie".into(), "plugboard_session=forged".into()));
            changed.headers.push(("access-control-allow-origin".into(), "*".into()));
            changed.headers.push(("location".into(), "https://evil.example/".into()));
        }
        ResponseOutcome::Rewrite(changed)
    }

    fn handle_http(&mut self, context: &CallContext, request: HttpRequest) -> HttpResponse {
        let mut seen = describe(context, &request);
        seen["body"] = json!(String::from_utf8_lossy(&request.body));
        HttpResponse::json(200, &seen)
    }
}

export_plugin!(Recorder, hooks: [BeforeRequest, AfterRequest, Http]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_comes_from_the_query() {
        assert_eq!(action("/api/me?a=1&recorder=refuse"), "refuse");
        assert_eq!(action("/api/me"), "");
        assert_eq!(action("/api/recorder=refuse"), "");
    }

    #[test]
    fn header_values_are_printable_ascii() {
        assert_eq!(header_text(&json!("é\n")), "\"?\\n\"");
    }
}
