//! Copying a SQLite installation into PostgreSQL (`copy_database`): every store read gives
//! the same answers after the copy, later writes get new numbers, a target with rows is
//! refused (or, when asked, only what is missing is added), a text PostgreSQL cannot hold
//! is named before anything is written, and every table of both schemas is either copied
//! or left out on purpose.

use std::collections::BTreeSet;
use std::time::Duration;

use plugboard_store::{
    AnyStore, COPIED_TABLES, ChatStore, CopyOptions, CopyProgress, FaultEntry, MessageStatus, NOT_COPIED_TABLES,
    NewMessage, PgStore, PluginRecord, PluginStore, Role, RunOutcome, RunTrigger, SqliteStore, Store, StoreError,
    StoredPackage, TaskRun, copy_database,
};
use serde_json::json;
use sqlx::Connection;

use crate::{TestDb, new_message};

/// The SQLite store and the PostgreSQL store under one test's databases.
async fn stores(sqlite: &TestDb, postgres: &TestDb) -> (SqliteStore, PgStore) {
    let AnyStore::Sqlite(source) = sqlite.open().await else { panic!("a SQLite database") };
    let AnyStore::Postgres(target) = postgres.open().await else { panic!("a PostgreSQL database") };
    (source, target)
}

/// What one installation holds, made through the store's own methods. Returns the ids the
/// reads need.
struct Populated {
    users: Vec<String>,
    sessions: Vec<(String, String)>,
    tokens: Vec<String>,
    conversations: Vec<String>,
    messages: Vec<String>,
    attachments: Vec<String>,
}

async fn populate(store: &dyn Store) -> Populated {
    let far = crate::now_ms() + 86_400_000;
    let alice = store.create_user("Alice", "hash-of-alice").await.unwrap();
    let bob = store.create_user("bob", "hash-of-bob").await.unwrap();
    let carol = store.create_user("carol", "hash-of-carol").await.unwrap();
    store.set_disabled(&carol.id, true).await.unwrap();
    let mut sessions = Vec::new();
    for (user, hash) in [(&alice, "session-a1"), (&alice, "session-a2"), (&bob, "session-b1")] {
        store.create_session(&user.id, hash, far).await.unwrap();
        sessions.push((user.id.clone(), hash.to_owned()));
    }
    // A session ended leaves a gap in the numbers.
    store.create_session(&bob.id, "session-b2", far).await.unwrap();
    store.delete_session("session-b2").await.unwrap();
    store.create_session(&bob.id, "session-b3", far).await.unwrap();
    sessions.push((bob.id.clone(), "session-b3".to_owned()));
    store.create_api_token(&alice.id, "laptop", "token-hash-1").await.unwrap();
    store.create_api_token(&bob.id, "ci", "token-hash-2").await.unwrap();
    // Used once: its last use is kept.
    store.api_token_user("token-hash-1").await.unwrap().unwrap();

    let mut conversations = Vec::new();
    let mut messages = Vec::new();
    let mut attachments = Vec::new();
    for (user, title) in [(&alice, "Ünïcode plans"), (&alice, "Second"), (&bob, "Bob's")] {
        let conversation = store.create_conversation(&user.id, title).await.unwrap();
        for index in 0..5 {
            let role = if index % 2 == 0 { Role::User } else { Role::Assistant };
            let mut message = new_message(&conversation.id, role, &format!("{title} message {index} ✓"));
            if index == 3 {
                message.data = Some(json!({"tool_calls": [{"id": "call-1", "name": "calculator"}]}));
            }
            let message = store.add_message(&message).await.unwrap();
            messages.push(message.id.clone());
        }
        let streaming = NewMessage {
            status: MessageStatus::Streaming,
            ..new_message(&conversation.id, Role::Assistant, "half a rep")
        };
        let streaming = store.add_message(&streaming).await.unwrap();
        store.finish_message(&streaming.id, "half a reply", None, MessageStatus::Partial).await.unwrap();
        messages.push(streaming.id.clone());
        store.edit_message(&messages[messages.len() - 6], "edited").await.unwrap();
        store.delete_message(&messages[messages.len() - 5]).await.unwrap();
        let last = messages.last().unwrap().clone();
        store
            .add_trace(&last, &conversation.id, &json!({"steps": [{"plugin": "pii-redactor"}]}).to_string())
            .await
            .unwrap();
        let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let attached =
            store.add_attachment(&conversation.id, Some(&last), "data.bin", "application/octet-stream", &bytes);
        attachments.push(attached.await.unwrap().id);
        let loose = store.add_attachment(&conversation.id, None, "notes.txt", "text/plain", b"plain notes").await;
        attachments.push(loose.unwrap().id);
        conversations.push(conversation.id);
    }
    store.set_conversation_plugins(&conversations[1], Some(&json!(["calculator"]))).await.unwrap();

    for (plugin, enabled, settings) in [
        ("calculator", true, None),
        // A secret setting as the registry stores it: sealed; copied as it is.
        ("github-webhook", true, Some(json!({"secret": {"sealed": "v1:key-id:bm9uY2U=:Y2lwaGVydGV4dA=="}}))),
        ("word-stats", false, Some(json!({"top": 5}))),
    ] {
        let record = PluginRecord {
            plugin: plugin.to_owned(),
            enabled,
            disabled_reason: (!enabled).then(|| "circuit breaker opened".to_owned()),
            settings,
            fail_mode: enabled.then(|| "closed".to_owned()),
            updated_at_ms: 1_700_000_000_000,
        };
        store.save_plugin_record(&record).await.unwrap();
    }
    for (index, plugin) in ["calculator", "word-stats", "calculator"].into_iter().enumerate() {
        let fault = FaultEntry {
            plugin: plugin.to_owned(),
            version: "0.1.0".to_owned(),
            at_ms: 1_000 + i64::try_from(index).unwrap(),
            error: format!("trap {index}"),
        };
        store.record_fault(&fault).await.unwrap();
    }
    store.kv_set("word-stats", "count:alice", b"12", None).await.unwrap();
    store.kv_set("word-stats", "count:bob", &[0, 159, 146, 150], Some(Duration::from_secs(3_600))).await.unwrap();
    // Already expired: copied as stored, absent to readers on both sides.
    store.kv_set("word-stats", "gone", b"x", Some(Duration::ZERO)).await.unwrap();
    store.kv_set("calculator", "ünïcode\0key", b"v", None).await.unwrap();
    store.prepare_task("daily-digest", "digest", "cron 0 8 * * * (UTC)", 5_000).await.unwrap();
    store.prepare_task("daily-digest", "prune", "every 1h", 6_000).await.unwrap();
    store.claim_due_run("daily-digest", "prune", 6_000, 9_600_000, 60_000).await.unwrap();
    for (outcome, started) in [(RunOutcome::Ok, 6_000), (RunOutcome::Error, 7_000)] {
        let run = TaskRun {
            plugin: "daily-digest".to_owned(),
            task: "prune".to_owned(),
            trigger: RunTrigger::Schedule,
            scheduled_at_ms: started,
            started_at_ms: started,
            duration_ms: 4,
            outcome,
            error: (outcome == RunOutcome::Error).then(|| "boom".to_owned()),
        };
        store.record_task_run(&run, None).await.unwrap();
    }
    let package = StoredPackage {
        plugin: "hello".to_owned(),
        version: "1.2.0".to_owned(),
        sha256: "ab".repeat(32),
        signer_fingerprint: Some("SHA256:team".to_owned()),
        signer: Some("Team".to_owned()),
        trusted: true,
        removed: false,
        updated_at_ms: 42,
    };
    store.save_package(&package, &[0x1f, 0x8b, 0, 1, 2, 3]).await.unwrap();
    store.save_trusted_key("SHA256:team", "plugboard-ed25519 AAAA Team").await.unwrap();
    store.save_trusted_key("SHA256:old", "plugboard-ed25519 BBBB Old").await.unwrap();
    store.remove_trusted_key("SHA256:old").await.unwrap();

    Populated {
        users: vec![alice.id, bob.id, carol.id],
        sessions,
        tokens: vec!["token-hash-1".to_owned(), "token-hash-2".to_owned()],
        conversations,
        messages,
        attachments,
    }
}

/// Every answer the store's read methods give about the populated data, one line each.
async fn read_everything(store: &dyn Store, ids: &Populated) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = |what: &str, value: String| lines.push(format!("{what}: {value}"));
    line("users", format!("{:?}", store.users().await.unwrap()));
    line("usernames", format!("{:?}", store.usernames().await.unwrap()));
    line("count_users", format!("{:?}", store.count_users().await.unwrap()));
    line("user_by_name", format!("{:?}", store.user_by_name("ALICE").await.unwrap()));
    for id in &ids.users {
        line("user", format!("{:?}", store.user(id).await.unwrap()));
        line("list_api_tokens", format!("{:?}", store.list_api_tokens(id).await.unwrap()));
        let page = store.list_conversations(id, None, None, 100).await.unwrap();
        line("list_conversations", format!("{page:?}"));
        let page = store.list_conversations(id, Some("ÜNÏ"), None, 1).await.unwrap();
        line("search_conversations", format!("{page:?}"));
    }
    for (user, hash) in &ids.sessions {
        line("session_user", format!("{:?}", store.session_user(hash).await.unwrap()));
        line("sessions", format!("{:?}", store.sessions(user, Some(hash)).await.unwrap()));
    }
    for id in &ids.conversations {
        line("conversation", format!("{:?}", store.conversation(id).await.unwrap()));
        line("list_messages", format!("{:?}", store.list_messages(id).await.unwrap()));
        line("list_attachments", format!("{:?}", store.list_attachments(id).await.unwrap()));
        line("conversation_traces", format!("{:?}", store.conversation_traces(id).await.unwrap()));
    }
    for id in &ids.messages {
        line("message", format!("{:?}", store.message(id).await.unwrap()));
        line("trace", format!("{:?}", store.trace(id).await.unwrap()));
    }
    for id in &ids.attachments {
        line("attachment", format!("{:?}", store.attachment(id).await.unwrap()));
    }
    line("plugin_records", format!("{:?}", store.plugin_records().await.unwrap()));
    for plugin in ["calculator", "word-stats"] {
        line("faults", format!("{:?}", store.faults(plugin, 100).await.unwrap()));
        line("kv_list", format!("{:?}", store.kv_list(plugin, "", 100).await.unwrap()));
    }
    for (plugin, key) in [
        ("word-stats", "count:alice"),
        ("word-stats", "count:bob"),
        ("word-stats", "gone"),
        ("calculator", "ünïcode\0key"),
    ] {
        line("kv_get", format!("{:?}", store.kv_get(plugin, key).await.unwrap()));
    }
    line("task_states", format!("{:?}", store.task_states("daily-digest").await.unwrap()));
    line("task_runs", format!("{:?}", store.task_runs("daily-digest", "prune", 100).await.unwrap()));
    line("packages", format!("{:?}", store.packages().await.unwrap()));
    line("package_bytes", format!("{:?}", store.package_bytes("hello").await.unwrap()));
    line("trusted_keys", format!("{:?}", store.trusted_keys().await.unwrap()));
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copied_installation_answers_the_same_from_postgresql() {
    let (sqlite, postgres) = (TestDb::sqlite(), TestDb::postgres().await);
    let (source, target) = stores(&sqlite, &postgres).await;
    let mut ids = populate(&source).await;
    // A reply still being streamed, touched just now: its touch time moves with it.
    let streaming = NewMessage {
        status: MessageStatus::Streaming,
        ..new_message(&ids.conversations[0], Role::Assistant, "still strea")
    };
    ids.messages.push(source.add_message(&streaming).await.unwrap().id);
    let before = read_everything(&source, &ids).await;

    // Small batches: every table is read in several, by rowid or by key.
    let options = CopyOptions { batch_rows: 2, ..CopyOptions::default() };
    let mut events = Vec::new();
    let report = copy_database(&source, &target, &options, &mut |event| events.push(event)).await.unwrap();

    let tables: Vec<&str> = report.tables.iter().map(|entry| entry.table).collect();
    assert_eq!(tables, COPIED_TABLES.iter().map(|table| table.name).collect::<Vec<_>>());
    for entry in &report.tables {
        assert_eq!((entry.copied, entry.already_there, entry.target_rows), (entry.source_rows, 0, entry.source_rows));
    }
    let rows = |name: &str| report.tables.iter().find(|entry| entry.table == name).unwrap().source_rows;
    assert_eq!((rows("users"), rows("sessions"), rows("messages"), rows("attachments")), (3, 4, 19, 6));
    assert_eq!((rows("plugin_kv"), rows("task_runs"), rows("account_events"), rows("trusted_keys")), (4, 2, 4, 2));
    assert!(events.contains(&CopyProgress::Started { table: "messages", rows: 19 }), "{events:?}");
    assert!(events.contains(&CopyProgress::Copied { table: "messages", done: 4 }), "{events:?}");
    assert!(events.contains(&CopyProgress::Finished { table: "messages" }), "{events:?}");

    let reopened = postgres.open().await;
    let after = read_everything(&*reopened, &ids).await;
    assert_eq!(before.len(), after.len());
    for (sqlite_line, postgres_line) in before.iter().zip(&after) {
        assert_eq!(sqlite_line, postgres_line);
    }
    // The API tokens find their users (a use, which the reads above leave out: it is a write).
    for hash in &ids.tokens {
        let user = reopened.api_token_user(hash).await.unwrap().map(|user| user.id);
        assert_eq!(user, source.api_token_user(hash).await.unwrap().map(|user| user.id));
        assert!(user.is_some());
    }
    // Account events waiting for a server are there, in order, taken once.
    assert_eq!(
        format!("{:?}", source.take_account_events(100).await.unwrap()),
        format!("{:?}", reopened.take_account_events(100).await.unwrap())
    );

    // The streaming reply is live for an hour's staleness limit on both sides.
    let hour = Duration::from_secs(3_600);
    assert_eq!(source.mark_stale_streaming_messages(hour).await.unwrap().len(), 0);
    assert_eq!(reopened.mark_stale_streaming_messages(hour).await.unwrap().len(), 0, "its touch time was copied");
    assert_eq!(reopened.mark_stale_streaming_messages(Duration::ZERO).await.unwrap().len(), 1);

    // What is added after the copy gets numbers past the copied ones.
    let alice = &ids.users[0];
    reopened.create_session(alice, "session-new", crate::now_ms() + 60_000).await.unwrap();
    let numbers: BTreeSet<i64> =
        reopened.sessions(alice, None).await.unwrap().iter().map(|session| session.id).collect();
    assert_eq!(numbers.len(), 3, "{numbers:?}");
    let conversation = &ids.conversations[0];
    let added = reopened.add_message(&new_message(conversation, Role::User, "after the move")).await.unwrap();
    assert_eq!(reopened.list_messages(conversation).await.unwrap().last().unwrap().id, added.id);
    let fault = FaultEntry { plugin: "calculator".into(), version: "0.2.0".into(), at_ms: 1_002, error: "new".into() };
    reopened.record_fault(&fault).await.unwrap();
    assert_eq!(reopened.faults("calculator", 1).await.unwrap(), vec![fault]);
    let run = TaskRun {
        plugin: "daily-digest".into(),
        task: "prune".into(),
        trigger: RunTrigger::Manual,
        scheduled_at_ms: 7_000,
        started_at_ms: 7_000,
        duration_ms: 1,
        outcome: RunOutcome::Ok,
        error: None,
    };
    reopened.record_task_run(&run, None).await.unwrap();
    assert_eq!(reopened.task_runs("daily-digest", "prune", 1).await.unwrap(), vec![run]);
    reopened.create_user("dave", "hash").await.unwrap();
    let events = reopened.take_account_events(100).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_with_rows_is_refused_naming_the_table_and_nothing_is_written() {
    let (sqlite, postgres) = (TestDb::sqlite(), TestDb::postgres().await);
    let (source, target) = stores(&sqlite, &postgres).await;
    populate(&source).await;
    target.create_user("someone", "hash").await.unwrap();

    let error = copy_database(&source, &target, &CopyOptions::default(), &mut |_| {}).await.unwrap_err();
    assert!(matches!(error, StoreError::TargetNotEmpty { table: "users", rows: 1 }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("table `users` has 1 rows") && message.contains("new, empty database"), "{message}");
    assert_eq!(target.plugin_records().await.unwrap(), vec![], "the tables before `users` were not copied either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn into_a_non_empty_target_only_the_rows_missing_there_are_added() {
    let (sqlite, postgres) = (TestDb::sqlite(), TestDb::postgres().await);
    let (source, target) = stores(&sqlite, &postgres).await;
    let ids = populate(&source).await;
    copy_database(&source, &target, &CopyOptions::default(), &mut |_| {}).await.unwrap();

    // More happens on SQLite; a second copy adds it and leaves the copied rows alone.
    let user = &ids.users[1];
    let conversation = source.create_conversation(user, "Later").await.unwrap();
    source.add_message(&new_message(&conversation.id, Role::User, "later")).await.unwrap();
    source.kv_set("word-stats", "count:alice", b"13", None).await.unwrap();
    let refused = copy_database(&source, &target, &CopyOptions::default(), &mut |_| {}).await.unwrap_err();
    assert!(matches!(refused, StoreError::TargetNotEmpty { table: "plugin_state", .. }), "{refused:?}");

    let options = CopyOptions { into_non_empty: true, batch_rows: 3 };
    let report = copy_database(&source, &target, &options, &mut |_| {}).await.unwrap();
    let entry = |name: &str| report.tables.iter().find(|entry| entry.table == name).unwrap().clone();
    let (conversations, messages, kv) = (entry("conversations"), entry("messages"), entry("plugin_kv"));
    assert_eq!((conversations.copied, conversations.already_there, conversations.target_rows), (1, 3, 4));
    assert_eq!((messages.copied, messages.already_there, messages.target_rows), (1, 18, 19));
    assert_eq!((kv.copied, kv.already_there), (0, 4));
    let page = target.list_conversations(user, None, None, 10).await.unwrap();
    assert_eq!(page.conversations[0].title, "Later");
    // A row that was there already is kept as it was there, not compared.
    assert_eq!(target.kv_get("word-stats", "count:alice").await.unwrap(), Some(b"12".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nul_character_postgresql_cannot_hold_is_named_before_anything_is_copied() {
    let (sqlite, postgres) = (TestDb::sqlite(), TestDb::postgres().await);
    let (source, target) = stores(&sqlite, &postgres).await;
    let ids = populate(&source).await;
    source.close().await;
    let broken = &ids.messages[2];
    sqlite.tamper(&format!("UPDATE messages SET content = 'a' || char(0) || 'b' WHERE id = '{broken}'")).await;
    let AnyStore::Sqlite(source) = sqlite.open().await else { unreachable!() };

    let error = copy_database(&source, &target, &CopyOptions::default(), &mut |_| {}).await.unwrap_err();
    let StoreError::CopyValue { table, row, column, .. } = &error else { panic!("{error:?}") };
    assert_eq!((*table, *column), ("messages", "content"));
    let message = error.to_string();
    assert!(message.contains("NUL character") && message.contains("change or delete that row"), "{message}");
    let seq: i64 = {
        let DatabaseUrl(url) = sqlite_url(&sqlite);
        let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT seq FROM messages WHERE id = ?1")
            .bind(broken)
            .fetch_one(&mut connection)
            .await
            .unwrap()
    };
    assert_eq!(row, &format!("seq = {seq}"));
    assert_eq!(target.plugin_records().await.unwrap(), vec![], "nothing was copied");
}

struct DatabaseUrl(String);

fn sqlite_url(db: &TestDb) -> DatabaseUrl {
    match &db.location {
        plugboard_store::DatabaseLocation::Sqlite(path) => DatabaseUrl(format!("sqlite://{}", path.display())),
        plugboard_store::DatabaseLocation::Postgres(_) => panic!("a SQLite database"),
    }
}

/// A migration that adds a table or a column adds it to the copy (or, for a table of
/// transient state, to `NOT_COPIED_TABLES`): the copy would otherwise leave it behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_table_and_column_of_both_schemas_is_copied_or_left_out_on_purpose() {
    let (sqlite, postgres) = (TestDb::sqlite(), TestDb::postgres().await);
    let (source, target) = stores(&sqlite, &postgres).await;
    source.close().await;
    target.close().await;
    let known: BTreeSet<&str> =
        COPIED_TABLES.iter().map(|table| table.name).chain(NOT_COPIED_TABLES.iter().copied()).collect();

    let DatabaseUrl(url) = sqlite_url(&sqlite);
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '_sqlx_migrations'",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(tables.iter().map(String::as_str).collect::<BTreeSet<_>>(), known, "SQLite");

    let plugboard_store::DatabaseLocation::Postgres(url) = &postgres.location else { unreachable!() };
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name != '_sqlx_migrations'",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(tables.iter().map(String::as_str).collect::<BTreeSet<_>>(), known, "PostgreSQL");
    for table in COPIED_TABLES {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(table.name)
        .fetch_all(&mut connection)
        .await
        .unwrap();
        let columns: BTreeSet<&str> = columns.iter().map(String::as_str).collect();
        assert_eq!(columns, table.postgres_columns().collect::<BTreeSet<_>>(), "the columns of `{}`", table.name);
    }
}

/// Files are read a few at a time (a batch ends at 8 MiB), and each arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_files_are_copied_a_few_at_a_time_and_whole() {
    let (sqlite, postgres) = (TestDb::sqlite(), TestDb::postgres().await);
    let (source, target) = stores(&sqlite, &postgres).await;
    let (_user, conversation) = crate::user_and_conversation(&AnyStore::Sqlite(source.clone())).await;
    let mut files = Vec::new();
    for fill in 1..=3u8 {
        let bytes = vec![fill; 5 << 20];
        let attachment = source.add_attachment(&conversation.id, None, "big.bin", "application/octet-stream", &bytes);
        files.push((attachment.await.unwrap().id, bytes));
    }
    let mut events = Vec::new();
    copy_database(&source, &target, &CopyOptions::default(), &mut |event| events.push(event)).await.unwrap();
    let done: Vec<u64> = events
        .iter()
        .filter_map(|event| match event {
            CopyProgress::Copied { table: "attachments", done } => Some(*done),
            _ => None,
        })
        .collect();
    assert_eq!(done, [2, 3], "two files make a batch of 10 MiB, past the 8 MiB a batch takes");
    for (id, bytes) in files {
        let (_, copied) = target.attachment(&id).await.unwrap().unwrap();
        assert!(copied == bytes, "attachment {id} arrived whole");
    }
}
