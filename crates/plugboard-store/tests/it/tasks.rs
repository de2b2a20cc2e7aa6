//! Scheduled tasks: preparing a task's state, claiming each due time once (even with
//! several stores on one database), leases that keep runs from overlapping and end when
//! their holder is gone, and the run history.

use std::sync::Arc;
use std::time::Duration;

use plugboard_store::{AnyStore, Claim, RunOutcome, RunTrigger, TASK_RUN_HISTORY_LIMIT, TaskRun};

use crate::TestDb;

fn run(task: &str, started_at_ms: i64, outcome: RunOutcome) -> TaskRun {
    TaskRun {
        plugin: "digest".into(),
        task: task.into(),
        trigger: RunTrigger::Schedule,
        scheduled_at_ms: started_at_ms,
        started_at_ms,
        duration_ms: 3,
        outcome,
        error: (outcome == RunOutcome::Error).then(|| "boom".to_owned()),
    }
}

async fn preparing_keeps_the_state_until_the_schedule_changes(db: TestDb) {
    let (store, _clock) = db.open_with_clock().await;
    let first = store.prepare_task("digest", "daily", "every 1m", 1_000).await.unwrap();
    assert_eq!((first.next_due_ms, first.last_due_ms, first.running_until_ms), (1_000, None, None));
    // The same schedule again (a restart): the stored next due time stands.
    let again = store.prepare_task("digest", "daily", "every 1m", 9_999).await.unwrap();
    assert_eq!(again.next_due_ms, 1_000);
    // A changed schedule starts from the new first due time.
    let changed = store.prepare_task("digest", "daily", "every 5m", 7_000).await.unwrap();
    assert_eq!((changed.schedule.as_str(), changed.next_due_ms), ("every 5m", 7_000));
    // Another plugin's task of the same name is its own.
    store.prepare_task("other", "daily", "every 1m", 5).await.unwrap();
    let states = store.task_states("digest").await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].next_due_ms, 7_000);
}

async fn a_due_time_is_claimed_once_and_a_run_under_way_makes_the_next_skipped(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    store.prepare_task("digest", "daily", "every 1m", 1_000).await.unwrap();

    let Claim::Run { lease_until_ms } = store.claim_due_run("digest", "daily", 1_000, 2_000, 60_000).await.unwrap()
    else {
        panic!("the first claim of a due time runs it");
    };
    // The same due time again (another server, or a retry): taken.
    assert_eq!(store.claim_due_run("digest", "daily", 1_000, 2_000, 60_000).await.unwrap(), Claim::Taken);
    // The next due time while the lease holds: skipped, and the schedule moves on.
    assert_eq!(store.claim_due_run("digest", "daily", 2_000, 3_000, 60_000).await.unwrap(), Claim::Skipped);
    assert_eq!(store.task_states("digest").await.unwrap()[0].next_due_ms, 3_000);

    // Recording the run releases the lease; the next due time runs.
    store.record_task_run(&run("daily", 1_000, RunOutcome::Ok), Some(lease_until_ms)).await.unwrap();
    assert_eq!(store.task_states("digest").await.unwrap()[0].running_until_ms, None);
    clock.advance(Duration::from_millis(1));
    assert!(matches!(store.claim_due_run("digest", "daily", 3_000, 4_000, 60_000).await.unwrap(), Claim::Run { .. }));
}

async fn a_lease_whose_holder_died_ends_with_its_time(db: TestDb) {
    let (store, clock) = db.open_with_clock().await;
    store.prepare_task("digest", "daily", "every 1m", 1_000).await.unwrap();
    assert!(matches!(store.claim_due_run("digest", "daily", 1_000, 2_000, 5_000).await.unwrap(), Claim::Run { .. }));
    // Nobody records the run: the server died. Within the lease, the task stays held.
    assert_eq!(store.claim_manual_run("digest", "daily", 5_000).await.unwrap(), None);
    clock.advance(Duration::from_millis(5_000));
    assert!(matches!(store.claim_due_run("digest", "daily", 2_000, 3_000, 5_000).await.unwrap(), Claim::Run { .. }));
}

async fn a_manual_run_holds_the_task_until_recorded(db: TestDb) {
    let (store, _clock) = db.open_with_clock().await;
    store.prepare_task("digest", "daily", "every 1m", 1_000).await.unwrap();
    let lease = store.claim_manual_run("digest", "daily", 60_000).await.unwrap().expect("nothing is running");
    assert_eq!(store.claim_manual_run("digest", "daily", 60_000).await.unwrap(), None);
    assert_eq!(store.claim_due_run("digest", "daily", 1_000, 2_000, 60_000).await.unwrap(), Claim::Skipped);
    // Releasing with a lease the task no longer holds changes nothing.
    store.record_task_run(&run("daily", 1, RunOutcome::Ok), Some(lease + 1)).await.unwrap();
    assert_eq!(store.claim_manual_run("digest", "daily", 60_000).await.unwrap(), None);
    store.record_task_run(&run("daily", 2, RunOutcome::Ok), Some(lease)).await.unwrap();
    assert!(store.claim_manual_run("digest", "daily", 60_000).await.unwrap().is_some());
    // A task without a state cannot be claimed.
    assert_eq!(store.claim_manual_run("digest", "unknown", 60_000).await.unwrap(), None);
}

async fn skipping_a_missed_due_time_moves_on_only_from_that_time(db: TestDb) {
    let (store, _clock) = db.open_with_clock().await;
    store.prepare_task("digest", "daily", "every 1m", 1_000).await.unwrap();
    assert!(store.skip_due_run("digest", "daily", 1_000, 61_000).await.unwrap());
    assert!(!store.skip_due_run("digest", "daily", 1_000, 121_000).await.unwrap());
    assert_eq!(store.task_states("digest").await.unwrap()[0].next_due_ms, 61_000);
}

async fn runs_are_listed_newest_first_and_trimmed_per_task(db: TestDb) {
    let (store, _clock) = db.open_with_clock().await;
    for at in 0..(TASK_RUN_HISTORY_LIMIT as i64 + 5) {
        let outcome = if at % 2 == 0 { RunOutcome::Ok } else { RunOutcome::Error };
        store.record_task_run(&run("daily", at, outcome), None).await.unwrap();
    }
    store.record_task_run(&run("hourly", 7, RunOutcome::Skipped), None).await.unwrap();
    let runs = store.task_runs("digest", "daily", 1_000).await.unwrap();
    assert_eq!(runs.len(), TASK_RUN_HISTORY_LIMIT);
    assert_eq!(runs[0], run("daily", TASK_RUN_HISTORY_LIMIT as i64 + 4, RunOutcome::Ok));
    assert_eq!(runs.last().unwrap().started_at_ms, 5);
    assert_eq!(store.task_runs("digest", "hourly", 10).await.unwrap(), vec![run("hourly", 7, RunOutcome::Skipped)]);

    // Uninstalling forgets the tasks and their runs.
    store.prepare_task("digest", "daily", "every 1m", 1).await.unwrap();
    store.delete_plugin_data("digest").await.unwrap();
    assert!(store.task_runs("digest", "daily", 10).await.unwrap().is_empty());
    assert!(store.task_states("digest").await.unwrap().is_empty());
}

async fn servers_sharing_a_database_claim_each_due_time_once(db: TestDb) {
    let first = db.open().await;
    first.prepare_task("digest", "daily", "every 1s", 0).await.unwrap();
    let stores: Vec<Arc<AnyStore>> = vec![Arc::new(first), Arc::new(db.open().await), Arc::new(db.open().await)];
    let mut claims = Vec::new();
    for due in 0..20_i64 {
        let tasks: Vec<_> = stores
            .iter()
            .map(|store| {
                let store = Arc::clone(store);
                tokio::spawn(async move { store.claim_due_run("digest", "daily", due, due + 1, 1).await.unwrap() })
            })
            .collect();
        for task in tasks {
            claims.push(task.await.unwrap());
        }
    }
    let won = claims.iter().filter(|claim| !matches!(claim, Claim::Taken)).count();
    assert_eq!(won, 20, "each due time is claimed by exactly one server: {claims:?}");
}

crate::backends!(
    servers_sharing_a_database_claim_each_due_time_once,
    preparing_keeps_the_state_until_the_schedule_changes,
    a_due_time_is_claimed_once_and_a_run_under_way_makes_the_next_skipped,
    a_lease_whose_holder_died_ends_with_its_time,
    a_manual_run_holds_the_task_until_recorded,
    skipping_a_missed_due_time_moves_on_only_from_that_time,
    runs_are_listed_newest_first_and_trimmed_per_task,
);
