//! `plugboard db …`: the database itself. `migrate --from SQLITE --to POSTGRES` copies a
//! SQLite installation into an empty PostgreSQL database (the store's `copy_database`),
//! with a progress bar per table on a terminal and a line per table otherwise, then a
//! summary of the rows on both sides.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use plugboard_store::{
    CopyOptions, CopyProgress, CopyReport, DatabaseLocation, PgStore, SqliteStore, StoreError, copy_database,
};

use crate::config::FileConfig;
use crate::plugins::PluginOptions;

/// What `plugboard db` does.
#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// With --from and --to: copies everything of a SQLite installation (users, sessions,
    /// API tokens, conversations, messages, attachments, traces, plugin records and
    /// settings, faults, plugin data, scheduled tasks, packages, trusted keys, pending
    /// account events) into an empty PostgreSQL database, creating its schema first. Stop
    /// the server first; then start it with --database-url set to the PostgreSQL URL and
    /// the same data folder (its secret.key opens the secret settings, copied encrypted).
    /// Without them: brings the configured database's schema up to date, as a starting
    /// server does.
    Migrate {
        /// The SQLite database to copy: its path (such as plugboard-data/plugboard.db) or
        /// sqlite://PATH.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// The PostgreSQL database to copy into:
        /// postgres://USER:PASSWORD@HOST:PORT/DATABASE (it must exist, and be empty).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Copy into a database that already holds rows: rows whose key is there already
        /// are left as they are there, the others are added (to finish a copy that was
        /// interrupted).
        #[arg(long, requires = "to")]
        into_non_empty: bool,
        #[command(flatten)]
        plugins: PluginOptions,
    },
}

/// Runs a `plugboard db` command, printing what it did.
pub(crate) async fn run(command: DbCommand) -> anyhow::Result<()> {
    match command {
        DbCommand::Migrate { from: Some(from), to: Some(to), into_non_empty, .. } => {
            copy(&from, &to, into_non_empty).await
        }
        DbCommand::Migrate { plugins, .. } => {
            let file = FileConfig::load(plugins.config.as_deref())?;
            let data_dir = plugins.data_dir(&file);
            let location = plugins.database(&file, &data_dir)?;
            let store = plugins.open_store(&file, &data_dir).await?;
            store.close().await;
            println!("the schema of the database {location} is up to date");
            Ok(())
        }
    }
}

/// `plugboard db migrate --from … --to …`.
async fn copy(from: &str, to: &str, into_non_empty: bool) -> anyhow::Result<()> {
    let source = match DatabaseLocation::parse(from).context("in --from")? {
        DatabaseLocation::Sqlite(path) => path,
        DatabaseLocation::Postgres(_) => anyhow::bail!(
            "--from names a PostgreSQL database; give the SQLite database to copy from, its path (such as plugboard-data/plugboard.db) or sqlite://PATH"
        ),
    };
    let target = match DatabaseLocation::parse(to).context("in --to")? {
        location @ DatabaseLocation::Postgres(_) => location,
        DatabaseLocation::Sqlite(_) => anyhow::bail!(
            "--to must be the PostgreSQL database to copy into, postgres://USER:PASSWORD@HOST:PORT/DATABASE (create it first with `createdb`)"
        ),
    };
    let DatabaseLocation::Postgres(url) = &target else { unreachable!("checked above") };
    anyhow::ensure!(
        source.is_file(),
        "there is no SQLite database at {} (--from); give the path of the server's database, by default plugboard.db in its data folder (plugboard-data/plugboard.db)",
        source.display()
    );
    let sqlite = SqliteStore::open(&source)
        .await
        .with_context(|| format!("cannot open the SQLite database to copy from (--from {})", source.display()))?;
    let postgres = match PgStore::connect(url).await {
        Ok(store) => store,
        Err(error) => {
            sqlite.close().await;
            return Err(error).context("the PostgreSQL database to copy into (--to) cannot be used");
        }
    };
    let options = CopyOptions { into_non_empty, ..CopyOptions::default() };
    let mut progress = Progress::new(std::io::stdout().is_terminal());
    let copied = copy_database(&sqlite, &postgres, &options, &mut |event| progress.show(event)).await;
    progress.clear();
    sqlite.close().await;
    postgres.close().await;
    let report = match copied {
        Ok(report) => report,
        Err(StoreError::TargetNotEmpty { table, rows }) => anyhow::bail!(
            "the PostgreSQL database {target} is not empty: table `{table}` has {rows} rows, and nothing was copied; give --to a new, empty database (`createdb`), or add --into-non-empty to keep the rows there and add only those missing (to finish a copy that was interrupted)"
        ),
        Err(error) => {
            return Err(error).with_context(|| format!("copying {} into {target}", source.display()));
        }
    };
    print!("{}", summary(&report));
    println!(
        "copied {} into {target}; start the server with --database-url (or PLUGBOARD_DATABASE_URL) set to it, and the same data folder: its secret.key opens the secret plugin settings",
        source.display()
    );
    std::io::stdout().flush().context("cannot write to standard output")?;
    Ok(())
}

/// Shows the copy's progress: a bar per table on a terminal (the bars of the tables done
/// stay, one under the other), else a line per table done.
struct Progress {
    terminal: bool,
    bar: Option<ProgressBar>,
    rows: u64,
}

impl Progress {
    fn new(terminal: bool) -> Progress {
        Progress { terminal, bar: None, rows: 0 }
    }

    fn show(&mut self, event: CopyProgress) {
        match event {
            CopyProgress::Started { table, rows } => {
                self.rows = rows;
                if self.terminal {
                    let bar = ProgressBar::with_draw_target(Some(rows), ProgressDrawTarget::stdout());
                    bar.set_style(
                        ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} rows {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    bar.set_prefix(table);
                    self.bar = Some(bar);
                }
            }
            CopyProgress::Copied { done, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done);
                }
            }
            CopyProgress::Finished { table } => match self.bar.take() {
                // The finished bar stays; the next one starts on the line below.
                Some(bar) => {
                    bar.finish();
                    println!();
                }
                None => println!("copied {table}: {} rows", self.rows),
            },
            _ => {}
        }
    }

    /// Leaves no half-drawn bar behind an error.
    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
            println!();
        }
    }
}

/// The rows of every table on both sides, as a table.
fn summary(report: &CopyReport) -> String {
    let mut out =
        format!("{:<16} {:>10} {:>10} {:>14} {:>11}\n", "table", "SQLite", "copied", "already there", "PostgreSQL");
    let (mut source, mut copied, mut target) = (0, 0, 0);
    for entry in &report.tables {
        out.push_str(&format!(
            "{:<16} {:>10} {:>10} {:>14} {:>11}\n",
            entry.table, entry.source_rows, entry.copied, entry.already_there, entry.target_rows
        ));
        (source, copied, target) = (source + entry.source_rows, copied + entry.copied, target + entry.target_rows);
    }
    let already: u64 = report.tables.iter().map(|entry| entry.already_there).sum();
    out.push_str(&format!("{:<16} {source:>10} {copied:>10} {already:>14} {target:>11}\n", "total"));
    out
}
