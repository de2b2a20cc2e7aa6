//! Choosing the backend: a [`DatabaseLocation`] (a SQLite file, or a PostgreSQL database)
//! parsed from what the operator wrote, and [`AnyStore`], the store opened there.

use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use plugboard_types::Clock;

use crate::postgres::redact_password;
use crate::{Durability, PgStore, SqliteStore, Store, StoreError};

/// Where the database is.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite database file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its `postgres://` URL (the database must exist).
    Postgres(String),
}

impl DatabaseLocation {
    /// Parses a database setting: `postgres://…` or `postgresql://…` is a PostgreSQL
    /// database; `sqlite://PATH`, `sqlite:PATH` or a plain path is a SQLite file.
    pub fn parse(text: &str) -> Result<DatabaseLocation, StoreError> {
        let invalid = |message: String| StoreError::InvalidInput { what: "database location", message };
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid(
                "it is empty; give a file path, sqlite://PATH, or postgres://USER@HOST:PORT/DATABASE".to_owned(),
            ));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(DatabaseLocation::Postgres(text.to_owned()));
        }
        if let Some(path) = text.strip_prefix("sqlite://").or_else(|| text.strip_prefix("sqlite:")) {
            if path.is_empty() || path.starts_with(":memory:") {
                return Err(invalid(format!(
                    "`{text}` names no database file; give sqlite://PATH with the file's path"
                )));
            }
            return Ok(DatabaseLocation::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(invalid(format!(
                "`{scheme}://` is not a database Plugboard can use; give postgres://USER@HOST:PORT/DATABASE for PostgreSQL, or a file path (or sqlite://PATH) for SQLite"
            )));
        }
        Ok(DatabaseLocation::Sqlite(PathBuf::from(text)))
    }
}

/// The location as logs and messages show it: a path, or the URL without its password.
impl fmt::Display for DatabaseLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseLocation::Sqlite(path) => write!(formatter, "{}", path.display()),
            DatabaseLocation::Postgres(url) => formatter.write_str(&redact_password(url)),
        }
    }
}

/// Like `Display`: a URL's password never reaches a log through `{:?}` either.
impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseLocation::Sqlite(path) => formatter.debug_tuple("Sqlite").field(path).finish(),
            DatabaseLocation::Postgres(_) => formatter.debug_tuple("Postgres").field(&self.to_string()).finish(),
        }
    }
}

/// A store of either backend. It dereferences to [`Store`], so every store method can be
/// called on it; [`AnyStore::shared`] gives the `Arc<dyn Store>` the server holds.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// A SQLite database file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PgStore),
}

impl AnyStore {
    /// Opens the database at `location`, bringing its schema up to date. `durability`
    /// applies to SQLite; PostgreSQL keeps to its server's settings (`synchronous_commit`).
    pub async fn open(location: &DatabaseLocation, durability: Durability) -> Result<AnyStore, StoreError> {
        Ok(match location {
            DatabaseLocation::Sqlite(path) => AnyStore::Sqlite(SqliteStore::open_with(path, durability).await?),
            DatabaseLocation::Postgres(url) => AnyStore::Postgres(PgStore::connect(url).await?),
        })
    }

    /// The store with its times taken from `clock` (a test's, to move time forward).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> AnyStore {
        match self {
            AnyStore::Sqlite(store) => AnyStore::Sqlite(store.with_clock(clock)),
            AnyStore::Postgres(store) => AnyStore::Postgres(store.with_clock(clock)),
        }
    }

    /// The store as the server holds it (sharing this one's connections).
    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            AnyStore::Sqlite(store) => Arc::new(store.clone()),
            AnyStore::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// Closes every connection (see [`SqliteStore::close`] and [`PgStore::close`]).
    pub async fn close(&self) {
        match self {
            AnyStore::Sqlite(store) => store.close().await,
            AnyStore::Postgres(store) => store.close().await,
        }
    }
}

impl Deref for AnyStore {
    type Target = dyn Store;

    fn deref(&self) -> &(dyn Store + 'static) {
        match self {
            AnyStore::Sqlite(store) => store,
            AnyStore::Postgres(store) => store,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::path::PathBuf;

    use super::DatabaseLocation;

    #[test]
    fn a_location_is_a_path_a_sqlite_url_or_a_postgres_url() {
        let sqlite = |path: &str| DatabaseLocation::Sqlite(PathBuf::from(path));
        assert_eq!(DatabaseLocation::parse("data/plugboard.db").unwrap(), sqlite("data/plugboard.db"));
        assert_eq!(DatabaseLocation::parse("sqlite://data/p.db").unwrap(), sqlite("data/p.db"));
        assert_eq!(DatabaseLocation::parse("sqlite:///var/p.db").unwrap(), sqlite("/var/p.db"));
        let url = "postgres://plugboard:secret@db:5432/plugboard";
        let postgres = DatabaseLocation::parse(url).unwrap();
        assert_eq!(postgres, DatabaseLocation::Postgres(url.to_owned()));
        assert_eq!(postgres.to_string(), "postgres://plugboard:***@db:5432/plugboard");
        assert!(!format!("{postgres:?}").contains("secret"));
        assert!(matches!(DatabaseLocation::parse("postgresql://db/x").unwrap(), DatabaseLocation::Postgres(_)));
    }

    #[test]
    fn an_unknown_scheme_or_nothing_is_refused_saying_what_to_give() {
        for text in ["mysql://db/x", "", "sqlite://", "sqlite::memory:"] {
            let message = DatabaseLocation::parse(text).unwrap_err().to_string();
            assert!(message.starts_with("invalid database location: "), "{message}");
            assert!(message.contains("give"), "{message}");
        }
    }
}
