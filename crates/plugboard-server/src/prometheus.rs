//! `GET /metrics`: Prometheus text format. Chat turns and plugin errors are counted where
//! they happen (the `metrics` facade in the host and the chat core); plugin calls are
//! counted by the runtime in plain atomics, and they and the plugins' state are read at
//! each scrape.

use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use plugboard_host::HookCallStats;
use plugboard_manifest::PluginId;

use crate::auth::AdminUser;
use crate::{AppState, schemas};

/// Latency buckets in seconds, from a warm filter call to a long model reply: the same
/// as the plugin calls'.
const BUCKETS: &[f64] = &plugboard_host::CALL_DURATION_BUCKETS;

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later servers in the same process share it).
pub(crate) fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .map_err(|error| tracing::warn!("metrics are off: {error}"))
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    // Histogram samples wait in the recorder until an upkeep folds them into
                    // their buckets; a server nobody scrapes would otherwise keep every one.
                    let upkeep = handle.clone();
                    let started = std::thread::Builder::new().name("plugboard-metrics".into()).spawn(move || {
                        loop {
                            std::thread::sleep(UPKEEP_INTERVAL);
                            upkeep.run_upkeep();
                        }
                    });
                    if let Err(error) = started {
                        tracing::warn!("metrics upkeep did not start ({error}); samples are folded only when scraped");
                    }
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!("metrics are off: another recorder is installed: {error}");
                    None
                }
            }
        })
        .as_ref()
}

/// Metrics in Prometheus's text format
///
/// For administrators: Prometheus can send an admin's API token.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    operation_id = "metrics",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not an administrator (`admin_only`)", body = schemas::ApiError),
    )
)]
pub(crate) async fn metrics(State(state): State<AppState>, AdminUser(_): AdminUser) -> impl IntoResponse {
    for plugin in state.registry.runtime().plugins() {
        let status = plugin.status();
        let id = plugin.id().to_string();
        metrics::gauge!("plugboard_plugin_enabled", "plugin" => id.clone()).set(if status.enabled { 1.0 } else { 0.0 });
        metrics::gauge!("plugboard_plugin_faults", "plugin" => id.clone()).set(status.faults as f64);
        let open = matches!(status.breaker.state, plugboard_host::BreakerState::Open);
        metrics::gauge!("plugboard_plugin_breaker_open", "plugin" => id).set(if open { 1.0 } else { 0.0 });
    }
    let mut body = match install() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::from("# metrics are off: see the server log\n"),
    };
    render_plugin_calls(&mut body, &state.registry.runtime().call_stats());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

/// Appends `plugboard_plugin_calls_total` and `plugboard_plugin_call_duration_seconds`
/// (by plugin and hook) in Prometheus's text format.
fn render_plugin_calls(out: &mut String, stats: &[(PluginId, Vec<HookCallStats>)]) {
    if stats.iter().all(|(_, hooks)| hooks.is_empty()) {
        return;
    }
    let series = || stats.iter().flat_map(|(id, hooks)| hooks.iter().map(move |hook| (id, hook)));
    let _ = writeln!(out, "# TYPE plugboard_plugin_calls_total counter");
    for (id, hook) in series() {
        let _ = writeln!(
            out,
            "plugboard_plugin_calls_total{{plugin=\"{id}\",hook=\"{}\"}} {}",
            hook.hook.as_str(),
            hook.calls
        );
    }
    let _ = writeln!(out, "\n# TYPE plugboard_plugin_call_duration_seconds histogram");
    for (id, hook) in series() {
        let labels = format!("plugin=\"{id}\",hook=\"{}\"", hook.hook.as_str());
        for (bound, count) in BUCKETS.iter().zip(hook.buckets) {
            let _ = writeln!(out, "plugboard_plugin_call_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "plugboard_plugin_call_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", hook.calls);
        let _ = writeln!(out, "plugboard_plugin_call_duration_seconds_sum{{{labels}}} {}", hook.seconds);
        let _ = writeln!(out, "plugboard_plugin_call_duration_seconds_count{{{labels}}} {}", hook.calls);
    }
}
