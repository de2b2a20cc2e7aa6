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

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
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
                        Command::Run(job) => {
                            // A job that panics fails alone (its caller gets an error), not
                            // every write after it; a transaction it left open is rolled
                            // back by sqlx before the connection's next use.
                            if AssertUnwindSafe(job(&mut connection)).catch_unwind().await.is_err() {
                                tracing::error!("a write to the database panicked; it was not made");
                            }
                        }
                        Command::Close(done) => {
                            queue.close();
                            close(connection).await;
                            let _ = done.send(());
                            return;
                        }
                    }
                }
                // Every handle is gone: the store was dropped without `close`.
                close(connection).await;
            });
        })?;
        Ok(Writer { commands })
    }

    /// Runs `job` on the writing connection after the writes queued before it, and returns
    /// what it returns; [`sqlx::Error::PoolClosed`] once the writer is closed, and
    /// [`sqlx::Error::WorkerCrashed`] if the job panicked (or the writer closed after it was
    /// queued).
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
        answered.await.map_err(|_| sqlx::Error::WorkerCrashed)
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

/// Closes the writing connection (checkpointing the journal if it is the last one).
async fn close(connection: SqliteConnection) {
    if let Err(error) = connection.close().await {
        tracing::warn!("closing the database's writing connection: {error}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::future::Future;
    use std::task::{Context, Waker};

    use sqlx::{Connection, Row, SqliteConnection};

    use super::Writer;

    async fn writer() -> Writer {
        let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER NOT NULL)").execute(&mut connection).await.unwrap();
        Writer::start(connection).unwrap()
    }

    async fn count(writer: &Writer) -> i64 {
        let row = writer
            .run(|connection| Box::pin(sqlx::query("SELECT COUNT(*) AS n FROM t").fetch_one(connection)))
            .await
            .unwrap()
            .unwrap();
        row.get("n")
    }

    #[tokio::test]
    async fn a_write_whose_caller_stops_waiting_is_still_made_before_later_ones() {
        let writer = writer().await;
        {
            let insert = writer.run(|connection| Box::pin(sqlx::query("INSERT INTO t VALUES (1)").execute(connection)));
            let mut insert = std::pin::pin!(insert);
            // Polled once (which queues the job), then dropped at the end of this block.
            let mut context = Context::from_waker(Waker::noop());
            assert!(insert.as_mut().poll(&mut context).is_pending());
        }
        assert_eq!(count(&writer).await, 1);
    }

    #[tokio::test]
    async fn a_job_that_panics_fails_alone() {
        let writer = writer().await;
        let panicked = writer
            .run(|connection| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t VALUES (1)").execute(&mut *connection).await.unwrap();
                    panic!("a bug in a write");
                })
            })
            .await;
        assert!(matches!(panicked, Err(sqlx::Error::WorkerCrashed)), "{panicked:?}");
        // The writer goes on (the statement before the panic was made: it was not in a
        // transaction).
        assert_eq!(count(&writer).await, 1);
    }

    #[tokio::test]
    async fn a_closed_writer_refuses_jobs() {
        let writer = writer().await;
        writer.close().await;
        let refused = writer.run(|connection| Box::pin(sqlx::query("SELECT 1").execute(connection))).await;
        assert!(matches!(refused, Err(sqlx::Error::PoolClosed)), "{refused:?}");
    }
}
