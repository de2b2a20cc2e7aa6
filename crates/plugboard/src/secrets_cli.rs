//! `plugboard secrets …`: the server key that encrypts secret plugin settings. A rotation
//! works on the data folder with or without a server running on it: a running server
//! reads the key files again when it meets a secret under a key it does not have.

use anyhow::Context;
use clap::Subcommand;
use plugboard_registry::secrets::{self, KEY_FILE, OLD_KEY_FILE, SECRET_KEY_ENV, SecretKey, parse_environment};
use plugboard_store::{AnyStore, DatabaseLocation};

use crate::config::FileConfig;
use crate::plugins::PluginOptions;

/// The variable that gives the new key when the current one comes from the environment.
const NEW_SECRET_KEY_ENV: &str = "PLUGBOARD_NEW_SECRET_KEY";

/// What `plugboard secrets` does.
#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Encrypts every secret plugin setting under a new server key, in one transaction,
    /// then makes it the data folder's `secret.key` (the one before is kept as
    /// `secret.key.old`). With PLUGBOARD_SECRET_KEY set, give the new key in
    /// PLUGBOARD_NEW_SECRET_KEY, and start the server with it from then on.
    RotateKey {
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Prints a new random key (64 hexadecimal characters) for PLUGBOARD_SECRET_KEY.
    NewKey,
}

/// Runs a `plugboard secrets` command, printing what it did.
pub(crate) async fn run(command: SecretsCommand) -> anyhow::Result<()> {
    match command {
        SecretsCommand::NewKey => {
            println!("{}", SecretKey::generate()?.to_hex());
            Ok(())
        }
        SecretsCommand::RotateKey { plugins } => rotate(&plugins).await,
    }
}

async fn rotate(plugins: &PluginOptions) -> anyhow::Result<()> {
    let file = FileConfig::load(plugins.config.as_deref())?;
    let data_dir = plugins.data_dir(&file);
    if let DatabaseLocation::Sqlite(database) = plugins.database(&file, &data_dir)? {
        anyhow::ensure!(
            database.is_file(),
            "there is no database at {}; point --data-dir (or PLUGBOARD_DATA_DIR) at the server's data folder, or --database-url at its database",
            database.display()
        );
    }
    let store = plugins.open_store(&file, &data_dir).await?;
    let rotated = if std::env::var_os(SECRET_KEY_ENV).is_some() {
        rotate_environment_key(&data_dir, &store).await
    } else {
        secrets::rotate_key_files(&*store, &data_dir).await.map_err(anyhow::Error::from).map(|rotated| {
            format!(
                "re-encrypted {} secret settings under the new server key `{}` (was `{}`): {} holds it now, {} the one before; back up {} with the database",
                rotated.secrets,
                rotated.new.id(),
                rotated.old.id(),
                KEY_FILE,
                OLD_KEY_FILE,
                KEY_FILE
            )
        })
    };
    store.close().await;
    println!("{}", rotated?);
    Ok(())
}

/// A rotation of a key the environment gives: the new one comes from the environment too.
async fn rotate_environment_key(data_dir: &std::path::Path, store: &AnyStore) -> anyhow::Result<String> {
    let keys = crate::plugins::server_keys(data_dir)?;
    let new = match std::env::var(NEW_SECRET_KEY_ENV) {
        Ok(value) => parse_environment(NEW_SECRET_KEY_ENV, &value)?,
        Err(_) => anyhow::bail!(
            "the server key comes from {SECRET_KEY_ENV}, which Plugboard cannot change: set {NEW_SECRET_KEY_ENV} to the new key (64 hexadecimal characters, such as the output of `plugboard secrets new-key`) and run this again, then start the server with {SECRET_KEY_ENV} set to it"
        ),
    };
    anyhow::ensure!(
        new != keys.current(),
        "{NEW_SECRET_KEY_ENV} is the key {SECRET_KEY_ENV} gives already; give a new key"
    );
    let count = secrets::rotate_environment_key(&**store, &keys, &new)
        .await
        .context("the secrets stay encrypted under the current key")?;
    Ok(format!(
        "re-encrypted {count} secret settings under the new server key `{}`; start the server with {SECRET_KEY_ENV} set to the value of {NEW_SECRET_KEY_ENV} from now on",
        new.id()
    ))
}
