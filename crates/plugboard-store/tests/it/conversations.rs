//! Conversations: paging newest activity first with a stable order, search, renaming,
//! per-conversation plugins, and deleting a conversation with everything in it.

use std::collections::HashSet;

use plugboard_store::{AnyStore, Conversation, Role, StoreError};
use serde_json::json;

use crate::{TestDb, new_message, user_and_conversation};

/// Every conversation of the user, page by page; also checks that no page is over `limit`
/// and only the last one has no `next`.
async fn all_pages(store: &AnyStore, user_id: &str, search: Option<&str>, limit: usize) -> (Vec<Conversation>, usize) {
    let mut conversations = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.list_conversations(user_id, search, after.as_deref(), limit).await.unwrap();
        pages += 1;
        assert!(page.conversations.len() <= limit, "{page:?}");
        conversations.extend(page.conversations);
        match page.next {
            Some(next) => after = Some(next),
            None => return (conversations, pages),
        }
    }
}

fn ids(conversations: &[Conversation]) -> Vec<&str> {
    conversations.iter().map(|conversation| conversation.id.as_str()).collect()
}

async fn pages_are_newest_activity_first_in_a_stable_order(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    let alice = store.create_user("alice", "hash").await.unwrap();
    let bob = store.create_user("bob", "hash").await.unwrap();
    let mut created = Vec::new();
    for index in 0..8 {
        created.push(store.create_conversation(&alice.id, &format!("chat {index}")).await.unwrap());
    }
    store.create_conversation(&bob.id, "bob's").await.unwrap();

    // Newest activity first; ties (same millisecond) by id, descending.
    let mut expected = created.clone();
    expected.sort_by(|a, b| (b.updated_at_ms, &b.id).cmp(&(a.updated_at_ms, &a.id)));
    let (listed, pages) = all_pages(&store, &alice.id, None, 3).await;
    assert_eq!(pages, 3);
    assert_eq!(listed, expected);

    // A message to the oldest conversation brings it to the front.
    let oldest = expected.last().unwrap().clone();
    clock.advance(std::time::Duration::from_millis(2));
    store.add_message(&new_message(&oldest.id, Role::User, "hello again")).await.unwrap();
    let first_page = store.list_conversations(&alice.id, None, None, 3).await.unwrap();
    assert_eq!(first_page.conversations[0].id, oldest.id);
    assert!(first_page.conversations[0].updated_at_ms > oldest.updated_at_ms);
    let (listed, _) = all_pages(&store, &alice.id, None, 3).await;
    assert_eq!(listed.len(), 8);
    assert_eq!(listed.iter().map(|c| c.id.as_str()).collect::<HashSet<_>>().len(), 8);

    // A page size that divides the count exactly ends with a page that says so.
    let (listed, pages) = all_pages(&store, &alice.id, None, 4).await;
    assert_eq!((listed.len(), pages), (8, 2));
    let (listed, pages) = all_pages(&store, &alice.id, None, 100).await;
    assert_eq!((listed.len(), pages), (8, 1));

    // Only the user's own conversations.
    let (listed, _) = all_pages(&store, &bob.id, None, 3).await;
    assert_eq!(listed.iter().map(|c| c.title.as_str()).collect::<Vec<_>>(), ["bob's"]);
}

async fn search_matches_title_substrings_regardless_of_case(db: TestDb) {
    let store = db.open().await;
    let user = store.create_user("alice", "hash").await.unwrap();
    for title in ["Rust tips", "trusty rusty nails", "Cooking", "100% sure", "snake_case", "ÜBER Café", "back\\slash"]
    {
        store.create_conversation(&user.id, title).await.unwrap();
    }
    let titles = |conversations: Vec<Conversation>| {
        let mut titles: Vec<_> = conversations.into_iter().map(|conversation| conversation.title).collect();
        titles.sort();
        titles
    };
    let search = |text: &'static str| {
        let store = &store;
        let user_id = user.id.clone();
        async move { titles(all_pages(store, &user_id, Some(text), 1).await.0) }
    };
    assert_eq!(search("RUST").await, ["Rust tips", "trusty rusty nails"]);
    assert_eq!(search("rusty n").await, ["trusty rusty nails"]);
    // LIKE wildcards are plain characters.
    assert_eq!(search("%").await, ["100% sure"]);
    assert_eq!(search("_").await, ["snake_case"]);
    assert_eq!(search("\\").await, ["back\\slash"]);
    assert_eq!(search("über café").await, ["ÜBER Café"]);
    assert_eq!(search("nothing like it").await, Vec::<String>::new());
    assert_eq!(search("").await.len(), 7);
}

async fn a_bad_cursor_or_page_size_is_invalid_input(db: TestDb) {
    let store = db.open().await;
    let (user, _) = user_and_conversation(&store).await;
    for cursor in ["", "garbage", "12.not-a-uuid", "x.0190a0b0-0000-7000-8000-000000000000"] {
        let error = store.list_conversations(&user.id, None, Some(cursor), 10).await.expect_err(cursor);
        assert!(matches!(error, StoreError::InvalidInput { what: "cursor", .. }), "{error:?}");
        assert!(error.to_string().contains("start again from the first page"), "{error}");
    }
    let error = store.list_conversations(&user.id, None, None, 0).await.expect_err("0 per page");
    assert!(matches!(error, StoreError::InvalidInput { what: "page size", .. }), "{error:?}");
}

async fn rename_and_set_plugins_return_the_updated_conversation(db: TestDb) {
    let store = db.open().await;
    let (user, conversation) = user_and_conversation(&store).await;

    let renamed = store.rename_conversation(&conversation.id, "Holiday plans").await.unwrap().unwrap();
    assert_eq!(renamed, Conversation { title: "Holiday plans".to_owned(), ..conversation.clone() });
    assert_eq!(store.conversation(&conversation.id).await.unwrap(), Some(renamed.clone()));
    assert_eq!(all_pages(&store, &user.id, Some("holiday"), 10).await.0, std::slice::from_ref(&renamed));
    assert_eq!(all_pages(&store, &user.id, Some("first"), 10).await.0, []);
    assert_eq!(store.rename_conversation("no-such-conversation", "x").await.unwrap(), None);

    let plugins = json!({"filters": ["pii-redactor"], "tools": ["calculator"]});
    let with_plugins = store.set_conversation_plugins(&conversation.id, Some(&plugins)).await.unwrap().unwrap();
    assert_eq!(with_plugins.plugins, Some(plugins));
    assert_eq!(store.conversation(&conversation.id).await.unwrap(), Some(with_plugins));
    let cleared = store.set_conversation_plugins(&conversation.id, None).await.unwrap().unwrap();
    assert_eq!(cleared, renamed);
    assert_eq!(store.set_conversation_plugins("no-such-conversation", None).await.unwrap(), None);

    let error = store.create_conversation("no-such-user", "x").await.expect_err("no such user");
    assert!(matches!(error, StoreError::NotFound { what: "user", .. }), "{error:?}");
}

async fn deleting_a_conversation_deletes_its_messages_attachments_and_traces(db: TestDb) {
    let store = db.open().await;
    let (user, doomed) = user_and_conversation(&store).await;
    let kept = store.create_conversation(&user.id, "Kept").await.unwrap();

    let fill = async |conversation: &Conversation| {
        let question = store.add_message(&new_message(&conversation.id, Role::User, "question")).await.unwrap();
        let answer = store.add_message(&new_message(&conversation.id, Role::Assistant, "answer")).await.unwrap();
        let attachment =
            store.add_attachment(&conversation.id, Some(&question.id), "a.txt", "text/plain", b"bytes").await.unwrap();
        let loose = store.add_attachment(&conversation.id, None, "b.txt", "text/plain", b"more").await.unwrap();
        store.add_trace(&answer.id, &conversation.id, &json!({"steps": []}).to_string()).await.unwrap();
        (question, answer, attachment, loose)
    };
    let (question, answer, attachment, loose) = fill(&doomed).await;
    let (kept_question, kept_answer, kept_attachment, _) = fill(&kept).await;

    let doomed = store.conversation(&doomed.id).await.unwrap().unwrap();
    assert_eq!(store.delete_conversation(&doomed.id).await.unwrap(), Some(doomed.clone()));
    assert_eq!(store.conversation(&doomed.id).await.unwrap(), None);
    for message in [&question, &answer] {
        assert_eq!(store.message(&message.id).await.unwrap(), None);
    }
    assert_eq!(store.list_messages(&doomed.id).await.unwrap(), []);
    for attachment in [&attachment, &loose] {
        assert_eq!(store.attachment(&attachment.id).await.unwrap(), None);
    }
    assert_eq!(store.list_attachments(&doomed.id).await.unwrap(), []);
    assert_eq!(store.trace(&answer.id).await.unwrap(), None);
    assert_eq!(store.conversation_traces(&doomed.id).await.unwrap(), []);
    assert_eq!(store.delete_conversation(&doomed.id).await.unwrap(), None);

    // The other conversation is untouched.
    assert_eq!(store.list_messages(&kept.id).await.unwrap(), [kept_question, kept_answer.clone()]);
    assert_eq!(store.attachment(&kept_attachment.id).await.unwrap().unwrap().1, b"bytes");
    assert!(store.trace(&kept_answer.id).await.unwrap().is_some());
    assert_eq!(ids(&all_pages(&store, &user.id, None, 10).await.0), [kept.id.as_str()]);
}

crate::backends!(
    pages_are_newest_activity_first_in_a_stable_order,
    search_matches_title_substrings_regardless_of_case,
    a_bad_cursor_or_page_size_is_invalid_input,
    rename_and_set_plugins_return_the_updated_conversation,
    deleting_a_conversation_deletes_its_messages_attachments_and_traces,
);
