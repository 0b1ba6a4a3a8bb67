//! The audit log in a store: numbered, grouped, walked in order, sealed at a close,
//! continued after a reopen, paged with its checkpoints in place, its archived
//! front removed.

use std::sync::Arc;

use super::*;

pub async fn appends_are_numbered_grouped_and_walked_in_order(b: &dyn Backend) {
    let store = b.open().await;
    let w = Arc::new(writer(&store, 100));
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move { w.append(Some(record(i)), None).await.unwrap().seq })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>(), "numbered without gaps");
    let commits = w.stats().commits.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        commits < 300,
        "group commit: {commits} commits for 300 records"
    );
    let head = store.audit_head().await.unwrap();
    assert_eq!(head.seq, 300);
    // A checkpoint closes the batch that reaches 100 records past the last one.
    assert!(head.seq - head.checkpoint < 100, "{head:?}");
    let walked = items(&store, 0, 0).await;
    assert_eq!(record_seqs(&walked), (1..=300).collect::<Vec<_>>());
    // Each checkpoint right after the record it signs.
    for (i, item) in walked.iter().enumerate() {
        if let Item::Checkpoint(c) = item {
            assert!(matches!(&walked[i - 1], Item::Record(r) if r.seq == c.seq));
        }
    }
    let r = store.audit_record(17).await.unwrap().unwrap();
    assert_eq!(
        (r.seq, r.hash[..8].to_vec()),
        (17, 17u64.to_be_bytes().to_vec())
    );
    assert!(store.audit_record(301).await.unwrap().is_none());
    w.close().await;
    assert!(matches!(
        w.append(Some(record(0)), None).await,
        Err(lienthong_ledger::Error::Closed)
    ));
}

pub async fn a_close_seals_and_a_reopen_continues(b: &dyn Backend) {
    let store = b.open().await;
    let w = writer(&store, 1000);
    for i in 0..10 {
        assert_eq!(w.append(Some(record(i)), None).await.unwrap().seq, i + 1);
    }
    w.close().await;
    let head = store.audit_head().await.unwrap();
    assert_eq!((head.seq, head.checkpoint), (10, 10), "the close signs");
    drop(w);
    drop(store);
    let store = b.open().await;
    assert_eq!(store.audit_head().await.unwrap(), head);
    let w = writer(&store, 1000);
    assert_eq!(w.append(Some(record(10)), None).await.unwrap().seq, 11);
    let r = store.audit_record(11).await.unwrap().unwrap();
    assert_eq!(
        r.prev_hash,
        head.hash.to_vec(),
        "chained to the head it had"
    );
    w.close().await;
}

/// Ten records one second apart from 1,800,000,000 (Unix seconds), a checkpoint
/// every 4 and at the close.
async fn ten_seconds_apart(store: &Arc<dyn Store>) {
    let w = writer(store, 4);
    for i in 0..10 {
        let mut r = record(i);
        r.at = Some(Timestamp {
            seconds: 1_800_000_000 + i as i64,
            nanos: 0,
        });
        w.append(Some(r), None).await.unwrap();
    }
    w.close().await;
}

pub async fn pages_place_checkpoints_and_find_times(b: &dyn Backend) {
    let store = b.open().await;
    let started = lienthong_ledger::now_micros();
    ten_seconds_apart(&store).await;
    assert_eq!(
        shape(&items(&store, 0, 0).await),
        [
            "r1", "r2", "r3", "r4", "c4", "r5", "r6", "r7", "r8", "c8", "r9", "r10", "c10"
        ]
    );
    assert_eq!(shape(&items(&store, 3, 5).await), ["r3", "r4", "c4", "r5"]);
    // Pages of two records: the same walk.
    let page = store.audit_page(1, 0, 2).await.unwrap();
    assert_eq!(
        (shape(&page.items), page.next),
        (vec!["r1".into(), "r2".into()], Some(3))
    );
    let page = store.audit_page(3, 0, 2).await.unwrap();
    assert_eq!(shape(&page.items), ["r3", "r4", "c4"]);
    // Times: records are appended in time order.
    assert_eq!(
        store.audit_seq_at(1_800_000_003 * 1_000_000).await.unwrap(),
        4
    );
    assert_eq!(store.audit_seq_at(0).await.unwrap(), 1);
    assert_eq!(
        store
            .audit_seq_at(started.max(1_900_000_000_000_000))
            .await
            .unwrap(),
        11
    );
}

pub async fn archived_records_leave_from_the_front_and_the_head_stays(b: &dyn Backend) {
    let store = b.open().await;
    assert_eq!(store.audit_first().await.unwrap(), 1);
    ten_seconds_apart(&store).await;
    // Short transactions of at most `limit`, oldest first, with their checkpoints.
    assert_eq!(store.audit_remove(5, 3).await.unwrap(), 3);
    assert_eq!(store.audit_first().await.unwrap(), 4);
    assert_eq!(store.audit_remove(5, 3).await.unwrap(), 2);
    assert_eq!(store.audit_remove(5, 3).await.unwrap(), 0);
    assert_eq!(
        shape(&items(&store, 0, 0).await),
        ["r6", "r7", "r8", "c8", "r9", "r10", "c10"]
    );
    assert!(store.audit_record(5).await.unwrap().is_none());
    // Times are found among the records still held.
    assert_eq!(
        store.audit_seq_at(1_800_000_007 * 1_000_000).await.unwrap(),
        8
    );
    assert_eq!(store.audit_seq_at(0).await.unwrap(), 6);
    // The last record is never removed: the chain goes on from it.
    assert_eq!(store.audit_remove(u64::MAX, 100).await.unwrap(), 4);
    assert_eq!(shape(&items(&store, 0, 0).await), ["r10", "c10"]);
    let head = store.audit_head().await.unwrap();
    assert_eq!((head.seq, head.checkpoint), (10, 10));
    drop(store);
    // Durable, and the log continues after a reopen.
    let store = b.open().await;
    assert_eq!(store.audit_first().await.unwrap(), 10);
    let w = writer(&store, 4);
    assert_eq!(w.append(Some(record(11)), None).await.unwrap().seq, 11);
    w.close().await;
}
