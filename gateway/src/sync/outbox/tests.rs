//! The dossier ledger on real redb files: the status machine, optimistic
//! concurrency, group commit, the outbox order, and a reopened ledger.

use std::collections::HashMap;

use super::*;

fn dossier(code: &str, status: DossierStatus) -> Dossier {
    use lienthong_adapters::sim::dossiers::{RECEIVED, dossier};
    dossier(code, status, RECEIVED)
}

fn update(code: &str, status: DossierStatus, expected_revision: u64) -> Change {
    Change::Update {
        code: code.into(),
        status,
        expected_revision,
        at: Timestamp {
            seconds: 1_795_400_000,
            nanos: 0,
        },
    }
}

fn outbox(dir: &tempfile::TempDir) -> Outbox {
    Outbox::on(crate::ledger::in_dir(dir.path()).unwrap()).unwrap()
}

#[tokio::test]
async fn changes_follow_the_machine_and_the_revisions() {
    use DossierStatus::*;
    let dir = tempfile::tempdir().unwrap();
    let o = outbox(&dir);
    let code = "H99.01-261122-0001";
    let d = o
        .apply(Change::Submit(Box::new(dossier(code, Accepted))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.revision, 1);
    assert_eq!(d.sync.unwrap().status, SyncStatus::Pending as i32);
    assert_eq!(
        o.apply(Change::Submit(Box::new(dossier(code, Accepted))))
            .await
            .unwrap(),
        Err(Refusal::Exists(code.into()))
    );
    let d = o.apply(update(code, Processing, 1)).await.unwrap().unwrap();
    assert_eq!((d.status, d.revision), (Processing as i32, 2));
    // someone else's change in between: refused, naming the current revision
    let stale = o
        .apply(update(code, Processed, 1))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        stale,
        Refusal::StaleRevision {
            code: code.into(),
            expected: 1,
            current: 2
        }
    );
    let illegal = o
        .apply(update(code, ResultReturned, 2))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        illegal
            .to_string()
            .contains("from 4 (Đang xử lý) to 10 (Đã trả kết quả)"),
        "{illegal}"
    );
    let d = o.apply(update(code, Processed, 2)).await.unwrap().unwrap();
    assert!(d.completed_at.is_some() && d.returned_at.is_none());
    let d = o
        .apply(update(code, ResultReturned, 3))
        .await
        .unwrap()
        .unwrap();
    assert!(d.returned_at.is_some());
    assert!(
        o.apply(update(code, Processing, 4)).await.unwrap().is_err(),
        "nothing leaves 10"
    );
    assert_eq!(
        o.apply(update("H99.01-261122-0002", Processing, 1))
            .await
            .unwrap(),
        Err(Refusal::NotFound("H99.01-261122-0002".into()))
    );
    // the outbox holds the accepted revisions only, in order
    let entries = o.pending(0, 100).unwrap();
    assert_eq!(
        entries.iter().map(Entry::revision).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        entries[1].dossier.status, Processing as i32,
        "each entry is its revision's snapshot"
    );
    assert_eq!(o.get(code).unwrap().unwrap().revision, 4);
}

#[tokio::test]
async fn concurrent_changes_stay_in_order_per_dossier_and_survive_a_reopen() {
    use DossierStatus::*;
    let dir = tempfile::tempdir().unwrap();
    let o = Arc::new(outbox(&dir));
    let codes: Vec<String> = (0..64).map(|i| format!("H99.01-261122-{i:04}")).collect();
    // 64 dossiers, each walked through five changes by its own task
    let tasks: Vec<_> = codes
        .iter()
        .map(|code| {
            let (o, code) = (o.clone(), code.clone());
            tokio::spawn(async move {
                o.apply(Change::Submit(Box::new(dossier(&code, Registered))))
                    .await
                    .unwrap()
                    .unwrap();
                for (i, status) in [
                    Accepted,
                    Processing,
                    PaymentRequested,
                    Processing,
                    Processed,
                ]
                .into_iter()
                .enumerate()
                {
                    o.apply(update(&code, status, i as u64 + 1))
                        .await
                        .unwrap()
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let entries = o.pending(0, 10_000).unwrap();
    assert_eq!(entries.len(), 64 * 6);
    let mut last: HashMap<&str, u64> = HashMap::new();
    for e in &entries {
        let prev = last.insert(e.code(), e.revision()).unwrap_or(0);
        assert_eq!(e.revision(), prev + 1, "{} out of order", e.code());
    }
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=64 * 6).collect::<Vec<_>>());
    o.close().await;
    drop(o);
    // reopened, everything is there and new entries continue the sequence
    let o = outbox(&dir);
    assert_eq!(o.get(&codes[7]).unwrap().unwrap().revision, 6);
    o.apply(Change::Submit(Box::new(dossier(
        "H99.01-261122-9999",
        Accepted,
    ))))
    .await
    .unwrap()
    .unwrap();
    assert_eq!(o.pending(64 * 6, 10).unwrap()[0].seq, 64 * 6 + 1);
}

#[tokio::test]
async fn sequence_numbers_are_never_given_twice() {
    use DossierStatus::*;
    let dir = tempfile::tempdir().unwrap();
    let o = outbox(&dir);
    o.apply(Change::Submit(Box::new(dossier(
        "H99.01-261122-0001",
        Accepted,
    ))))
    .await
    .unwrap()
    .unwrap();
    // the only entry is delivered and leaves the outbox...
    let first = o.pending(0, 10).unwrap().remove(0);
    o.mark(&first, &Outcome::Delivered).unwrap();
    assert!(o.pending(0, 10).unwrap().is_empty());
    // ...and the next entry still comes after it, for a reader that resumes at 1
    o.apply(Change::Submit(Box::new(dossier(
        "H99.01-261122-0002",
        Accepted,
    ))))
    .await
    .unwrap()
    .unwrap();
    let next = o.pending(first.seq, 10).unwrap();
    assert_eq!(next.len(), 1);
    assert!(next[0].seq > first.seq);
}
