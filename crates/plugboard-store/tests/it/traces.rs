//! Plugin traces: one per message (recording again replaces it), a conversation's timeline
//! oldest first, and the message must be in the conversation.

use plugboard_store::{Role, StoreError, TraceRecord};
use serde_json::json;

use crate::{TestDb, new_message, user_and_conversation};

async fn traces_are_kept_per_message_and_listed_per_conversation_oldest_first(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    let (user, conversation) = user_and_conversation(&store).await;
    let other = store.create_conversation(&user.id, "Other").await.unwrap();
    let mut answers = Vec::new();
    for index in 0..5 {
        store.add_message(&new_message(&conversation.id, Role::User, &format!("question {index}"))).await.unwrap();
        let answer = store
            .add_message(&new_message(&conversation.id, Role::Assistant, &format!("answer {index}")))
            .await
            .unwrap();
        store
            .add_trace(&answer.id, &conversation.id, &json!({"turn": index, "plugins": ["tagger"]}).to_string())
            .await
            .unwrap();
        answers.push(answer);
    }
    let other_answer = store.add_message(&new_message(&other.id, Role::Assistant, "elsewhere")).await.unwrap();
    store.add_trace(&other_answer.id, &other.id, &json!({"turn": "other"}).to_string()).await.unwrap();

    let trace = store.trace(&answers[2].id).await.unwrap().unwrap();
    assert_eq!(
        trace,
        TraceRecord {
            message_id: answers[2].id.clone(),
            conversation_id: conversation.id.clone(),
            created_at_ms: trace.created_at_ms,
            trace: json!({"turn": 2, "plugins": ["tagger"]}),
        }
    );
    assert_eq!(store.trace("no-such-message").await.unwrap(), None);

    let timeline = store.conversation_traces(&conversation.id).await.unwrap();
    let turns: Vec<_> = timeline.iter().map(|record| record.trace["turn"].clone()).collect();
    assert_eq!(turns, [0, 1, 2, 3, 4].map(|turn| json!(turn)));
    assert!(timeline.iter().all(|record| record.conversation_id == conversation.id));
    assert_eq!(store.conversation_traces(&other.id).await.unwrap().len(), 1);

    // Recording a message's trace again replaces it (a later trace: last in the timeline).
    clock.advance(std::time::Duration::from_millis(2));
    store.add_trace(&answers[0].id, &conversation.id, &json!({"turn": "redone"}).to_string()).await.unwrap();
    assert_eq!(store.trace(&answers[0].id).await.unwrap().unwrap().trace, json!({"turn": "redone"}));
    let timeline = store.conversation_traces(&conversation.id).await.unwrap();
    assert_eq!(timeline.len(), 5);
    assert_eq!(timeline.last().unwrap().trace, json!({"turn": "redone"}));
}

async fn a_trace_needs_a_message_of_its_conversation(db: TestDb) {
    let store = db.open().await;
    let (user, conversation) = user_and_conversation(&store).await;
    let other = store.create_conversation(&user.id, "Other").await.unwrap();
    let elsewhere = store.add_message(&new_message(&other.id, Role::Assistant, "elsewhere")).await.unwrap();

    let error =
        store.add_trace(&elsewhere.id, &conversation.id, &json!({}).to_string()).await.expect_err("wrong conversation");
    assert!(matches!(&error, StoreError::NotFound { what: "message", id } if *id == elsewhere.id), "{error:?}");
    let error =
        store.add_trace("no-such-message", &conversation.id, &json!({}).to_string()).await.expect_err("no message");
    assert!(matches!(error, StoreError::NotFound { what: "message", .. }), "{error:?}");
    let error = store
        .add_trace(&elsewhere.id, "no-such-conversation", &json!({}).to_string())
        .await
        .expect_err("no conversation");
    assert!(matches!(error, StoreError::NotFound { what: "conversation", .. }), "{error:?}");
    assert_eq!(store.conversation_traces(&conversation.id).await.unwrap(), []);
}

async fn a_trace_that_is_not_json_is_refused_and_the_stored_one_kept(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let answer = store.add_message(&new_message(&conversation.id, Role::Assistant, "answer")).await.unwrap();
    store.add_trace(&answer.id, &conversation.id, r#"{"steps": [{"stage": "model"}]}"#).await.unwrap();

    let error = store.add_trace(&answer.id, &conversation.id, r#"{"steps": [{"stage": "#).await.expect_err("not JSON");
    assert!(matches!(&error, StoreError::InvalidInput { what: "trace", .. }), "{error:?}");
    assert!(error.to_string().contains("not JSON"), "{error}");
    let kept = store.trace(&answer.id).await.unwrap().expect("the first trace");
    assert_eq!(kept.trace, json!({"steps": [{"stage": "model"}]}));
}

crate::backends!(
    traces_are_kept_per_message_and_listed_per_conversation_oldest_first,
    a_trace_needs_a_message_of_its_conversation,
    a_trace_that_is_not_json_is_refused_and_the_stored_one_kept,
);
