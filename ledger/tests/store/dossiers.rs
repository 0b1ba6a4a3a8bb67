//! Dossiers in a store: the status machine and revisions, a change committed with
//! its record, order per dossier under concurrency and across a reopen, delivery
//! outcomes, dead letters and their requeue.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;

pub async fn changes_follow_the_machine_and_the_revisions(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open().await;
    let w = writer(&store, 1000);
    let code = "H99.01-261122-0001";
    let d = apply(&w, submit(code, Accepted)).await.unwrap();
    assert_eq!(d.revision, 1);
    assert_eq!(d.sync.unwrap().status, SyncStatus::Pending as i32);
    assert_eq!(
        apply(&w, submit(code, Accepted)).await,
        Err(Refusal::Exists(code.into()))
    );
    let d = apply(&w, update(code, Processing, 1)).await.unwrap();
    assert_eq!((d.status, d.revision), (Processing as i32, 2));
    assert_eq!(
        apply(&w, update(code, Processed, 1)).await.unwrap_err(),
        Refusal::StaleRevision {
            code: code.into(),
            expected: 1,
            current: 2
        }
    );
    let illegal = apply(&w, update(code, ResultReturned, 2))
        .await
        .unwrap_err();
    assert!(
        illegal
            .to_string()
            .contains("from 4 (Đang xử lý) to 10 (Đã trả kết quả)"),
        "{illegal}"
    );
    let d = apply(&w, update(code, Processed, 2)).await.unwrap();
    assert!(d.completed_at.is_some() && d.returned_at.is_none());
    let d = apply(&w, update(code, ResultReturned, 3)).await.unwrap();
    assert!(d.returned_at.is_some());
    assert!(
        apply(&w, update(code, Processing, 4)).await.is_err(),
        "nothing leaves 10"
    );
    assert_eq!(
        apply(&w, update("H99.01-261122-0002", Processing, 1)).await,
        Err(Refusal::NotFound("H99.01-261122-0002".into()))
    );
    // The outbox holds the accepted revisions only, in order, each its snapshot.
    let entries = store.outbox(0, 100).await.unwrap();
    assert_eq!(
        entries.iter().map(Entry::revision).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(entries[1].dossier.status, Processing as i32);
    assert!(entries.iter().all(|e| e.dossier.sync.is_none()));
    assert_eq!(store.dossier(code).await.unwrap().unwrap().revision, 4);
    w.close().await;
}

pub async fn a_record_and_its_change_commit_together(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open().await;
    let w = writer(&store, 1000);
    let code = "H99.01-261122-0007";
    let mut r = record(1);
    r.subject_personal_id.clear();
    let done = w
        .append(Some(r), Some(submit(code, Accepted)))
        .await
        .unwrap();
    let stored = store.audit_record(done.seq).await.unwrap().unwrap();
    assert_eq!(
        stored.subject_personal_id,
        dossier(code, Accepted).applicant_personal_id,
        "the seal completed the record with what the change did"
    );
    let refused = w
        .append(Some(record(2)), Some(submit(code, Accepted)))
        .await
        .unwrap();
    assert_eq!(refused.applied, Some(Err(Refusal::Exists(code.into()))));
    let stored = store.audit_record(refused.seq).await.unwrap().unwrap();
    assert!(stored.reason.starts_with("REFUSED"), "{}", stored.reason);
    assert_eq!(
        store.outbox(0, 10).await.unwrap().len(),
        1,
        "a refusal queues nothing"
    );
    w.close().await;
}

pub async fn concurrent_changes_stay_in_order_and_survive_a_reopen(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open().await;
    let w = Arc::new(writer(&store, 1000));
    let codes: Vec<String> = (0..64).map(|i| format!("H99.01-261122-{i:04}")).collect();
    let tasks: Vec<_> = codes
        .iter()
        .map(|code| {
            let (w, code) = (w.clone(), code.clone());
            tokio::spawn(async move {
                apply(&w, submit(&code, Registered)).await.unwrap();
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
                    apply(&w, update(&code, status, i as u64 + 1))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let entries = store.outbox(0, 10_000).await.unwrap();
    assert_eq!(entries.len(), 64 * 6);
    let mut last: HashMap<&str, u64> = HashMap::new();
    for e in &entries {
        let prev = last.insert(e.code(), e.revision()).unwrap_or(0);
        assert_eq!(e.revision(), prev + 1, "{} out of order", e.code());
    }
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=64 * 6).collect::<Vec<_>>());
    w.close().await;
    drop(w);
    drop(store);
    let store = b.open().await;
    let w = writer(&store, 1000);
    assert_eq!(store.dossier(&codes[7]).await.unwrap().unwrap().revision, 6);
    apply(&w, submit("H99.01-261122-9999", Accepted))
        .await
        .unwrap();
    assert_eq!(store.outbox(64 * 6, 10).await.unwrap()[0].seq, 64 * 6 + 1);
    let (page, more) = store
        .dossiers(
            "",
            10,
            &Filter {
                owner: "H99.01".into(),
                status: Processed as i32,
                ..Filter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((page.len(), more), (10, true));
    assert_eq!(page[0].dossier_code, codes[0]);
    let (rest, more) = store
        .dossiers(&page[9].dossier_code, 100, &Filter::default())
        .await
        .unwrap();
    assert_eq!((rest.len(), more), (65 - 10, false));
    let (none, _) = store
        .dossiers(
            "",
            10,
            &Filter {
                owner: "H99.02".into(),
                ..Filter::default()
            },
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    w.close().await;
}

pub async fn deliveries_move_entries_and_numbers_are_never_given_twice(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open().await;
    let w = writer(&store, 1000);
    apply(&w, submit("H99.01-261122-0001", Accepted))
        .await
        .unwrap();
    let first = store.outbox(0, 10).await.unwrap().remove(0);
    w.deliver(first.clone(), Outcome::Delivered).await.unwrap();
    assert!(store.outbox(0, 10).await.unwrap().is_empty());
    let sync = sync_of(&store, first.code()).await;
    assert_eq!(
        (sync.status, sync.last_delivered_revision),
        (SyncStatus::Delivered as i32, 1)
    );
    apply(&w, submit("H99.01-261122-0002", Accepted))
        .await
        .unwrap();
    let next = store.outbox(first.seq, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert!(
        next[0].seq > first.seq,
        "a reader resuming after {} sees it",
        first.seq
    );
    // A retry stays, with its attempts noted; a refusal goes to the dead letters.
    let second = next[0].clone();
    let retry = Outcome::Retry {
        attempts: 2,
        error: "portal down".into(),
    };
    w.deliver(second.clone(), retry).await.unwrap();
    let sync = sync_of(&store, second.code()).await;
    assert_eq!(
        (sync.attempts, sync.last_error.as_str()),
        (2, "portal down")
    );
    assert_eq!(store.outbox_depth().await.unwrap().waiting, 1);
    let dead = Outcome::Dead {
        reason: "MaKetQua 422: test".into(),
    };
    w.deliver(second.clone(), dead).await.unwrap();
    let depth = store.outbox_depth().await.unwrap();
    assert_eq!((depth.waiting, depth.oldest, depth.dead), (0, None, 1));
    w.close().await;
}

pub async fn requeued_dead_letters_follow_their_held_back_revisions(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open().await;
    let w = writer(&store, 1000);
    let code = "H99.01-261122-0001";
    apply(&w, submit(code, Registered)).await.unwrap();
    for (i, status) in [Accepted, Processing, SupplementRequested]
        .into_iter()
        .enumerate()
    {
        apply(&w, update(code, status, i as u64 + 1)).await.unwrap();
    }
    apply(&w, submit("H99.01-261122-0002", Registered))
        .await
        .unwrap();
    let first = store.outbox(0, 1).await.unwrap().remove(0);
    let dead = Outcome::Dead {
        reason: "MaKetQua 422: test".into(),
    };
    w.deliver(first.clone(), dead).await.unwrap();
    let letters = store.dead_letters().await.unwrap();
    assert_eq!(
        (
            letters.len(),
            letters[0].1.as_str(),
            letters[0].0.revision()
        ),
        (1, "MaKetQua 422: test", 1)
    );
    let held = store.dossier(code).await.unwrap().unwrap();
    assert_eq!(held.sync.unwrap().status, SyncStatus::Dead as i32);
    assert_eq!(
        store.retry_dead(Some("H99.01-261122-0009")).await.unwrap(),
        0
    );
    assert_eq!(store.retry_dead(Some(code)).await.unwrap(), 4);
    assert!(store.dead_letters().await.unwrap().is_empty());
    let order: Vec<(String, u64)> = store
        .outbox(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.code().to_owned(), e.revision()))
        .collect();
    assert_eq!(
        order,
        [
            ("H99.01-261122-0002".to_owned(), 1),
            (code.to_owned(), 1),
            (code.to_owned(), 2),
            (code.to_owned(), 3),
            (code.to_owned(), 4),
        ],
        "requeued after everything queued, in revision order"
    );
    let sync = sync_of(&store, code).await;
    assert_eq!(sync.status, SyncStatus::Pending as i32);
    w.close().await;
}
