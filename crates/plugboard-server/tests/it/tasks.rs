//! Scheduled tasks through a real server: the `ticker` fixture's tasks (each run counted in
//! its key-value store) run on time and never overlap, stop when the plugin is disabled
//! and resume when it is enabled, run at once from the API, keep their deadlines, and
//! survive a restart without running a due time twice; the bundled `daily-digest` posts
//! a digest of a user's chat.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plugboard_host::RuntimeConfig;
use plugboard_registry::RegistryConfig;
use plugboard_server::{AppBuilder, AppState};
use plugboard_store::{PluginStore, RunTrigger, SqliteStore, Store, TaskRun, TaskStore};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{TestServer, eventually, shared_cache_dir};

async fn count(store: &dyn PluginStore, task: &str) -> u64 {
    let value = store.kv_get("ticker", &format!("count:{task}")).await.unwrap();
    value.map(|bytes| String::from_utf8(bytes).unwrap().parse().unwrap()).unwrap_or(0)
}

async fn overlaps(store: &dyn PluginStore) -> Vec<String> {
    store.kv_list("ticker", "overlap:", 100).await.unwrap()
}

fn task<'a>(details: &'a Value, name: &str) -> &'a Value {
    details["tasks"].as_array().unwrap().iter().find(|task| task["name"] == name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_on_time_never_overlap_and_stop_while_disabled() {
    let server = TestServer::start(&["ticker"]).await;
    let admin = server.signup("admin").await;
    let store = server.state.store.as_ref();

    tokio::time::sleep(Duration::from_millis(5_500)).await;
    // Counts within a range, not exact timing: about one `tick` a second, one `cron` every
    // two seconds by the clock.
    let ticks = count(store, "tick").await;
    assert!((2..=7).contains(&ticks), "`tick` (every 1s) ran {ticks} times in 5.5 s");
    let crons = count(store, "cron").await;
    assert!((1..=4).contains(&crons), "`cron` (*/2 s) ran {crons} times in 5.5 s");
    // `slow` takes 2.5 s but is due every second: the due times in between are skipped.
    let (status, body) = admin.get("/api/plugins/ticker/tasks/slow/runs?limit=100").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcomes: Vec<&str> =
        body["runs"].as_array().unwrap().iter().map(|run| run["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.contains(&"skipped"), "{outcomes:?}");
    assert!(outcomes.contains(&"ok"), "{outcomes:?}");
    assert_eq!(overlaps(store).await, Vec::<String>::new(), "no two runs of one task at once");
    // The hourly ones have not come due.
    assert_eq!(count(store, "fail").await, 0);

    // Operators see each task's schedule, next run and last run.
    let (status, details) = admin.get("/api/plugins/ticker").await;
    assert_eq!(status, StatusCode::OK, "{details}");
    let tick = task(&details, "tick");
    assert_eq!(tick["every"], "1s");
    assert!(tick["next_run_ms"].as_i64().unwrap() > 0, "{tick}");
    assert_eq!(tick["last_run"]["outcome"], "ok", "{tick}");
    assert_eq!(tick["last_run"]["trigger"], "schedule", "{tick}");
    assert_eq!(task(&details, "cron")["cron"], "*/2 * * * * *");
    assert_eq!(task(&details, "cron")["timezone"], "UTC");
    assert_eq!(task(&details, "slow")["timeout_ms"], 5_000);
    // And they are counted for Prometheus.
    let (status, metrics) = admin.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(
        metrics.lines().any(|line| line.starts_with("plugboard_task_runs_total")
            && line.contains("task=\"slow\"")
            && line.contains("outcome=\"skipped\"")),
        "{metrics}"
    );

    // Disabled: no task runs (once the run under way, at most 2.5 s, has finished).
    let (status, body) = admin.post("/api/plugins/ticker/disable", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let stopped_at = count(store, "tick").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(count(store, "tick").await, stopped_at, "a disabled plugin's tasks do not run");
    let (_, details) = admin.get("/api/plugins/ticker").await;
    assert_eq!(task(&details, "tick")["next_run_ms"], Value::Null, "{details}");

    // Enabled again: they resume.
    let (status, body) = admin.post("/api/plugins/ticker/enable", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("the tick task to resume", async || (count(store, "tick").await > stopped_at).then_some(())).await;

    // Reloaded: they go on, on the new instance of the plugin.
    let (status, body) = admin.post("/api/plugins/ticker/reload", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reloaded_at = count(store, "tick").await;
    eventually("the tick task to go on after a reload", async || {
        (count(store, "tick").await >= reloaded_at + 2).then_some(())
    })
    .await;
    assert_eq!(overlaps(store).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_a_task_at_once_with_its_own_deadline() {
    let server = TestServer::start(&["ticker"]).await;
    let admin = server.signup("admin").await;
    let user = server.signup("bob").await;

    let (status, body) = admin.post("/api/plugins/ticker/tasks/fail/run", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["run"]["outcome"], "error", "{body}");
    assert_eq!(body["run"]["trigger"], "manual", "{body}");
    assert!(body["run"]["error"].as_str().unwrap().contains("the fail task fails on purpose"), "{body}");

    // `long` takes 2.5 s: past the plugin's 2 s per-call deadline, within its own 5 s.
    let (status, body) = admin.post("/api/plugins/ticker/tasks/long/run", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["run"]["outcome"], "ok", "{body}");
    // `overrun` spins: it is stopped at its own 300 ms, not the plugin's 2 s.
    let (status, body) = admin.post("/api/plugins/ticker/tasks/overrun/run", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["run"]["outcome"], "deadline", "{body}");
    assert!(body["run"]["duration_ms"].as_i64().unwrap() < 2_000, "{body}");

    // One run of a task at a time: a second request while one is under way is refused.
    let (first, second) = tokio::join!(admin.post("/api/plugins/ticker/tasks/long/run", json!({})), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        admin.post("/api/plugins/ticker/tasks/long/run", json!({})).await
    });
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(second.0, StatusCode::CONFLICT, "{}", second.1);
    assert_eq!(second.1["error"]["code"], "task_running", "{}", second.1);

    // The runs are in the history, newest first.
    let (status, body) = admin.get("/api/plugins/ticker/tasks/long/runs").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let runs = body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{body}");
    assert!(runs.iter().all(|run| run["trigger"] == "manual" && run["outcome"] == "ok"), "{body}");

    // Errors name what is wrong.
    let (status, body) = admin.post("/api/plugins/ticker/tasks/nope/run", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "task_not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("`tick`"), "{body}");
    let (status, body) = user.post("/api/plugins/ticker/tasks/tick/run", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = admin.post("/api/plugins/nope/tasks/tick/run", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    admin.post("/api/plugins/ticker/disable", json!({})).await;
    let (status, body) = admin.post("/api/plugins/ticker/tasks/tick/run", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "plugin_disabled", "{body}");
}

/// A server on the data folder `data` (its plugins in `data/plugins`), serving until the
/// sender is dropped; the handle ends when it has stopped.
async fn serve(data: &Path) -> (AppState, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.join("plugboard.db")).await.unwrap());
    let state = AppBuilder::new(store)
        .runtime_config(RuntimeConfig { cache_dir: Some(shared_cache_dir().to_owned()), ..RuntimeConfig::default() })
        .registry_config(RegistryConfig { directories: vec![data.join("plugins")], ..RegistryConfig::default() })
        .build()
        .await
        .unwrap();
    let report = state.registry.start().await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = state.clone();
    let handle = tokio::spawn(async move {
        plugboard_server::serve(listener, serving, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (state, stop, handle)
}

async fn runs(store: &dyn TaskStore, task: &str) -> Vec<TaskRun> {
    store.task_runs("ticker", task, 100).await.unwrap()
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_runs_no_due_time_twice_and_makes_up_only_when_told() {
    let data = tempfile::tempdir().unwrap();
    let plugins = data.path().join("plugins");
    plugboard_test_plugins::copy_plugin_folder(&plugboard_test_plugins::plugin_dir("ticker"), &plugins.join("ticker"))
        .unwrap();

    let (state, stop, handle) = serve(data.path()).await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    drop(stop);
    handle.await.unwrap();
    let stopped_ms = now_ms();
    drop(state);

    // Down for longer than the two-second tasks' interval: each misses a due time.
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let restarted_ms = now_ms();
    let (state, stop, handle) = serve(data.path()).await;
    let store = state.store.as_ref();
    eventually("the catch-up run", async || {
        runs(store, "catchup").await.into_iter().find(|run| run.trigger == RunTrigger::CatchUp)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    drop(stop);
    handle.await.unwrap();

    // No due time ran twice, across the restart: every recorded due time is distinct,
    // and the plugin saw each run once.
    for task in ["tick", "cron", "catchup", "nocatchup"] {
        let runs = runs(store, task).await;
        let ran: Vec<i64> = runs.iter().filter(|run| run.outcome.is_run()).map(|run| run.scheduled_at_ms).collect();
        let distinct: BTreeSet<i64> = ran.iter().copied().collect();
        assert_eq!(distinct.len(), ran.len(), "`{task}` ran a due time twice: {runs:?}");
        let seen = store.kv_list("ticker", &format!("run:{task}:"), 1_000).await.unwrap();
        assert_eq!(seen.len(), ran.len(), "`{task}`: the plugin saw {seen:?}, the store recorded {runs:?}");
        assert!(!ran.is_empty(), "`{task}` never ran");
    }
    // `catch_up = true`: the missed due time ran once at start; otherwise it was passed over.
    let catch_ups: Vec<TaskRun> =
        runs(store, "catchup").await.into_iter().filter(|run| run.trigger == RunTrigger::CatchUp).collect();
    assert_eq!(catch_ups.len(), 1, "{catch_ups:?}");
    assert!(catch_ups[0].scheduled_at_ms < restarted_ms, "{catch_ups:?}");
    let missed: Vec<TaskRun> = runs(store, "nocatchup")
        .await
        .into_iter()
        .filter(|run| run.scheduled_at_ms > stopped_ms && run.scheduled_at_ms < restarted_ms)
        .collect();
    assert_eq!(missed, vec![], "a due time missed while down ran without `catch_up`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_digest_posts_a_users_day() {
    let server = TestServer::start(&["daily-digest"]).await;
    let admin = server.signup("admin").await;
    // It ships disabled: it posts into users' conversation lists.
    let (_, details) = admin.get("/api/plugins").await;
    let listed = details["plugins"].as_array().unwrap().iter().find(|plugin| plugin["id"] == "daily-digest").unwrap();
    assert_eq!(listed["state"], "disabled", "{listed}");
    let (status, body) = admin.post("/api/plugins/daily-digest/enable", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let conversation = admin.conversation("Trip planning").await;
    let (status, body) =
        admin.post("/api/chat", json!({"conversation_id": conversation, "message": "Where to in May?"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let store = server.state.store.as_ref();
    eventually("the message and its reply to be counted", async || {
        let keys = store.kv_list("daily-digest", "activity:", 10).await.unwrap();
        let value = store.kv_get("daily-digest", keys.first()?).await.unwrap()?;
        let activity: Value = serde_json::from_slice(&value).unwrap();
        (activity["replies"] == 1).then_some(())
    })
    .await;

    let (status, body) = admin.post("/api/plugins/daily-digest/tasks/digest/run", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["run"]["outcome"], "ok", "{body}");
    let (_, list) = admin.get("/api/conversations").await;
    let digest = list["conversations"].as_array().unwrap().iter().find(|c| c["title"] == "Daily digest");
    let digest = digest.unwrap_or_else(|| panic!("no digest conversation: {list}"));
    let (_, messages) = admin.get(&format!("/api/conversations/{}/messages", digest["id"].as_str().unwrap())).await;
    let text = messages["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains("You wrote 1 message and got 1 reply in 1 conversation."), "{messages}");
    assert!(text.contains("- Trip planning (2)"), "{text}");

    // The housekeeping task runs too (nothing is old enough to delete yet).
    let (status, body) = admin.post("/api/plugins/daily-digest/tasks/prune/run", json!({})).await;
    assert_eq!((status, &body["run"]["outcome"]), (StatusCode::OK, &json!("ok")), "{body}");
    assert_eq!(store.kv_list("daily-digest", "activity:", 10).await.unwrap().len(), 1);
}
