//! The sandbox: WASI grants nothing, every host service checks permissions, KV is private
//! to each plugin, outbound HTTP only reaches allowed hosts, and tools of other plugins
//! are reachable only through declared dependencies.

use std::sync::{Arc, Mutex};

use plugboard_host::{HttpConfig, RuntimeConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{context, load, load_with, runtime, runtime_with, test_config};

async fn probe(plugin: &plugboard_host::Plugin, tool: &str, arguments: Value) -> Value {
    let text = plugin.call_tool(&context(), tool, arguments).await.unwrap_or_else(|e| panic!("{tool}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn without_permissions(manifest: String) -> String {
    manifest
        .lines()
        .filter(|line| !line.starts_with("permissions") && !line.starts_with("allowed_hosts") && *line != "[network]")
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn wasi_grants_no_files_environment_or_sockets() {
    let runtime = runtime();
    let escaper = load(&runtime, "escaper").await;
    // A real listener the plugin could reach if sockets were open.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let report = probe(&escaper, "escape", json!({"address": address})).await;
    for attempt in
        ["read_file", "read_dir", "write_file", "env_home", "tcp_connect", "tcp_listen", "udp_bind", "dns_lookup"]
    {
        let outcome = report[attempt].as_str().unwrap();
        assert!(outcome.starts_with("error: "), "{attempt} should fail but got `{outcome}`");
    }
    assert_eq!(report["env_vars"], "0 variables");
    assert_eq!(report["args"], "0 arguments");
}

/// Collects log output in memory for one test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn plugin_output_and_log_lines_go_to_the_log_tagged_with_the_plugin() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = runtime();
    let escaper = load(&runtime, "escaper").await;
    assert_eq!(escaper.call_tool(&context(), "print", json!({})).await.unwrap(), "printed");
    let probe_plugin = load(&runtime, "host-probe").await;
    probe(&probe_plugin, "log", json!({"message": "a line"})).await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.lines().any(|l| l.contains("plugin=escaper")
            && l.contains("stdout")
            && l.contains("escaper says hello on stdout")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("plugin=escaper")
            && l.contains("stderr")
            && l.contains("escaper says hello on stderr")),
        "{log}"
    );
    assert!(log.lines().any(|l| l.contains("plugin=host-probe") && l.contains("host-probe logs: a line")), "{log}");
}

#[tokio::test]
async fn a_plugins_log_message_is_one_log_line_whatever_it_holds() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = runtime();
    let probe_plugin = load(&runtime, "host-probe").await;
    let forged = "hi\n1999-01-01T00:00:00.000000Z ERROR plugboard: forged\r";
    probe(&probe_plugin, "log", json!({"message": forged})).await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        !log.lines().any(|l| l.starts_with("1999-01-01") || (l.contains("forged") && !l.contains("plugin="))),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("plugin=host-probe")
            && l.contains("hi\\n1999-01-01T00:00:00.000000Z ERROR plugboard: forged\\r")),
        "{log}"
    );
}

#[tokio::test]
async fn every_ungranted_call_fails_naming_its_permission() {
    let runtime = runtime();
    let _calculator = load(&runtime, "calculator").await;
    let plugin = load_with(&runtime, "host-probe", without_permissions).await;
    let calls: [(&str, Value, &str); 15] = [
        ("kv_get", json!({"key": "k"}), "kv"),
        ("kv_set", json!({"key": "k", "value": "v"}), "kv"),
        ("kv_delete", json!({"key": "k"}), "kv"),
        ("kv_list", json!({"prefix": ""}), "kv"),
        ("kv_cas", json!({"key": "k", "new": "v"}), "kv"),
        ("http_get", json!({"url": "http://127.0.0.1:9/"}), "network"),
        ("get_conversation", json!({"id": "c1"}), "channels.read"),
        ("create_conversation", json!({"user_id": "u1", "title": "t"}), "channels.write"),
        ("list_messages", json!({"conversation_id": "c1"}), "messages.read"),
        ("post_message", json!({"conversation_id": "c1", "content": "x"}), "messages.write"),
        ("edit_message", json!({"id": "m1", "content": "x"}), "messages.write"),
        ("delete_message", json!({"id": "m1"}), "messages.write"),
        ("get_user", json!({"id": "u1"}), "users.read"),
        ("read_file", json!({"id": "f1"}), "files.read"),
        ("ai", json!({"prompt": "hi"}), "ai"),
    ];
    for (tool, arguments, permission) in calls {
        let answer = probe(&plugin, tool, arguments).await;
        assert_eq!(answer["error"]["kind"], "PermissionDenied", "{tool}: {answer}");
        assert_eq!(
            answer["error"]["message"],
            format!(
                "plugin `host-probe` needs permission `{permission}` for this; add \"{permission}\" to `permissions` in plugin.toml"
            ),
            "{tool}"
        );
    }
    let answer = probe(&plugin, "write_file", json!({"conversation_id": "c1"})).await;
    assert!(answer["error"]["message"].as_str().unwrap().contains("`files.write`"), "{answer}");
    // Settings and logging need no permission.
    assert_eq!(probe(&plugin, "settings", json!({})).await, json!({"ok": {"greeting": "hello"}}));
}

#[tokio::test]
async fn granted_services_pass_the_permission_check() {
    let runtime = runtime();
    let plugin = load(&runtime, "host-probe").await;
    // This host has no chat server and no model: the call gets past its permission and
    // the service answers "unavailable".
    let answer = probe(&plugin, "get_conversation", json!({"id": "c1"})).await;
    assert_eq!(answer["error"]["kind"], "Unavailable", "{answer}");
    let answer = probe(&plugin, "ai", json!({"prompt": "hi"})).await;
    assert_eq!(answer["error"]["kind"], "Unavailable", "{answer}");
    assert_eq!(probe(&plugin, "kv_set", json!({"key": "k", "value": "v"})).await, json!({"ok": null}));
    assert_eq!(probe(&plugin, "kv_get", json!({"key": "k"})).await, json!({"ok": "v"}));
}

#[tokio::test]
async fn kv_is_private_to_each_plugin() {
    let runtime = runtime();
    let alice = load_with(&runtime, "host-probe", |m| m.replace("id = \"host-probe\"", "id = \"alice\"")).await;
    let bob = load_with(&runtime, "host-probe", |m| m.replace("id = \"host-probe\"", "id = \"bob\"")).await;
    assert_eq!(probe(&alice, "kv_set", json!({"key": "secret", "value": "alice's"})).await, json!({"ok": null}));
    assert_eq!(probe(&bob, "kv_get", json!({"key": "secret"})).await, json!({"ok": null}));
    assert_eq!(probe(&bob, "kv_list", json!({"prefix": ""})).await, json!({"ok": []}));
    assert_eq!(probe(&bob, "kv_delete", json!({"key": "secret"})).await, json!({"ok": false}));
    assert_eq!(
        probe(&bob, "kv_cas", json!({"key": "secret", "expected": "alice's", "new": "bob's"})).await,
        json!({"ok": false})
    );
    assert_eq!(probe(&alice, "kv_get", json!({"key": "secret"})).await, json!({"ok": "alice's"}));
    // Keys that look like another plugin's namespace are still the caller's own.
    assert_eq!(probe(&bob, "kv_set", json!({"key": "alice/secret", "value": "x"})).await, json!({"ok": null}));
    assert_eq!(probe(&alice, "kv_list", json!({"prefix": ""})).await, json!({"ok": ["secret"]}));
}

#[tokio::test]
async fn kv_compare_and_set_expiry_and_limits() {
    let runtime = runtime();
    let plugin = load(&runtime, "host-probe").await;
    assert_eq!(probe(&plugin, "kv_cas", json!({"key": "n", "new": "1"})).await, json!({"ok": true}));
    assert_eq!(
        probe(&plugin, "kv_cas", json!({"key": "n", "new": "2"})).await,
        json!({"ok": false}),
        "absent was expected"
    );
    assert_eq!(probe(&plugin, "kv_cas", json!({"key": "n", "expected": "1", "new": "2"})).await, json!({"ok": true}));
    assert_eq!(probe(&plugin, "kv_get", json!({"key": "n"})).await, json!({"ok": "2"}));
    assert_eq!(probe(&plugin, "kv_set", json!({"key": "gone", "value": "x", "ttl_ms": 0})).await, json!({"ok": null}));
    assert_eq!(probe(&plugin, "kv_get", json!({"key": "gone"})).await, json!({"ok": null}), "expired at once");
    let answer = probe(&plugin, "kv_get", json!({"key": ""})).await;
    assert_eq!(answer["error"]["kind"], "InvalidInput", "{answer}");
    let answer = probe(&plugin, "kv_set", json!({"key": "big", "value": "x".repeat((1 << 20) + 1)})).await;
    assert_eq!(answer["error"]["kind"], "LimitExceeded", "{answer}");
}

/// A one-route HTTP server for outbound requests: answers every request with `body`.
async fn http_server(body: Vec<u8>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    address
}

#[tokio::test]
async fn outbound_http_reaches_only_allowed_hosts() {
    let config = RuntimeConfig {
        http: HttpConfig { max_response_bytes: 1024, ..RuntimeConfig::default().http },
        ..test_config()
    };
    let runtime = runtime_with(config);
    let plugin = load(&runtime, "host-probe").await;
    let small = http_server(b"hello from the server".to_vec()).await;
    let answer = probe(&plugin, "http_get", json!({"url": format!("http://{small}/path")})).await;
    assert_eq!(answer, json!({"ok": {"status": 200, "body": "hello from the server"}}));

    let answer = probe(&plugin, "http_get", json!({"url": format!("http://localhost:{}/", small.port())})).await;
    assert_eq!(answer["error"]["kind"], "PermissionDenied");
    assert_eq!(
        answer["error"]["message"],
        "plugin `host-probe` may not reach `localhost` (http): allowed hosts are [127.0.0.1:*]; add it to `[network] allowed_hosts` in plugin.toml"
    );
    let answer = probe(&plugin, "http_get", json!({"url": "file:///etc/passwd"})).await;
    assert_eq!(answer["error"]["kind"], "PermissionDenied", "{answer}");

    let big = http_server(vec![b'x'; 4096]).await;
    let answer = probe(&plugin, "http_get", json!({"url": format!("http://{big}/")})).await;
    assert_eq!(answer["error"]["kind"], "LimitExceeded", "{answer}");

    // Nothing listens on the discard port: the plugin gets a clear "unavailable".
    let answer = probe(&plugin, "http_get", json!({"url": "http://127.0.0.1:9/"})).await;
    assert_eq!(answer["error"]["kind"], "Unavailable", "{answer}");
}

#[tokio::test]
async fn an_allowed_host_without_a_port_allows_only_the_schemes_default_port() {
    let runtime = runtime();
    let plugin =
        load_with(&runtime, "host-probe", |manifest| manifest.replace(r#"["127.0.0.1:*"]"#, r#"["127.0.0.1"]"#)).await;
    // A server on a port of its own: the entry without a port does not reach it.
    let server = http_server(b"not for you".to_vec()).await;
    let answer = probe(&plugin, "http_get", json!({"url": format!("http://{server}/")})).await;
    assert_eq!(answer["error"]["kind"], "PermissionDenied", "{answer}");
    let port = server.port();
    assert_eq!(
        answer["error"]["message"],
        format!(
            "plugin `host-probe` may not reach `127.0.0.1` on port {port} (http): allowed hosts are [127.0.0.1], and an entry without a port allows only port 80 (http) or 443 (https); add `127.0.0.1:{port}` (or `127.0.0.1:*`) to `[network] allowed_hosts` in plugin.toml"
        )
    );
    // The same port named in the entry is reached.
    let plugin = load_with(&runtime, "host-probe", |manifest| {
        manifest.replace(r#"["127.0.0.1:*"]"#, &format!(r#"["127.0.0.1:{port}"]"#))
    })
    .await;
    let answer = probe(&plugin, "http_get", json!({"url": format!("http://{server}/")})).await;
    assert_eq!(answer, json!({"ok": {"status": 200, "body": "not for you"}}));
}

#[tokio::test]
async fn tools_of_other_plugins_are_reachable_only_through_dependencies() {
    let runtime = runtime();
    let plugin = load(&runtime, "host-probe").await;
    // Declared (calculator ^0.1) but not loaded yet.
    let answer = probe(
        &plugin,
        "call_tool",
        json!({"plugin": "calculator", "tool": "calculate", "arguments": {"expression": "1+2"}}),
    )
    .await;
    assert_eq!(answer["error"]["kind"], "NotFound", "{answer}");
    let _calculator = load(&runtime, "calculator").await;
    let _stats = load(&runtime, "word-stats").await;
    let answer = probe(
        &plugin,
        "call_tool",
        json!({"plugin": "calculator", "tool": "calculate", "arguments": {"expression": "1+2"}}),
    )
    .await;
    assert_eq!(answer, json!({"ok": "3"}));
    let answer = probe(
        &plugin,
        "call_tool",
        json!({"plugin": "calculator", "tool": "calculate", "arguments": {"expression": "1/0"}}),
    )
    .await;
    assert!(answer["error"]["message"].as_str().unwrap().contains("division by zero"), "{answer}");
    // Not a dependency.
    let answer =
        probe(&plugin, "call_tool", json!({"plugin": "word-stats", "tool": "word_counts", "arguments": {}})).await;
    assert_eq!(answer["error"]["kind"], "PermissionDenied");
    assert_eq!(
        answer["error"]["message"],
        "plugin `host-probe` may only call plugins it depends on; add `word-stats = \"<version range>\"` to `[dependencies]` in plugin.toml"
    );
    // A dependency whose loaded version is outside the range.
    let strict = load_with(&runtime, "host-probe", |m| {
        m.replace("id = \"host-probe\"", "id = \"strict\"").replace("^0.1", "^0.2")
    })
    .await;
    let answer = probe(
        &strict,
        "call_tool",
        json!({"plugin": "calculator", "tool": "calculate", "arguments": {"expression": "1"}}),
    )
    .await;
    assert_eq!(
        answer["error"]["message"],
        "dependency `calculator` is at version 0.1.0, which does not satisfy `^0.2`"
    );
}

/// An instance whose memory grew past three quarters of the plugin's ceiling is not kept
/// warm: a linear memory never shrinks, so the next call gets a fresh instance (one that
/// stays small keeps serving).
#[tokio::test]
async fn an_instance_near_its_memory_ceiling_is_replaced_after_its_call() {
    let runtime = runtime();
    let plugin = load_with(&runtime, "host-probe", |m| format!("{m}\n[limits]\nmemory_mb = 16\n")).await;
    let first = probe(&plugin, "calls", json!({})).await["ok"].as_u64().unwrap();
    assert_eq!(probe(&plugin, "calls", json!({})).await["ok"], first + 1, "a warm instance serves again");
    assert_eq!(probe(&plugin, "grow", json!({"mib": 4})).await["ok"], 4);
    assert_eq!(probe(&plugin, "calls", json!({})).await["ok"], first + 3, "4 MiB of 16 keeps it warm");
    assert_eq!(probe(&plugin, "grow", json!({"mib": 9})).await["ok"], 9);
    assert_eq!(probe(&plugin, "calls", json!({})).await["ok"], 1, "past 12 MiB of 16 it was retired");
    assert_eq!(probe(&plugin, "calls", json!({})).await["ok"], 2);
}
