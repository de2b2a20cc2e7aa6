//! Several servers on one database, as the HTTP layer sees it. Where the store is shared
//! ([`plugboard_store::PluginStore::is_shared`]), each server publishes its plugin events
//! through the database, stamped with its node name, so `/api/plugins/events` on any server
//! shows the whole cluster's; each keeps its trusted keys folder in step with the keys
//! trusted through the API on any server (kept in the store); and the lifecycle operations
//! the store does not keep (load, unload, reload: a restart undoes them) are announced, and
//! run by every other server too. A person's live feed (`/api/events`) hears of changes
//! made through any server: each server passes on its live events as references (kind and
//! ids; messages are too big for a notification), and the others read the rows and tell
//! their listeners. Nothing here runs on a store of one server.

use std::sync::Arc;

use plugboard_chat::LiveEvent;
use plugboard_manifest::PluginId;
use plugboard_package::PublicKey;
use plugboard_registry::WeakRegistry;
use plugboard_store::{MAX_MESSAGE_BYTES, Notice, Store, Topic};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::{AppState, PackagesConfig};

/// The `kind` of a published plugin event.
const PLUGIN_EVENT: &str = "plugin-event";

/// The `kind` of a relayed live event.
const LIVE_EVENT: &str = "live-event";

/// The `kind` of an announced lifecycle operation.
const PLUGIN_OPERATION: &str = "plugin-operation";

/// A lifecycle operation an operator ran through this server's API, which the others run
/// too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Operation {
    /// Load an installed plugin that is not loaded.
    Load,
    /// Unload it (with its dependents when `cascade`).
    Unload,
    /// Read it from its folder again and swap it in.
    Reload,
}

/// Tells the other servers sharing the database to run `operation` on `plugin` too; a
/// failure to tell them is logged (the operation itself succeeded here).
pub(crate) async fn announce(state: &AppState, operation: Operation, plugin: &PluginId, cascade: bool) {
    if !state.store.is_shared() {
        return;
    }
    let message = json!({
        "kind": PLUGIN_OPERATION,
        "node": state.config.node_name,
        "operation": operation,
        "plugin": plugin,
        "cascade": cascade,
    });
    if let Err(error) = state.store.publish(&message.to_string()).await {
        tracing::warn!(plugin = %plugin, "cannot tell the other servers to {operation:?} the plugin too: {error}");
    }
}

/// A name for this server when the operator gives none: unique enough to tell servers
/// apart in a cluster's event stream.
pub(crate) fn generated_node_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_nanos());
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    format!("node-{:08x}", mixed & 0xffff_ffff)
}

/// A plugin event as the events stream sends it: the event's fields and the node's name.
pub(crate) fn stamped(event: &plugboard_host::RuntimeEvent, node: &str) -> Option<Value> {
    let mut value = serde_json::to_value(event).ok()?;
    value.as_object_mut()?.insert("node".to_owned(), Value::String(node.to_owned()));
    Some(value)
}

/// The plugin event a published message carries, if it is one.
pub(crate) fn published_event(message: &str) -> Option<Value> {
    let mut envelope: Value = serde_json::from_str(message).ok()?;
    if envelope["kind"] != PLUGIN_EVENT {
        return None;
    }
    Some(envelope["event"].take())
}

/// Starts what a server sharing its database runs beside the HTTP API (see the module
/// documentation); does nothing on a store of one server. The tasks end with the registry.
pub(crate) async fn start(state: &AppState) {
    if !state.store.is_shared() {
        return;
    }
    // The tasks hold neither the registry nor the state: they end when the registry's
    // channels close.
    let events = state.registry.subscribe();
    tokio::spawn(publish_events(state.store.clone(), state.config.node_name.clone(), events));
    let notices = state.registry.notices();
    sync_trusted_keys(state.store.as_ref(), &state.packages).await;
    tokio::spawn(follow_trusted_keys(state.store.clone(), state.packages.clone(), notices));
    let notices = state.registry.notices();
    tokio::spawn(follow_operations(state.registry.downgrade(), state.config.node_name.clone(), notices));
    let node = state.config.node_name.clone();
    tokio::spawn(pass_on_live_events(state.store.clone(), node.clone(), state.engine.live_changes()));
    tokio::spawn(relay_live_events(state.engine.downgrade(), state.store.clone(), node, state.registry.notices()));
}

/// The reference to a live event the other servers read back: its person, its type and
/// the ids of what it is about.
fn live_reference(user: &str, event: &LiveEvent) -> Value {
    let ids = match event {
        LiveEvent::ConversationCreated { conversation } | LiveEvent::ConversationChanged { conversation } => {
            json!({"conversation_id": conversation.id})
        }
        LiveEvent::ConversationDeleted { conversation_id } => json!({"conversation_id": conversation_id}),
        LiveEvent::MessagePosted { message } | LiveEvent::MessageEdited { message } => {
            json!({"message_id": message.id})
        }
        LiveEvent::MessageDeleted { message_id, conversation_id } => {
            json!({"message_id": message_id, "conversation_id": conversation_id})
        }
        LiveEvent::ToolApproval { approval } => json!({"approval_id": approval.id}),
    };
    json!({"user": user, "type": event.name(), "ids": ids})
}

/// Publishes this server's live events as references the others read back: the events
/// that have come in meanwhile go together in one notification (as many as fit), so a busy
/// server sends far fewer than one per event.
async fn pass_on_live_events(
    store: Arc<dyn Store>,
    node: String,
    mut changes: broadcast::Receiver<(String, LiveEvent)>,
) {
    let envelope = |events: &[Value]| json!({"kind": LIVE_EVENT, "node": node, "events": events}).to_string();
    let mut waiting: Option<Value> = None;
    loop {
        let first = match waiting.take() {
            Some(reference) => reference,
            None => match changes.recv().await {
                Ok((user, event)) => live_reference(&user, &event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!("{missed} live events were not passed on to the other servers: too many at once");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let mut batch = vec![first];
        let mut size = envelope(&batch).len();
        while let Ok((user, event)) = changes.try_recv() {
            let reference = live_reference(&user, &event);
            let grown = size + reference.to_string().len() + 1;
            if grown > MAX_MESSAGE_BYTES {
                waiting = Some(reference);
                break;
            }
            size = grown;
            batch.push(reference);
        }
        if let Err(error) = store.publish(&envelope(&batch)).await {
            tracing::warn!("cannot pass {} live events on to the other servers: {error}", batch.len());
        }
    }
}

/// Tells this server's listeners of the live events other servers passed on, reading the
/// rows they name (a row gone meanwhile is skipped: its deletion comes next); events of a
/// person nobody listens for here are skipped unread.
async fn relay_live_events(
    engine: plugboard_chat::WeakEngine,
    store: Arc<dyn Store>,
    node: String,
    mut notices: broadcast::Receiver<Notice>,
) {
    loop {
        let message = match notices.recv().await {
            Ok(Notice::Message(message)) => message,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Ok(relayed) = serde_json::from_str::<Value>(&message) else { continue };
        if relayed["kind"] != LIVE_EVENT || relayed["node"] == node.as_str() {
            continue;
        }
        let Some(engine) = engine.upgrade() else { return };
        for reference in relayed["events"].as_array().into_iter().flatten() {
            let Some(user) = reference["user"].as_str() else { continue };
            if !engine.has_live_listeners(user) {
                continue;
            }
            if let Some(event) = read_back(store.as_ref(), reference).await {
                engine.relay_live(user, event);
            }
        }
    }
}

/// The live event a reference names, read from the store; `None` for a row gone since
/// or a reference of an unknown type.
async fn read_back(store: &dyn Store, reference: &Value) -> Option<LiveEvent> {
    let kind = reference["type"].as_str()?;
    let id = |name: &str| reference["ids"][name].as_str().unwrap_or_default().to_owned();
    Some(match kind {
        "conversation_created" => {
            LiveEvent::ConversationCreated { conversation: store.conversation(&id("conversation_id")).await.ok()?? }
        }
        "conversation_changed" => {
            LiveEvent::ConversationChanged { conversation: store.conversation(&id("conversation_id")).await.ok()?? }
        }
        "conversation_deleted" => LiveEvent::ConversationDeleted { conversation_id: id("conversation_id") },
        "message_posted" => LiveEvent::MessagePosted { message: store.message(&id("message_id")).await.ok()?? },
        "message_edited" => LiveEvent::MessageEdited { message: store.message(&id("message_id")).await.ok()?? },
        "message_deleted" => {
            LiveEvent::MessageDeleted { message_id: id("message_id"), conversation_id: id("conversation_id") }
        }
        "tool_approval" => LiveEvent::ToolApproval { approval: store.tool_approval(&id("approval_id")).await.ok()?? },
        _ => return None,
    })
}

/// Runs the lifecycle operations other servers announce.
async fn follow_operations(registry: WeakRegistry, node: String, mut notices: broadcast::Receiver<Notice>) {
    loop {
        let message = match notices.recv().await {
            Ok(Notice::Message(message)) => message,
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!("{missed} notices from other servers were missed: too many at once");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Ok(announced) = serde_json::from_str::<Value>(&message) else { continue };
        if announced["kind"] != PLUGIN_OPERATION || announced["node"] == node.as_str() {
            continue;
        }
        let (Ok(operation), Some(Ok(plugin))) = (
            serde_json::from_value::<Operation>(announced["operation"].clone()),
            announced["plugin"].as_str().map(PluginId::parse),
        ) else {
            continue;
        };
        let Some(registry) = registry.upgrade() else { return };
        let loaded = registry.plugin(&plugin).is_some();
        let result = match operation {
            Operation::Load if !loaded => registry.load(&plugin).await.map(|_| ()),
            Operation::Unload if loaded => {
                registry.unload(&plugin, announced["cascade"].as_bool() == Some(true)).await.map(|_| ())
            }
            Operation::Reload => registry.reload(&plugin).await.map(|_| ()),
            Operation::Load | Operation::Unload => Ok(()),
        };
        match result {
            Ok(()) => {
                tracing::info!(plugin = %plugin, from = %announced["node"], "ran {operation:?} as another server did")
            }
            Err(error) => {
                tracing::warn!(plugin = %plugin, "cannot {operation:?} the plugin as another server did: {error}")
            }
        }
    }
}

/// Publishes each of this server's plugin events for the cluster's event streams.
async fn publish_events(
    store: Arc<dyn Store>,
    node: String,
    mut events: broadcast::Receiver<plugboard_host::RuntimeEvent>,
) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!("{missed} plugin events were not published to the cluster: too many at once");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(mut value) = stamped(&event, &node) else { continue };
        let mut message = json!({"kind": PLUGIN_EVENT, "event": value}).to_string();
        if message.len() > MAX_MESSAGE_BYTES {
            // Only an error's text can be that long: shorten it.
            if let Some(error) = value.get("error").and_then(Value::as_str).map(str::to_owned) {
                let keep = error.len().saturating_sub(message.len() - MAX_MESSAGE_BYTES + 16);
                let cut = (0..=keep).rev().find(|at| error.is_char_boundary(*at)).unwrap_or(0);
                value["error"] = Value::String(format!("{}…", &error[..cut]));
                message = json!({"kind": PLUGIN_EVENT, "event": value}).to_string();
            }
        }
        if let Err(error) = store.publish(&message).await {
            tracing::warn!("cannot publish a plugin event to the cluster: {error}");
        }
    }
}

/// Keeps the trusted keys folder in step with the store whenever it says the keys changed.
async fn follow_trusted_keys(
    store: Arc<dyn Store>,
    packages: Arc<PackagesConfig>,
    mut notices: broadcast::Receiver<Notice>,
) {
    loop {
        match notices.recv().await {
            Ok(Notice::Changed(Topic::TrustedKeys) | Notice::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        }
        sync_trusted_keys(store.as_ref(), &packages).await;
    }
}

/// Writes the keys the store trusts into the trusted keys folder, and removes those it
/// marks removed. Keys the store never recorded (a `.pub` file put there by hand) stay.
pub(crate) async fn sync_trusted_keys(store: &dyn Store, packages: &PackagesConfig) {
    let stored = match store.trusted_keys().await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::warn!("cannot read the trusted keys kept in the database: {error}");
            return;
        }
    };
    let mut folder = match packages.install.trust.reload() {
        Ok(folder) if folder.folder().is_some() => folder,
        Ok(_) => return,
        Err(error) => {
            tracing::warn!("cannot read the trusted keys folder: {error}");
            return;
        }
    };
    for key in stored {
        let present = folder.keys().iter().any(|trusted| trusted.fingerprint() == key.fingerprint);
        let result = if key.removed && present {
            folder.untrust(&key.fingerprint).map(|_| ())
        } else if !key.removed && !present {
            match PublicKey::parse(&key.key_text, std::path::Path::new("a key kept in the database")) {
                Ok(parsed) => folder.trust(parsed).map(|_| ()),
                Err(error) => Err(error),
            }
        } else {
            Ok(())
        };
        match result {
            Ok(()) if key.removed == present => {
                tracing::info!(fingerprint = %key.fingerprint, trusted = !key.removed, "applied a trusted key change from the cluster");
            }
            Ok(()) => {}
            Err(error) => tracing::warn!(fingerprint = %key.fingerprint, "cannot apply a trusted key change: {error}"),
        }
    }
}
