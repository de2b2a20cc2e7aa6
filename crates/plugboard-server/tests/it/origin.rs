//! Cross-site request forgery: what the session cookie authenticates changes state only
//! for the server's own pages; programs (no Origin) and API tokens are unaffected.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{Session, TestServer, send};

const FOREIGN: &str = "http://127.0.0.1:9";

async fn plugin_state(admin: &Session, id: &str) -> String {
    let (_, list) = admin.get("/api/plugins").await;
    let plugin = list["plugins"].as_array().unwrap().iter().find(|plugin| plugin["id"] == id).unwrap();
    plugin["state"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_page_of_another_origin_cannot_change_anything_with_the_cookie() {
    let server = TestServer::start(&["calculator"]).await;
    let admin = server.signup("admin").await;

    // A body-less POST (a "simple" request any page can send) from another port.
    let disable = admin.request(Method::POST, "/api/plugins/calculator/disable").header("origin", FOREIGN);
    let (status, body) = send(disable).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "cross_origin", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("public_url"), "{body}");
    assert_eq!(plugin_state(&admin, "calculator").await, "enabled");

    // The same with only Sec-Fetch-Site (another port of the host is "same-site"), or
    // only a Referer.
    for (name, value) in
        [("sec-fetch-site", "same-site"), ("sec-fetch-site", "cross-site"), ("referer", "http://127.0.0.1:9/x")]
    {
        let request =
            admin.request(Method::POST, "/api/conversations").header(name, value).json(&json!({"title": "x"}));
        let (status, body) = send(request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {value}: {body}");
    }
    let (_, list) = admin.get("/api/conversations").await;
    assert_eq!(list["conversations"], json!([]), "nothing was created");

    // The server's own page passes, and so does a program that sends no Origin.
    let own = admin.request(Method::POST, "/api/conversations").header("origin", &server.base).json(&json!({}));
    assert_eq!(send(own).await.0, StatusCode::CREATED);
    let same =
        admin.request(Method::POST, "/api/conversations").header("sec-fetch-site", "same-origin").json(&json!({}));
    assert_eq!(send(same).await.0, StatusCode::CREATED);
    assert_eq!(admin.post("/api/conversations", json!({})).await.0, StatusCode::CREATED);

    // A JSON body must say it is JSON: a form or a `text/plain` body (what a page may send
    // without asking) is refused.
    let plain = admin
        .request(Method::POST, "/api/conversations")
        .header("content-type", "text/plain")
        .body(r#"{"title": "posted as text"}"#);
    let (status, body) = send(plain).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"]["code"], "invalid_json", "{body}");

    // Signing in from a foreign page is refused too.
    let login = server
        .client
        .post(server.url("/api/auth/login"))
        .header("origin", FOREIGN)
        .json(&json!({"username": "admin", "password": "correct horse battery"}));
    let (status, body) = send(login).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn an_api_token_works_from_anywhere() {
    let server = TestServer::start(&["calculator"]).await;
    let admin = server.signup("admin").await;
    let (status, created) = admin.post("/api/tokens", json!({"name": "script"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap();
    // A page cannot make a browser send a Bearer token, so its origin does not matter.
    let request =
        server.client.post(server.url("/api/plugins/calculator/disable")).header("origin", FOREIGN).bearer_auth(token);
    let (status, body) = send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(plugin_state(&admin, "calculator").await, "disabled");
}
