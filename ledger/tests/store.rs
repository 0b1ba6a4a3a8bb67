//! What every store must do, checked through the [`Store`] interface and its
//! [`Writer`] only, on real files: each backend instantiates the suite with its own
//! way to open (and reopen) one ledger.

use std::collections::HashMap;
use std::sync::Arc;

use lienthong_ledger::embedded::Embedded;
use lienthong_ledger::{
    Applied, Change, Entry, Filter, Head, Item, Outcome, Refusal, Seal, Settings, Store, Walk,
    Writer,
};
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{AuditRecord, Checkpoint, Dossier, DossierStatus, SyncStatus};

/// A ledger the suite can open, close and open again.
trait Backend {
    fn open(&self) -> Arc<dyn Store>;
}

/// The embedded ledger in a temporary directory.
struct Redb(tempfile::TempDir);

impl Redb {
    fn new() -> Redb {
        Redb(tempfile::tempdir().unwrap())
    }
}

impl Backend for Redb {
    fn open(&self) -> Arc<dyn Store> {
        Embedded::in_dir(self.0.path()).unwrap()
    }
}

/// A seal that numbers records, "hashes" them with their number, notes refused
/// changes, and signs a checkpoint every `every` records.
struct Numbering {
    every: u64,
}

impl Seal for Numbering {
    fn complete(&mut self, record: &mut AuditRecord, applied: &Applied) {
        match applied {
            Ok(d) if record.subject_personal_id.is_empty() => {
                record.subject_personal_id = d.applicant_personal_id.clone();
            }
            Ok(_) => {}
            Err(refusal) => record.reason = format!("REFUSED: {refusal}"),
        }
    }

    fn seal(
        &mut self,
        head: &mut Head,
        records: &mut [AuditRecord],
        force: bool,
    ) -> Option<Checkpoint> {
        for r in records.iter_mut() {
            head.seq += 1;
            r.seq = head.seq;
            r.prev_hash = head.hash.to_vec();
            head.hash = [0; 32];
            head.hash[..8].copy_from_slice(&head.seq.to_be_bytes());
            r.hash = head.hash.to_vec();
        }
        let due = head.seq - head.checkpoint >= self.every || (force && head.seq > head.checkpoint);
        due.then(|| Checkpoint {
            seq: head.seq,
            hash: head.hash.to_vec(),
            ..Default::default()
        })
    }
}

fn writer(store: &Arc<dyn Store>, every: u64) -> Writer {
    Writer::start(
        store.clone(),
        Box::new(Numbering { every }),
        Settings { max_batch: 1024 },
        Arc::new(()),
    )
    .unwrap()
}

fn record(n: u64) -> AuditRecord {
    AuditRecord {
        agency_code: "H99.01".into(),
        operation: "IdentityService/GetCitizen".into(),
        subject_personal_id: format!("001085{n:06}"),
        request_id: format!("req-{n}"),
        ..Default::default()
    }
}

fn dossier(code: &str, status: DossierStatus) -> Dossier {
    use lienthong_adapters::sim::dossiers::{RECEIVED, dossier};
    dossier(code, status, RECEIVED)
}

fn submit(code: &str, status: DossierStatus) -> Change {
    Change::Submit(Box::new(dossier(code, status)))
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

async fn apply(w: &Writer, change: Change) -> Applied {
    w.append(None, Some(change)).await.unwrap().applied.unwrap()
}

async fn items(store: &Arc<dyn Store>, from: u64, to: u64) -> Vec<Item> {
    let mut out = Vec::new();
    Walk::new(store.clone(), from, to)
        .each(|item| {
            out.push(item);
            true
        })
        .await
        .unwrap();
    out
}

fn shape(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Item::Record(r) => format!("r{}", r.seq),
            Item::Checkpoint(c) => format!("c{}", c.seq),
        })
        .collect()
}

async fn appends_are_numbered_grouped_and_walked_in_order(b: &dyn Backend) {
    let store = b.open();
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
    assert_eq!((head.seq, head.checkpoint % 100), (300, 0));
    let walked = items(&store, 0, 0).await;
    let records: Vec<u64> = walked
        .iter()
        .filter_map(|i| match i {
            Item::Record(r) => Some(r.seq),
            Item::Checkpoint(_) => None,
        })
        .collect();
    assert_eq!(records, (1..=300).collect::<Vec<_>>());
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

async fn a_close_seals_and_a_reopen_continues(b: &dyn Backend) {
    let store = b.open();
    let w = writer(&store, 1000);
    for i in 0..10 {
        assert_eq!(w.append(Some(record(i)), None).await.unwrap().seq, i + 1);
    }
    w.close().await;
    let head = store.audit_head().await.unwrap();
    assert_eq!((head.seq, head.checkpoint), (10, 10), "the close signs");
    drop(w);
    drop(store);
    let store = b.open();
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

async fn pages_place_checkpoints_and_find_times(b: &dyn Backend) {
    let store = b.open();
    let w = writer(&store, 4);
    let started = lienthong_ledger::now_micros();
    for i in 0..10 {
        let mut r = record(i);
        r.at = Some(Timestamp {
            seconds: 1_800_000_000 + i as i64,
            nanos: 0,
        });
        w.append(Some(r), None).await.unwrap();
    }
    w.close().await;
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

async fn changes_follow_the_machine_and_the_revisions(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open();
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

async fn a_record_and_its_change_commit_together(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open();
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

async fn concurrent_changes_stay_in_order_and_survive_a_reopen(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open();
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
    let store = b.open();
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

async fn deliveries_move_entries_and_numbers_are_never_given_twice(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open();
    let w = writer(&store, 1000);
    apply(&w, submit("H99.01-261122-0001", Accepted))
        .await
        .unwrap();
    let first = store.outbox(0, 10).await.unwrap().remove(0);
    w.deliver(first.clone(), Outcome::Delivered).await.unwrap();
    assert!(store.outbox(0, 10).await.unwrap().is_empty());
    let sync = store
        .dossier(first.code())
        .await
        .unwrap()
        .unwrap()
        .sync
        .unwrap();
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
    let sync = store
        .dossier(second.code())
        .await
        .unwrap()
        .unwrap()
        .sync
        .unwrap();
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

async fn requeued_dead_letters_follow_their_held_back_revisions(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open();
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
    let sync = store.dossier(code).await.unwrap().unwrap().sync.unwrap();
    assert_eq!(sync.status, SyncStatus::Pending as i32);
    w.close().await;
}

async fn inbound_dossiers_are_stored_once_with_their_cursor(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open();
    assert_eq!(store.inbound_cursor().await.unwrap(), "");
    assert_eq!(store.inbound_head().await.unwrap(), 0);
    let page: Vec<(String, Dossier)> = (1..=3)
        .map(|i| {
            (
                format!("c{i}"),
                dossier(&format!("H99.01-261122-000{i}"), Registered),
            )
        })
        .collect();
    assert_eq!(store.store_inbound(&page).await.unwrap(), (3, 3));
    // The same page again (a crash before the cursor moved on): nothing new.
    assert_eq!(store.store_inbound(&page).await.unwrap(), (0, 3));
    let more = vec![
        ("c3".to_owned(), dossier("H99.01-261122-0003", Registered)),
        ("c4".to_owned(), dossier("H99.01-261122-0004", Registered)),
    ];
    assert_eq!(store.store_inbound(&more).await.unwrap(), (1, 4));
    assert_eq!(store.inbound_cursor().await.unwrap(), "c4");
    let after: Vec<u64> = store
        .inbound(2, 10)
        .await
        .unwrap()
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(after, [3, 4]);
    drop(store);
    let store = b.open();
    assert_eq!(
        (
            store.inbound_head().await.unwrap(),
            store.inbound_cursor().await.unwrap()
        ),
        (4, "c4".to_owned())
    );
}

/// The suite, for one backend.
macro_rules! suite {
    ($backend:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let backend = $backend;
                super::$test(&backend).await;
            }
        )*
    };
}

macro_rules! every_test {
    ($backend:expr) => {
        suite!($backend;
            appends_are_numbered_grouped_and_walked_in_order,
            a_close_seals_and_a_reopen_continues,
            pages_place_checkpoints_and_find_times,
            changes_follow_the_machine_and_the_revisions,
            a_record_and_its_change_commit_together,
            concurrent_changes_stay_in_order_and_survive_a_reopen,
            deliveries_move_entries_and_numbers_are_never_given_twice,
            requeued_dead_letters_follow_their_held_back_revisions,
            inbound_dossiers_are_stored_once_with_their_cursor,
        );
    };
}

mod embedded {
    use super::*;
    use lienthong_ledger::embedded::journal;

    every_test!(Redb::new());

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_batches_go_to_the_journal_and_a_clean_close_clears_it() {
        let backend = Redb::new();
        let path = backend.0.path().join(lienthong_ledger::embedded::FILE);
        let in_journal = || -> Vec<u64> {
            journal::frames(&std::fs::read(journal::path_of(&path)).unwrap())
                .iter()
                .map(|r| r.seq)
                .collect()
        };
        let store = backend.open();
        let w = writer(&store, 5);
        for i in 0..4 {
            w.append(Some(record(i)), None).await.unwrap();
        }
        // Records alone: each durable in its own journal frame, and readable at once.
        assert_eq!(in_journal(), vec![1, 2, 3, 4]);
        assert_eq!(shape(&items(&store, 0, 0).await), ["r1", "r2", "r3", "r4"]);
        // The 5th is due a checkpoint: a durable commit, after which the journal
        // starts again on its first page; so does a dossier change.
        w.append(Some(record(4)), None).await.unwrap();
        w.append(Some(record(5)), None).await.unwrap();
        assert_eq!(in_journal(), vec![6]);
        apply(&w, submit("H99.01-261122-0001", DossierStatus::Accepted))
            .await
            .unwrap();
        w.append(Some(record(6)), None).await.unwrap();
        assert_eq!(in_journal(), vec![7]);
        w.close().await;
        assert!(
            in_journal().is_empty(),
            "nothing to replay after a clean stop"
        );
        drop(store);
        assert_eq!(backend.open().audit_head().await.unwrap().seq, 7);
    }
}
