//! The connection layer: the server's own accept loop over hyper's HTTP/1 connections,
//! so that no client holds a connection, or memory, longer than the limits allow.
//!
//! - At most `max_connections` at once: the loop takes a permit before it accepts, so
//!   further clients wait in the kernel's accept backlog (and time out there, or are
//!   refused once it is full) until a connection ends. Nothing is accepted only to be
//!   closed again.
//! - A request's head (request line and headers) must arrive within `header_timeout`,
//!   counted from the connection's accept or, on a kept-alive connection, from the first
//!   byte of the next request; a slower client is disconnected.
//! - A kept-alive connection with no request in flight is closed after `idle_timeout`
//!   without a byte of a new one. The clock only runs between requests: a response being
//!   written (a chat stream, the live feed) is a request in flight, however long it lasts.
//! - A request's whole body must arrive within `body_timeout` of its head: one deadline
//!   for the body, not for each piece of it, so trickling a byte at a time does not
//!   extend it. A body that misses it is answered with 408 `request_timeout` and the
//!   connection closed. Bytes already received are never refused, even when the handler
//!   reads them late.
//!
//! hyper's own `header_read_timeout` is not used: it also starts as soon as a response is
//! written, so it would close idle kept-alive connections after the header timeout.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

use crate::ApiError;

/// How long clients may take and how many may be connected at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's head must arrive within this, from the connection's start or from the
    /// first byte of a kept-alive connection's next request.
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this, from the end of its head.
    pub body_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the accept backlog.
    pub max_connections: usize,
    /// At shutdown, requests in flight get this long to finish before their connections
    /// are closed.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    /// Ten seconds for a head is far more than any real client on any real link needs for
    /// a few hundred bytes. A minute for a body lets a 10 MiB attachment come over a link
    /// of under 2 Mbit/s. A minute of idleness keeps a browser's connections warm between
    /// clicks (browsers drop theirs sooner). 512 connections leave room under the common
    /// 1024 open-files limit for the database, plugins and model files.
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl ConnectionLimits {
    /// Refuses limits that would serve nothing: a zero timeout or no connections.
    pub fn check(&self) -> Result<(), String> {
        for (name, value) in [
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
            ("idle_timeout", self.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("`{name}` is zero, so no request could arrive; use a duration such as \"10s\""));
            }
        }
        if self.max_connections == 0 {
            return Err("`max_connections` is 0, so nobody could connect; use a number such as 512".to_owned());
        }
        Ok(())
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests in flight finish for at most `shutdown_grace`, and closes what is left. Every
/// connection task has ended (and dropped its `app`) when this returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let limits = Arc::new(limits);
    let (closing, closing_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while let Some(ended) = connections.try_join_next() {
            log_panic(ended);
        }
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        // Streamed replies are many small writes: without TCP_NODELAY, Nagle's algorithm
        // and delayed ACKs hold each one back by tens of milliseconds.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {error}");
        }
        let connection = serve_connection(stream, peer, app.clone(), Arc::clone(&limits), closing_seen.clone());
        connections.spawn(async move {
            connection.await;
            drop(permit);
        });
    }
    // New clients are refused from here on rather than left in a backlog nobody reads.
    drop(listener);
    let _ = closing.send(true);
    let in_flight = connections.len();
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while let Some(ended) = connections.join_next().await {
            log_panic(ended);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            of = in_flight,
            "connections still open {:?} after shutdown began are closed",
            limits.shutdown_grace
        );
        connections.shutdown().await;
    }
}

fn log_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(error) = ended
        && error.is_panic()
    {
        tracing::error!("a connection's task panicked: {error}");
    }
}

/// An error of one connection (the client went away before it was accepted) is nobody's
/// concern; any other (out of file descriptors) is logged and waited out for a second, as
/// hyper and axum do, so the loop does not spin.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("cannot accept a connection: {error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one connection until it closes, or until shutdown asks it to finish the request
/// in flight and close.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Arc<ConnectionLimits>,
    mut closing: watch::Receiver<bool>,
) {
    let clock = Arc::new(Clock::new(&limits));
    let io = TokioIo::new(TimedStream::new(stream, Arc::clone(&clock)));
    let service =
        ConnectionService { app: TowerToHyperService::new(app), peer, clock, body_timeout: limits.body_timeout };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The clock in `TimedStream` does this; hyper's would also cut idle connections.
    builder.header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let shutdown_began = async move {
        // An error means the loop is gone, which it is only after shutdown began.
        let _ = closing.wait_for(|closing| *closing).await;
    };
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = shutdown_began => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%peer, "connection closed: {error}");
    }
}

/// A connection's deadlines between requests, shared by its stream (which enforces them)
/// and its service (which says when a request starts and ends).
struct Clock {
    header_timeout: Duration,
    idle_timeout: Duration,
    state: Mutex<ClockState>,
}

struct ClockState {
    /// Requests whose responses are not yet written.
    in_flight: usize,
    /// When the connection is closed unless a request's head has arrived by then; `None`
    /// while a request is in flight.
    deadline: Option<(Instant, &'static str)>,
    /// Idle: the next byte starts a request, whose head then has `header_timeout`.
    idle: bool,
    /// The stream's reader, to be woken when a deadline is set while it waits.
    reader: Option<Waker>,
}

impl Clock {
    fn new(limits: &ConnectionLimits) -> Clock {
        Clock {
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            state: Mutex::new(ClockState {
                in_flight: 0,
                deadline: Some((Instant::now() + limits.header_timeout, HEAD_TOO_SLOW)),
                idle: false,
                reader: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request's head has arrived: no deadline until its response is written.
    fn request_started(&self) {
        let mut state = self.state();
        state.in_flight += 1;
        state.deadline = None;
        state.idle = false;
    }

    /// A response is written (or abandoned): the connection is idle unless another
    /// request is in flight.
    fn request_ended(&self) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.deadline = Some((Instant::now() + self.idle_timeout, IDLE_TOO_LONG));
            state.idle = true;
            if let Some(reader) = state.reader.take() {
                reader.wake();
            }
        }
    }

    /// Bytes arrived: on an idle connection they begin the next request's head.
    fn bytes_arrived(&self) {
        let mut state = self.state();
        if state.idle {
            state.idle = false;
            state.deadline = Some((Instant::now() + self.header_timeout, HEAD_TOO_SLOW));
        }
    }

    /// The deadline a waiting read must respect, remembering the reader to wake if one is
    /// set later.
    fn deadline(&self, reader: &Waker) -> Option<(Instant, &'static str)> {
        let mut state = self.state();
        if state.deadline.is_none() {
            state.reader = Some(reader.clone());
        }
        state.deadline
    }
}

const HEAD_TOO_SLOW: &str = "the request's head did not arrive within the header timeout";
const IDLE_TOO_LONG: &str = "no request came within the idle timeout";

/// The TCP stream, failing a read that waits past the [`Clock`]'s deadline: hyper then
/// closes the connection.
struct TimedStream {
    stream: TcpStream,
    clock: Arc<Clock>,
    sleep: Pin<Box<Sleep>>,
}

impl TimedStream {
    fn new(stream: TcpStream, clock: Arc<Clock>) -> TimedStream {
        TimedStream { stream, clock, sleep: Box::pin(tokio::time::sleep(Duration::ZERO)) }
    }
}

impl AsyncRead for TimedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.bytes_arrived();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let Some((deadline, what)) = this.clock.deadline(cx.waker()) else {
                    return Poll::Pending;
                };
                if this.sleep.deadline() != deadline {
                    this.sleep.as_mut().reset(deadline);
                }
                match this.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// One connection's service: the router, with the peer's address (`ConnectInfo`, which
/// sign-in limits and the request middleware's `x-plugboard-client-ip` read), the body's
/// deadline, and the clock told when each request starts and ends.
struct ConnectionService {
    app: TowerToHyperService<Router>,
    peer: SocketAddr,
    clock: Arc<Clock>,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        // Synchronously, before hyper reads on: the head is in, the idle clock stops.
        self.clock.request_started();
        let in_flight = InFlight(Arc::clone(&self.clock));
        let timed_out = Arc::new(AtomicBool::new(false));
        let mut request = request.map(|body| {
            if body.is_end_stream() {
                Body::new(body)
            } else {
                Body::new(DeadlineBody {
                    body,
                    deadline: Box::pin(tokio::time::sleep(self.body_timeout)),
                    timed_out: Arc::clone(&timed_out),
                })
            }
        });
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let body_timeout = self.body_timeout;
        let answer = hyper::service::Service::call(&self.app, request);
        Box::pin(async move {
            let response = match answer.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let response = if timed_out.load(Ordering::Acquire) {
                // Whatever the handler made of a body cut short, the client was too slow;
                // the rest of its body would be read as the next request, so the
                // connection ends with this answer.
                let mut response = ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!(
                        "the request's body did not arrive within {} s of its head; send it faster, \
                         or ask the operator to raise `body_timeout`",
                        body_timeout.as_secs_f64()
                    ),
                )
                .into_response();
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                response
            } else {
                response
            };
            Ok(response.map(|body| Body::new(ResponseBody { body, _in_flight: in_flight })))
        })
    }
}

/// Marks its request in flight until dropped with the response's body (written, or
/// abandoned when the client went away).
struct InFlight(Arc<Clock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// A response body that holds its request [`InFlight`].
struct ResponseBody {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that fails once its deadline passes with more of it still to come.
struct DeadlineBody {
    body: Incoming,
    deadline: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
}

/// The error a handler sees when the body misses its deadline; the client gets 408.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request's body did not arrive within the body timeout")
    }
}

impl std::error::Error for BodyTimedOut {}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|frame| frame.map_err(Into::into))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.timed_out.store(true, Ordering::Release);
                    Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
