//! Integration tests of the plugin host through its public API, with the real `.wasm`
//! plugins built from `plugins/`.

#![allow(clippy::unwrap_used, reason = "test helpers may unwrap like the tests they serve")]

mod cache;
mod chains;
mod faults;
mod hooks;
mod loading;
mod sandbox;
mod settings;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use plugboard_host::services::{KvStore, MemoryKvStore};
use plugboard_host::{Plugin, PluginSource, Runtime, RuntimeConfig, Services};
use plugboard_manifest::parse_manifest;
use plugboard_test_plugins::plugin_dir;

/// One compiled-component cache for the whole test binary: each plugin compiles once.
fn shared_cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory")).path()
}

fn test_config() -> RuntimeConfig {
    RuntimeConfig { cache_dir: Some(shared_cache_dir().to_owned()), max_instances: 64, ..RuntimeConfig::default() }
}

fn runtime() -> Runtime {
    runtime_with(test_config())
}

fn runtime_with(config: RuntimeConfig) -> Runtime {
    Runtime::new(config, Services::default()).expect("the runtime starts")
}

/// A runtime whose key-value store the test can read directly.
fn runtime_with_kv() -> (Runtime, Arc<MemoryKvStore>) {
    let kv = Arc::new(MemoryKvStore::new());
    let services = Services { kv: kv.clone(), ..Services::default() };
    (Runtime::new(test_config(), services).expect("the runtime starts"), kv)
}

/// `key` of `plugin`'s KV store, as text.
async fn kv_value(kv: &MemoryKvStore, plugin: &str, key: &str) -> Option<String> {
    let id = plugboard_manifest::PluginId::parse(plugin).expect("a plugin id");
    kv.get(&id, key).await.expect("the memory store answers").map(|v| String::from_utf8(v).expect("utf-8"))
}

/// The source of plugin `name` with its manifest edited by `edit` (to grant or withhold
/// permissions, rename it, change limits).
fn source_with(name: &str, edit: impl FnOnce(String) -> String) -> PluginSource {
    let dir = plugin_dir(name);
    let text = edit(std::fs::read_to_string(dir.join("plugin.toml")).expect("plugin.toml"));
    let manifest = parse_manifest(&text, &dir.join("plugin.toml")).expect("the edited manifest is valid");
    let wasm = std::fs::read(dir.join("plugin.wasm")).expect("plugin.wasm");
    PluginSource { manifest, wasm: wasm.into(), component_path: dir.join("plugin.wasm") }
}

async fn load(runtime: &Runtime, name: &str) -> Plugin {
    runtime.load_dir(&plugin_dir(name), None).await.unwrap_or_else(|error| panic!("{name} loads: {error}"))
}

async fn load_with(runtime: &Runtime, name: &str, edit: impl FnOnce(String) -> String) -> Plugin {
    runtime.load(source_with(name, edit), None).await.unwrap_or_else(|error| panic!("{name} loads: {error}"))
}

fn context() -> plugboard_host::api::CallContext {
    plugboard_host::api::CallContext {
        conversation_id: "c1".into(),
        user_id: "u1".into(),
        model: "local/test".into(),
        request_id: "r1".into(),
    }
}
