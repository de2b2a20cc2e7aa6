//! Probes for load balancers and orchestrators: `GET /healthz` (the process answers) and
//! `GET /readyz` (this server can take traffic: its database answers with the schema this
//! build runs with, its plugins have loaded, none is still compiling, and it is not shutting
//! down). Neither needs sign-in, neither is rate limited or seen by the plugins' request
//! middleware (they are outside `/api`), and `/healthz` touches nothing but the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// How long `/readyz` waits for the database: a balancer's probe must not hang on a pool
/// that waits for a free connection.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What this server knows of its own readiness, besides its database: set as it starts and
/// as it begins to shut down.
#[derive(Debug, Default)]
pub struct Readiness {
    plugins_started: AtomicBool,
    shutting_down: AtomicBool,
}

impl Readiness {
    /// The registry's start has loaded (or reported) every plugin.
    pub fn mark_plugins_started(&self) {
        self.plugins_started.store(true, Ordering::Release);
    }

    /// Shutdown began: from now on `/readyz` answers 503, so balancers send no more.
    pub fn mark_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Whether shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}

/// `/healthz`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// `/readyz`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReadyReport {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    status: &'static str,
    /// What is not ready (empty when ready).
    not_ready: Vec<NotReady>,
}

/// One part of the server that is not ready.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotReady {
    /// `database`, `plugins` or `shutdown`.
    #[schema(example = "plugins")]
    check: &'static str,
    /// What is wrong, for people.
    message: String,
}

/// Whether the process is up
///
/// Touches nothing but the process: no database, no sign-in. For liveness probes.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    security(),
    responses((status = 200, description = "The process answers", body = Health))
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Whether this server can take traffic
///
/// Ready when the database answers with the schema this build runs with, the plugins have
/// loaded (none still compiling: the server serves meanwhile, without them), and the server is not shutting down (it answers 503 from the shutdown signal on,
/// while requests in flight finish). For load balancers' readiness probes; no sign-in.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    security(),
    responses(
        (status = 200, description = "Ready", body = ReadyReport),
        (status = 503, description = "Not ready: `not_ready` says what", body = ReadyReport),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let mut not_ready = Vec::new();
    if state.readiness.is_shutting_down() {
        not_ready.push(NotReady { check: "shutdown", message: "the server is shutting down".to_owned() });
    }
    if !state.readiness.plugins_started.load(Ordering::Acquire) {
        not_ready.push(NotReady { check: "plugins", message: "the plugins are still loading".to_owned() });
    }
    let compiling = state.registry.compiling();
    if !compiling.is_empty() {
        let names = compiling.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ");
        not_ready.push(NotReady {
            check: "plugins",
            message: format!("plugins still compiling, serving without them meanwhile: {names}"),
        });
    }
    match tokio::time::timeout(DATABASE_PROBE_TIMEOUT, state.store.ready()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => not_ready.push(NotReady { check: "database", message: error.to_string() }),
        Err(_) => not_ready.push(NotReady {
            check: "database",
            message: format!("the database did not answer within {} s", DATABASE_PROBE_TIMEOUT.as_secs()),
        }),
    }
    let (status, word) =
        if not_ready.is_empty() { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "not_ready") };
    (status, Json(ReadyReport { status: word, not_ready })).into_response()
}
