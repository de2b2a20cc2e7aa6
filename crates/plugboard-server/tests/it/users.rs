//! Account administration through `/api/users`: creating users (with sign-up closed too),
//! resetting passwords, disabling, enabling and deleting, each refusal with its code; and
//! plugins hearing of each change, those made outside the API included.

use plugboard_server::{ServerConfig, SignupPolicy, accounts};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Session, TestServer, send, session_cookie};

const PASSWORD: &str = "correct horse battery";

impl TestServer {
    /// Signs `name` in with `password`: their session, or the refusal.
    async fn login(&self, name: &str, password: &str) -> Result<Session, (StatusCode, Value)> {
        let response = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::OK {
            return Err((response.status(), response.json().await.unwrap()));
        }
        let cookie = session_cookie(&response);
        Ok(Session { client: self.client.clone(), base: self.base.clone(), cookie })
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn administrators_create_users_even_with_sign_up_closed() {
    let config = ServerConfig { signup: SignupPolicy::Closed, ..ServerConfig::default() };
    let server = TestServer::start_with(&[], config).await;
    let ada = server.signup("ada").await;

    let (status, body) = ada.post("/api/users", json!({"username": "bob", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((&body["user"]["username"], &body["user"]["is_admin"]), (&json!("bob"), &json!(false)));
    assert_eq!(body["user"]["disabled_at_ms"], Value::Null);
    let bob = server.login("bob", PASSWORD).await.unwrap();
    let (status, body) = ada.post("/api/users", json!({"username": "cy", "password": PASSWORD, "admin": true})).await;
    assert_eq!((status, &body["user"]["is_admin"]), (StatusCode::CREATED, &json!(true)), "{body}");

    // Only administrators; under the sign-up rules.
    let (status, body) = bob.post("/api/users", json!({"username": "eve", "password": PASSWORD})).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "admin_only"));
    let (status, body) = ada.post("/api/users", json!({"username": "BOB", "password": PASSWORD})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "username_taken"));
    let (status, body) = ada.post("/api/users", json!({"username": "dee", "password": "password"})).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "weak_password"), "{body}");
    let (status, body) = ada.post("/api/users", json!({"username": "no spaces", "password": PASSWORD})).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_username"), "{body}");
    let (_, body) = ada.get("/api/users").await;
    let names: Vec<&str> = body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ada", "bob", "cy"]);
}

#[tokio::test]
async fn a_reset_password_signs_the_user_out_everywhere() {
    let server = TestServer::start(&[]).await;
    let ada = server.signup("ada").await;
    let bob = server.signup("bob").await;
    let (_, me) = bob.get("/api/me").await;
    let bob_id = me["user"]["id"].as_str().unwrap().to_owned();

    let path = format!("/api/users/{bob_id}/password");
    let (status, body) = ada.put(&path, json!({"password": "short"})).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "weak_password"));
    let (status, body) = bob.put(&path, json!({"password": "a new long password"})).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "admin_only"));
    let (status, body) = ada.put(&path, json!({"password": "a new long password"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(bob.get("/api/me").await.0, StatusCode::UNAUTHORIZED, "signed out");
    assert_eq!(server.login("bob", PASSWORD).await.err().unwrap().0, StatusCode::UNAUTHORIZED);
    assert!(server.login("bob", "a new long password").await.is_ok());
    let (status, body) = ada.put("/api/users/nobody/password", json!({"password": "a new long password"})).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_or_use_a_token_until_enabled() {
    let server = TestServer::start(&[]).await;
    let ada = server.signup("ada").await;
    let bob = server.signup("bob").await;
    let (_, me) = bob.get("/api/me").await;
    let bob_id = me["user"]["id"].as_str().unwrap().to_owned();
    let (_, token) = bob.post("/api/tokens", json!({"name": "script"})).await;
    let token = token["token"].as_str().unwrap().to_owned();
    let conversation = bob.conversation("kept").await;

    let path = format!("/api/users/{bob_id}/disabled");
    let (status, body) = ada.put(&path, json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["user"]["disabled_at_ms"].is_i64(), "{body}");
    assert_eq!(bob.get("/api/me").await.0, StatusCode::UNAUTHORIZED, "signed out");
    let (status, body) = server.login("bob", PASSWORD).await.err().unwrap();
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "account_disabled"));
    let (status, body) = send(server.client.get(server.url("/api/me")).bearer_auth(&token)).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "account_disabled"));
    // A wrong password says nothing about the account.
    let (status, body) = server.login("bob", "not his password").await.err().unwrap();
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "invalid_credentials"));

    // Nobody disables their own account here.
    let (_, me) = ada.get("/api/me").await;
    let ada_id = me["user"]["id"].as_str().unwrap();
    let (status, body) = ada.put(&format!("/api/users/{ada_id}/disabled"), json!({"disabled": true})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "own_account"));

    let (status, body) = ada.put(&path, json!({"disabled": false})).await;
    assert_eq!((status, &body["user"]["disabled_at_ms"]), (StatusCode::OK, &Value::Null), "{body}");
    let bob = server.login("bob", PASSWORD).await.unwrap();
    assert_eq!(bob.get(&format!("/api/conversations/{conversation}")).await.0, StatusCode::OK, "kept");
    assert_eq!(send(server.client.get(server.url("/api/me")).bearer_auth(&token)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn deleting_a_user_takes_their_conversations_and_tokens_and_plugins_hear_of_it() {
    let server = TestServer::start(&["all-hooks"]).await;
    let ada = server.signup("ada").await;
    let bob = server.signup("bob").await;
    let (_, me) = bob.get("/api/me").await;
    let bob_id = me["user"]["id"].as_str().unwrap().to_owned();
    let (_, token) = bob.post("/api/tokens", json!({"name": "script"})).await;
    let token = token["token"].as_str().unwrap().to_owned();
    let conversation = bob.conversation("goes").await;

    let (_, me) = ada.get("/api/me").await;
    let ada_id = me["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(ada.delete(&format!("/api/users/{ada_id}")).await, StatusCode::CONFLICT, "not one's own");
    assert_eq!(bob.delete(&format!("/api/users/{ada_id}")).await, StatusCode::FORBIDDEN);
    assert_eq!(ada.delete(&format!("/api/users/{bob_id}")).await, StatusCode::NO_CONTENT);
    assert_eq!(ada.delete(&format!("/api/users/{bob_id}")).await, StatusCode::NOT_FOUND);
    assert!(server.state.store.conversation(&conversation).await.unwrap().is_none());
    let (status, body) = send(server.client.get(server.url("/api/me")).bearer_auth(&token)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "invalid_token"));
    assert_eq!(server.login("bob", PASSWORD).await.err().unwrap().0, StatusCode::UNAUTHORIZED);

    // A change made outside the API (as `plugboard user` does on the data folder) reaches
    // the plugins too, by the server's relay.
    accounts::create_user(&*server.state.store, "cy", PASSWORD, false).await.unwrap();
    accounts::set_disabled(&*server.state.store, "cy", true).await.unwrap();
    accounts::set_disabled(&*server.state.store, "cy", false).await.unwrap();
    let cy = accounts::delete_user(&*server.state.store, "cy").await.unwrap();

    let expected = format!(
        "user-created ada {ada_id} true\nuser-created bob {bob_id} true\nuser-deleted bob {bob_id} true\n\
         user-created cy {cy} true\nuser-disabled cy {cy} true\nuser-enabled cy {cy} true\nuser-deleted cy {cy} true\n",
        cy = cy.id
    );
    let store = server.state.store.clone();
    let log = crate::eventually("every account event to reach all-hooks", async || {
        let log = String::from_utf8(store.kv_get("all-hooks", "account-log").await.unwrap()?).unwrap();
        (log.len() >= expected.len()).then_some(log)
    })
    .await;
    assert_eq!(log, expected);
}

#[tokio::test]
async fn a_plugin_built_without_account_events_keeps_working_and_is_not_sent_them() {
    let server = TestServer::start(&["minimal", "all-hooks"]).await;
    let ada = server.signup("ada").await;
    let conversation = ada.conversation("hello").await;
    accounts::create_user(&*server.state.store, "bob", PASSWORD, false).await.unwrap();
    accounts::delete_user(&*server.state.store, "bob").await.unwrap();

    // all-hooks hears of bob's deletion; by then minimal was not sent it, nor failed.
    let store = server.state.store.clone();
    crate::eventually("all-hooks to hear of bob's deletion", async || {
        let log = String::from_utf8(store.kv_get("all-hooks", "account-log").await.unwrap()?).unwrap();
        log.contains("user-deleted bob").then_some(())
    })
    .await;
    let log = String::from_utf8(store.kv_get("minimal", "event-log").await.unwrap().unwrap()).unwrap();
    assert_eq!(log, format!("conversation-started {conversation}\n"));
    assert!(store.faults("minimal", 10).await.unwrap().is_empty());
    let (status, body) = ada.get("/api/plugins/minimal").await;
    assert_eq!((status, &body["hooks"]), (StatusCode::OK, &json!(["events"])), "{body}");
}

#[tokio::test]
async fn a_bundled_plugin_forgets_what_it_kept_about_a_deleted_user() {
    let server = TestServer::start(&["word-stats"]).await;
    let ada = server.signup("ada").await;
    let bob = server.signup("bob").await;
    let (_, me) = bob.get("/api/me").await;
    let bob_id = me["user"]["id"].as_str().unwrap().to_owned();
    let (status, body) = bob.post("/api/chat", json!({"message": "count these words"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let store = server.state.store.clone();
    let prefix = format!("user:{bob_id}:");
    crate::eventually("word-stats to count bob's words", async || {
        (!store.kv_list("word-stats", &prefix, 10).await.unwrap().is_empty()).then_some(())
    })
    .await;

    assert_eq!(ada.delete(&format!("/api/users/{bob_id}")).await, StatusCode::NO_CONTENT);
    crate::eventually("word-stats to forget bob", async || {
        store.kv_list("word-stats", &prefix, 10).await.unwrap().is_empty().then_some(())
    })
    .await;
}
