//! Each hook kind is called on a real plugin and its result checked.

use plugboard_host::api::{
    CompletionChunk, CompletionMessage, CompletionRequest, Conversation, Event, FilterOutcome, FinishReason,
    HealthStatus, HttpRequest, HttpResponse, Message, RequestOutcome, ResponseOutcome, Role,
};
use plugboard_host::{CallErrorKind, Hook};
use serde_json::json;

use super::{context, kv_value, load, runtime, runtime_with_kv};

fn message(id: &str, role: Role, content: &str) -> Message {
    Message {
        id: id.into(),
        conversation_id: "c1".into(),
        role,
        author: if role == Role::User { "user:u1".into() } else { "assistant".into() },
        content: content.into(),
        created_at_ms: 1_795_000_000_000,
    }
}

fn conversation() -> Conversation {
    Conversation {
        id: "c1".into(),
        title: "Trip to Paris".into(),
        user_id: "u1".into(),
        created_at_ms: 1_795_000_000_000,
    }
}

#[tokio::test]
async fn the_host_knows_which_hooks_each_plugin_implements() {
    let runtime = runtime();
    let tagger = load(&runtime, "example-tagger").await;
    let hooks: Vec<Hook> = tagger.hooks().collect();
    assert!(
        hooks.contains(&Hook::BeforePrompt) && hooks.contains(&Hook::AfterResponse) && hooks.contains(&Hook::Events)
    );
    assert!(!tagger.implements(Hook::Tools) && !tagger.implements(Hook::StreamChunk));
    let error = tagger.call_tool(&context(), "anything", json!({})).await.unwrap_err();
    assert_eq!(error.kind, CallErrorKind::NotImplemented);
    assert_eq!(error.to_string(), "plugin `example-tagger` hook `tools`: is not implemented by this plugin");
}

#[tokio::test]
async fn lifecycle_health_and_self_test() {
    let (runtime, kv) = runtime_with_kv();
    let plugin = load(&runtime, "all-hooks").await;
    let health = plugin.health().await;
    assert_eq!(health.status, HealthStatus::Degraded);
    assert_eq!(health.message, "suffix is \"!\"");
    let results = plugin.self_test().await.unwrap();
    assert_eq!(
        results.iter().map(|r| (r.name.as_str(), r.passed)).collect::<Vec<_>>(),
        [("always passes", true), ("always fails", false)]
    );

    plugin.disable().await.unwrap();
    assert!(!plugin.is_enabled());
    assert_eq!(kv_value(&kv, "all-hooks", "last-lifecycle").await.as_deref(), Some("disabled"));
    let error = plugin.before_prompt(&context(), "hi").await.unwrap_err();
    assert_eq!(error.kind, CallErrorKind::Disabled);
    assert_eq!(plugin.health().await.status, HealthStatus::Unhealthy);
    plugin.enable().await.unwrap();
    assert!(plugin.is_enabled());
    assert_eq!(kv_value(&kv, "all-hooks", "last-lifecycle").await.as_deref(), Some("enabled"));
    assert!(plugin.before_prompt(&context(), "hi").await.is_ok());
    runtime.unload(plugin.id()).await.expect("loaded");
    assert_eq!(kv_value(&kv, "all-hooks", "last-lifecycle").await.as_deref(), Some("shutdown"));

    // A plugin without a health hook gets a report from the host.
    let export = load(&runtime, "markdown-export").await;
    assert_eq!(export.health().await.status, HealthStatus::Healthy);
}

#[tokio::test]
async fn text_filters_rewrite_and_reject() {
    let runtime = runtime();
    let plugin = load(&runtime, "all-hooks").await;
    let ctx = context();
    assert_eq!(
        plugin.before_prompt(&ctx, "hello").await.unwrap(),
        FilterOutcome::Rewrite("HELLO! (conversation c1)".into())
    );
    assert_eq!(
        plugin.before_prompt(&ctx, "a forbidden word").await.unwrap(),
        FilterOutcome::Reject("prompts may not say forbidden".into())
    );
    assert_eq!(plugin.after_response(&ctx, "done").await.unwrap(), FilterOutcome::Rewrite("done [checked]".into()));
    assert_eq!(plugin.after_response(&ctx, "").await.unwrap(), FilterOutcome::Keep);
    assert_eq!(plugin.stream_chunk(&ctx, "a secret here").await.unwrap(), "a ****** here");
}

#[tokio::test]
async fn request_filters_see_and_change_api_requests() {
    let runtime = runtime();
    let plugin = load(&runtime, "all-hooks").await;
    let ctx = context();
    let request = HttpRequest { method: "GET".into(), uri: "/api/conversations".into(), headers: vec![], body: vec![] };
    match plugin.before_request(&ctx, request.clone()).await.unwrap() {
        RequestOutcome::Rewrite(changed) => assert!(changed.headers.contains(&("x-all-hooks".into(), "seen".into()))),
        other => panic!("expected a rewrite, got {other:?}"),
    }
    let blocked = HttpRequest { uri: "/blocked/x".into(), ..request.clone() };
    match plugin.before_request(&ctx, blocked).await.unwrap() {
        RequestOutcome::Respond(response) => {
            assert_eq!((response.status, response.body), (403, b"blocked by all-hooks".to_vec()))
        }
        other => panic!("expected a response, got {other:?}"),
    }
    let response = HttpResponse { status: 200, headers: vec![], body: b"{}".to_vec() };
    match plugin.after_request(&ctx, request, response).await.unwrap() {
        ResponseOutcome::Rewrite(changed) => {
            assert_eq!(changed.headers, vec![("x-all-hooks".to_owned(), "after".to_owned())])
        }
        other => panic!("expected a rewrite, got {other:?}"),
    }
}

#[tokio::test]
async fn events_reach_the_plugin_and_will_be_posted_may_modify_or_reject() {
    let (runtime, kv) = runtime_with_kv();
    let plugin = load(&runtime, "all-hooks").await;
    let ctx = context();
    let events = [
        (Event::ConversationStarted(conversation()), "conversation-started c1"),
        (Event::ConversationEnded(conversation()), "conversation-ended c1"),
        (Event::MessageReceived(message("m1", Role::User, "hi")), "message-received m1"),
        (Event::MessageSent(message("m2", Role::Assistant, "hello")), "message-sent m2"),
        (Event::MessageEdited(message("m1", Role::User, "hey")), "message-edited m1"),
        (Event::MessageDeleted(message("m1", Role::User, "hey")), "message-deleted m1"),
        (Event::PluginLoaded("calculator".into()), "plugin-loaded calculator"),
        (Event::PluginUnloaded("calculator".into()), "plugin-unloaded calculator"),
    ];
    for (event, expected) in events {
        plugin.on_event(&ctx, event).await.unwrap();
        // The plugin records the last event in its own KV store.
        let stored = kv_value(&kv, "all-hooks", "last-event").await;
        assert_eq!(stored.as_deref(), Some(expected));
    }
    let spam = message("m3", Role::User, "buy spam now");
    assert_eq!(plugin.message_will_be_posted(&ctx, spam).await.unwrap(), FilterOutcome::Reject("no spam".into()));
    let colour = message("m4", Role::User, "my favourite colour");
    assert_eq!(
        plugin.message_will_be_posted(&ctx, colour).await.unwrap(),
        FilterOutcome::Rewrite("my favourite color".into())
    );
    let plain = message("m5", Role::User, "plain");
    assert_eq!(plugin.message_will_be_posted(&ctx, plain).await.unwrap(), FilterOutcome::Keep);
}

#[tokio::test]
async fn tools_are_listed_and_called_with_json_arguments() {
    let runtime = runtime();
    let calculator = load(&runtime, "calculator").await;
    let tools = calculator.tools();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, "calculate");
    assert_eq!(tools[0].parameters["required"], json!(["expression"]));
    let ctx = context();
    assert_eq!(calculator.call_tool(&ctx, "calculate", json!({"expression": "2 * (3 + 4)"})).await.unwrap(), "14");
    assert_eq!(calculator.call_tool(&ctx, "calculate", json!({"expression": "2 ^ 0.5 * 2 ^ 0.5"})).await.unwrap(), "2");
    let error = calculator.call_tool(&ctx, "calculate", json!({"expression": "1 / (2 - 2)"})).await.unwrap_err();
    assert_eq!(error.kind, CallErrorKind::Plugin { message: "division by zero at column 3".into() });
    let error = calculator.call_tool(&ctx, "calculate", json!({"expression": "2 +"})).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `calculator` hook `tools`: expected a number, a name or `(` but found the end of the expression"
    );
    let error = calculator.call_tool(&ctx, "calculate", json!({"value": 3})).await.unwrap_err();
    assert!(error.to_string().contains("pass the expression as a string in `expression`"), "{error}");
    // Seed 002's runner: `/run calculator <input>`.
    assert_eq!(calculator.run_with_input(&ctx, "sqrt(16) + 1").await.unwrap(), "5");
    // A tool error is the plugin speaking, not a fault: the breaker is untouched.
    assert_eq!(calculator.status().faults, 0);
}

#[tokio::test]
async fn provider_lists_models_and_streams_a_completion() {
    let runtime = runtime();
    let plugin = load(&runtime, "all-hooks").await;
    let models = plugin.list_models().await.unwrap();
    assert_eq!(models[0].id, "echo-1");
    let request = CompletionRequest {
        model: "echo-1".into(),
        messages: vec![CompletionMessage {
            role: Role::User,
            content: "one two three".into(),
            tool_calls: vec![],
            tool_call_id: String::new(),
        }],
        tools: vec![],
        temperature: None,
        top_p: None,
        max_tokens: None,
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel(16);
    let completion = plugin.complete(request.clone(), sender).await.unwrap();
    assert_eq!(completion.content, "one two three");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    let mut chunks = Vec::new();
    while let Ok(chunk) = receiver.try_recv() {
        chunks.push(chunk);
    }
    assert_eq!(chunks, ["one", " two", " three"].map(|t| CompletionChunk::Delta(t.into())).to_vec());

    // A client that went away: the plugin is told and stops.
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    drop(receiver);
    let completion = plugin.complete(request, sender).await.unwrap();
    assert_eq!(completion.finish_reason, FinishReason::Cancelled);
    assert_eq!(completion.content, "one");
}

#[tokio::test]
async fn exporters_write_files() {
    let runtime = runtime();
    let export = load(&runtime, "markdown-export").await;
    assert_eq!(export.export_formats()[0].id, "markdown");
    let messages = vec![message("m1", Role::User, "Where should I go?"), message("m2", Role::Assistant, "The Louvre.")];
    let file = export.export("markdown", conversation(), messages).await.unwrap();
    assert_eq!(file.file_name, "trip-to-paris.md");
    assert_eq!(file.media_type, "text/markdown; charset=utf-8");
    assert_eq!(
        String::from_utf8(file.data).unwrap(),
        "# Trip to Paris\n\n_Exported from Plugboard. Started 2026-11-18 11:06 UTC._\n\n\
         ## User · 2026-11-18 11:06 UTC\n\nWhere should I go?\n\n\
         ## Assistant · 2026-11-18 11:06 UTC\n\nThe Louvre.\n"
    );
    let error = export.export("pdf", conversation(), vec![]).await.unwrap_err();
    assert!(error.to_string().contains("unknown format `pdf`"), "{error}");
}

#[tokio::test]
async fn http_handler_commands_and_scheduled_tasks() {
    let (runtime, kv) = runtime_with_kv();
    let plugin = load(&runtime, "all-hooks").await;
    let ctx = context();
    let request = HttpRequest {
        method: "POST".into(),
        uri: "/hook?x=1".into(),
        headers: vec![("content-type".into(), "text/plain".into())],
        body: b"payload".to_vec(),
    };
    let response = plugin.handle_http(&ctx, request).await.unwrap();
    assert_eq!(response.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        body,
        json!({"method": "POST", "uri": "/hook?x=1", "user": "u1", "body": "payload", "headers": ["content-type"]})
    );

    assert_eq!(plugin.run_command(&ctx, "echo", "a b").await.unwrap(), "echo: a b");
    assert!(plugin.run_command(&ctx, "nope", "").await.is_err());

    plugin.run_task("tick", 42).await.unwrap();
    assert_eq!(kv_value(&kv, "all-hooks", "last-task").await.as_deref(), Some("tick at 42"));
}

#[tokio::test]
async fn bundled_plugins_do_their_jobs() {
    let runtime = runtime();
    let ctx = context();
    let tagger = load(&runtime, "example-tagger").await;
    assert_eq!(tagger.before_prompt(&ctx, "hi").await.unwrap(), FilterOutcome::Rewrite("[tagged] hi".into()));
    assert_eq!(tagger.after_response(&ctx, "yo").await.unwrap(), FilterOutcome::Rewrite("yo\n\n[tagged]".into()));
    tagger.on_event(&ctx, Event::ConversationStarted(conversation())).await.unwrap();

    let redactor = load(&runtime, "pii-redactor").await;
    assert_eq!(
        redactor.before_prompt(&ctx, "Mail ada@example.com or call +44 20 7946 0958 on 2024-01-15").await.unwrap(),
        FilterOutcome::Rewrite("Mail [email] or call [phone] on 2024-01-15".into())
    );
    assert_eq!(redactor.before_prompt(&ctx, "nothing personal, 42 apples").await.unwrap(), FilterOutcome::Keep);
    assert!(redactor.fails_closed(), "the redactor's manifest asks to fail closed");
    assert!(redactor.self_test().await.unwrap().iter().all(|r| r.passed));

    let stats = load(&runtime, "word-stats").await;
    stats.on_event(&ctx, Event::MessageReceived(message("m1", Role::User, "one two three"))).await.unwrap();
    stats.on_event(&ctx, Event::MessageSent(message("m2", Role::Assistant, "four five"))).await.unwrap();
    let counts: serde_json::Value =
        serde_json::from_str(&stats.call_tool(&ctx, "word_counts", json!({"conversation_id": "c1"})).await.unwrap())
            .unwrap();
    assert_eq!(counts, json!({"messages": 2, "user_words": 3, "assistant_words": 2, "total_words": 5}));
    assert_eq!(
        stats.run_command(&ctx, "stats", "").await.unwrap(),
        "2 messages, 5 words (3 from you, 2 from the assistant)"
    );
    let response = stats
        .handle_http(
            &ctx,
            HttpRequest { method: "GET".into(), uri: "/conversations/c1".into(), headers: vec![], body: vec![] },
        )
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&response.body).unwrap(), counts);
    stats.on_event(&ctx, Event::MessageDeleted(message("m2", Role::Assistant, "four five"))).await.unwrap();
    assert!(stats.run_command(&ctx, "stats", "").await.unwrap().starts_with("1 messages, 3 words"));
}
