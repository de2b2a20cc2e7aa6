//! Several servers on one database, as the HTTP layer sees it. Where the store is shared
//! ([`plugboard_store::PluginStore::is_shared`]), each server publishes its plugin events
//! through the database, stamped with its node name, so `/api/plugins/events` on any server
//! shows the whole cluster's; and each keeps its trusted keys folder in step with the keys
//! trusted through the API on any server (kept in the store). Nothing here runs on a
//! store of one server.

use std::sync::Arc;

use plugboard_package::PublicKey;
use plugboard_store::{MAX_MESSAGE_BYTES, Notice, Store, Topic};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::{AppState, PackagesConfig};

/// The `kind` of a published plugin event.
const PLUGIN_EVENT: &str = "plugin-event";

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
/// marks removed. Keys the store never recorded (put there by `plugboard plugin trust`)
/// stay.
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
