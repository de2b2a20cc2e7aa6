//! Sign-up, login, sessions, API tokens and the refusals, each with its code.

use plugboard_server::{ServerConfig, SignupPolicy};
use reqwest::StatusCode;
use serde_json::json;

use crate::{Session, TestServer, send, session_cookie};

#[tokio::test]
async fn the_first_user_is_admin_and_later_ones_are_not() {
    let server = TestServer::start(&[]).await;
    let admin = server.signup("alice").await;
    let (status, me) = admin.get("/api/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((me["user"]["username"].as_str(), me["user"]["is_admin"].as_bool()), (Some("alice"), Some(true)));
    let bob = server.signup("bob").await;
    let (_, me) = bob.get("/api/me").await;
    assert_eq!(me["user"]["is_admin"], false);

    let (status, body) = send(
        server
            .client
            .post(server.url("/api/auth/signup"))
            .json(&json!({"username": "ALICE", "password": "another password"})),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("username_taken")));
}

#[tokio::test]
async fn login_checks_the_password_and_logout_ends_the_session() {
    let server = TestServer::start(&[]).await;
    server.signup("carol").await;
    let wrong = json!({"username": "carol", "password": "not the password"});
    let (status, body) = send(server.client.post(server.url("/api/auth/login")).json(&wrong)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));

    let right = json!({"username": "carol", "password": "correct horse battery"});
    let response = server.client.post(server.url("/api/auth/login")).json(&right).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = session_cookie(&response);
    let me = server.client.get(server.url("/api/me")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    server.client.post(server.url("/api/auth/logout")).header("cookie", &cookie).send().await.unwrap();
    let (status, body) = send(server.client.get(server.url("/api/me")).header("cookie", &cookie)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("session_expired")));
    let (status, body) = send(server.client.get(server.url("/api/conversations"))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
}

#[tokio::test]
async fn api_tokens_authenticate_programs_until_revoked() {
    let server = TestServer::start(&[]).await;
    let dave = server.signup("dave").await;
    let (status, created) = dave.post("/api/tokens", json!({"name": "script"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pb_"));
    let (status, me) = send(server.client.get(server.url("/api/me")).bearer_auth(&token)).await;
    assert_eq!((status, me["user"]["username"].as_str()), (StatusCode::OK, Some("dave")));
    let (_, listed) = dave.get("/api/tokens").await;
    assert_eq!(listed["tokens"][0]["name"], "script");
    assert!(!listed.to_string().contains(&token), "a token is shown once, never listed");

    let id = created["api_token"]["id"].as_str().unwrap();
    assert_eq!(dave.delete(&format!("/api/tokens/{id}")).await, StatusCode::NO_CONTENT);
    let (status, body) = send(server.client.get(server.url("/api/me")).bearer_auth(&token)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
}

#[tokio::test]
async fn closed_sign_up_still_lets_the_first_user_in() {
    let config = ServerConfig { signup: SignupPolicy::Closed, ..ServerConfig::default() };
    let server = TestServer::start_with(&[], config).await;
    server.signup("admin").await;
    let body = json!({"username": "eve", "password": "long enough password"});
    let (status, body) = send(server.client.post(server.url("/api/auth/signup")).json(&body)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("signup_closed")));
}

#[tokio::test]
async fn bad_sign_up_input_is_refused_with_what_to_fix() {
    let server = TestServer::start(&[]).await;
    let cases = [
        (json!({"username": "x", "password": "long enough password"}), "invalid_username"),
        (json!({"username": "frank", "password": "short"}), "weak_password"),
        (json!({"username": "frank", "password": "          "}), "weak_password"),
        (json!({"username": "frank", "password": "Password123"}), "weak_password"),
        (json!({"username": "frank", "password": "qwertyuiop"}), "weak_password"),
    ];
    for (body, code) in cases {
        let (status, answer) = send(server.client.post(server.url("/api/auth/signup")).json(&body)).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|message| message.len() > 20), "{answer}");
    }
    assert_eq!(server.state.store.count_users().await.unwrap(), 0);
}

#[tokio::test]
async fn usernames_are_normalised_so_look_alike_encodings_are_one_name() {
    let server = TestServer::start(&[]).await;
    // Full-width letters are the same name in NFKC.
    let alice = server.signup("ａｌｉｃｅ").await;
    let (_, me) = alice.get("/api/me").await;
    assert_eq!(me["user"]["username"], "alice");
    for taken in ["alice", "ALICE", "Ａｌｉｃｅ"] {
        let body = json!({"username": taken, "password": "another good password"});
        let (status, answer) = send(server.client.post(server.url("/api/auth/signup")).json(&body)).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("username_taken")),
            "{taken}"
        );
    }
    let login = json!({"username": "ＡＬＩＣＥ", "password": "correct horse battery"});
    let (status, answer) = send(server.client.post(server.url("/api/auth/login")).json(&login)).await;
    assert_eq!((status, answer["user"]["username"].as_str()), (StatusCode::OK, Some("alice")), "{answer}");
}

#[tokio::test]
async fn a_body_that_is_not_the_expected_json_gets_a_json_error() {
    let server = TestServer::start(&[]).await;
    let response = server
        .client
        .post(server.url("/api/auth/signup"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")), "{body}");
    let alice = server.signup("alice").await;
    let (status, body) = alice.post("/api/chat", json!({"text": "wrong field"})).await;
    // JSON of the wrong shape is a bad request like a body that is not JSON (not 422).
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));
    assert!(body["error"]["message"].as_str().unwrap().contains("message"), "{body}");
}

/// 20 sign-ups at once: `(status, is_admin, error code)` of each answer.
async fn twenty_sign_ups_at_once(server: &TestServer) -> Vec<(StatusCode, Option<bool>, Option<String>)> {
    let requests = (0..20).map(|index| {
        let body = json!({"username": format!("racer-{index}"), "password": "correct horse battery"});
        send(server.client.post(server.url("/api/auth/signup")).json(&body))
    });
    futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|(status, body)| {
            (status, body["user"]["is_admin"].as_bool(), body["error"]["code"].as_str().map(str::to_owned))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closed_sign_up_admits_only_the_first_of_concurrent_sign_ups() {
    let config = ServerConfig { signup: SignupPolicy::Closed, ..ServerConfig::default() };
    let server = TestServer::start_with(&[], config).await;
    let answers = twenty_sign_ups_at_once(&server).await;
    let created: Vec<_> = answers.iter().filter(|(status, ..)| *status == StatusCode::CREATED).collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    assert_eq!(created[0].1, Some(true), "the one account is the admin");
    let refused = answers
        .iter()
        .filter(|(status, _, code)| *status == StatusCode::FORBIDDEN && code.as_deref() == Some("signup_closed"));
    assert_eq!(refused.count(), 19, "{answers:?}");
    assert_eq!(server.state.store.count_users().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_sign_up_makes_one_admin_of_concurrent_first_sign_ups() {
    let server = TestServer::start(&[]).await;
    let answers = twenty_sign_ups_at_once(&server).await;
    assert!(answers.iter().all(|(status, ..)| *status == StatusCode::CREATED), "{answers:?}");
    let admins = answers.iter().filter(|(_, admin, _)| *admin == Some(true)).count();
    assert_eq!(admins, 1, "{answers:?}");
    assert_eq!(server.state.store.count_users().await.unwrap(), 20);
}

#[tokio::test]
async fn repeated_wrong_passwords_get_429_with_retry_after() {
    let server = TestServer::start(&[]).await;
    server.signup("grace").await;
    let wrong = json!({"username": "grace", "password": "not the password"});
    for attempt in 1..=5 {
        let (status, body) = send(server.client.post(server.url("/api/auth/login")).json(&wrong)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}: {body}");
    }
    let right = json!({"username": "GRACE", "password": "correct horse battery"});
    let response = server.client.post(server.url("/api/auth/login")).json(&right).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "blocked even with the right password");
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
    // Another account is not blocked by grace's failures (this address has used 5 of its 20).
    let other = json!({"username": "nobody", "password": "not the password"});
    let (status, _) = send(server.client.post(server.url("/api/auth/login")).json(&other)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_look_alike_of_an_existing_name_is_refused() {
    let server = TestServer::start(&[]).await;
    server.signup("alice").await;
    // A Cyrillic `а` in place of the Latin one.
    let body = json!({"username": "\u{430}lice", "password": "another good password"});
    let (status, answer) = send(server.client.post(server.url("/api/auth/signup")).json(&body)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("username_confusable")));
    assert!(answer["error"]["message"].as_str().unwrap().contains("`alice`"), "{answer}");
    server.signup("alicia").await;
    assert_eq!(server.state.store.count_users().await.unwrap(), 2);
}

#[tokio::test]
async fn many_failures_from_one_address_block_logins_from_it() {
    let server = TestServer::start(&[]).await;
    // 20 failures from this client, 4 per account (none of them blocked by its own count).
    for index in 0..20 {
        let body = json!({"username": format!("guess-{}", index % 5), "password": "not the password"});
        let (status, answer) = send(server.client.post(server.url("/api/auth/login")).json(&body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {index}: {answer}");
    }
    let fresh = json!({"username": "someone-else", "password": "not the password"});
    let response = server.client.post(server.url("/api/auth/login")).json(&fresh).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "the address is blocked, whatever the name");
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_at_one_account_get_no_more_than_the_free_tries() {
    let server = TestServer::start(&[]).await;
    server.signup("heidi").await;
    let guesses = (0..20).map(|index| {
        let body = json!({"username": "heidi", "password": format!("guess number {index}")});
        send(server.client.post(server.url("/api/auth/login")).json(&body))
    });
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(guesses).await.into_iter().map(|(status, _)| status).collect();
    let checked = statuses.iter().filter(|status| **status == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|status| **status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, refused), (5, 15), "{statuses:?}");
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let server = TestServer::start(&[]).await;
    let here = server.signup("alice").await;
    let login = |password: &'static str| {
        server.client.post(server.url("/api/auth/login")).json(&json!({"username": "alice", "password": password}))
    };
    let response = login("correct horse battery").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let elsewhere =
        Session { client: server.client.clone(), base: server.base.clone(), cookie: session_cookie(&response) };

    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (status, body) = here.post("/api/me/password", change("not it at all", "a much better secret")).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::FORBIDDEN, &json!("wrong_password")), "{body}");
    let (status, body) = here.post("/api/me/password", change("correct horse battery", "password")).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("weak_password")), "{body}");
    assert_eq!(elsewhere.get("/api/me").await.0, StatusCode::OK, "nothing changed yet");

    let (status, body) = here.post("/api/me/password", change("correct horse battery", "a much better secret")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(here.get("/api/me").await.0, StatusCode::OK, "the session that asked stays");
    assert_eq!(elsewhere.get("/api/me").await.0, StatusCode::UNAUTHORIZED, "the other session ended");
    assert_eq!(login("correct horse battery").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("a much better secret").send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn administrators_manage_the_role_and_the_last_one_keeps_it() {
    let server = TestServer::start(&[]).await;
    let ada = server.signup("ada").await;
    let bob = server.signup("bob").await;
    let (status, body) = bob.get("/api/users").await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::FORBIDDEN, &json!("admin_only")), "{body}");
    let (status, body) = ada.get("/api/users").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let users = body["users"].as_array().unwrap();
    let names: Vec<&str> = users.iter().map(|user| user["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ada", "bob"]);
    let (ada_id, bob_id) = (users[0]["id"].as_str().unwrap(), users[1]["id"].as_str().unwrap());

    let (status, body) = ada.put(&format!("/api/users/{ada_id}/admin"), json!({"admin": false})).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::CONFLICT, &json!("last_admin")), "{body}");
    let (status, body) = ada.put(&format!("/api/users/{bob_id}/admin"), json!({"admin": true})).await;
    assert_eq!((status, &body["user"]["is_admin"]), (StatusCode::OK, &json!(true)), "{body}");
    // Now bob administers too, and may take the role from ada.
    let (status, body) = bob.put(&format!("/api/users/{ada_id}/admin"), json!({"admin": false})).await;
    assert_eq!((status, &body["user"]["is_admin"]), (StatusCode::OK, &json!(false)), "{body}");
    assert_eq!(ada.get("/api/users").await.0, StatusCode::FORBIDDEN);
    let (status, _) = bob.put("/api/users/nobody/admin", json!({"admin": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn people_see_and_end_their_sessions() {
    let server = TestServer::start(&[]).await;
    let here = server.signup("alice").await;
    let other = server.signup("bob").await;
    let response = server
        .client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "alice", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let elsewhere =
        Session { client: server.client.clone(), base: server.base.clone(), cookie: session_cookie(&response) };

    let (status, body) = here.get("/api/me/sessions").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{body}");
    let mine = sessions.iter().find(|session| session["current"] == true).unwrap();
    let theirs = sessions.iter().find(|session| session["current"] == false).unwrap()["id"].as_i64().unwrap();
    // Nobody ends another person's session.
    assert_eq!(other.delete(&format!("/api/me/sessions/{theirs}")).await, StatusCode::NOT_FOUND);
    assert_eq!(here.delete(&format!("/api/me/sessions/{theirs}")).await, StatusCode::NO_CONTENT);
    assert_eq!(elsewhere.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    let (_, body) = here.get("/api/me/sessions").await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(body["sessions"][0]["id"], mine["id"]);
}
