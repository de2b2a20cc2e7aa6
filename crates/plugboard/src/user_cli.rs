//! `plugboard user …`: accounts on a data folder, with or without a server running on it
//! (a running server sees the change at its next request, and tells its plugins of
//! created, disabled, enabled and deleted users within seconds; a stopped one at its next
//! start). New passwords are read from
//! standard input, one line, so they never show in the process list or shell history.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use plugboard_server::accounts;
use plugboard_store::AnyStore;

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
    /// Takes the administrator role from a user (never from the last active administrator).
    Demote {
        /// The username.
        username: String,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Disables a user: signs them out; they cannot sign in or use their API tokens until
    /// enabled again. Their conversations are kept.
    Disable {
        /// The username.
        username: String,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Enables a disabled user again.
    Enable {
        /// The username.
        username: String,
        #[command(flatten)]
        plugins: PluginOptions,
    },
    /// Deletes a user with their conversations, files, sessions and API tokens, for good.
    /// Asks first when run in a terminal; `--yes` skips the question.
    Delete {
        /// The username.
        username: String,
        /// Delete without asking.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        plugins: PluginOptions,
    },
}

async fn open(plugins: &PluginOptions) -> anyhow::Result<AnyStore> {
    let file = FileConfig::load(plugins.config.as_deref())?;
    plugins.open_store(&file, &plugins.data_dir(&file)).await
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
                let admin = if user.is_admin { " (administrator)" } else { "" };
                let disabled = if user.is_active() { "" } else { " (disabled)" };
                println!("{}{admin}{disabled}", user.username);
            }
            store.close().await;
        }
        UserCommand::Create { username, admin, plugins } => {
            let password = read_password()?;
            let store = open(&plugins).await?;
            let created = accounts::create_user(&*store, &username, &password, admin).await;
            store.close().await;
            let user = created.map_err(refused)?;
            println!("created {}{}", user.username, if user.is_admin { " (administrator)" } else { "" });
        }
        UserCommand::Passwd { username, plugins } => {
            let password = read_password()?;
            let store = open(&plugins).await?;
            let changed = accounts::reset_password(&*store, &username, &password).await;
            store.close().await;
            let user = changed.map_err(refused)?;
            println!("set the password of {}; their sessions ended", user.username);
        }
        UserCommand::Promote { username, plugins } => set_admin(&plugins, &username, true).await?,
        UserCommand::Demote { username, plugins } => set_admin(&plugins, &username, false).await?,
        UserCommand::Disable { username, plugins } => set_disabled(&plugins, &username, true).await?,
        UserCommand::Enable { username, plugins } => set_disabled(&plugins, &username, false).await?,
        UserCommand::Delete { username, yes, plugins } => {
            if !yes {
                confirm_delete(&username)?;
            }
            let store = open(&plugins).await?;
            let deleted = accounts::delete_user(&*store, &username).await;
            store.close().await;
            let user = deleted.map_err(refused)?;
            println!("deleted {} with their conversations, files and API tokens", user.username);
        }
    }
    Ok(())
}

/// Asks before deleting `username`, when a person is at the terminal; refuses otherwise.
fn confirm_delete(username: &str) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    anyhow::ensure!(
        stdin.is_terminal(),
        "deleting `{username}` removes their conversations and files for good; add --yes to confirm"
    );
    print!("Delete `{username}` with all their conversations, files and API tokens? Type the name to confirm: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    anyhow::ensure!(line.trim() == username, "not deleted: the name typed was not `{username}`");
    Ok(())
}

async fn set_disabled(plugins: &PluginOptions, username: &str, disabled: bool) -> anyhow::Result<()> {
    let store = open(plugins).await?;
    let changed = accounts::set_disabled(&*store, username, disabled).await;
    store.close().await;
    let user = changed.map_err(|error| anyhow::anyhow!("{}", error.message))?;
    match user.is_active() {
        true => println!("{} is enabled", user.username),
        false => println!("{} is disabled and signed out everywhere", user.username),
    }
    Ok(())
}

async fn set_admin(plugins: &PluginOptions, username: &str, admin: bool) -> anyhow::Result<()> {
    let store = open(plugins).await?;
    let changed = accounts::set_admin(&*store, username, admin).await;
    store.close().await;
    let user = changed.map_err(|error| anyhow::anyhow!("{}", error.message))?;
    println!("{} {} an administrator", user.username, if user.is_admin { "is" } else { "is no longer" });
    Ok(())
}
