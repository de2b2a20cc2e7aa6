//! The plugins' key-value stores, kept in the database: the host's `KvStore` service over
//! the store's `kv_*` operations.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plugboard_host::services::{KvStore, ServiceError, ServiceErrorKind};
use plugboard_manifest::PluginId;
use plugboard_store::{PluginStore, StoreError};

/// Plugins' key-value data in the store, so it survives restarts.
#[derive(Debug, Clone)]
pub struct StoreKv {
    store: Arc<dyn PluginStore>,
}

impl StoreKv {
    /// The key-value service over `store`.
    pub fn new(store: Arc<dyn PluginStore>) -> StoreKv {
        StoreKv { store }
    }
}

fn service_error(plugin: &PluginId, error: StoreError) -> ServiceError {
    // The plugin sees that storage failed; the details go to the operator's log.
    tracing::error!(plugin = %plugin, "key-value store: {error}");
    ServiceError::new(ServiceErrorKind::Internal, "the key-value store failed; the server log has the details")
}

#[async_trait]
impl KvStore for StoreKv {
    async fn get(&self, plugin: &PluginId, key: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        self.store.kv_get(plugin.as_str(), key).await.map_err(|error| service_error(plugin, error))
    }

    async fn set(
        &self,
        plugin: &PluginId,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), ServiceError> {
        self.store.kv_set(plugin.as_str(), key, &value, ttl).await.map_err(|error| service_error(plugin, error))
    }

    async fn delete(&self, plugin: &PluginId, key: &str) -> Result<bool, ServiceError> {
        self.store.kv_delete(plugin.as_str(), key).await.map_err(|error| service_error(plugin, error))
    }

    async fn list_keys(&self, plugin: &PluginId, prefix: &str, limit: usize) -> Result<Vec<String>, ServiceError> {
        self.store.kv_list(plugin.as_str(), prefix, limit).await.map_err(|error| service_error(plugin, error))
    }

    async fn compare_and_set(
        &self,
        plugin: &PluginId,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, ServiceError> {
        self.store
            .kv_compare_and_set(plugin.as_str(), key, expected.as_deref(), new.as_deref(), ttl)
            .await
            .map_err(|error| service_error(plugin, error))
    }
}
