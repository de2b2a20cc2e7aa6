//! Per-user rate limits and failed-login counts with several servers on one PostgreSQL
//! database: they are counted in the database, so a user (or a password guesser) spreading
//! requests over the servers gets the limit once.

use std::sync::Arc;

use plugboard_fixture_llm::FixtureLlm;
use plugboard_openai::{OpenAiConfig, OpenAiProvider};
use plugboard_server::AppBuilder;
use plugboard_store::testing::TestDatabase;
use plugboard_store::{PgStore, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A server on the database at `url` limiting each user to `turns` chat turns a minute;
/// its base URL, and the sender whose drop stops it.
async fn server_on(url: &str, fixture: &FixtureLlm, turns: u32) -> (String, tokio::sync::oneshot::Sender<()>) {
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(url).await.unwrap());
    let model = OpenAiProvider::new(OpenAiConfig::new("fixture", fixture.base_url()), crate::tls()).unwrap();
    let state = AppBuilder::new(store)
        .provider(Arc::new(model))
        .default_model(Some("fixture/echo".to_owned()))
        .chat_turns_per_minute(turns)
        .build()
        .await
        .unwrap();
    state.start_plugins().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(plugboard_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    (base, stop)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_on_one_database_refuse_a_user_at_the_cluster_wide_limit() {
    const LIMIT: usize = 10;
    let database = TestDatabase::create().await;
    let fixture = FixtureLlm::start().await.unwrap();
    let (first, _stop_first) = server_on(database.url(), &fixture, LIMIT as u32).await;
    let (second, _stop_second) = server_on(database.url(), &fixture, LIMIT as u32).await;
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{first}/api/auth/signup"))
        .json(&json!({"username": "alice", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), StatusCode::CREATED);
    let cookie = signup.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();

    // Twice the limit at once, half through each server (the session works on both).
    let mut turns = tokio::task::JoinSet::new();
    for turn in 0..2 * LIMIT {
        let base = if turn % 2 == 0 { first.clone() } else { second.clone() };
        let request = client.post(format!("{base}/api/chat")).header("cookie", &cookie).json(&json!({"message": "hi"}));
        turns.spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let retry_after = response.headers().get("retry-after").map(|value| value.to_str().unwrap().to_owned());
            (status, retry_after, response.json::<Value>().await.unwrap())
        });
    }
    let (mut answered, mut refused) = (0, 0);
    while let Some(outcome) = turns.join_next().await {
        let (status, retry_after, body) = outcome.unwrap();
        match status {
            StatusCode::OK => answered += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
                assert!(body["error"]["message"].as_str().unwrap().contains("10 chat turns a minute"), "{body}");
                let seconds: u64 = retry_after.expect("a Retry-After header").parse().unwrap();
                assert!((1..=6).contains(&seconds), "one turn comes back every 6 s: {seconds}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // Each server alone would have let 10 through (20 in all). A unit comes back every 6 s,
    // so a slow run may see one more.
    assert!((LIMIT..=LIMIT + 1).contains(&answered), "{answered} turns answered, {refused} refused");
    assert_eq!(answered + refused, 2 * LIMIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_spread_over_two_servers_block_the_account_on_both_at_the_limit() {
    let database = TestDatabase::create().await;
    let fixture = FixtureLlm::start().await.unwrap();
    let (first, _stop_first) = server_on(database.url(), &fixture, 0).await;
    let (second, _stop_second) = server_on(database.url(), &fixture, 0).await;
    let client = reqwest::Client::new();
    let login = |base: &str, password: &str| {
        client.post(format!("{base}/api/auth/login")).json(&json!({"username": "Alice", "password": password})).send()
    };
    let signup = client
        .post(format!("{first}/api/auth/signup"))
        .json(&json!({"username": "alice", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), StatusCode::CREATED);

    // Five wrong guesses (the account's limit), taking turns between the servers: each
    // server saw only two or three of them.
    for guess in 0..5 {
        let base = if guess % 2 == 0 { &first } else { &second };
        let response = login(base, &format!("guess {guess}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "guess {guess} on {base}");
    }
    // The account is blocked on both, even for the right password.
    for base in [&first, &second] {
        let response = login(base, "correct horse battery").await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "on {base}");
        let seconds: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=30).contains(&seconds), "the first block is 30 s: {seconds}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
    }
}
