//! Test fixture: one tool per host service. Each call answers `{"ok": …}` or
//! `{"error": {"kind": …, "message": …}}`, so tests see exactly what the host returned.

use plugboard_sdk::{
    CallContext, HostError, HttpRequest, Plugin, Settings, ai, chat, export_plugin, http, kv, plugins,
};
use serde_json::{Value, json};

struct HostProbe;

/// Calls served by this instance.
static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// Memory `grow` keeps.
    static KEPT: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn report<T>(result: Result<T, HostError>, show: impl FnOnce(T) -> Value) -> String {
    match result {
        Ok(value) => json!({"ok": show(value)}),
        Err(error) => {
            // wit-bindgen's Debug spells enum values as `ErrorKind::NotFound`.
            let kind = format!("{:?}", error.kind);
            let kind = kind.rsplit("::").next().unwrap_or_default().to_owned();
            json!({"error": {"kind": kind, "message": error.message}})
        }
    }
    .to_string()
}

fn text<'a>(arguments: &'a Value, name: &str) -> &'a str {
    arguments.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn bytes(arguments: &Value, name: &str) -> Option<Vec<u8>> {
    arguments.get(name).and_then(Value::as_str).map(|s| s.as_bytes().to_vec())
}

fn lossy(bytes: Vec<u8>) -> Value {
    Value::String(String::from_utf8_lossy(&bytes).into_owned())
}

impl Plugin for HostProbe {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(HostProbe)
    }

    fn call_tool(&mut self, _context: &CallContext, name: &str, a: Value) -> Result<String, String> {
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(match name {
            "noop" => json!({"ok": null}).to_string(),
            // How many calls this instance has served, this one included: 1 on a fresh one.
            "calls" => json!({"ok": CALLS.load(std::sync::atomic::Ordering::Relaxed)}).to_string(),
            // Grows the instance's memory by `mib` MiB and keeps it.
            "grow" => {
                let mib = a.get("mib").and_then(Value::as_u64).unwrap_or(1);
                let block = vec![1u8; usize::try_from(mib).unwrap_or(1) << 20];
                KEPT.with(|kept| kept.borrow_mut().push(block));
                json!({"ok": mib}).to_string()
            }
            "kv_get_many" => {
                let count = a.get("count").and_then(Value::as_u64).unwrap_or(0);
                for _ in 0..count {
                    if let Err(error) = kv::get("bench") {
                        return Ok(report::<()>(Err(error), |()| Value::Null));
                    }
                }
                json!({"ok": count}).to_string()
            }
            "settings" => json!({"ok": Value::Object(Settings::current().as_map().clone())}).to_string(),
            "log" => {
                plugboard_sdk::info!("host-probe logs: {}", text(&a, "message"));
                json!({"ok": null}).to_string()
            }
            "kv_get" => report(kv::get(text(&a, "key")), |v| v.map(lossy).unwrap_or(Value::Null)),
            "kv_set" => {
                let ttl = a.get("ttl_ms").and_then(Value::as_u64);
                let value = bytes(&a, "value").unwrap_or_default();
                let result = match ttl {
                    Some(ms) => kv::set_with_ttl(text(&a, "key"), &value, std::time::Duration::from_millis(ms)),
                    None => kv::set(text(&a, "key"), &value),
                };
                report(result, |()| Value::Null)
            }
            "kv_delete" => report(kv::delete(text(&a, "key")), Value::Bool),
            "kv_list" => report(kv::list_keys(text(&a, "prefix"), 1000), |keys| json!(keys)),
            "kv_cas" => report(
                kv::compare_and_set(text(&a, "key"), bytes(&a, "expected").as_deref(), bytes(&a, "new").as_deref()),
                Value::Bool,
            ),
            "http_get" => report(
                http::get(text(&a, "url")),
                |response| json!({"status": response.status, "body": String::from_utf8_lossy(&response.body)}),
            ),
            "http_post" => report(
                http::fetch(&HttpRequest {
                    method: "POST".into(),
                    uri: text(&a, "url").into(),
                    headers: vec![("content-type".into(), "text/plain".into())],
                    body: text(&a, "body").as_bytes().to_vec(),
                }),
                |response| json!({"status": response.status, "body": String::from_utf8_lossy(&response.body)}),
            ),
            "get_conversation" => {
                report(chat::get_conversation(text(&a, "id")), |c| json!({"id": c.id, "title": c.title}))
            }
            "create_conversation" => {
                report(chat::create_conversation(text(&a, "user_id"), text(&a, "title")), |c| json!({"id": c.id}))
            }
            "list_messages" => report(chat::list_messages(text(&a, "conversation_id"), 100), |m| json!(m.len())),
            "post_message" => {
                report(chat::post_message(text(&a, "conversation_id"), text(&a, "content")), |m| json!(m.id))
            }
            "edit_message" => report(chat::edit_message(text(&a, "id"), text(&a, "content")), |m| json!(m.id)),
            "delete_message" => report(chat::delete_message(text(&a, "id")), |()| Value::Null),
            "get_user" => report(chat::get_user(text(&a, "id")), |u| json!(u.display_name)),
            "read_file" => report(chat::read_file(text(&a, "id")), |f| json!(f.name)),
            "write_file" => report(
                chat::write_file(text(&a, "conversation_id"), "probe.txt", "text/plain", b"probe"),
                Value::String,
            ),
            "ai" => report(ai::ask(text(&a, "prompt")), Value::String),
            "call_tool" => report(
                plugins::call_tool(text(&a, "plugin"), text(&a, "tool"), a.get("arguments").unwrap_or(&json!({}))),
                Value::String,
            ),
            other => return Err(format!("unknown tool `{other}`")),
        })
    }
}

export_plugin!(HostProbe, hooks: [Tools]);
