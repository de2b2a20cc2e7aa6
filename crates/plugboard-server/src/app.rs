//! [`AppBuilder`]: the one place the application is wired: the store's services for the
//! plugins (key-value data, chat data, the model list), the plugin runtime over them, the
//! registry, the model list (configured providers and the provider plugins), the chat
//! engine and the server's state. The binary, the tests and the benchmarks all build the
//! app here, so none of them can wire it differently.
//!
//! Nothing the runtime holds reaches back to it strongly: the model list behind the
//! plugins' `ai` service sees the provider plugins through `Runtime::weak_plugins`, and
//! the plugins' `chat` service reaches the engine weakly, so dropping the last
//! [`AppState`] drops the registry and runs its clean-up.

use std::sync::Arc;

use plugboard_chat::{ChatEngine, EngineConfig, Models, ModelsAi, PluginProviders, Provider, SharedModels, StoreChat};
use plugboard_host::{Runtime, RuntimeConfig, RuntimeError, Services};
use plugboard_mcp::McpServers;
use plugboard_registry::{Registry, RegistryConfig, StoreKv};
use plugboard_store::Store;

use crate::{AppState, LoginLimits, McpAdmin, McpServersConfig, PackagesConfig, ServerConfig, UserLimits};

/// Builds an [`AppState`]: every part has a default but the store.
#[derive(Debug)]
pub struct AppBuilder {
    store: Arc<dyn Store>,
    runtime: RuntimeConfig,
    registry: RegistryConfig,
    providers: Vec<Arc<dyn Provider>>,
    default_model: Option<String>,
    engine: EngineConfig,
    server: ServerConfig,
    user_calls_per_minute: u32,
    chat_turns_per_minute: u32,
    packages: PackagesConfig,
    mcp: McpServersConfig,
}

impl AppBuilder {
    /// An app over `store` with the default settings, no plugin folders and no model.
    pub fn new(store: Arc<dyn Store>) -> AppBuilder {
        AppBuilder {
            store,
            runtime: RuntimeConfig::default(),
            registry: RegistryConfig::default(),
            providers: Vec::new(),
            default_model: None,
            engine: EngineConfig::default(),
            server: ServerConfig::default(),
            user_calls_per_minute: 120,
            chat_turns_per_minute: 0,
            packages: PackagesConfig::default(),
            mcp: McpServersConfig::default(),
        }
    }

    /// How plugins run (limits, compiled-component cache, outbound HTTP).
    pub fn runtime_config(self, runtime: RuntimeConfig) -> AppBuilder {
        AppBuilder { runtime, ..self }
    }

    /// Which plugins there are (bundled, folders, which start enabled, where packages go).
    pub fn registry_config(self, registry: RegistryConfig) -> AppBuilder {
        AppBuilder { registry, ..self }
    }

    /// Offers the models of `provider` (a later one with the same id replaces it).
    pub fn provider(mut self, provider: Arc<dyn Provider>) -> AppBuilder {
        self.providers.push(provider);
        self
    }

    /// The model used when a request names none (`provider/model`).
    pub fn default_model(self, default_model: Option<String>) -> AppBuilder {
        AppBuilder { default_model, ..self }
    }

    /// How chat turns run.
    pub fn engine_config(self, engine: EngineConfig) -> AppBuilder {
        AppBuilder { engine, ..self }
    }

    /// The server's own settings.
    pub fn server_config(self, server: ServerConfig) -> AppBuilder {
        AppBuilder { server, ..self }
    }

    /// Plugin calls per user and plugin a minute (0: no limit).
    pub fn user_calls_per_minute(self, user_calls_per_minute: u32) -> AppBuilder {
        AppBuilder { user_calls_per_minute, ..self }
    }

    /// Chat turns per user a minute (0, the default here: no limit).
    pub fn chat_turns_per_minute(self, chat_turns_per_minute: u32) -> AppBuilder {
        AppBuilder { chat_turns_per_minute, ..self }
    }

    /// How packages are installed.
    pub fn packages(self, packages: PackagesConfig) -> AppBuilder {
        AppBuilder { packages, ..self }
    }

    /// The configuration file's MCP servers and where stdio servers run by default; those
    /// added through the API come from the store.
    pub fn mcp_servers(self, mcp: McpServersConfig) -> AppBuilder {
        AppBuilder { mcp, ..self }
    }

    /// Starts the runtime and makes the registry (its plugins not loaded yet: call
    /// `Registry::start`), the model list and the engine. Needs a tokio runtime.
    pub async fn build(self) -> Result<AppState, RuntimeError> {
        let store = self.store;
        let models: SharedModels = Arc::default();
        let chat = StoreChat::new(store.clone());
        let services = Services {
            kv: Arc::new(StoreKv::new(store.clone())),
            chat: Arc::new(chat.clone()),
            ai: Arc::new(ModelsAi::new(models.clone())),
        };
        let runtime = Runtime::new(self.runtime, services)?;
        {
            let mut list = Models::new();
            for provider in self.providers {
                list.add(provider);
            }
            list.set_default(self.default_model);
            list.with_source(Arc::new(PluginProviders::new(Arc::new(runtime.weak_plugins()))));
            *models.write().await = list;
        }
        // The MCP servers' tools beside the plugins'; nothing starts before `start_plugins`.
        let mcp_servers = McpServers::new(self.mcp.working_folder.clone());
        let mcp = McpAdmin::new(mcp_servers.clone(), self.mcp, store.clone(), self.registry.secret_keys.clone());
        let registry = Registry::new(runtime, store.clone(), self.registry);
        let engine = ChatEngine::with_tool_sources(
            Arc::new(registry.clone()),
            store.clone(),
            models,
            self.engine,
            vec![Arc::new(mcp_servers.tool_source())],
        );
        // What plugins post and change goes through the engine (held weakly there).
        chat.attach(&engine);
        // Servers sharing the database count each user's calls and turns together there;
        // one alone on its database counts them in memory, with no write per request.
        let limits = UserLimits::new(self.user_calls_per_minute).with_chat_turns(self.chat_turns_per_minute);
        let limits = if store.is_shared() { limits.shared_through(store.clone()) } else { limits };
        // Failed logins likewise: counted together in a shared database, so guesses spread
        // over the servers meet the limit once; in memory on a database of one's own.
        let logins = LoginLimits::default();
        let logins = if store.is_shared() { logins.shared_through(store.clone()) } else { logins };
        Ok(AppState {
            registry,
            store,
            engine,
            config: Arc::new(self.server),
            limits: Arc::new(limits),
            logins: Arc::new(logins),
            packages: Arc::new(self.packages),
            readiness: Arc::default(),
            mcp,
        })
    }
}
