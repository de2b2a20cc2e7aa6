//! The writer of a file database: one connection, owned by a thread of its own, that runs
//! every write of the store one after another.
//!
//! SQLite lets one connection write at a time. With writes spread over a pool, a second
//! writer finds the lock taken and its busy handler sleeps (1, 2, 5, 10 ms ...) before it
//! tries again; under load those sleeps were most of a chat turn's latency. And a
//! connection lent from a pool stays lent until the task that borrowed it is polled again,
//! so a write (or a transaction) held the lock for as long as the async scheduler took to
//! come back to that task. Here writes queue instead of colliding, and the connection
//! belongs to a thread that does nothing else: a job's statements run back to back, and the
//! next job starts as soon as one ends, whatever the callers' tasks are waiting for.
//!
//! A job is a closure given the connection; the caller awaits its result. A caller that
//! stops waiting does not stop its job: a write that was queued finishes (or fails) whole.

use futures_util::future::BoxFuture;
use sqlx::Connection;
use sqlx::SqliteConnection;
use tokio::sync::{mpsc, oneshot};

/// A write to run on the writer's connection.
type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, ()> + Send>;

enum Command {
    Run(Job),
    /// Close the connection (which checkpoints the journal when it is the database's last
    /// one) and stop; answers when done.
    Close(oneshot::Sender<()>),
}

/// The handle to the writer thread. Dropping the last handle (with the store's last
/// clone) stops the thread and closes the connection.
#[derive(Debug)]
pub(super) struct Writer {
    commands: mpsc::UnboundedSender<Command>,
}

impl Writer {
    /// Starts the writer thread with `connection`, which from then on belongs to it.
    pub(super) fn start(mut connection: SqliteConnection) -> std::io::Result<Writer> {
        let (commands, mut queue) = mpsc::unbounded_channel::<Command>();
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        std::thread::Builder::new().name("plugboard-db-writer".to_owned()).spawn(move || {
            runtime.block_on(async move {
                while let Some(command) = queue.recv().await {
                    match command {
                        Command::Run(job) => job(&mut connection).await,
                        Command::Close(done) => {
                            queue.close();
                            if let Err(error) = connection.close().await {
                                tracing::warn!("closing the database's writing connection: {error}");
                            }
                            let _ = done.send(());
                            return;
                        }
                    }
                }
                // Every handle is gone: the store was dropped without `close`.
                if let Err(error) = connection.close().await {
                    tracing::warn!("closing the database's writing connection: {error}");
                }
            });
        })?;
        Ok(Writer { commands })
    }

    /// Runs `job` on the writing connection after the writes queued before it, and returns
    /// what it returns; [`sqlx::Error::PoolClosed`] once the writer is closed.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, T> + Send + 'static,
    ) -> Result<T, sqlx::Error> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            Box::pin(async move {
                let _ = answer.send(job(connection).await);
            })
        });
        self.commands.send(Command::Run(job)).map_err(|_| sqlx::Error::PoolClosed)?;
        // The job is dropped unrun only when the writer closed after it was queued.
        answered.await.map_err(|_| sqlx::Error::PoolClosed)
    }

    /// Lets the writes already queued finish, closes the connection and stops the thread.
    /// Later writes fail with [`sqlx::Error::PoolClosed`].
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.commands.send(Command::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}
