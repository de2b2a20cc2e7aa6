//! Users, browser sessions and API tokens: the first user is admin (even under concurrent
//! sign-ups), usernames are unique regardless of case, sessions expire, token lookups
//! record their use, and one `Arc<dyn Store>` serves as either trait.

use std::sync::Arc;

use plugboard_store::{AccountChange, ChatStore, PluginStore, Role, SqliteStore, Store, StoreError, UserDeletion};

use crate::{TestDb, now_ms};

async fn the_first_user_is_admin_and_the_second_is_not(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.count_users().await.unwrap(), 0);

    let first = store.create_user("alice", "hash-a").await.unwrap();
    let second = store.create_user("bob", "hash-b").await.unwrap();
    assert!(first.is_admin);
    assert!(!second.is_admin);
    assert_ne!(first.id, second.id);
    assert_eq!(store.count_users().await.unwrap(), 2);

    // Ids are hyphenated UUIDv7 strings; times are milliseconds set by the store.
    let id = uuid::Uuid::parse_str(&first.id).unwrap();
    assert_eq!((id.get_version_num(), id.to_string()), (7, first.id.clone()));
    assert!((now_ms() - first.created_at_ms).abs() < 60_000, "{}", first.created_at_ms);

    assert_eq!(store.user(&first.id).await.unwrap(), Some(first));
    assert_eq!(store.user(&second.id).await.unwrap(), Some(second));
    assert_eq!(store.user("no-such-user").await.unwrap(), None);
}

async fn concurrent_first_sign_ups_make_exactly_one_admin(db: TestDb) {
    let store = db.open().await;
    let store: Arc<dyn Store> = store.shared();
    let tasks: Vec<_> = (0..8)
        .map(|index| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.create_user(&format!("user-{index}"), "hash").await })
        })
        .collect();
    let mut users = Vec::new();
    for task in tasks {
        users.push(task.await.unwrap().unwrap());
    }
    let admins: Vec<_> = users.iter().filter(|user| user.is_admin).collect();
    assert_eq!(admins.len(), 1, "{users:#?}");
    assert_eq!(store.count_users().await.unwrap(), 8);
}

async fn only_one_of_concurrent_first_users_is_created(db: TestDb) {
    let store = db.open().await;
    let store: Arc<dyn Store> = store.shared();
    let tasks: Vec<_> = (0..20)
        .map(|index| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.create_first_user(&format!("user-{index}"), "hash").await })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        created.extend(task.await.unwrap().unwrap());
    }
    assert_eq!(created.len(), 1, "{created:#?}");
    assert!(created[0].is_admin);
    assert_eq!(store.count_users().await.unwrap(), 1);
    // Once there is a user, no call creates one.
    assert_eq!(store.create_first_user("late", "hash").await.unwrap(), None);
    assert_eq!(store.count_users().await.unwrap(), 1);
}

async fn usernames_are_unique_regardless_of_case(db: TestDb) {
    let store = db.open().await;
    let alice = store.create_user("Alice", "hash-a").await.unwrap();

    let error = store.create_user("aLICE", "hash-other").await.expect_err("the name is taken");
    assert!(matches!(&error, StoreError::Conflict { what: "username", value } if value == "aLICE"), "{error:?}");
    assert_eq!(error.to_string(), "username `aLICE` is taken; choose another");

    // Beyond ASCII too.
    store.create_user("ÉLODIE", "hash-e").await.unwrap();
    assert!(matches!(store.create_user("élodie", "hash").await, Err(StoreError::Conflict { .. })));
    assert_eq!(store.count_users().await.unwrap(), 2);
    assert_eq!(store.usernames().await.unwrap(), ["Alice", "ÉLODIE"]);

    // Login finds the user under any case, with the name as first typed.
    let (found, hash) = store.user_by_name("ALICE").await.unwrap().unwrap();
    assert_eq!((found, hash.as_str()), (alice, "hash-a"));
    assert_eq!(store.user_by_name("élodie").await.unwrap().unwrap().0.username, "ÉLODIE");
    assert_eq!(store.user_by_name("nobody").await.unwrap(), None);
}

async fn sessions_live_until_they_expire_or_are_deleted(db: TestDb) {
    let store = db.open().await;
    let user = store.create_user("alice", "hash").await.unwrap();
    let now = now_ms();

    store.create_session(&user.id, "live-hash", now + 60_000).await.unwrap();
    store.create_session(&user.id, "expired-hash", now - 1).await.unwrap();
    assert_eq!(store.session_user("live-hash").await.unwrap(), Some(user.clone()));
    assert_eq!(store.session_user("expired-hash").await.unwrap(), None);
    assert_eq!(store.session_user("unknown-hash").await.unwrap(), None);

    store.delete_session("live-hash").await.unwrap();
    assert_eq!(store.session_user("live-hash").await.unwrap(), None);
    // Deleting what is not there is not an error.
    store.delete_session("live-hash").await.unwrap();

    let error = store.create_session("no-such-user", "hash-x", now + 60_000).await.expect_err("no such user");
    assert!(matches!(&error, StoreError::NotFound { what: "user", id } if id == "no-such-user"), "{error:?}");
}

async fn a_session_that_expires_while_in_use_ends(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    let user = store.create_user("alice", "hash").await.unwrap();
    store.create_session(&user.id, "short-hash", plugboard_types::Clock::now_ms(&clock) + 50).await.unwrap();
    assert!(store.session_user("short-hash").await.unwrap().is_some());
    clock.advance(std::time::Duration::from_millis(50));
    assert_eq!(store.session_user("short-hash").await.unwrap(), None);
}

async fn api_tokens_find_their_user_and_record_their_use(db: TestDb) {
    let store = db.open().await;
    let alice = store.create_user("alice", "hash-a").await.unwrap();
    let bob = store.create_user("bob", "hash-b").await.unwrap();

    let laptop = store.create_api_token(&alice.id, "laptop", "token-hash-1").await.unwrap();
    let script = store.create_api_token(&alice.id, "script", "token-hash-2").await.unwrap();
    assert_eq!(
        (laptop.user_id.as_str(), laptop.name.as_str(), laptop.last_used_at_ms),
        (alice.id.as_str(), "laptop", None)
    );
    assert_eq!(store.list_api_tokens(&alice.id).await.unwrap(), [laptop.clone(), script.clone()]);
    assert_eq!(store.list_api_tokens(&bob.id).await.unwrap(), []);

    assert_eq!(store.api_token_user("token-hash-1").await.unwrap(), Some(alice.clone()));
    let used = store.list_api_tokens(&alice.id).await.unwrap();
    let last_used = used[0].last_used_at_ms.expect("the lookup records its use");
    assert!(last_used >= laptop.created_at_ms, "{used:?}");
    assert_eq!(used[1].last_used_at_ms, None, "the other token was not used");
    assert_eq!(store.api_token_user("unknown-hash").await.unwrap(), None);

    // Only the owner deletes a token.
    assert!(!store.delete_api_token(&bob.id, &laptop.id).await.unwrap());
    assert!(store.delete_api_token(&alice.id, &laptop.id).await.unwrap());
    assert!(!store.delete_api_token(&alice.id, &laptop.id).await.unwrap());
    assert_eq!(store.api_token_user("token-hash-1").await.unwrap(), None);
    assert_eq!(store.list_api_tokens(&alice.id).await.unwrap(), [script]);

    let error = store.create_api_token("no-such-user", "x", "token-hash-3").await.expect_err("no such user");
    assert!(matches!(error, StoreError::NotFound { what: "user", .. }), "{error:?}");
}

async fn one_store_serves_as_either_trait(db: TestDb) {
    let store = db.open().await;
    let store: Arc<dyn Store> = store.shared();
    let chat: Arc<dyn ChatStore> = store.clone();
    let plugins: Arc<dyn PluginStore> = store.clone();
    chat.create_user("alice", "hash").await.unwrap();
    plugins.kv_set("p", "k", b"v", None).await.unwrap();
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert_eq!(store.kv_get("p", "k").await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test]
async fn in_memory_stores_hold_chat_data_too() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let user = store.create_user("alice", "hash").await.unwrap();
    assert!(user.is_admin);
    assert_eq!(store.user(&user.id).await.unwrap(), Some(user));
}

async fn a_new_password_ends_every_other_session(db: TestDb) {
    let store = db.open().await;
    let alice = store.create_user("alice", "old-hash").await.unwrap();
    let bob = store.create_user("bob", "bobs-hash").await.unwrap();
    let far = crate::now_ms() + 3_600_000;
    for token in ["this-one", "laptop", "phone"] {
        store.create_session(&alice.id, token, far).await.unwrap();
    }
    store.create_session(&bob.id, "bobs", far).await.unwrap();

    assert!(store.set_password(&alice.id, "new-hash", Some("this-one")).await.unwrap());
    assert_eq!(store.user_by_name("alice").await.unwrap().map(|(_, hash)| hash), Some("new-hash".to_owned()));
    assert!(store.session_user("this-one").await.unwrap().is_some(), "the session that asked stays");
    assert!(store.session_user("laptop").await.unwrap().is_none());
    assert!(store.session_user("phone").await.unwrap().is_none());
    assert!(store.session_user("bobs").await.unwrap().is_some(), "another person's sessions stay");

    // Without a session to keep (an administrator's reset), all of them end.
    assert!(store.set_password(&alice.id, "newer-hash", None).await.unwrap());
    assert!(store.session_user("this-one").await.unwrap().is_none());
    assert!(!store.set_password("nobody", "hash", None).await.unwrap());
}

async fn the_last_administrator_keeps_the_role(db: TestDb) {
    let store = db.open().await;
    let ada = store.create_user("ada", "h").await.unwrap();
    let bob = store.create_user("bob", "h").await.unwrap();
    assert!(ada.is_admin && !bob.is_admin);
    let names: Vec<String> = store.users().await.unwrap().into_iter().map(|user| user.username).collect();
    assert_eq!(names, ["ada", "bob"]);

    // The only administrator cannot lose the role.
    assert!(store.set_admin(&ada.id, false).await.unwrap().unwrap().is_admin);
    assert!(store.set_admin(&bob.id, true).await.unwrap().unwrap().is_admin);
    assert!(!store.set_admin(&ada.id, false).await.unwrap().unwrap().is_admin, "another administrator remains");
    assert!(store.set_admin(&bob.id, false).await.unwrap().unwrap().is_admin, "bob is the last one now");
    assert_eq!(store.set_admin("nobody", true).await.unwrap(), None);
}

async fn people_see_and_end_only_their_own_sessions(db: TestDb) {
    let store = db.open().await;
    let alice = store.create_user("alice", "h").await.unwrap();
    let bob = store.create_user("bob", "h").await.unwrap();
    let far = now_ms() + 3_600_000;
    store.create_session(&alice.id, "laptop", far).await.unwrap();
    store.create_session(&alice.id, "phone", far).await.unwrap();
    store.create_session(&bob.id, "bobs", far).await.unwrap();

    let sessions = store.sessions(&alice.id, Some("phone")).await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|session| session.current).count(), 1);
    let laptop = sessions.iter().find(|session| !session.current).unwrap().id;
    let bobs = store.sessions(&bob.id, None).await.unwrap()[0].id;
    assert!(!store.end_session(&alice.id, bobs).await.unwrap(), "not hers");
    assert!(store.session_user("bobs").await.unwrap().is_some());
    assert!(store.end_session(&alice.id, laptop).await.unwrap());
    assert!(store.session_user("laptop").await.unwrap().is_none());
    assert!(store.session_user("phone").await.unwrap().is_some());
}

async fn a_disabled_user_loses_their_sessions_and_the_last_active_administrator_stays(db: TestDb) {
    let store = db.open().await;
    let ada = store.create_user("ada", "h").await.unwrap();
    let bob = store.create_user("bob", "h").await.unwrap();
    let far = now_ms() + 3_600_000;
    store.create_session(&bob.id, "bobs-laptop", far).await.unwrap();

    let disabled = store.set_disabled(&bob.id, true).await.unwrap().unwrap();
    assert!(!disabled.is_active());
    assert!(store.session_user("bobs-laptop").await.unwrap().is_none(), "disabling signs out");
    // Disabling again keeps the first time.
    let again = store.set_disabled(&bob.id, true).await.unwrap().unwrap();
    assert_eq!(again.disabled_at_ms, disabled.disabled_at_ms);
    assert!(store.set_disabled(&bob.id, false).await.unwrap().unwrap().is_active());

    // The only active administrator can be neither disabled nor demoted; a disabled
    // administrator does not count as another one.
    assert!(store.set_disabled(&ada.id, true).await.unwrap().unwrap().is_active());
    store.set_admin(&bob.id, true).await.unwrap();
    store.set_disabled(&bob.id, true).await.unwrap();
    assert!(store.set_disabled(&ada.id, true).await.unwrap().unwrap().is_active());
    assert!(store.set_admin(&ada.id, false).await.unwrap().unwrap().is_admin);
    assert_eq!(store.set_disabled("nobody", true).await.unwrap(), None);
}

async fn deleting_a_user_deletes_everything_of_theirs_and_nothing_else(db: TestDb) {
    let store = db.open().await;
    let ada = store.create_user("ada", "h").await.unwrap();
    let bob = store.create_user("bob", "h").await.unwrap();
    let mut kept = Vec::new();
    for user in [&ada, &bob] {
        let conversation = store.create_conversation(&user.id, "notes").await.unwrap();
        let message = store.add_message(&crate::new_message(&conversation.id, Role::User, "hello")).await.unwrap();
        store.add_attachment(&conversation.id, Some(&message.id), "a.txt", "text/plain", b"data").await.unwrap();
        store.add_trace(&message.id, &conversation.id, "{}").await.unwrap();
        store.create_api_token(&user.id, "laptop", &format!("token-{}", user.username)).await.unwrap();
        store.create_session(&user.id, &format!("session-{}", user.username), now_ms() + 60_000).await.unwrap();
        kept.push((conversation, message));
    }

    assert_eq!(store.delete_user(&bob.id).await.unwrap(), Some(UserDeletion::Deleted(bob.clone())));
    assert_eq!(store.user(&bob.id).await.unwrap(), None);
    let (bobs, bobs_message) = &kept[1];
    assert_eq!(store.conversation(&bobs.id).await.unwrap(), None);
    assert_eq!(store.message(&bobs_message.id).await.unwrap(), None);
    assert!(store.list_attachments(&bobs.id).await.unwrap().is_empty());
    assert_eq!(store.trace(&bobs_message.id).await.unwrap(), None);
    assert_eq!(store.api_token_user("token-bob").await.unwrap(), None);
    assert_eq!(store.session_user("session-bob").await.unwrap(), None);

    let (adas, adas_message) = &kept[0];
    assert!(store.conversation(&adas.id).await.unwrap().is_some());
    assert_eq!(store.list_attachments(&adas.id).await.unwrap().len(), 1);
    assert!(store.trace(&adas_message.id).await.unwrap().is_some());
    assert!(store.api_token_user("token-ada").await.unwrap().is_some());

    // The last active administrator stays.
    assert!(
        matches!(store.delete_user(&ada.id).await.unwrap(), Some(UserDeletion::LastAdmin(user)) if user.id == ada.id)
    );
    assert!(store.user(&ada.id).await.unwrap().is_some());
    assert_eq!(store.delete_user(&bob.id).await.unwrap(), None);
}

async fn account_changes_wait_for_a_server_in_order_and_are_taken_once(db: TestDb) {
    let store = db.open().await;
    let ada = store.create_user("ada", "h").await.unwrap();
    let bob = store.create_user("bob", "h").await.unwrap();
    store.set_disabled(&bob.id, true).await.unwrap();
    store.set_disabled(&bob.id, true).await.unwrap(); // no change, no event
    store.set_disabled(&bob.id, false).await.unwrap();
    store.delete_user(&bob.id).await.unwrap();
    store.delete_user(&ada.id).await.unwrap(); // the last administrator: refused, no event

    // A second store on the same file sees the same queue: whoever takes an event, takes it.
    let other = db.open().await;
    let first = other.take_account_events(2).await.unwrap();
    let rest = store.take_account_events(100).await.unwrap();
    let seen: Vec<(AccountChange, &str)> =
        first.iter().chain(&rest).map(|event| (event.change, event.username.as_str())).collect();
    assert_eq!(
        seen,
        [
            (AccountChange::UserCreated, "ada"),
            (AccountChange::UserCreated, "bob"),
            (AccountChange::UserDisabled, "bob"),
            (AccountChange::UserEnabled, "bob"),
            (AccountChange::UserDeleted, "bob"),
        ]
    );
    assert!(rest.iter().all(|event| event.user_id == bob.id));
    assert!(store.take_account_events(100).await.unwrap().is_empty());
}

crate::backends!(
    the_first_user_is_admin_and_the_second_is_not,
    concurrent_first_sign_ups_make_exactly_one_admin,
    only_one_of_concurrent_first_users_is_created,
    usernames_are_unique_regardless_of_case,
    sessions_live_until_they_expire_or_are_deleted,
    a_session_that_expires_while_in_use_ends,
    api_tokens_find_their_user_and_record_their_use,
    one_store_serves_as_either_trait,
    a_new_password_ends_every_other_session,
    the_last_administrator_keeps_the_role,
    people_see_and_end_only_their_own_sessions,
    a_disabled_user_loses_their_sessions_and_the_last_active_administrator_stays,
    deleting_a_user_deletes_everything_of_theirs_and_nothing_else,
    account_changes_wait_for_a_server_in_order_and_are_taken_once,
);
