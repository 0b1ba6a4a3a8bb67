//! The worker against the portal simulator over real HTTP, with injected failures,
//! an outage, and a refusal.

use std::collections::HashMap;

use lienthong_adapters::http::Account;
use lienthong_adapters::portal::dvcqg::Dvcqg;
use lienthong_adapters::sim::Faults;
use lienthong_adapters::sim::gate::Credentials;
use lienthong_adapters::sim::portal_api::{Portal, Server};
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{Dossier, DossierStatus, SyncStatus};

use super::*;
use lienthong_ledger::embedded::Embedded;
use lienthong_ledger::{Change, Store, Unsealed, Writer};

fn fast() -> Settings {
    Settings {
        concurrency: 8,
        batch: 5,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(100),
        owner: "test".into(),
        lease: Duration::from_secs(5),
    }
}

fn dossier(code: &str) -> Dossier {
    use lienthong_adapters::sim::dossiers::{RECEIVED, dossier};
    dossier(code, DossierStatus::Registered, RECEIVED)
}

const WALK: [DossierStatus; 5] = [
    DossierStatus::Accepted,
    DossierStatus::Processing,
    DossierStatus::SupplementRequested,
    DossierStatus::Processing,
    DossierStatus::Processed,
];

async fn sim(addr: &str, portal: Arc<Portal>, fail_rate: f64) -> Server {
    Server::start(
        addr.parse().unwrap(),
        Credentials::default(),
        Faults::new(Duration::ZERO, fail_rate),
        portal,
    )
    .await
    .unwrap()
}

fn client(url: String) -> Arc<dyn NationalPortal> {
    Arc::new(
        Dvcqg::new(
            Account {
                base_url: url,
                username: Credentials::default().username,
                password: Credentials::default().password,
                timeout: Duration::from_secs(2),
                ca_pem: None,
                bounds: lienthong_adapters::http::Bounds::default(),
            },
            "H99",
        )
        .unwrap(),
    )
}

/// Dossiers in an embedded ledger under `dir`, with a writer of their own.
async fn ledger(dir: &tempfile::TempDir) -> Arc<Dossiers> {
    let store: Arc<dyn Store> = Embedded::in_dir(dir.path()).unwrap();
    let writer = Writer::start(
        store.clone(),
        Box::new(Unsealed),
        lienthong_ledger::Settings { max_batch: 1024 },
        Arc::new(()),
    )
    .unwrap();
    Arc::new(Dossiers::new(store, Arc::new(writer)).await.unwrap())
}

/// The sync state of the stored dossier `code`.
async fn sync_of(dossiers: &Dossiers, code: &str) -> lienthong_proto::v1::SyncState {
    let dossier = dossiers.store.dossier(code).await.unwrap().expect("stored");
    dossier.sync.expect("a stored dossier has a sync state")
}

async fn drained(outbox: &Dossiers, within: Duration) {
    let deadline = Instant::now() + within;
    while !outbox.store.outbox(0, 1).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_revision_arrives_in_order_through_failures_and_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("portal.jsonl");
    let portal = Portal::open(&record).unwrap();
    let server = sim("127.0.0.1:0", portal.clone(), 0.3).await;
    let addr = server.url().trim_start_matches("http://").to_owned();
    let outbox = ledger(&dir).await;
    let stop = CancellationToken::new();
    let worker =
        tokio::spawn(Worker::new(outbox.clone(), client(server.url()), fast()).run(stop.clone()));

    let codes: Vec<String> = (0..40).map(|i| format!("H99.01-261122-{i:04}")).collect();
    let writers: Vec<_> = codes
        .iter()
        .map(|code| {
            let (outbox, code) = (outbox.clone(), code.clone());
            tokio::spawn(async move {
                outbox
                    .apply(Change::Submit(Box::new(dossier(&code))))
                    .await
                    .unwrap()
                    .unwrap();
                for (i, status) in WALK.into_iter().enumerate() {
                    let change = Change::Update {
                        code: code.clone(),
                        status,
                        expected_revision: i as u64 + 1,
                        at: Timestamp::default(),
                        due_at: None,
                        handler: "Lê Thị Thu".into(),
                        note: String::new(),
                    };
                    outbox.apply(change).await.unwrap().unwrap();
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            })
        })
        .collect();
    // The portal goes away for a while, then comes back with its state.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = sim(&addr, portal.clone(), 0.3).await;
    for w in writers {
        w.await.unwrap();
    }
    drained(&outbox, Duration::from_secs(30)).await;
    stop.cancel();
    worker.await.unwrap();

    for code in &codes {
        assert_eq!(portal.revision(code), Some(6), "{code}");
        let d = outbox.store.dossier(code).await.unwrap().unwrap();
        let sync = d.sync.unwrap();
        assert_eq!(
            (sync.status, sync.last_delivered_revision),
            (SyncStatus::Delivered as i32, 6)
        );
    }
    let stats = portal.stats();
    assert_eq!(
        stats.out_of_order, 0,
        "never a revision before the one it follows"
    );
    assert_eq!((stats.accepted, stats.duplicates), (40 * 6, 0));
    // The portal's record: each dossier's steps, in the order of its revisions, once.
    let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
    for line in std::fs::read_to_string(&record).unwrap().lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(step) = event.get("TienDo") {
            let code = step["MaHoSo"].as_str().unwrap().to_owned();
            seen.entry(code)
                .or_default()
                .push(step["TrangThai"].as_i64().unwrap());
        }
    }
    let walk: Vec<i64> = std::iter::once(DossierStatus::Registered)
        .chain(WALK)
        .map(|s| s as i64)
        .collect();
    assert_eq!(seen.len(), 40);
    assert!(seen.values().all(|steps| *steps == walk), "{seen:?}");
    drop(server);
}

#[tokio::test]
async fn a_refused_update_is_dead_lettered_and_holds_its_dossier_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = sim("127.0.0.1:0", Portal::new(), 0.0).await;
    let outbox = ledger(&dir).await;
    let stop = CancellationToken::new();
    let worker =
        tokio::spawn(Worker::new(outbox.clone(), client(server.url()), fast()).run(stop.clone()));
    let (bad, good) = ("H99.01-261122-0001", "H99.01-261122-0002");
    // a dossier the portal refuses (no procedure code), and a good one
    let refused = Dossier {
        procedure_code: String::new(),
        ..dossier(bad)
    };
    outbox
        .apply(Change::Submit(Box::new(refused)))
        .await
        .unwrap()
        .unwrap();
    outbox
        .apply(Change::Submit(Box::new(dossier(good))))
        .await
        .unwrap()
        .unwrap();
    let update = |code: &str| Change::Update {
        code: code.into(),
        status: DossierStatus::Accepted,
        expected_revision: 1,
        at: Timestamp::default(),
        due_at: None,
        handler: "Lê Thị Thu".into(),
        note: String::new(),
    };
    outbox.apply(update(bad)).await.unwrap().unwrap();
    outbox.apply(update(good)).await.unwrap().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.portal().revision(good) != Some(2) {
        assert!(
            Instant::now() < deadline,
            "the good dossier was not delivered: portal at {:?}, outbox {:?}, good {:?}",
            server.portal().revision(good),
            outbox
                .store
                .outbox(0, 10)
                .await
                .unwrap()
                .iter()
                .map(|e| (e.code().to_owned(), e.revision()))
                .collect::<Vec<_>>(),
            outbox
                .store
                .dossier(good)
                .await
                .unwrap()
                .and_then(|d| d.sync)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sync = sync_of(&outbox, bad).await;
    assert_eq!(sync.status, SyncStatus::Dead as i32);
    assert!(sync.last_error.contains("refused"), "{}", sync.last_error);
    assert_eq!(server.portal().revision(bad), None);
    // its revision 2 waits behind the dead letter
    let pending = outbox.store.outbox(0, 10).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|e| (e.code(), e.revision()))
            .collect::<Vec<_>>(),
        [(bad, 2)]
    );
    stop.cancel();
    worker.await.unwrap();
}

#[test]
fn backoff_doubles_up_to_its_cap_with_jitter() {
    let s = Settings {
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
        ..Settings::default()
    };
    assert_eq!(backoff(&s, 1, 1.0), Duration::from_millis(100));
    assert_eq!(backoff(&s, 3, 1.0), Duration::from_millis(400));
    assert_eq!(backoff(&s, 30, 1.0), Duration::from_secs(2));
    assert_eq!(backoff(&s, 3, 0.0), Duration::from_millis(200));
    for _ in 0..100 {
        let j = jitter();
        assert!((0.0..1.0).contains(&j), "{j}");
    }
}

#[tokio::test]
async fn requeued_dead_letters_are_delivered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = sim("127.0.0.1:0", Portal::new(), 0.0).await;
    let outbox = ledger(&dir).await;
    let code = "H99.01-261122-0001";
    outbox
        .apply(Change::Submit(Box::new(dossier(code))))
        .await
        .unwrap()
        .unwrap();
    for (i, status) in WALK[..3].iter().enumerate() {
        let change = Change::Update {
            code: code.into(),
            status: *status,
            expected_revision: i as u64 + 1,
            at: Timestamp::default(),
            due_at: None,
            handler: "Lê Thị Thu".into(),
            note: String::new(),
        };
        outbox.apply(change).await.unwrap().unwrap();
    }
    // Revision 1 was refused (say, before a fix at the portal): dead, 2–4 held back.
    let first = outbox.store.outbox(0, 1).await.unwrap().remove(0);
    let dead = Outcome::Dead {
        reason: "MaKetQua 422: test".into(),
    };
    outbox.writer.deliver(first, dead).await.unwrap();
    let letters = outbox.store.dead_letters().await.unwrap();
    let depth = outbox.store.outbox_depth().await.unwrap().waiting;
    assert_eq!(
        (letters.len(), letters[0].1.as_str(), depth),
        (1, "MaKetQua 422: test", 3)
    );
    let stop = CancellationToken::new();
    let worker =
        tokio::spawn(Worker::new(outbox.clone(), client(server.url()), fast()).run(stop.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.portal().revision(code), None, "held back while dead");
    // The operator requeues it: all four go, in order.
    assert_eq!(outbox.retry_dead(Some(code)).await.unwrap(), 4);
    assert!(outbox.store.dead_letters().await.unwrap().is_empty());
    drained(&outbox, Duration::from_secs(10)).await;
    assert_eq!(server.portal().revision(code), Some(4));
    assert_eq!(server.portal().stats().out_of_order, 0);
    let sync = sync_of(&outbox, code).await;
    assert_eq!(
        (sync.status, sync.last_delivered_revision),
        (SyncStatus::Delivered as i32, 4)
    );
    stop.cancel();
    worker.await.unwrap();
}

/// Two workers on one ledger, as two replicas: one dies holding its dossiers (it
/// cannot reach the portal, and is aborted without letting go), the other takes
/// them when the lease runs out and delivers every revision in order; a worker
/// that stops cleanly lets go at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_dossiers_are_taken_over_when_its_lease_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let portal = Portal::new();
    let server = sim("127.0.0.1:0", portal.clone(), 0.0).await;
    let outbox = ledger(&dir).await;
    let lease = Duration::from_millis(600);
    let settings = |owner: &str| Settings {
        owner: owner.into(),
        lease,
        ..fast()
    };
    let codes: Vec<String> = (0..6).map(|i| format!("H99.01-261122-{i:04}")).collect();
    for code in &codes {
        outbox
            .apply(Change::Submit(Box::new(dossier(code))))
            .await
            .unwrap()
            .unwrap();
    }
    // Replica a holds every dossier, and cannot deliver: nothing listens there.
    let nowhere = client("http://127.0.0.1:9".into());
    let a = tokio::spawn(
        Worker::new(outbox.clone(), nowhere, settings("a")).run(CancellationToken::new()),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(portal.stats().accepted, 0);
    a.abort();
    let died = Instant::now();
    let stop = CancellationToken::new();
    let b = tokio::spawn(
        Worker::new(outbox.clone(), client(server.url()), settings("b")).run(stop.clone()),
    );
    drained(&outbox, Duration::from_secs(10)).await;
    let taken_over = died.elapsed();
    assert!(
        taken_over >= lease / 2,
        "b delivered after {taken_over:?}, before a's lease of {lease:?} could run out"
    );
    assert_eq!(portal.stats().accepted, 6);

    // b stops cleanly and lets go: c needs no lease to run out.
    stop.cancel();
    b.await.unwrap();
    for code in &codes {
        let change = Change::Update {
            code: code.clone(),
            status: DossierStatus::Accepted,
            expected_revision: 1,
            at: Timestamp::default(),
            due_at: None,
            handler: "Lê Thị Thu".into(),
            note: String::new(),
        };
        outbox.apply(change).await.unwrap().unwrap();
    }
    let c_stop = CancellationToken::new();
    let started = Instant::now();
    let c = tokio::spawn(
        Worker::new(outbox.clone(), client(server.url()), settings("c")).run(c_stop.clone()),
    );
    drained(&outbox, Duration::from_secs(10)).await;
    assert!(started.elapsed() < lease, "took {:?}", started.elapsed());
    c_stop.cancel();
    c.await.unwrap();
    assert_eq!(portal.stats().out_of_order, 0);
    for code in &codes {
        assert_eq!(portal.revision(code), Some(2), "{code}");
    }
}
