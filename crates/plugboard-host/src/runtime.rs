//! The runtime: one wasmtime engine (epoch interruption, pooling allocator sized from the
//! configuration), the linker with every host service, the compiled-component cache, and
//! the table of loaded plugins.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use plugboard_manifest::{Manifest, Permission, PluginId, read_manifest};
use tokio::sync::broadcast;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::abi::{self, SUPPORTED_ABIS};
use crate::api::Hook;
use crate::config::{InstanceAllocator, RuntimeConfig};
use crate::error::LoadError;
pub use crate::events::RuntimeEvent;
use crate::http::OutboundHttp;
use crate::link::{Dependency, RuntimeLink};
use crate::plugin::{EffectiveLimits, ExportIndices, Plugin, PluginParts};
use crate::services::Services;
use crate::shared::PluginShared;
use crate::state::HostState;
use crate::stats::{CallStats, HookCallStats};

/// The version of this host, checked against manifests' `min_plugboard_version`.
pub const HOST_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A plugin ready to load: its manifest and component bytes.
#[derive(Debug, Clone)]
pub struct PluginSource {
    /// The validated manifest.
    pub manifest: Manifest,
    /// The component (`plugin.wasm`).
    pub wasm: Arc<[u8]>,
    /// Where it was read from, for messages.
    pub component_path: PathBuf,
}

impl PluginSource {
    /// Reads a plugin folder: `plugin.toml` and the component it names.
    pub fn from_dir(folder: &Path) -> Result<PluginSource, LoadError> {
        let manifest = read_manifest(folder)?;
        let component_path = folder.join(&manifest.component);
        let wasm = std::fs::read(&component_path).map_err(|source| LoadError::Read {
            plugin: manifest.id.to_string(),
            path: component_path.clone(),
            source,
        })?;
        Ok(PluginSource { manifest, wasm: wasm.into(), component_path })
    }
}

pub(crate) struct RuntimeInner {
    engine: Engine,
    linker: Linker<HostState>,
    config: RuntimeConfig,
    services: Services,
    http: Arc<OutboundHttp>,
    plugins: RwLock<BTreeMap<PluginId, Plugin>>,
    /// Call statistics by plugin id, shared by the id's versions.
    stats: Mutex<BTreeMap<PluginId, Arc<CallStats>>>,
    events: broadcast::Sender<RuntimeEvent>,
    stop_ticker: Arc<AtomicBool>,
}

impl RuntimeInner {
    pub(crate) fn plugin(&self, id: &PluginId) -> Option<Plugin> {
        self.plugins.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()
    }

    /// Drops every plugin's warm instances (when the instance pool is full).
    pub(crate) fn drop_idle_instances(&self) {
        let plugins: Vec<Plugin> =
            self.plugins.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect();
        for plugin in plugins {
            plugin.drop_idle();
        }
        tracing::debug!("instance pool full: dropped the warm instances of every plugin");
    }

    pub(crate) fn emit(&self, event: RuntimeEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }
}

impl RuntimeLink for RuntimeInner {
    fn emit(&self, event: RuntimeEvent) {
        RuntimeInner::emit(self, event);
    }

    fn drop_idle_instances(&self) {
        RuntimeInner::drop_idle_instances(self);
    }

    fn dependency(&self, id: &PluginId) -> Option<Arc<dyn Dependency>> {
        self.plugin(id).map(|plugin| Arc::new(plugin) as Arc<dyn Dependency>)
    }
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// The plugin host. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("plugins", &self.plugin_ids()).finish_non_exhaustive()
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the plugin runtime: {message}")]
pub struct RuntimeError {
    message: String,
}

fn runtime_error(error: impl std::fmt::Display) -> RuntimeError {
    RuntimeError { message: format!("{error:#}") }
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch ticker.
    pub fn new(config: RuntimeConfig, services: Services) -> Result<Runtime, RuntimeError> {
        let engine = Engine::new(&engine_config(&config)).map_err(runtime_error)?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(runtime_error)?;
        abi::v0_1::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(runtime_error)?;
        let http = Arc::new(OutboundHttp::new(config.http.clone()).map_err(runtime_error)?);
        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), config.epoch_tick, stop_ticker.clone()).map_err(runtime_error)?;
        let (events, _) = broadcast::channel(1024);
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                config,
                services,
                http,
                plugins: RwLock::new(BTreeMap::new()),
                stats: Mutex::default(),
                events,
                stop_ticker,
            }),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Subscribes to plugin events.
    pub fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.inner.events.subscribe()
    }

    /// Sends `event` to every subscriber: for what happens outside the runtime (a plugin
    /// enabled by an operator, a folder that failed to load).
    pub fn publish(&self, event: RuntimeEvent) {
        self.inner.emit(event);
    }

    /// The loaded plugin `id`.
    pub fn plugin(&self, id: &PluginId) -> Option<Plugin> {
        self.inner.plugin(id)
    }

    /// Every plugin's calls since the runtime started, by plugin id and hook (a plugin's
    /// versions count together; a plugin that was removed keeps its counts).
    pub fn call_stats(&self) -> Vec<(PluginId, Vec<HookCallStats>)> {
        let stats = self.inner.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        stats.iter().map(|(id, stats)| (id.clone(), stats.snapshot())).collect()
    }

    /// Every loaded plugin, by id.
    pub fn plugins(&self) -> Vec<Plugin> {
        self.inner.plugins.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect()
    }

    /// The ids of the loaded plugins.
    pub fn plugin_ids(&self) -> Vec<PluginId> {
        self.inner.plugins.read().unwrap_or_else(std::sync::PoisonError::into_inner).keys().cloned().collect()
    }

    /// Removes from the compiled-component cache every file but those of the components
    /// in `keep` (the plugins installed now), so the cache does not keep every version ever
    /// loaded; returns how many files went. Nothing to do without a cache.
    pub async fn prune_compiled_cache(&self, keep: Vec<Arc<[u8]>>) -> std::io::Result<usize> {
        let Some(cache_dir) = self.inner.config.cache_dir.clone() else { return Ok(0) };
        let engine = self.inner.engine.clone();
        tokio::task::spawn_blocking(move || crate::cache::prune(&engine, &cache_dir, &keep))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Whether the compiled-component cache holds `source`'s component for this engine, so
    /// that [`Runtime::prepare`] maps a file (milliseconds) instead of compiling it (seconds
    /// for a Rust plugin, up to a minute for a 20 MB Python or JavaScript one on two
    /// cores). Without a cache, never.
    pub fn is_compiled(&self, source: &PluginSource) -> bool {
        let Some(cache_dir) = &self.inner.config.cache_dir else { return false };
        crate::cache::is_cached(&self.inner.engine, &source.wasm, cache_dir)
    }

    /// Compiles `source`'s component into the compiled-component cache, unless it is there,
    /// without holding anything the plugin needs: a following [`Runtime::prepare`] then maps
    /// it. Checks nothing but that it compiles (`prepare` checks the rest). Without a cache
    /// there is nowhere to keep the result, so nothing is done and `prepare` compiles.
    ///
    /// The compile runs on a thread of its own, which nothing waits for at exit: a server
    /// stopped during a minute-long first compile stops at once.
    pub async fn compile(&self, source: &PluginSource) -> Result<(), LoadError> {
        let Some(cache_dir) = self.inner.config.cache_dir.clone() else { return Ok(()) };
        let engine = self.inner.engine.clone();
        let wasm = source.wasm.clone();
        let (plugin, path) = (&source.manifest.id, &source.component_path);
        let thread_error = |error: &dyn std::fmt::Display| LoadError::Compile {
            plugin: plugin.clone(),
            path: path.clone(),
            message: format!("the compile thread failed: {error}"),
        };
        let (done, compiled) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("plugboard-compile".into())
            .spawn(move || {
                let result = crate::cache::load_component(&engine, &wasm, Some(cache_dir.as_path())).map(drop);
                // Nobody waits any more when the caller was dropped.
                let _ = done.send(result);
            })
            .map_err(|error| thread_error(&error))?;
        compiled.await.map_err(|error| thread_error(&error))?.map_err(|error| compile_error(plugin, path, &error))
    }

    /// Checks a plugin's component against its manifest without starting it: the ABI
    /// and host version the manifest asks for, that the component compiles, exports the
    /// lifecycle of that ABI and imports only what this host provides. Returns the hook
    /// interfaces it exports (whether it implements them is known only once started).
    pub async fn check_component(&self, source: &PluginSource) -> Result<BTreeSet<Hook>, LoadError> {
        let (_, indices) = self.link(&source.manifest, source.wasm.clone(), &source.component_path).await?;
        Ok(indices.exported_hooks())
    }

    async fn link(
        &self,
        manifest: &Manifest,
        wasm: Arc<[u8]>,
        component_path: &Path,
    ) -> Result<(wasmtime::component::InstancePre<HostState>, ExportIndices), LoadError> {
        let id = manifest.id.clone();
        if !SUPPORTED_ABIS.contains(&manifest.abi) {
            let supported = SUPPORTED_ABIS.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            return Err(LoadError::UnsupportedAbi { plugin: id, abi: manifest.abi.to_string(), supported });
        }
        let host = host_version();
        if let Some(required) = &manifest.min_plugboard_version
            && *required > host
        {
            return Err(LoadError::HostTooOld { plugin: id, required: required.clone(), host });
        }
        let engine = self.inner.engine.clone();
        let cache_dir = self.inner.config.cache_dir.clone();
        let compiled =
            tokio::task::spawn_blocking(move || crate::cache::load_component(&engine, &wasm, cache_dir.as_deref()))
                .await
                .map_err(|error| LoadError::Compile {
                    plugin: id.clone(),
                    path: component_path.to_path_buf(),
                    message: error.to_string(),
                })?;
        let component = compiled.map_err(|error| compile_error(&id, component_path, &error))?;
        let abi_mismatch =
            |message: String| LoadError::AbiMismatch { plugin: id.clone(), abi: manifest.abi.to_string(), message };
        if component.get_export_index(None, abi::LIFECYCLE_EXPORT).is_none() {
            return Err(abi_mismatch(format!(
                "it does not export `{}`; build it with plugboard-sdk (`export_plugin!`) for ABI {}",
                abi::LIFECYCLE_EXPORT,
                manifest.abi
            )));
        }
        warn_about_ungranted_imports(&self.inner.engine, &component, manifest);
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|error| abi_mismatch(format!("it imports something this host does not provide: {error:#}")))?;
        let indices = ExportIndices::new(&pre).map_err(|error| abi_mismatch(format!("{error:#}")))?;
        Ok((pre, indices))
    }

    /// Compiles (or takes from the cache), links and starts a plugin, with `settings`
    /// (validated against its schema; `None` for the defaults), without making it visible.
    /// Use [`Runtime::install`] to make it the active version.
    pub async fn prepare(
        &self,
        source: PluginSource,
        settings: Option<serde_json::Value>,
    ) -> Result<Plugin, LoadError> {
        let PluginSource { manifest, wasm, component_path } = source;
        let id = manifest.id.clone();
        let (pre, indices) = self.link(&manifest, wasm, &component_path).await?;
        let settings = manifest
            .settings
            .validate(&settings.unwrap_or_else(|| serde_json::json!({})))
            .map_err(|violations| LoadError::InvalidSettings { plugin: id.clone(), violations })?;
        let exported = indices.exported_hooks();
        let config = &self.inner.config;

        let limits = EffectiveLimits {
            memory_bytes: manifest
                .limits
                .memory_bytes
                .unwrap_or(config.default_memory_bytes)
                .min(config.max_memory_bytes),
            timeout: manifest.limits.timeout.unwrap_or(config.default_timeout).min(config.max_timeout),
            max_calls_per_minute: manifest.limits.max_calls_per_minute,
            max_task_timeout: config.max_task_timeout,
        };
        let shared = Arc::new(PluginShared {
            id: id.clone(),
            manifest,
            services: self.inner.services.clone(),
            http: self.inner.http.clone(),
            runtime: Arc::downgrade(&self.inner) as std::sync::Weak<dyn RuntimeLink>,
            max_output_bytes: config.max_output_bytes,
        });
        let parts = PluginParts {
            shared,
            pre,
            indices,
            limits,
            settings,
            breaker: config.breaker,
            max_idle: config.max_idle_per_plugin,
            max_concurrency: config.max_concurrency_per_plugin,
            epoch_tick: config.epoch_tick,
            stats: self
                .inner
                .stats
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(id.clone())
                .or_default()
                .clone(),
        };
        let plugin = Plugin::new(parts, BTreeSet::from([Hook::Init]));
        let declared = plugin.start().await.map_err(|source| LoadError::Start { plugin: id.clone(), source })?;
        // A hook counts when the component exports its interface and the plugin says it
        // implements it; lifecycle hooks are always exported.
        let mut hooks: BTreeSet<Hook> = declared.intersection(&exported).copied().collect();
        hooks.insert(Hook::Init);
        plugin.set_hooks(&hooks);
        plugin.load_listings().await.map_err(|source| LoadError::Start { plugin: id, source })?;
        Ok(plugin)
    }

    /// Makes `plugin` the active version of its id, atomically: calls already running on
    /// the previous version finish there, new lookups get this one. Returns the previous
    /// version, which the caller shuts down when it is done with it.
    pub fn install(&self, plugin: Plugin) -> Option<Plugin> {
        let previous = self
            .inner
            .plugins
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(plugin.id().clone(), plugin.clone());
        match &previous {
            Some(old) => tracing::info!(
                plugin = %plugin.id(), version = %plugin.version(), previous = %old.version(), "plugin reloaded"
            ),
            None => tracing::info!(plugin = %plugin.id(), version = %plugin.version(), "plugin loaded"),
        }
        self.inner.emit(RuntimeEvent::Loaded {
            plugin: plugin.id().clone(),
            version: plugin.version().to_string(),
            previous: previous.as_ref().map(|old| old.version().to_string()),
        });
        previous
    }

    /// [`Runtime::prepare`] then [`Runtime::install`]; a replaced version is shut down.
    pub async fn load(&self, source: PluginSource, settings: Option<serde_json::Value>) -> Result<Plugin, LoadError> {
        let plugin = self.prepare(source, settings).await?;
        if let Some(previous) = self.install(plugin.clone())
            && let Err(error) = previous.shutdown().await
        {
            tracing::warn!(plugin = %previous.id(), "shutdown of the replaced version failed: {error}");
        }
        Ok(plugin)
    }

    /// Reads and loads a plugin folder.
    pub async fn load_dir(&self, folder: &Path, settings: Option<serde_json::Value>) -> Result<Plugin, LoadError> {
        self.load(PluginSource::from_dir(folder)?, settings).await
    }

    /// Removes plugin `id` and calls its shutdown hook. Returns it, or `None` when it was
    /// not loaded.
    pub async fn unload(&self, id: &PluginId) -> Option<Plugin> {
        let plugin = self.inner.plugins.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id)?;
        if let Err(error) = plugin.shutdown().await {
            tracing::warn!(plugin = %id, "shutdown failed: {error}");
        }
        tracing::info!(plugin = %id, "plugin unloaded");
        self.inner.emit(RuntimeEvent::Unloaded { plugin: id.clone() });
        Some(plugin)
    }
}

/// What one component may hold in the instance pool, as [`engine_config`] sizes it: for
/// messages.
pub(crate) const POOL_ADMITS: &str = "at most 32 core instances, 4 memories and 8 tables of at most 20 000 elements";

/// Why a component did not compile or load: too large for the instance pool (which
/// wasmtime checks as it loads a component), or not a valid component.
fn compile_error(plugin: &PluginId, path: &Path, error: &wasmtime::Error) -> LoadError {
    let message = one_line(&format!("{error:#}"));
    let (plugin, path) = (plugin.clone(), path.to_path_buf());
    // wasmtime =48.0.8's words for a component one pool slot cannot hold; a test loads one.
    if message.contains("in the pooling allocator") || message.contains("pooling allocator requirements") {
        LoadError::ExceedsInstancePool { plugin, path, message }
    } else {
        LoadError::Compile { plugin, path, message }
    }
}

/// A compiler message on one line: some (a bad magic number) print arrays over many.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ").replace("[ ", "[").replace(", ]", "]")
}

fn host_version() -> semver::Version {
    semver::Version::parse(HOST_VERSION).unwrap_or_else(|_| semver::Version::new(0, 0, 0))
}

fn engine_config(config: &RuntimeConfig) -> Config {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true);
    wasm.epoch_interruption(true);
    wasm.max_wasm_stack(config.max_wasm_stack_bytes);
    // The fiber stack of an async call must hold the wasm stack plus host frames.
    wasm.async_stack_size(config.max_wasm_stack_bytes + (1 << 20));
    let instances = config.max_instances;
    let mut pool = PoolingAllocationConfig::default();
    // Per component, what `POOL_ADMITS` says (tables: wasmtime's default 20 000 elements).
    // A Rust component has a handful of core modules (the program, shims, fix-ups) and one
    // memory; a componentize-py one 14 core instances, one memory of 197 pages and tables of
    // 5 690 and 107 elements; StarlingMonkey (componentize-js) one table of 7 688. Core
    // instances are only counted (their state is allocated per instance), so the total
    // lets every instance be a Python one; memories and tables reserve address space.
    pool.total_component_instances(instances)
        .max_core_instances_per_component(32)
        .total_core_instances(instances * 16)
        .max_memories_per_component(4)
        .total_memories(instances * 2)
        .max_tables_per_component(8)
        .total_tables(instances * 4)
        .total_stacks(instances)
        .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
        .max_unused_warm_slots(instances / 4);
    match config.instance_allocator {
        InstanceAllocator::Pooling => wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool)),
        InstanceAllocator::OnDemand => wasm.allocation_strategy(InstanceAllocationStrategy::OnDemand),
    };
    // Names the plugins' compiled functions for `perf` (docs/writing-plugins.md).
    if std::env::var_os("PLUGBOARD_PERF_MAP").is_some() {
        wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    wasm
}

fn spawn_epoch_ticker(engine: Engine, tick: Duration, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new().name("plugboard-epoch".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            engine.increment_epoch();
        }
    })?;
    Ok(())
}

/// Logs, at load, each host interface a component imports without the permission to use
/// it: the calls will fail, which is rarely what the author meant.
fn warn_about_ungranted_imports(engine: &Engine, component: &wasmtime::component::Component, manifest: &Manifest) {
    for (name, _) in component.component_type().imports(engine) {
        let Some(interface) = name.strip_prefix("plugboard:plugin/").and_then(|rest| rest.split('@').next()) else {
            continue;
        };
        let permissions: Vec<Permission> =
            Permission::ALL.into_iter().filter(|permission| permission.host_interface() == interface).collect();
        if !permissions.is_empty() && !permissions.iter().any(|permission| manifest.grants(*permission)) {
            let list = permissions.iter().map(|permission| permission.as_str()).collect::<Vec<_>>().join("` or `");
            tracing::warn!(
                plugin = %manifest.id,
                "the component imports `{name}` but the manifest grants no `{list}` permission; those calls will be refused"
            );
        }
    }
}
