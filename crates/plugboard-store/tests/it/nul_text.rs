//! Text holding U+0000 (NUL): PostgreSQL's TEXT cannot keep it, and its refusal is
//! `StoreError::InvalidInput` (a caller's mistake, which the API answers 400), never a
//! failed query. SQLite keeps such text; the layers above the store keep it out of both.

use plugboard_store::{MessageStatus, Role, StoreError};

use crate::{TestDb, new_message, user_and_conversation};

async fn text_holding_a_nul_is_invalid_input_on_postgresql(db: TestDb) {
    let store = db.open().await;
    let (user, conversation) = user_and_conversation(&store).await;
    let reply = store.add_message(&new_message(&conversation.id, Role::Assistant, "")).await.unwrap();
    let attempts = [
        ("create a conversation", store.create_conversation(&user.id, "x\0y").await.map(drop)),
        ("rename a conversation", store.rename_conversation(&conversation.id, "x\0y").await.map(drop)),
        ("add a message", store.add_message(&new_message(&conversation.id, Role::User, "a\0b")).await.map(drop)),
        ("finish a message", store.finish_message(&reply.id, "a\0b", None, MessageStatus::Complete).await.map(drop)),
        ("edit a message", store.edit_message(&reply.id, "a\0b").await.map(drop)),
        ("create an API token", store.create_api_token(&user.id, "t\0", "hash-of-t").await.map(drop)),
        ("look up a conversation", store.conversation("a\0b").await.map(drop)),
    ];
    for (what, result) in attempts {
        if db.is_postgres() {
            match result {
                Err(StoreError::InvalidInput { what: "text", message }) => {
                    assert!(message.contains("NUL character (U+0000)"), "{what}: {message}");
                    assert!(message.contains("remove the NUL character"), "{what}: {message}");
                }
                other => panic!("{what}: {other:?}"),
            }
        } else {
            result.unwrap_or_else(|error| panic!("{what}: {error}"));
        }
    }
    // Nothing was half done: the store goes on as before.
    let titles = store.list_conversations(&user.id, None, None, 10).await.unwrap();
    assert_eq!(titles.conversations.len(), if db.is_postgres() { 1 } else { 2 });
}

crate::backends!(text_holding_a_nul_is_invalid_input_on_postgresql);
