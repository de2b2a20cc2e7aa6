//! `plugboard user …`: accounts on a data folder, with or without a server running on it
//! (a running server sees the change at its next request). New passwords are read from
//! standard input, one line, so they never show in the process list or shell history.

use std::io::BufRead;

use clap::Subcommand;
use plugboard_server::accounts;
use plugboard_store::{ChatStore, SqliteStore};

use crate::config::FileConfig;
use crate::plugins::PluginOptions;

/// What `plugboard user` does.
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Lists every user, oldest first, administrators marked.
    List {
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Creates a user (the password is read from standard input). With sign-up closed,
    /// this is how people get an account.
    Create {
        /// The username.
        username: String,
        /// Make them an administrator.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Sets a user's password (read from standard input) and signs them out everywhere.
    Passwd {
        /// The username.
        username: String,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Makes a user an administrator.
    Promote {
        /// The username.
        username: String,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Takes the administrator role from a user (never from the last administrator).
    Demote {
        /// The username.
        username: String,
        #[command(flatten)]
        plugins: PluginOptions,
    },
}

async fn open(plugins: &PluginOptions) -> anyhow::Result<SqliteStore> {
    let file = FileConfig::load(plugins.config.as_deref())?;
    Ok(SqliteStore::open(&plugins.data_dir(&file).join("plugboard.db")).await?)
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "give the password on standard input, one line");
    Ok(password)
}

/// Runs a `plugboard user` command, printing what it did.
pub(crate) async fn run(command: UserCommand) -> anyhow::Result<()> {
    let refused = |error: accounts::AccountError| anyhow::anyhow!("{}", error.message);
    match command {
        UserCommand::List { plugins } => {
            let store = open(&plugins).await?;
            for user in store.users().await? {
                println!("{}{}", user.username, if user.is_admin { " (administrator)" } else { "" });
            }
            store.close().await;
        }
        UserCommand::Create { username, admin, plugins } => {
            let password = read_password()?;
            let store = open(&plugins).await?;
            let created = accounts::create_user(&store, &username, &password, admin).await;
            store.close().await;
            let user = created.map_err(refused)?;
            println!("created {}{}", user.username, if user.is_admin { " (administrator)" } else { "" });
        }
        UserCommand::Passwd { username, plugins } => {
            let password = read_password()?;
            let store = open(&plugins).await?;
            let changed = accounts::reset_password(&store, &username, &password).await;
            store.close().await;
            let user = changed.map_err(refused)?;
            println!("set the password of {}; their sessions ended", user.username);
        }
        UserCommand::Promote { username, plugins } => set_admin(&plugins, &username, true).await?,
        UserCommand::Demote { username, plugins } => set_admin(&plugins, &username, false).await?,
    }
    Ok(())
}

async fn set_admin(plugins: &PluginOptions, username: &str, admin: bool) -> anyhow::Result<()> {
    let store = open(plugins).await?;
    let changed = accounts::set_admin(&store, username, admin).await;
    store.close().await;
    let user = changed.map_err(|error| anyhow::anyhow!("{}", error.message))?;
    println!("{} {} an administrator", user.username, if user.is_admin { "is" } else { "is no longer" });
    Ok(())
}
