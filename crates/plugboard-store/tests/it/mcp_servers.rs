//! MCP servers added through the API: kept by name, added once, replaced, removed, their
//! sealed secrets replaced all together or not at all, and (PostgreSQL) every change
//! notified.

use std::time::Duration;

use plugboard_store::{McpSecretsChange, Notice, StoredMcpServer, Topic};
use plugboard_types::Clock;
use serde_json::json;

use crate::TestDb;

fn server(name: &str, command: &str) -> StoredMcpServer {
    StoredMcpServer {
        name: name.to_owned(),
        config: json!({"name": name, "transport": "stdio", "command": command, "env": {"TOKEN": "(secret)"}}),
        secrets: json!({"env.TOKEN": {"$encrypted": format!("v1:abcd1234:{name}")}}),
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

async fn a_server_is_added_once_replaced_and_removed(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    assert_eq!(store.mcp_servers().await.unwrap(), vec![]);
    assert_eq!(store.mcp_server("files").await.unwrap(), None);

    let added_at = clock.now_ms();
    assert!(store.add_mcp_server(&server("files", "npx")).await.unwrap());
    assert!(store.add_mcp_server(&server("github", "gh-mcp")).await.unwrap());
    // The name is taken: nothing changes.
    assert!(!store.add_mcp_server(&server("files", "other")).await.unwrap());
    let listed = store.mcp_servers().await.unwrap();
    assert_eq!(listed.iter().map(|server| server.name.as_str()).collect::<Vec<_>>(), ["files", "github"]);
    let files = store.mcp_server("files").await.unwrap().unwrap();
    assert_eq!(files.config["command"], "npx");
    assert_eq!(files.secrets, server("files", "npx").secrets);
    assert_eq!((files.created_at_ms, files.updated_at_ms), (added_at, added_at));

    clock.advance(Duration::from_secs(1));
    let changed = StoredMcpServer { secrets: json!({}), ..server("files", "uvx") };
    assert!(store.replace_mcp_server(&changed).await.unwrap());
    assert!(!store.replace_mcp_server(&server("never-added", "x")).await.unwrap());
    let files = store.mcp_server("files").await.unwrap().unwrap();
    assert_eq!((files.config["command"].as_str(), &files.secrets), (Some("uvx"), &json!({})));
    assert_eq!((files.created_at_ms, files.updated_at_ms), (added_at, added_at + 1_000));
    assert_eq!(store.mcp_server("never-added").await.unwrap(), None);

    assert!(store.remove_mcp_server("files").await.unwrap());
    assert!(!store.remove_mcp_server("files").await.unwrap());
    assert_eq!(store.mcp_server("files").await.unwrap(), None);
    // Another store on the database sees the same.
    let other = db.open().await;
    let listed = other.mcp_servers().await.unwrap();
    assert_eq!(listed.iter().map(|server| server.name.as_str()).collect::<Vec<_>>(), ["github"]);
    // The name is free again.
    assert!(store.add_mcp_server(&server("files", "npx")).await.unwrap());
}

async fn secrets_are_replaced_together_only_while_as_read(db: TestDb) {
    let store = db.open().await;
    store.add_mcp_server(&server("one", "a")).await.unwrap();
    store.add_mcp_server(&server("two", "b")).await.unwrap();
    let resealed = |name: &str| json!({"env.TOKEN": {"$encrypted": format!("v1:new00000:{name}")}});
    let change = |name: &str| McpSecretsChange {
        name: name.to_owned(),
        expected: server(name, "").secrets,
        new: resealed(name),
    };
    // One change expects what is no longer there: neither is made.
    let stale = McpSecretsChange { expected: json!({"env.TOKEN": "older"}), ..change("two") };
    assert!(!store.replace_mcp_secrets(&[change("one"), stale]).await.unwrap());
    assert_eq!(store.mcp_server("one").await.unwrap().unwrap().secrets, server("one", "").secrets);
    // A server that is gone: none either.
    assert!(!store.replace_mcp_secrets(&[change("one"), change("gone")]).await.unwrap());
    assert_eq!(store.mcp_server("one").await.unwrap().unwrap().secrets, server("one", "").secrets);

    assert!(store.replace_mcp_secrets(&[change("one"), change("two")]).await.unwrap());
    for name in ["one", "two"] {
        let stored = store.mcp_server(name).await.unwrap().unwrap();
        assert_eq!(stored.secrets, resealed(name));
        assert_eq!(stored.config["command"], if name == "one" { "a" } else { "b" }, "the configuration stays");
    }
}

async fn a_row_that_is_not_json_is_reported_by_name(db: TestDb) {
    let store = db.open().await;
    store.add_mcp_server(&server("broken", "x")).await.unwrap();
    db.tamper("UPDATE mcp_servers SET config = 'not json' WHERE name = 'broken'").await;
    let error = store.mcp_servers().await.unwrap_err().to_string();
    assert!(error.contains("MCP server `broken`") && error.contains("not JSON"), "{error}");
}

crate::backends!(
    a_server_is_added_once_replaced_and_removed,
    secrets_are_replaced_together_only_while_as_read,
    a_row_that_is_not_json_is_reported_by_name,
);

/// Every committed change of an MCP server reaches the other servers as its topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_tells_listeners_of_mcp_server_changes() {
    let db = TestDb::postgres().await;
    let here = db.open().await;
    let there = db.open().await;
    let mut listener = here.listen().await.unwrap().expect("PostgreSQL notifies");
    let next = async |listener: &mut Box<dyn plugboard_store::Notifications>| {
        tokio::time::timeout(Duration::from_secs(10), listener.next()).await.expect("a notice within 10 s").unwrap()
    };
    there.add_mcp_server(&server("files", "npx")).await.unwrap();
    assert_eq!(next(&mut listener).await, Notice::Changed(Topic::McpServers));
    there.replace_mcp_server(&server("files", "uvx")).await.unwrap();
    assert_eq!(next(&mut listener).await, Notice::Changed(Topic::McpServers));
    there.remove_mcp_server("files").await.unwrap();
    assert_eq!(next(&mut listener).await, Notice::Changed(Topic::McpServers));
}
