//! The subject index: a citizen's records found without reading the log, newest
//! first, within bounds; the checkpoint that covers each; gone with the records
//! that are archived; durable; built for a ledger from before it.

use super::*;

/// Record `n` about `subject`.
fn about(n: u64, subject: &str) -> AuditRecord {
    AuditRecord {
        subject_personal_id: subject.into(),
        ..record(n)
    }
}

fn seqs(records: &[AuditRecord]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

/// The numbers of `subject`'s records from `from` and below `below`, newest first.
async fn found(
    store: &Arc<dyn Store>,
    subject: &str,
    from: u64,
    below: u64,
    limit: usize,
) -> Vec<u64> {
    let records = store.audit_by_subject(subject, from, below, limit, true);
    seqs(&records.await.unwrap())
}

pub async fn a_subjects_records_are_found_through_the_index(b: &dyn Backend) {
    let (lan, minh) = ("001085000007", "079190000123");
    let store = b.open().await;
    let w = writer(&store, 4);
    // Records 1..=10: Lan's are 2, 5, 9; Minh's 3; the rest about no one or others.
    for n in 1..=10u64 {
        let subject = match n {
            2 | 5 | 9 => lan,
            3 => minh,
            4 | 7 => "",
            _ => "001085099999",
        };
        w.append(Some(about(n, subject)), None).await.unwrap();
    }
    let all = store
        .audit_by_subject(lan, 1, u64::MAX, 100, true)
        .await
        .unwrap();
    assert_eq!(seqs(&all), [9, 5, 2], "newest first");
    assert!(all.iter().all(|r| r.subject_personal_id == lan));
    // A page, then the next below it; a lower bound.
    assert_eq!(found(&store, lan, 1, u64::MAX, 2).await, [9, 5]);
    assert_eq!(found(&store, lan, 1, 5, 2).await, [2]);
    assert_eq!(found(&store, lan, 3, u64::MAX, 9).await, [9, 5]);
    assert!(
        found(&store, "001085000008", 1, u64::MAX, 9)
            .await
            .is_empty()
    );
    // Checkpoints every 4 records: 4 and 8 cover 2 and 5; nothing covers 9 yet.
    let covering = |seq| {
        let store = store.clone();
        async move {
            store
                .audit_checkpoint_covering(seq)
                .await
                .unwrap()
                .map(|c| c.seq)
        }
    };
    assert_eq!(
        (covering(2).await, covering(5).await, covering(9).await),
        (Some(4), Some(8), None)
    );
    assert_eq!(
        covering(8).await,
        Some(8),
        "a checkpoint covers the record it is signed at"
    );

    // Archived records leave the index with the log.
    assert_eq!(store.audit_remove(5, 100).await.unwrap(), 5);
    assert_eq!(found(&store, lan, 1, u64::MAX, 9).await, [9]);
    assert!(found(&store, minh, 1, u64::MAX, 9).await.is_empty());
    w.close().await;
    drop((w, store));
    let store = b.open().await;
    assert_eq!(found(&store, lan, 1, u64::MAX, 9).await, [9], "durable");
}

/// A ledger written before the index: records about a citizen, then the index
/// taken away by `forget` (below the store).
pub async fn the_subject_index_is_built_for_a_ledger_from_before_it(
    b: &dyn Backend,
    forget: impl AsyncFnOnce(),
) {
    let store = b.open().await;
    let w = writer(&store, 1000);
    for n in 1..=3 {
        w.append(Some(about(n, "001085000007")), None)
            .await
            .unwrap();
    }
    w.close().await;
    drop((w, store));
    forget().await;
    let store = b.open().await;
    let found = store
        .audit_by_subject("001085000007", 1, u64::MAX, 9, true)
        .await
        .unwrap();
    assert_eq!(seqs(&found), [3, 2, 1], "built when the ledger is opened");
}
