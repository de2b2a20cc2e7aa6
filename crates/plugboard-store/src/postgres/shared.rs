//! Packages and trusted keys in PostgreSQL ([`crate::shared`]), and notifications: the
//! triggers of `migrations-postgres/0006_cluster.sql` send `plugboard_changes` with a
//! topic when a change commits; [`PgStore::notify`] sends `plugboard_messages`; a
//! [`PgNotifications`] listens to both on a connection of its own.

use async_trait::async_trait;
use sqlx::postgres::PgListener;

use crate::rows::query_error;
use crate::shared::{KEY_COLUMNS, MAX_MESSAGE_BYTES, PACKAGE_COLUMNS, parse_topic, read_key, read_package};
use crate::{Notice, Notifications, PgStore, StoreError, StoredKey, StoredPackage};

impl PgStore {
    pub(super) async fn read_packages(&self) -> Result<Vec<StoredPackage>, StoreError> {
        const OPERATION: &str = "read the installed packages";
        let rows = sqlx::query(&format!("SELECT {PACKAGE_COLUMNS} FROM plugin_packages ORDER BY plugin"))
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(OPERATION, None))?;
        rows.iter().map(read_package).collect::<Result<_, _>>().map_err(query_error(OPERATION, None))
    }

    pub(super) async fn read_package_bytes(&self, plugin: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar::<_, Option<Vec<u8>>>(
            "SELECT bytes FROM plugin_packages WHERE plugin = $1 AND removed = FALSE",
        )
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8)
             ON CONFLICT (plugin) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256,
                 bytes = excluded.bytes, signer_fingerprint = excluded.signer_fingerprint,
                 signer = excluded.signer, trusted = excluded.trusted, removed = FALSE,
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
        query.execute(&self.pool).await.map_err(query_error("save an installed package", Some(&package.plugin)))?;
        Ok(())
    }

    pub(super) async fn mark_package_removed(&self, plugin: &str) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE plugin_packages SET removed = TRUE, bytes = NULL, updated_at_ms = $2 WHERE plugin = $1 AND removed = FALSE",
        )
        .bind(plugin.to_owned())
        .bind(self.now_ms());
        let done = query.execute(&self.pool).await.map_err(query_error("remove an installed package", Some(plugin)))?;
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
            "INSERT INTO trusted_keys (fingerprint, key_text, removed, updated_at_ms) VALUES ($1, $2, FALSE, $3)
             ON CONFLICT (fingerprint) DO UPDATE SET key_text = excluded.key_text, removed = FALSE,
                 updated_at_ms = excluded.updated_at_ms",
        )
        .bind(fingerprint.to_owned())
        .bind(key_text.to_owned())
        .bind(self.now_ms());
        query.execute(&self.pool).await.map_err(query_error("save a trusted key", None))?;
        Ok(())
    }

    pub(super) async fn mark_key_removed(&self, fingerprint: &str) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE trusted_keys SET removed = TRUE, updated_at_ms = $2 WHERE fingerprint = $1 AND removed = FALSE",
        )
        .bind(fingerprint.to_owned())
        .bind(self.now_ms());
        let done = query.execute(&self.pool).await.map_err(query_error("remove a trusted key", None))?;
        Ok(done.rows_affected() > 0)
    }
}

/// The channel the triggers notify on, with a topic as payload.
const CHANGES_CHANNEL: &str = "plugboard_changes";

/// The channel of [`PgStore::notify`]'s messages.
const MESSAGES_CHANNEL: &str = "plugboard_messages";

impl PgStore {
    /// A listener on both channels, on a connection of its own (not the pool's).
    pub(super) async fn listener(&self) -> Result<PgNotifications, StoreError> {
        const OPERATION: &str = "listen for changes";
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(query_error(OPERATION, None))?;
        listener.listen_all([CHANGES_CHANNEL, MESSAGES_CHANNEL]).await.map_err(query_error(OPERATION, None))?;
        Ok(PgNotifications { listener })
    }

    /// Sends `message` on the messages channel, to every listener of the database.
    pub(super) async fn notify(&self, message: &str) -> Result<(), StoreError> {
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(StoreError::InvalidInput {
                what: "message",
                message: format!(
                    "it is {} bytes, more than the {MAX_MESSAGE_BYTES} a notification carries; send less",
                    message.len()
                ),
            });
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(MESSAGES_CHANNEL)
            .bind(message)
            .execute(&self.pool)
            .await
            .map_err(query_error("publish a message", None))?;
        Ok(())
    }
}

/// [`Notifications`] from PostgreSQL's `LISTEN`. sqlx's listener connects again by itself
/// when its connection is lost (and listens again); that loss is told as
/// [`Notice::Resync`], since what was notified meanwhile is gone.
pub(crate) struct PgNotifications {
    listener: PgListener,
}

#[async_trait]
impl Notifications for PgNotifications {
    async fn next(&mut self) -> Result<Notice, StoreError> {
        loop {
            let Some(notification) = self.listener.try_recv().await.map_err(query_error("listen for changes", None))?
            else {
                return Ok(Notice::Resync);
            };
            match notification.channel() {
                MESSAGES_CHANNEL => return Ok(Notice::Message(notification.payload().to_owned())),
                _ => match parse_topic(notification.payload()) {
                    Some(topic) => return Ok(Notice::Changed(topic)),
                    None => tracing::debug!(payload = notification.payload(), "an unknown change topic"),
                },
            }
        }
    }
}
