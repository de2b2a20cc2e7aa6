//! The fake host behaves as the server's services do, through the SDK's own functions.

use std::time::Duration;

use serde_json::json;

use super::{FakeHost, ToolCallRecord};
use crate::log::Level;
use crate::{ErrorKind, HttpResponse, Role, Settings, ai, chat, http, kv, log, plugins};

#[test]
fn kv_gets_sets_deletes_lists_by_prefix_and_compares_and_sets() {
    let host = FakeHost::new().kv("b:1", "one").kv_json("b:2", &json!({"n": 2})).kv("a", "x").install();
    assert_eq!(kv::get("b:1").unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(kv::get_json::<serde_json::Value>("b:2").unwrap(), Some(json!({"n": 2})));
    assert_eq!(kv::list_keys("b:", 10).unwrap(), ["b:1", "b:2"]);
    assert_eq!(kv::list_keys("b:", 1).unwrap(), ["b:1"]);
    assert!(kv::delete("a").unwrap());
    assert!(!kv::delete("a").unwrap());

    assert!(!kv::compare_and_set("b:1", Some(b"other"), Some(b"two")).unwrap());
    assert!(kv::compare_and_set("b:1", Some(b"one"), Some(b"two")).unwrap());
    assert!(kv::compare_and_set("new", None, Some(b"made")).unwrap());
    assert!(!kv::compare_and_set("new", None, Some(b"again")).unwrap());
    assert!(kv::compare_and_set("new", Some(b"made"), None).unwrap());
    assert_eq!(host.kv_string("b:1").as_deref(), Some("two"));
    assert_eq!(host.kv_keys(), ["b:1", "b:2"]);

    host.set_kv("b:1", "changed elsewhere");
    assert!(!kv::compare_and_set("b:1", Some(b"two"), Some(b"three")).unwrap());
}

#[test]
fn kv_keys_expire_on_the_test_clock() {
    let host = FakeHost::new().install();
    kv::set_with_ttl("session", b"s", Duration::from_secs(60)).unwrap();
    kv::set("forever", b"f").unwrap();
    host.advance(Duration::from_secs(59));
    assert!(kv::get("session").unwrap().is_some());
    host.advance(Duration::from_secs(1));
    assert_eq!(kv::get("session").unwrap(), None);
    assert_eq!(kv::list_keys("", 10).unwrap(), ["forever"]);
    assert!(!kv::delete("session").unwrap(), "an expired key is gone");
    assert!(kv::compare_and_set("session", None, Some(b"again")).unwrap(), "an expired key counts as absent");
}

#[test]
fn kv_limits_are_the_servers() {
    let _host = FakeHost::new().install();
    let error = kv::set("", b"x").unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    assert!(kv::set(&"k".repeat(513), b"x").unwrap_err().message.contains("1 to 512 bytes"));
    let error = kv::set("big", &vec![0; (1 << 20) + 1]).unwrap_err();
    assert_eq!(error.kind, ErrorKind::LimitExceeded);
}

#[test]
fn only_the_granted_permissions_work_and_the_refusal_names_the_fix() {
    let _host = FakeHost::new().plugin_id("weather").permissions(["kv"]).install();
    kv::set("k", b"v").unwrap();
    let error = chat::post_message("c1", "hi").unwrap_err();
    assert_eq!(error.kind, ErrorKind::PermissionDenied);
    assert_eq!(
        error.message,
        "plugin `weather` needs permission `messages.write` for this; add \"messages.write\" to `permissions` in plugin.toml"
    );
    assert_eq!(ai::ask("hi").unwrap_err().kind, ErrorKind::PermissionDenied);
    assert_eq!(http::get("https://example.org/").unwrap_err().kind, ErrorKind::PermissionDenied);
}

#[test]
fn settings_come_from_the_fake() {
    let host = FakeHost::new().settings(json!({"city": "Oslo"})).setting("days", json!(3)).install();
    assert_eq!(Settings::current().get::<String>("city").as_deref(), Some("Oslo"));
    assert_eq!(host.settings().get::<u32>("days"), Some(3));
    host.set_settings(json!({"city": "Rome"}));
    assert_eq!(Settings::current().get::<u32>("days"), None);
}

#[test]
fn chat_data_is_the_tests_and_posts_are_recorded() {
    let host = FakeHost::new()
        .plugin_id("greeter")
        .user("ada", "Ada")
        .admin("root", "Root")
        .conversation("c1", "ada", "Plans")
        .message("c1", Role::User, "ada", "hello")
        .file("f1", "c1", "notes.txt", "text/plain", b"notes")
        .install();
    assert_eq!(chat::get_conversation("c1").unwrap().title, "Plans");
    assert_eq!(chat::get_conversation("c9").unwrap_err().kind, ErrorKind::NotFound);
    assert!(chat::get_user("root").unwrap().is_admin);
    assert_eq!(chat::read_file("f1").unwrap().data, b"notes");

    let posted = chat::post_message("c1", "Hello, Ada!").unwrap();
    assert_eq!(posted.author, "plugin:greeter");
    assert_eq!(posted.role, Role::Assistant);
    let edited = chat::edit_message(&posted.id, "Hi, Ada!").unwrap();
    assert_eq!(edited.content, "Hi, Ada!");
    let listed = chat::list_messages("c1", 10).unwrap();
    assert_eq!(listed.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["hello", "Hi, Ada!"]);
    assert_eq!(chat::list_messages("c1", 1).unwrap()[0].content, "Hi, Ada!", "the newest `limit`");

    let user_message = &listed[0].id;
    let error = chat::delete_message(user_message).unwrap_err();
    assert_eq!(error.kind, ErrorKind::PermissionDenied);
    assert!(error.message.contains("only its own messages"), "{}", error.message);
    chat::delete_message(&posted.id).unwrap();
    assert_eq!(host.messages("c1").len(), 1);
    assert_eq!(host.posted()[0].content, "Hello, Ada!", "as posted");

    let created = chat::create_conversation("ada", "Digest").unwrap();
    let file = chat::write_file(&created.id, "digest.md", "text/markdown", b"# Digest").unwrap();
    assert_eq!(host.conversations().last().unwrap().title, "Digest");
    assert_eq!(host.files().last().unwrap().id, file);
    assert_eq!(chat::create_conversation("nobody", "x").unwrap_err().kind, ErrorKind::NotFound);
}

#[test]
fn a_call_for_a_user_sees_only_their_data() {
    let _host = FakeHost::new()
        .user("ada", "Ada")
        .user("bo", "Bo")
        .conversation("mine", "ada", "Mine")
        .conversation("theirs", "bo", "Theirs")
        .file("f", "theirs", "x.txt", "text/plain", b"x")
        .acting_user("ada")
        .install();
    assert!(chat::get_conversation("mine").is_ok());
    assert_eq!(chat::get_conversation("theirs").unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(chat::read_file("f").unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(chat::post_message("theirs", "x").unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(chat::create_conversation("bo", "x").unwrap_err().kind, ErrorKind::PermissionDenied);
}

#[test]
fn http_reaches_only_allowed_hosts_and_answers_as_scripted() {
    let host = FakeHost::new()
        .plugin_id("weather")
        .allowed_host("api.example.org")
        .http_response("https://api.example.org/a", HttpResponse::text(200, "first"))
        .http_response("https://api.example.org/a", HttpResponse::text(200, "then"))
        .http_response_for("POST", "https://api.example.org/a", HttpResponse::text(201, "posted"))
        .http_error("https://api.example.org/down", ErrorKind::Unavailable, "connection refused")
        .install();
    let body = |response: HttpResponse| String::from_utf8(response.body).unwrap();
    assert_eq!(body(http::get("https://api.example.org/a").unwrap()), "first");
    assert_eq!(body(http::get("https://api.example.org/a").unwrap()), "then");
    assert_eq!(body(http::get("https://api.example.org/a").unwrap()), "then", "the last answer repeats");
    let posted = http::post_json("https://api.example.org/a", &json!({"x": 1})).unwrap();
    assert_eq!(posted.status, 201);
    assert_eq!(http::get("https://api.example.org/down").unwrap_err().message, "connection refused");

    let error = http::get("https://api.example.org/unscripted").unwrap_err();
    assert!(error.message.contains("no response for GET https://api.example.org/unscripted"), "{}", error.message);
    let error = http::get("https://evil.example.com/steal").unwrap_err();
    assert_eq!(error.kind, ErrorKind::PermissionDenied);
    assert_eq!(
        error.message,
        "plugin `weather` may not reach `evil.example.com` (https): allowed hosts are [api.example.org]; add it to `[network] allowed_hosts` in plugin.toml"
    );
    assert!(http::get("https://api.example.org:8443/a").is_err(), "another port needs its own entry");

    let requests = host.http_requests();
    assert_eq!(requests.len(), 6, "refused requests are not sent");
    assert_eq!(requests[3].method, "POST");
    assert_eq!(requests[3].body, br#"{"x":1}"#);
}

#[test]
fn the_model_answers_as_scripted_and_sees_the_prompts() {
    let host = FakeHost::new().ai_answer("Paris").ai_error(ErrorKind::Timeout, "too slow").install();
    assert_eq!(ai::ask("Capital of France?").unwrap(), "Paris");
    assert_eq!(ai::ask("Again?").unwrap_err().kind, ErrorKind::Timeout);
    assert_eq!(host.ai_requests()[1].messages[0].content, "Again?");

    let _inner = FakeHost::new().install();
    assert!(ai::ask("x").unwrap_err().message.contains("no model answer"));
}

#[test]
fn other_plugins_tools_answer_as_scripted() {
    let host = FakeHost::new()
        .tool_result("calculator", "calculate", "4")
        .tool_error("calculator", "divide", "division by zero")
        .install();
    assert_eq!(plugins::call_tool("calculator", "calculate", &json!({"expression": "2+2"})).unwrap(), "4");
    assert_eq!(plugins::call_tool("calculator", "divide", &json!({})).unwrap_err().message, "division by zero");
    assert_eq!(plugins::call_tool("calculator", "nothing", &json!({})).unwrap_err().kind, ErrorKind::NotFound);
    let error = plugins::call_tool("stranger", "tool", &json!({})).unwrap_err();
    assert_eq!(error.kind, ErrorKind::PermissionDenied);
    assert!(error.message.contains("`[dependencies]`"), "{}", error.message);
    assert_eq!(
        host.tool_calls()[0],
        ToolCallRecord {
            plugin: "calculator".into(),
            tool: "calculate".into(),
            arguments: json!({"expression": "2+2"})
        }
    );
}

#[test]
fn logs_and_streamed_chunks_are_captured() {
    let host = FakeHost::new().install();
    log::info("started");
    crate::warn!("{} left", 3);
    assert!(crate::completion::emit_text("Hel"));
    assert!(host.logged(Level::Warn, "3 left"));
    assert!(!host.logged(Level::Error, "started"));
    assert_eq!(host.logs().len(), 2);
    assert_eq!(host.emitted().len(), 1);
}

#[test]
fn a_guard_uninstalls_its_host_and_brings_back_the_one_before() {
    let outer = FakeHost::new().kv("where", "outer").install();
    {
        let _inner = FakeHost::new().kv("where", "inner").install();
        assert_eq!(kv::get("where").unwrap().as_deref(), Some(&b"inner"[..]));
    }
    assert_eq!(kv::get("where").unwrap().as_deref(), Some(&b"outer"[..]));
    drop(outer);
    assert!(kv::get("where").unwrap_err().message.contains("plugboard_sdk::testing::FakeHost::new().install()"));
}

#[test]
fn a_client_that_leaves_stops_taking_chunks() {
    let host = FakeHost::new().client_leaves_after(2).install();
    assert!(crate::completion::emit_text("a"));
    assert!(crate::completion::emit_text("b"));
    assert!(!crate::completion::emit_text("c"), "the client has gone");
    assert_eq!(host.emitted().len(), 2);
}
