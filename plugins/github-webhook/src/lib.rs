//! GitHub webhook: the example of seed 004. An open route (`auth = "none"`) that trusts a
//! delivery only when its HMAC-SHA256 signature matches the shared secret, then posts a
//! line about each newly opened pull request into the configured conversation.

use plugboard_sdk::{CallContext, HttpRequest, HttpResponse, Plugin, Settings, chat, export_plugin, webhook};
use serde_json::{Value, json};

struct GithubWebhook {
    secret: String,
    conversation_id: String,
}

fn answer(status: u16, message: &str) -> HttpResponse {
    HttpResponse::json(status, &json!({"message": message}))
}

impl GithubWebhook {
    fn deliver(&self, request: &HttpRequest) -> HttpResponse {
        if self.secret.is_empty() {
            return answer(503, "the webhook has no secret yet; set the plugin's `secret` setting");
        }
        let signature = request.header("x-hub-signature-256").unwrap_or_default();
        if !webhook::verify_hmac_sha256(self.secret.as_bytes(), &request.body, signature) {
            return answer(401, "the X-Hub-Signature-256 signature does not match the secret");
        }
        let payload: Value = match serde_json::from_slice(&request.body) {
            Ok(payload) => payload,
            Err(error) => return answer(400, &format!("the body is not JSON: {error}")),
        };
        match request.header("x-github-event").unwrap_or_default() {
            "ping" => answer(200, "pong"),
            "pull_request" if payload["action"] == "opened" => {
                if self.conversation_id.is_empty() {
                    return answer(503, "no conversation is configured; set the plugin's `conversation_id` setting");
                }
                let title = payload["pull_request"]["title"].as_str().unwrap_or("(untitled)");
                let user = payload["pull_request"]["user"]["login"].as_str().unwrap_or("someone");
                match chat::post_message(&self.conversation_id, &format!("New PR: {title} by {user}")) {
                    Ok(_) => answer(200, "posted"),
                    Err(error) => answer(502, &format!("cannot post into the conversation: {}", error.message)),
                }
            }
            other => answer(202, &format!("ignored: {other} event")),
        }
    }
}

impl Plugin for GithubWebhook {
    fn init(settings: Settings) -> Result<Self, String> {
        Ok(GithubWebhook {
            secret: settings.get::<String>("secret").unwrap_or_default(),
            conversation_id: settings.get::<String>("conversation_id").unwrap_or_default(),
        })
    }

    fn handle_http(&mut self, _context: &CallContext, request: HttpRequest) -> HttpResponse {
        let path = request.uri.split('?').next().unwrap_or_default();
        match (request.method.as_str(), path) {
            ("POST", "/github") => self.deliver(&request),
            (method, path) => answer(404, &format!("no route for {method} {path}")),
        }
    }
}

export_plugin!(GithubWebhook, hooks: [Http]);

#[cfg(test)]
mod tests {
    use super::GithubWebhook;
    use plugboard_sdk::testing::{FakeHost, FakeHostGuard, context};
    use plugboard_sdk::{HttpRequest, Plugin, Role, webhook};
    use serde_json::json;

    const SECRET: &str = "s3cret";

    /// The host as an operator sets the plugin up: its permission, its settings, and the
    /// conversation the announcements go to.
    fn host() -> FakeHostGuard {
        FakeHost::new()
            .plugin_id("github-webhook")
            .permissions(["messages.write"])
            .settings(json!({"secret": SECRET, "conversation_id": "team"}))
            .user("ada", "Ada")
            .conversation("team", "ada", "Team")
            .install()
    }

    fn delivery(event: &str, body: &[u8], signature: &str) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            uri: "/github".into(),
            headers: vec![("X-GitHub-Event".into(), event.into()), ("X-Hub-Signature-256".into(), signature.into())],
            body: body.to_vec(),
        }
    }

    #[test]
    fn a_signed_pull_request_delivery_posts_into_the_conversation() {
        let host = host();
        let mut plugin = host.init::<GithubWebhook>().unwrap();
        let body = json!({"action": "opened", "pull_request": {"title": "Fix the build", "user": {"login": "octo"}}})
            .to_string();
        let signature = webhook::sign_hmac_sha256(SECRET.as_bytes(), body.as_bytes());

        let response = plugin.handle_http(&context("", ""), delivery("pull_request", body.as_bytes(), &signature));
        assert_eq!(response.status, 200);
        let posted = host.posted();
        assert_eq!(posted.len(), 1);
        assert_eq!(posted[0].content, "New PR: Fix the build by octo");
        assert_eq!((posted[0].conversation_id.as_str(), posted[0].role), ("team", Role::Assistant));
        assert_eq!(posted[0].author, "plugin:github-webhook");
    }

    #[test]
    fn a_forged_delivery_is_refused_and_posts_nothing() {
        let host = host();
        let mut plugin = host.init::<GithubWebhook>().unwrap();
        let body = br#"{"action": "opened", "pull_request": {"title": "Evil"}}"#;
        let forged = webhook::sign_hmac_sha256(b"guessed", body);

        let response = plugin.handle_http(&context("", ""), delivery("pull_request", body, &forged));
        assert_eq!(response.status, 401);
        assert!(host.posted().is_empty());
    }

    #[test]
    fn a_conversation_that_is_gone_is_a_bad_gateway_with_the_hosts_reason() {
        let host = host();
        host.set_settings(json!({"secret": SECRET, "conversation_id": "deleted"}));
        let mut plugin = host.init::<GithubWebhook>().unwrap();
        let body = br#"{"action": "opened", "pull_request": {"title": "T", "user": {"login": "u"}}}"#;
        let signature = webhook::sign_hmac_sha256(SECRET.as_bytes(), body);

        let response = plugin.handle_http(&context("", ""), delivery("pull_request", body, &signature));
        assert_eq!(response.status, 502);
        let text = String::from_utf8(response.body).unwrap();
        assert!(text.contains("no conversation `deleted`"), "{text}");
    }
}
