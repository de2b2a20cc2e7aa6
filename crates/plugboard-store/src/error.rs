//! Errors of the store: why the database could not be opened, brought up to date or
//! queried, arguments it cannot use, and stored data that cannot be read back.

use std::path::PathBuf;

/// An error of the database library underneath, kept opaque so that no sqlx type crosses
/// the crate boundary (and another backend can fill it with its own errors).
type DatabaseError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error(
        "cannot open the database at {}: {source}; check that its directory exists (or can be created) and is writable",
        path.display()
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// What failed.
        source: DatabaseError,
    },
    /// The file exists but is not a SQLite database, or is damaged.
    #[error(
        "the file at {} is not a Plugboard database, or is damaged: {source}; restore it from a backup, or move it aside to start with an empty database",
        path.display()
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        source: DatabaseError,
    },
    /// The database was last used by a newer Plugboard whose schema this one does not know.
    #[error(
        "the database at {} was written by a newer Plugboard (schema version {found}, this one knows up to {supported}); upgrade Plugboard, or point it at another database file",
        path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The newest schema version applied to the database.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// The schema could not be created or brought up to date.
    #[error(
        "cannot bring the schema of the database at {} up to date: {source}; restore the file from a backup, or move it aside to start with an empty database",
        path.display()
    )]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// What failed.
        source: DatabaseError,
    },
    /// The PostgreSQL server could not be reached, or refused the connection.
    #[error(
        "cannot connect to the PostgreSQL database {server}: {source}; check that the server is running and that the URL's host, port, user, password and database are right (the database must exist)"
    )]
    Connect {
        /// The database URL, its password left out.
        server: String,
        /// What failed.
        source: DatabaseError,
    },
    /// The PostgreSQL database was last used by a newer Plugboard.
    #[error(
        "the PostgreSQL database {server} was written by a newer Plugboard (schema version {found}, this one knows up to {supported}); upgrade Plugboard, or point it at another database"
    )]
    ServerNewerSchema {
        /// The database URL, its password left out.
        server: String,
        /// The newest schema version applied to the database.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// The schema of the PostgreSQL database could not be created or brought up to date.
    #[error(
        "cannot bring the schema of the PostgreSQL database {server} up to date: {source}; check that the user may create tables in it, or restore it from a backup"
    )]
    ServerMigrate {
        /// The database URL, its password left out.
        server: String,
        /// What failed.
        source: DatabaseError,
    },
    /// A query failed.
    #[error("cannot {operation}{}: {source}", for_plugin(plugin.as_deref()))]
    Query {
        /// What the store was doing, as a phrase after "cannot" ("save the plugin record").
        operation: &'static str,
        /// The plugin the operation was about, when it was about one.
        plugin: Option<String>,
        /// What failed.
        source: DatabaseError,
    },
    /// Stored data cannot be read back.
    #[error(
        "the stored {what} of plugin `{plugin}` cannot be read: {message}; save the plugin's {what} again to replace them"
    )]
    Corrupt {
        /// The plugin.
        plugin: String,
        /// What is corrupt ("settings").
        what: &'static str,
        /// Why it cannot be read.
        message: String,
    },
    /// A name that must be unique is taken.
    #[error("{what} `{value}` is taken; choose another")]
    Conflict {
        /// What kind of name ("username").
        what: &'static str,
        /// The name asked for.
        value: String,
    },
    /// An argument the store cannot use, such as a paging cursor it did not hand out.
    #[error("invalid {what}: {message}")]
    InvalidInput {
        /// Which argument ("cursor").
        what: &'static str,
        /// What is wrong with it and what to pass instead.
        message: String,
    },
    /// Something was to be created under a parent that does not exist (a message in a
    /// deleted conversation).
    #[error("there is no {what} `{id}`; it may have been deleted: reload and try again")]
    NotFound {
        /// What is missing ("conversation").
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// Stored chat data cannot be read back (the database was changed outside Plugboard).
    #[error(
        "the stored {what} `{id}` cannot be read: {message}; restore the database from a backup, or delete the {what}"
    )]
    CorruptRow {
        /// What kind of row ("message").
        what: &'static str,
        /// Its id.
        id: String,
        /// Why it cannot be read.
        message: String,
    },
    /// The database's schema is not the one this build runs with (a readiness probe).
    #[error(
        "the database's schema is at version {applied}, this build runs with version {expected}; {}",
        if applied < expected { "wait for the migration to finish, or run `plugboard db migrate`" } else { "upgrade this server to the version that migrated the database" }
    )]
    SchemaNotCurrent {
        /// The newest migration applied (0: none).
        applied: i64,
        /// The newest migration this build knows.
        expected: i64,
    },
    /// A query of the copy from SQLite into PostgreSQL failed.
    #[error("cannot {operation} table `{table}`: {source}")]
    CopyQuery {
        /// What the copy was doing, as a phrase after "cannot" ("write the PostgreSQL").
        operation: &'static str,
        /// The table.
        table: &'static str,
        /// What failed.
        source: DatabaseError,
    },
    /// A value in the SQLite database that PostgreSQL cannot hold (text with a NUL
    /// character), or that cannot be read; found before anything is copied.
    #[error(
        "row {row} of table `{table}` cannot be copied: column `{column}` {problem}; change or delete that row in the SQLite database (with a server on it, or the sqlite3 tool), then copy again"
    )]
    CopyValue {
        /// The table.
        table: &'static str,
        /// The row, by its key (`id = 'abc'`).
        row: String,
        /// The column.
        column: &'static str,
        /// What is wrong with the value.
        problem: String,
    },
    /// The database to copy into already holds rows.
    #[error(
        "the target database is not empty: table `{table}` has {rows} rows; copy into a new, empty database, or ask for rows already there to be kept (rows with the same key are then not copied again)"
    )]
    TargetNotEmpty {
        /// The first table (in copying order) that has rows.
        table: &'static str,
        /// How many.
        rows: u64,
    },
    /// After a copy, a table does not hold the rows it should.
    #[error(
        "the copy does not add up: table `{table}` has {found} rows in PostgreSQL where {expected} were expected; something else wrote to one of the databases during the copy: stop every server on both, then copy again into a new, empty database"
    )]
    CopyMismatch {
        /// The table.
        table: &'static str,
        /// The rows it should have.
        expected: u64,
        /// The rows it has.
        found: u64,
    },
}

fn for_plugin(plugin: Option<&str>) -> String {
    plugin.map(|plugin| format!(" of plugin `{plugin}`")).unwrap_or_default()
}
