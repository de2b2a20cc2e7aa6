//! Messages: order (also within one millisecond), the conversation's activity, edits, soft
//! deletes, finishing a streamed reply, replies cut off by a crash (and, with several servers,
//! only those whose server stopped writing them), corrupt rows, and
//! everything surviving a restart.

use std::time::Duration;

use plugboard_store::{Message, MessageStatus, NewMessage, Role, StoreError};
use serde_json::json;

use crate::{TestDb, new_message, user_and_conversation};

async fn messages_keep_the_order_they_were_added_in_even_within_a_millisecond(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let mut added = Vec::new();
    for index in 0..50 {
        let role = if index % 2 == 0 { Role::User } else { Role::Assistant };
        added.push(store.add_message(&new_message(&conversation.id, role, &format!("message {index}"))).await.unwrap());
    }
    assert_eq!(store.list_messages(&conversation.id).await.unwrap(), added);
    assert!(added.windows(2).all(|pair| pair[0].created_at_ms <= pair[1].created_at_ms));

    // However many share a millisecond (here: all of them), the order stays.
    db.tamper("UPDATE messages SET created_at_ms = 1700000000000").await;
    let listed = store.list_messages(&conversation.id).await.unwrap();
    let contents = |messages: &[Message]| messages.iter().map(|message| message.content.clone()).collect::<Vec<_>>();
    assert_eq!(contents(&listed), contents(&added));
}

async fn a_message_added_after_the_clock_stepped_back_still_comes_last(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let question = store.add_message(&new_message(&conversation.id, Role::User, "question")).await.unwrap();
    // As if the question had been written an hour before the clock was set back.
    let ahead = question.created_at_ms + 3_600_000;
    db.tamper(&format!("UPDATE messages SET created_at_ms = {ahead}")).await;

    let answer = store.add_message(&new_message(&conversation.id, Role::Assistant, "answer")).await.unwrap();
    assert_eq!(answer.created_at_ms, ahead, "never before the previous message");
    let listed = store.list_messages(&conversation.id).await.unwrap();
    assert_eq!(listed.iter().map(|message| message.content.as_str()).collect::<Vec<_>>(), ["question", "answer"]);
}

async fn adding_a_message_returns_it_and_bumps_the_conversation(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    clock.advance(std::time::Duration::from_millis(2));
    let new = NewMessage {
        conversation_id: conversation.id.clone(),
        role: Role::Tool,
        author: "calculator".to_owned(),
        content: "4".to_owned(),
        data: Some(json!({"tool_call_id": "call-1", "name": "add"})),
        status: MessageStatus::Complete,
    };
    let message = store.add_message(&new).await.unwrap();
    assert_eq!(
        (message.conversation_id.as_str(), message.role, message.author.as_str(), message.content.as_str()),
        (conversation.id.as_str(), Role::Tool, "calculator", "4")
    );
    assert_eq!((message.data.clone(), message.status), (new.data.clone(), MessageStatus::Complete));
    assert_eq!((message.edited_at_ms, message.deleted_at_ms), (None, None));
    assert_eq!(store.message(&message.id).await.unwrap(), Some(message.clone()));

    let bumped = store.conversation(&conversation.id).await.unwrap().unwrap();
    assert!(bumped.updated_at_ms > conversation.updated_at_ms);
    assert!(bumped.updated_at_ms >= message.created_at_ms);
    assert_eq!(bumped.created_at_ms, conversation.created_at_ms);

    let error = store
        .add_message(&new_message("no-such-conversation", Role::User, "hello"))
        .await
        .expect_err("no such conversation");
    assert!(
        matches!(&error, StoreError::NotFound { what: "conversation", id } if id == "no-such-conversation"),
        "{error:?}"
    );
    assert!(error.to_string().starts_with("there is no conversation `no-such-conversation`"), "{error}");
    assert_eq!(store.message("no-such-message").await.unwrap(), None);
}

async fn roles_and_statuses_round_trip_and_serialize_in_lower_case(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    for role in [Role::System, Role::User, Role::Assistant, Role::Tool] {
        for status in [MessageStatus::Complete, MessageStatus::Streaming, MessageStatus::Partial] {
            let new = NewMessage { status, ..new_message(&conversation.id, role, "x") };
            let message = store.add_message(&new).await.unwrap();
            let read = store.message(&message.id).await.unwrap().unwrap();
            assert_eq!((read.role, read.status), (role, status));
        }
    }
    assert_eq!(serde_json::to_string(&Role::Assistant).unwrap(), "\"assistant\"");
    assert_eq!(serde_json::from_str::<MessageStatus>("\"partial\"").unwrap(), MessageStatus::Partial);
}

async fn an_edit_sets_edited_at(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let message = store.add_message(&new_message(&conversation.id, Role::User, "helo")).await.unwrap();

    let edited = store.edit_message(&message.id, "hello").await.unwrap().unwrap();
    let edited_at = edited.edited_at_ms.expect("an edit sets edited_at");
    assert!(edited_at >= message.created_at_ms);
    assert_eq!(edited, Message { content: "hello".to_owned(), edited_at_ms: Some(edited_at), ..message.clone() });
    assert_eq!(store.list_messages(&conversation.id).await.unwrap(), [edited]);
    assert_eq!(store.edit_message("no-such-message", "x").await.unwrap(), None);

    store.delete_message(&message.id).await.unwrap();
    assert_eq!(store.edit_message(&message.id, "too late").await.unwrap(), None);
}

async fn a_deleted_message_leaves_the_list_but_can_still_be_read(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let first = store.add_message(&new_message(&conversation.id, Role::User, "one")).await.unwrap();
    let second = store.add_message(&new_message(&conversation.id, Role::Assistant, "two")).await.unwrap();

    let deleted = store.delete_message(&first.id).await.unwrap();
    assert_eq!(deleted, Some(first.clone()), "as it was before the deletion");
    assert_eq!(store.list_messages(&conversation.id).await.unwrap(), [second]);
    let read = store.message(&first.id).await.unwrap().unwrap();
    assert!(read.deleted_at_ms.is_some_and(|deleted_at| deleted_at >= first.created_at_ms), "{read:?}");
    assert_eq!(Message { deleted_at_ms: None, ..read }, first);

    assert_eq!(store.delete_message(&first.id).await.unwrap(), None, "already deleted");
    assert_eq!(store.delete_message("no-such-message").await.unwrap(), None);
}

async fn finishing_a_streamed_reply_replaces_it_without_marking_an_edit(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let new = NewMessage { status: MessageStatus::Streaming, ..new_message(&conversation.id, Role::Assistant, "") };
    let streaming = store.add_message(&new).await.unwrap();
    assert_eq!(streaming.status, MessageStatus::Streaming);

    let data = json!({"tool_calls": [{"id": "call-1", "name": "add", "arguments": {"a": 2, "b": 2}}]});
    let finished = store
        .finish_message(&streaming.id, "Let me add.", Some(&data), MessageStatus::Complete)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        finished,
        Message {
            content: "Let me add.".to_owned(),
            data: Some(data),
            status: MessageStatus::Complete,
            ..streaming.clone()
        }
    );
    assert_eq!(finished.edited_at_ms, None);
    assert_eq!(store.message(&streaming.id).await.unwrap(), Some(finished));

    let cut_off = store.finish_message(&streaming.id, "Let", None, MessageStatus::Partial).await.unwrap().unwrap();
    assert_eq!((cut_off.content.as_str(), cut_off.data, cut_off.status), ("Let", None, MessageStatus::Partial));
    assert_eq!(store.finish_message("no-such-message", "", None, MessageStatus::Complete).await.unwrap(), None);
}

async fn replies_cut_off_by_a_crash_become_partial_after_reopening(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let streaming =
        NewMessage { status: MessageStatus::Streaming, ..new_message(&conversation.id, Role::Assistant, "") };
    let first = store.add_message(&streaming).await.unwrap();
    let done = store.add_message(&new_message(&conversation.id, Role::User, "next")).await.unwrap();
    let second = store.add_message(&NewMessage { content: "half a".to_owned(), ..streaming }).await.unwrap();
    store.close().await;

    let store = db.open().await;
    let mut marked = store.mark_stale_streaming_messages(Duration::ZERO).await.unwrap();
    marked.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected: Vec<Message> = [&first, &second]
        .iter()
        .map(|message| Message { status: MessageStatus::Partial, ..(*message).clone() })
        .collect();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(marked, expected, "the rows marked, as stored now");
    for message in [&first, &second] {
        let read = store.message(&message.id).await.unwrap().unwrap();
        assert_eq!(read, Message { status: MessageStatus::Partial, ..message.clone() });
    }
    assert_eq!(store.message(&done.id).await.unwrap(), Some(done));
    assert_eq!(store.mark_stale_streaming_messages(Duration::ZERO).await.unwrap().len(), 0);
}

/// With several servers on one database, one server's sweep must not cut off another's
/// live stream: only a `streaming` row nobody wrote for the staleness limit is partial.
async fn only_streaming_replies_untouched_for_the_limit_become_partial(db: TestDb) {
    const STALE: Duration = Duration::from_secs(30);
    let (store, clock) = db.open_with_clock().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let streaming =
        NewMessage { status: MessageStatus::Streaming, ..new_message(&conversation.id, Role::Assistant, "") };
    let live = store.add_message(&streaming).await.unwrap();
    let dead = store.add_message(&streaming).await.unwrap();
    let finished = store.add_message(&streaming).await.unwrap();
    store.finish_message(&finished.id, "done", None, MessageStatus::Complete).await.unwrap();

    clock.advance(Duration::from_secs(20));
    // The live server's heartbeat: the same text again, still streaming.
    store.finish_message(&live.id, "", None, MessageStatus::Streaming).await.unwrap();
    assert_eq!(store.mark_stale_streaming_messages(STALE).await.unwrap().len(), 0, "nothing is 30 s old yet");

    clock.advance(Duration::from_secs(15));
    // `dead` was last written 35 s ago, `live` 15 s ago.
    assert_eq!(store.mark_stale_streaming_messages(STALE).await.unwrap().len(), 1);
    assert_eq!(store.message(&dead.id).await.unwrap().unwrap().status, MessageStatus::Partial);
    assert_eq!(store.message(&live.id).await.unwrap().unwrap().status, MessageStatus::Streaming);
    assert_eq!(store.message(&finished.id).await.unwrap().unwrap().status, MessageStatus::Complete);

    // Its server stops beating: the next sweeps past the limit mark it too, and only once.
    clock.advance(STALE);
    assert_eq!(store.mark_stale_streaming_messages(STALE).await.unwrap().len(), 1);
    assert_eq!(store.message(&live.id).await.unwrap().unwrap().status, MessageStatus::Partial);
    assert_eq!(store.mark_stale_streaming_messages(STALE).await.unwrap().len(), 0);
}

/// A row written before the column existed has no touch time: a sweep treats it as stale.
async fn a_streaming_row_never_touched_counts_as_stale(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let streaming =
        NewMessage { status: MessageStatus::Streaming, ..new_message(&conversation.id, Role::Assistant, "") };
    let old = store.add_message(&streaming).await.unwrap();
    db.tamper(&format!("UPDATE messages SET touched_at_ms = NULL WHERE id = '{}'", old.id)).await;
    assert_eq!(store.mark_stale_streaming_messages(Duration::from_secs(30)).await.unwrap().len(), 1);
    assert_eq!(store.message(&old.id).await.unwrap().unwrap().status, MessageStatus::Partial);
}

async fn a_stored_message_that_cannot_be_read_is_reported_as_corrupt(db: TestDb) {
    let store = db.open().await;
    let (_user, conversation) = user_and_conversation(&store).await;
    let message = store.add_message(&new_message(&conversation.id, Role::User, "hi")).await.unwrap();
    db.tamper(&format!("UPDATE messages SET data = '{{not json' WHERE id = '{}'", message.id)).await;

    let error = store.message(&message.id).await.expect_err("data is not JSON");
    assert!(matches!(&error, StoreError::CorruptRow { what: "message", id, .. } if *id == message.id), "{error:?}");
    assert!(error.to_string().contains("restore the database from a backup"), "{error}");
    assert!(matches!(store.list_messages(&conversation.id).await, Err(StoreError::CorruptRow { .. })));
}

async fn chat_data_survives_closing_and_reopening(db: TestDb) {
    let store = db.open().await;
    let (user, conversation) = user_and_conversation(&store).await;
    let plugins = json!({"tools": ["calculator"]});
    let conversation = store.set_conversation_plugins(&conversation.id, Some(&plugins)).await.unwrap().unwrap();
    let expires = crate::now_ms() + 3_600_000;
    store.create_session(&user.id, "session-hash", expires).await.unwrap();
    let token = store.create_api_token(&user.id, "cli", "token-hash").await.unwrap();
    let message = store
        .add_message(&NewMessage {
            data: Some(json!({"tool_calls": []})),
            ..new_message(&conversation.id, Role::Assistant, "hi")
        })
        .await
        .unwrap();
    let conversation = store.conversation(&conversation.id).await.unwrap().unwrap();
    let attachment = store
        .add_attachment(&conversation.id, Some(&message.id), "x.bin", "application/octet-stream", &[0, 1, 2])
        .await
        .unwrap();
    store.add_trace(&message.id, &conversation.id, &json!({"filters": ["pii-redactor"]}).to_string()).await.unwrap();
    store.close().await;

    let store = db.open().await;
    assert_eq!(store.user(&user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(store.user_by_name("alice").await.unwrap(), Some((user.clone(), "hash-of-alice".to_owned())));
    assert_eq!(store.session_user("session-hash").await.unwrap(), Some(user.clone()));
    assert_eq!(store.list_api_tokens(&user.id).await.unwrap(), [token]);
    assert_eq!(store.conversation(&conversation.id).await.unwrap(), Some(conversation.clone()));
    assert_eq!(store.list_messages(&conversation.id).await.unwrap(), std::slice::from_ref(&message));
    assert_eq!(store.attachment(&attachment.id).await.unwrap(), Some((attachment, vec![0, 1, 2])));
    let trace = store.trace(&message.id).await.unwrap().unwrap();
    assert_eq!(trace.trace, json!({"filters": ["pii-redactor"]}));
    // New rows after the restart still come after the old ones.
    let later = store.add_message(&new_message(&conversation.id, Role::User, "again")).await.unwrap();
    assert_eq!(store.list_messages(&conversation.id).await.unwrap(), [message, later]);
}

crate::backends!(
    messages_keep_the_order_they_were_added_in_even_within_a_millisecond,
    a_message_added_after_the_clock_stepped_back_still_comes_last,
    replies_cut_off_by_a_crash_become_partial_after_reopening,
    only_streaming_replies_untouched_for_the_limit_become_partial,
    a_streaming_row_never_touched_counts_as_stale,
    a_stored_message_that_cannot_be_read_is_reported_as_corrupt,
    chat_data_survives_closing_and_reopening,
    adding_a_message_returns_it_and_bumps_the_conversation,
    roles_and_statuses_round_trip_and_serialize_in_lower_case,
    an_edit_sets_edited_at,
    a_deleted_message_leaves_the_list_but_can_still_be_read,
    finishing_a_streamed_reply_replaces_it_without_marking_an_edit,
);
