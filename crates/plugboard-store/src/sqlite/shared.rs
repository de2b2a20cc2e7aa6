//! Packages and trusted keys in SQLite ([`crate::shared`]). Nothing notifies here: one
//! server uses the file, and a command-line tool's changes are found by polling.

use crate::rows::query_error;
use crate::shared::{KEY_COLUMNS, PACKAGE_COLUMNS, read_key, read_package};
use crate::{SqliteStore, StoreError, StoredKey, StoredPackage};

impl SqliteStore {
    pub(super) async fn read_packages(&self) -> Result<Vec<StoredPackage>, StoreError> {
        const OPERATION: &str = "read the installed packages";
        let rows = sqlx::query(&format!("SELECT {PACKAGE_COLUMNS} FROM plugin_packages ORDER BY plugin"))
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        rows.iter().map(read_package).collect::<Result<_, _>>().map_err(query_error(OPERATION, None))
    }

    pub(super) async fn read_package_bytes(&self, plugin: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT bytes FROM plugin_packages WHERE plugin = ?1 AND removed = 0")
            .bind(plugin)
            .fetch_optional(&self.pool)
            .await
            .map(Option::flatten)
            .map_err(query_error("read an installed package", Some(plugin)))
    }

    pub(super) async fn write_package(&self, package: &StoredPackage, bytes: &[u8]) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO plugin_packages
                 (plugin, version, sha256, bytes, signer_fingerprint, signer, trusted, removed, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)
             ON CONFLICT (plugin) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256,
                 bytes = excluded.bytes, signer_fingerprint = excluded.signer_fingerprint,
                 signer = excluded.signer, trusted = excluded.trusted, removed = 0,
                 updated_at_ms = excluded.updated_at_ms",
        )
        .bind(package.plugin.clone())
        .bind(package.version.clone())
        .bind(package.sha256.clone())
        .bind(bytes.to_vec())
        .bind(package.signer_fingerprint.clone())
        .bind(package.signer.clone())
        .bind(package.trusted)
        .bind(self.now_ms());
        self.write_execute(query).await.map_err(query_error("save an installed package", Some(&package.plugin)))?;
        Ok(())
    }

    pub(super) async fn mark_package_removed(&self, plugin: &str) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE plugin_packages SET removed = 1, bytes = NULL, updated_at_ms = ?2 WHERE plugin = ?1 AND removed = 0",
        )
        .bind(plugin.to_owned())
        .bind(self.now_ms());
        let done = self.write_execute(query).await.map_err(query_error("remove an installed package", Some(plugin)))?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn read_trusted_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        const OPERATION: &str = "read the trusted keys";
        let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM trusted_keys ORDER BY fingerprint"))
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        rows.iter().map(read_key).collect::<Result<_, _>>().map_err(query_error(OPERATION, None))
    }

    pub(super) async fn write_trusted_key(&self, fingerprint: &str, key_text: &str) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO trusted_keys (fingerprint, key_text, removed, updated_at_ms) VALUES (?1, ?2, 0, ?3)
             ON CONFLICT (fingerprint) DO UPDATE SET key_text = excluded.key_text, removed = 0,
                 updated_at_ms = excluded.updated_at_ms",
        )
        .bind(fingerprint.to_owned())
        .bind(key_text.to_owned())
        .bind(self.now_ms());
        self.write_execute(query).await.map_err(query_error("save a trusted key", None))?;
        Ok(())
    }

    pub(super) async fn mark_key_removed(&self, fingerprint: &str) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE trusted_keys SET removed = 1, updated_at_ms = ?2 WHERE fingerprint = ?1 AND removed = 0",
        )
        .bind(fingerprint.to_owned())
        .bind(self.now_ms());
        let done = self.write_execute(query).await.map_err(query_error("remove a trusted key", None))?;
        Ok(done.rows_affected() > 0)
    }
}
