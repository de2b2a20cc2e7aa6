//! Fault history: newest first, limited, trimmed to `FAULT_HISTORY_LIMIT` per plugin.

use plugboard_store::{FAULT_HISTORY_LIMIT, FaultEntry};

use crate::TestDb;

fn fault(plugin: &str, at_ms: i64, error: &str) -> FaultEntry {
    FaultEntry { plugin: plugin.to_owned(), version: "0.1.0".to_owned(), at_ms, error: error.to_owned() }
}

async fn faults_are_listed_newest_first_up_to_the_limit(db: TestDb) {
    let store = db.open().await;
    // Recorded out of time order: the order is by time, not by recording.
    for at_ms in [20, 10, 30] {
        store.record_fault(&fault("looper", at_ms, &format!("fault at {at_ms}"))).await.unwrap();
    }
    store.record_fault(&fault("trapper", 40, "other plugin")).await.unwrap();

    let faults = store.faults("looper", 10).await.unwrap();
    assert_eq!(
        faults,
        vec![
            fault("looper", 30, "fault at 30"),
            fault("looper", 20, "fault at 20"),
            fault("looper", 10, "fault at 10")
        ]
    );
    let at: Vec<i64> = store.faults("looper", 2).await.unwrap().iter().map(|f| f.at_ms).collect();
    assert_eq!(at, [30, 20]);
    assert_eq!(store.faults("looper", 0).await.unwrap(), vec![]);
    assert_eq!(store.faults("nobody", 10).await.unwrap(), vec![]);
}

async fn faults_of_the_same_millisecond_are_newest_recorded_first(db: TestDb) {
    let store = db.open().await;
    for error in ["first", "second", "third"] {
        store.record_fault(&fault("hog", 5, error)).await.unwrap();
    }
    let errors: Vec<String> = store.faults("hog", 10).await.unwrap().into_iter().map(|f| f.error).collect();
    assert_eq!(errors, ["third", "second", "first"]);
}

async fn fault_history_keeps_only_the_newest_hundred_per_plugin(db: TestDb) {
    let store = db.open().await;
    let recorded = FAULT_HISTORY_LIMIT as i64 + 30;
    for at_ms in 0..recorded {
        store.record_fault(&fault("flood", at_ms, &format!("fault {at_ms}"))).await.unwrap();
    }
    store.record_fault(&fault("calm", 0, "only one")).await.unwrap();

    let kept = store.faults("flood", usize::MAX).await.unwrap();
    assert_eq!(kept.len(), FAULT_HISTORY_LIMIT);
    assert_eq!(kept.first().map(|f| f.at_ms), Some(recorded - 1));
    assert_eq!(kept.last().map(|f| f.at_ms), Some(recorded - FAULT_HISTORY_LIMIT as i64));
    // Trimming one plugin's history leaves the others alone.
    assert_eq!(store.faults("calm", usize::MAX).await.unwrap().len(), 1);

    // A late fault older than every kept one is not kept either.
    store.record_fault(&fault("flood", -1, "late")).await.unwrap();
    let kept = store.faults("flood", usize::MAX).await.unwrap();
    assert_eq!(kept.len(), FAULT_HISTORY_LIMIT);
    assert!(kept.iter().all(|f| f.error != "late"));
}

crate::backends!(
    faults_are_listed_newest_first_up_to_the_limit,
    faults_of_the_same_millisecond_are_newest_recorded_first,
    fault_history_keeps_only_the_newest_hundred_per_plugin,
);
