//! Scheduled tasks: the scheduler that runs every enabled plugin's `[[schedules]]`, and
//! the operator's view and "run now".
//!
//! The scheduler keeps, for each task of each enabled plugin that implements the
//! scheduler hook, the due time it waits for. When one comes, it claims it in the store
//! ([`TaskStore::claim_due_run`]): the claim moves the stored next due time on, so a due
//! time runs once even with several servers on one database or a restart in between,
//! and it takes a lease while the run is under way, so a due time that comes meanwhile
//! is recorded as skipped instead of overlapping. Each run is an ordinary call of the
//! plugin (`scheduler.run-task`: its deadline, memory ceiling, breaker and call metrics),
//! with the task's own deadline. Plugin changes (load, unload, enable, disable, reload,
//! failure) wake it, so a disabled plugin's tasks stop and a reloaded one's resume on the
//! new version.
//!
//! A task seen for the first time, or again after a restart or a time disabled, whose
//! stored due time has passed, runs once at once when its entry says `catch_up = true`;
//! otherwise it waits for its next due time.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use plugboard_host::api::Hook;
use plugboard_host::{CallErrorKind, Plugin, RuntimeEvent};
use plugboard_manifest::{PluginId, Schedule};
use plugboard_store::{Claim, PluginStore, RunOutcome, RunTrigger, TaskRun};
use serde::Serialize;
use tokio::sync::broadcast;

use super::{Inner, Registry, now_ms};
use crate::error::RegistryError;

/// The longest the scheduler sleeps before it looks at the store again (a schedule
/// changed by another server, a lease that ended).
const RESYNC_INTERVAL: Duration = Duration::from_secs(15);

/// How long a run's lease outlasts its deadline: the host stops a call at its deadline,
/// so this covers recording the outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// A task as operators see it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskInfo {
    /// Its `[[schedules]]` entry.
    #[serde(flatten)]
    pub schedule: Schedule,
    /// The deadline of a run, in milliseconds (the declared one capped by the operator's
    /// ceiling, or the plugin's per-call deadline).
    pub timeout_ms: Option<u64>,
    /// When it is next due, milliseconds since the Unix epoch; `None` while it cannot run
    /// (the plugin is not loaded, disabled or failed).
    pub next_run_ms: Option<i64>,
    /// Whether a run is under way.
    pub running: bool,
    /// Its newest run.
    pub last_run: Option<TaskRun>,
}

/// One task the scheduler waits for.
#[derive(Debug)]
struct Waiting {
    plugin: Plugin,
    schedule: Schedule,
    next_due_ms: i64,
    /// The due time was missed and is made up for (`catch_up`).
    catching_up: bool,
}

type TaskKey = (PluginId, String);

/// Runs the tasks of the registry's plugins until the registry is gone.
pub(super) async fn run_schedules(registry: Weak<Inner>, mut events: broadcast::Receiver<RuntimeEvent>) {
    let mut waiting: BTreeMap<TaskKey, Waiting> = BTreeMap::new();
    let mut stale = true;
    loop {
        let Some(inner) = registry.upgrade() else { return };
        if stale {
            waiting = sync(&inner, std::mem::take(&mut waiting)).await;
            stale = false;
        }
        let now = now_ms();
        for ((id, name), task) in waiting.iter_mut().filter(|(_, task)| task.next_due_ms <= now) {
            stale |= start_due(&inner, id, name, task, now).await;
        }
        let sleep = waiting
            .values()
            .map(|task| Duration::from_millis(u64::try_from(task.next_due_ms - now_ms()).unwrap_or(0)))
            .min()
            .unwrap_or(RESYNC_INTERVAL)
            .min(RESYNC_INTERVAL);
        drop(inner);
        tokio::select! {
            () = tokio::time::sleep(sleep) => stale |= sleep == RESYNC_INTERVAL,
            event = events.recv() => match event {
                Ok(RuntimeEvent::Fault { .. } | RuntimeEvent::SettingsChanged { .. }) => {}
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => stale = true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// Claims a due time and starts its run; returns whether the scheduler's view is stale
/// (someone else claimed it).
async fn start_due(inner: &Arc<Inner>, id: &PluginId, name: &str, task: &mut Waiting, now: i64) -> bool {
    let due = task.next_due_ms;
    let next = match task.schedule.next_due_after(now, due) {
        Ok(next) => next,
        Err(error) => {
            tracing::error!(plugin = %id, "cannot schedule the task: {error}");
            task.next_due_ms = i64::MAX;
            return false;
        }
    };
    let lease = lease_ms(&task.plugin, name);
    let trigger = if task.catching_up { RunTrigger::CatchUp } else { RunTrigger::Schedule };
    task.catching_up = false;
    match inner.store.claim_due_run(id.as_str(), name, due, next, lease).await {
        Ok(Claim::Run { lease_until_ms }) => {
            task.next_due_ms = next;
            let (store, plugin, name) = (Arc::clone(&inner.store), task.plugin.clone(), name.to_owned());
            tokio::spawn(async move {
                run(store.as_ref(), &plugin, &name, due, trigger, Some(lease_until_ms)).await;
            });
            false
        }
        Ok(Claim::Skipped) => {
            task.next_due_ms = next;
            tracing::warn!(plugin = %id, task = name, "skipped a due run: the previous run is still under way");
            let skipped = TaskRun {
                plugin: id.to_string(),
                task: name.to_owned(),
                trigger,
                scheduled_at_ms: due,
                started_at_ms: now,
                duration_ms: 0,
                outcome: RunOutcome::Skipped,
                error: Some("the previous run was still under way".to_owned()),
            };
            record(inner.store.as_ref(), &skipped, None).await;
            false
        }
        Ok(Claim::Taken) => true,
        Err(error) => {
            tracing::error!(plugin = %id, task = name, "cannot claim a due run: {error}");
            // Try again at the next look rather than at once.
            task.next_due_ms = now + 1_000;
            false
        }
    }
}

/// The scheduler's view rebuilt from the plugins now enabled and the store: tasks kept
/// where nothing changed, new (or newly enabled, or reloaded) ones prepared in the store.
async fn sync(inner: &Inner, mut before: BTreeMap<TaskKey, Waiting>) -> BTreeMap<TaskKey, Waiting> {
    let mut waiting = BTreeMap::new();
    let now = now_ms();
    let plugins = inner.runtime.plugins().into_iter().filter(|plugin| plugin.is_enabled());
    for plugin in plugins.filter(|plugin| plugin.implements(Hook::Scheduled)) {
        let states = match inner.store.task_states(plugin.id().as_str()).await {
            Ok(states) => states,
            Err(error) => {
                tracing::error!(plugin = %plugin.id(), "cannot read the scheduled tasks: {error}");
                continue;
            }
        };
        for schedule in &plugin.manifest().schedules {
            let key = (plugin.id().clone(), schedule.name.clone());
            let previous = before.remove(&key);
            let stored = states.iter().find(|state| state.task == schedule.name);
            let same = |state_schedule: &str| state_schedule == schedule.describe();
            // Carried on: the stored due time (another server may have moved it) or ours.
            let known = previous.as_ref().is_some_and(|previous| previous.schedule == *schedule);
            let task = match stored.filter(|state| known && same(&state.schedule)) {
                Some(state) => Some(Waiting {
                    plugin: plugin.clone(),
                    schedule: schedule.clone(),
                    next_due_ms: state.next_due_ms,
                    catching_up: previous.is_some_and(|previous| previous.catching_up),
                }),
                None => activate(inner.store.as_ref(), &plugin, schedule, now).await,
            };
            if let Some(task) = task {
                waiting.insert(key, task);
            }
        }
    }
    waiting
}

/// A task that starts (or starts again) being scheduled: its stored state prepared, and a
/// due time missed meanwhile made up for or passed over.
async fn activate(store: &dyn PluginStore, plugin: &Plugin, schedule: &Schedule, now: i64) -> Option<Waiting> {
    let id = plugin.id().as_str();
    let first_due = schedule
        .next_due_after(now, now)
        .map_err(|error| tracing::error!(plugin = id, "cannot schedule the task: {error}"))
        .ok()?;
    let state = store
        .prepare_task(id, &schedule.name, &schedule.describe(), first_due)
        .await
        .map_err(|error| tracing::error!(plugin = id, task = schedule.name, "cannot prepare the task: {error}"))
        .ok()?;
    let mut task = Waiting {
        plugin: plugin.clone(),
        schedule: schedule.clone(),
        next_due_ms: state.next_due_ms,
        catching_up: false,
    };
    if state.next_due_ms <= now {
        if schedule.catch_up {
            tracing::info!(plugin = id, task = schedule.name, "making up for a run missed while it could not run");
            task.catching_up = true;
        } else {
            let next = schedule.next_due_after(now, state.next_due_ms).ok()?;
            tracing::info!(plugin = id, task = schedule.name, "passing over a run missed while it could not run");
            match store.skip_due_run(id, &schedule.name, state.next_due_ms, next).await {
                Ok(true) => task.next_due_ms = next,
                // Another server moved it on: take its due time at the next look.
                Ok(false) => task.next_due_ms = now + 1_000,
                Err(error) => tracing::error!(plugin = id, "cannot pass over a missed run: {error}"),
            }
        }
    }
    Some(task)
}

/// How long a run of `task` may hold the task.
fn lease_ms(plugin: &Plugin, task: &str) -> i64 {
    i64::try_from((plugin.task_timeout(task) + LEASE_MARGIN).as_millis()).unwrap_or(i64::MAX)
}

/// Runs `task` once and records how it went (releasing the lease); counted in the metrics.
async fn run(
    store: &dyn PluginStore,
    plugin: &Plugin,
    task: &str,
    scheduled_at_ms: i64,
    trigger: RunTrigger,
    lease_until_ms: Option<i64>,
) -> TaskRun {
    let started_at_ms = now_ms();
    let started = Instant::now();
    let result = plugin.run_task(task, u64::try_from(scheduled_at_ms).unwrap_or(0)).await;
    let elapsed = started.elapsed();
    let (outcome, error) = match result {
        Ok(()) => (RunOutcome::Ok, None),
        Err(error) if matches!(error.kind, CallErrorKind::Deadline { .. }) => {
            (RunOutcome::Deadline, Some(error.to_string()))
        }
        Err(error) => (RunOutcome::Error, Some(error.to_string())),
    };
    match &error {
        Some(error) => tracing::warn!(plugin = %plugin.id(), task, "task failed: {error}"),
        None => tracing::debug!(plugin = %plugin.id(), task, "task ran in {elapsed:?}"),
    }
    let run = TaskRun {
        plugin: plugin.id().to_string(),
        task: task.to_owned(),
        trigger,
        scheduled_at_ms,
        started_at_ms,
        duration_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
        outcome,
        error,
    };
    metrics::histogram!("plugboard_task_run_duration_seconds", "plugin" => run.plugin.clone(), "task" => run.task.clone())
        .record(elapsed.as_secs_f64());
    record(store, &run, lease_until_ms).await;
    run
}

/// Stores a run (releasing its lease) and counts it.
async fn record(store: &dyn PluginStore, run: &TaskRun, lease_until_ms: Option<i64>) {
    let outcome = match run.outcome {
        RunOutcome::Ok => "ok",
        RunOutcome::Error => "error",
        RunOutcome::Deadline => "deadline",
        RunOutcome::Skipped => "skipped",
    };
    metrics::counter!("plugboard_task_runs_total", "plugin" => run.plugin.clone(), "task" => run.task.clone(), "outcome" => outcome)
        .increment(1);
    // The error is the plugin's own text: no NUL is stored.
    let run = TaskRun { error: run.error.clone().map(plugboard_store::without_nul), ..run.clone() };
    if let Err(error) = store.record_task_run(&run, lease_until_ms).await {
        tracing::error!(plugin = run.plugin, task = run.task, "cannot record the task run: {error}");
    }
}

impl Registry {
    /// Starts running the plugins' scheduled tasks (once; later calls do nothing), until
    /// the registry is dropped. A server starts it; command-line tools that open the
    /// registry to look at or change plugins do not, so they never run a task by chance.
    pub fn start_scheduler(&self) {
        let mut tasks = super::lock(&self.inner.tasks);
        if self.inner.scheduler_started.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let events = self.inner.runtime.subscribe();
        tasks.push(tokio::spawn(run_schedules(Arc::downgrade(&self.inner), events)));
    }

    /// The scheduled tasks of plugin `id` (loaded or not), with their state.
    pub async fn tasks(&self, id: &PluginId) -> Result<Vec<TaskInfo>, RegistryError> {
        let plugin = self.inner.runtime.plugin(id);
        let manifest = match &plugin {
            Some(plugin) => plugin.manifest().clone(),
            None => self.known_manifest(id)?,
        };
        let scheduled = plugin.as_ref().filter(|plugin| plugin.is_enabled() && plugin.implements(Hook::Scheduled));
        let states = self.inner.store.task_states(id.as_str()).await?;
        let now = now_ms();
        let mut tasks = Vec::new();
        for schedule in manifest.schedules {
            let state = states.iter().find(|state| state.task == schedule.name);
            let last_run = self.inner.store.task_runs(id.as_str(), &schedule.name, 1).await?.into_iter().next();
            let next_run_ms = scheduled.and(state).filter(|state| state.schedule == schedule.describe());
            tasks.push(TaskInfo {
                timeout_ms: plugin.as_ref().map(|plugin| plugin.task_timeout(&schedule.name).as_millis() as u64),
                next_run_ms: next_run_ms.map(|state| state.next_due_ms),
                running: state.and_then(|state| state.running_until_ms).is_some_and(|until| until > now),
                last_run,
                schedule,
            });
        }
        Ok(tasks)
    }

    /// The newest runs of task `task` of plugin `id`, newest first, at most `limit`.
    pub async fn task_runs(&self, id: &PluginId, task: &str, limit: usize) -> Result<Vec<TaskRun>, RegistryError> {
        self.known_schedule(id, task)?;
        Ok(self.inner.store.task_runs(id.as_str(), task, limit).await?)
    }

    /// Runs task `task` of plugin `id` now, outside its schedule, and waits for it; the run
    /// is recorded like a scheduled one. Refused while a run of the task is under way
    /// (on any server sharing the database).
    pub async fn run_task_now(&self, id: &PluginId, task: &str) -> Result<TaskRun, RegistryError> {
        let schedule = self.known_schedule(id, task)?;
        let Some(plugin) = self.inner.runtime.plugin(id) else { return Err(self.not_loaded_or_unknown(id)) };
        if !plugin.is_enabled() {
            return Err(RegistryError::NotEnabled { plugin: id.clone() });
        }
        let now = now_ms();
        let first_due = schedule.next_due_after(now, now).unwrap_or(i64::MAX);
        let store = self.inner.store.as_ref();
        store.prepare_task(id.as_str(), task, &schedule.describe(), first_due).await?;
        let Some(lease_until_ms) = store.claim_manual_run(id.as_str(), task, lease_ms(&plugin, task)).await? else {
            return Err(RegistryError::TaskRunning { plugin: id.clone(), task: task.to_owned() });
        };
        Ok(run(store, &plugin, task, now, RunTrigger::Manual, Some(lease_until_ms)).await)
    }

    fn known_schedule(&self, id: &PluginId, task: &str) -> Result<Schedule, RegistryError> {
        let manifest = match self.inner.runtime.plugin(id) {
            Some(plugin) => plugin.manifest().clone(),
            None => self.known_manifest(id)?,
        };
        let known = manifest.schedules.iter().map(|schedule| schedule.name.clone()).collect::<Vec<_>>();
        let found = manifest.schedules.into_iter().find(|schedule| schedule.name == task);
        found.ok_or_else(|| RegistryError::UnknownTask { plugin: id.clone(), task: task.to_owned(), known })
    }
}
