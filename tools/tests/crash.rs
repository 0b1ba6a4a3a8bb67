//! The crash loop, with real processes: the gateway runs under mixed load —
//! lookups (served and refused), dossier submissions and status updates, audit
//! queries — and is killed with SIGKILL at random moments, 20 times, and started
//! again on the same data dir each time. The portal simulator is a process of its
//! own that outlives every kill and fails 5 % of deliveries.
//!
//! After every kill: the audit chain verifies offline, the Merkle tree proves
//! the latest checkpoint's last record and that the checkpoint extends the one
//! seen at the kill before, and every request id a client saw answered has its
//! record. After every restart: every acknowledged
//! dossier update is stored. Every fifth kill also wrecks the cache, which must be
//! moved aside and rebuilt rather than stop the gateway. At the end, every
//! acknowledged update has reached the portal, in order, none missing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use lienthong_proto::v1::{GetCitizenRequest, GetResidenceRequest};
use support::dossiers::{Drivers, WALK, delivered, portal, portal_stats, stored};
use support::load::{Ledger, Seen, context, inspector, random, remember};
use support::{ID, Killed, channel, free_port, serve_with};
use tonic::Code;

mod support;

/// Kills per run; each costs one to two seconds.
const KILLS: usize = 20;
/// Lookup clients, each making two served requests for every refused one.
const LOOKUPS: usize = 8;
/// Dossier drivers, each walking one dossier after another through its statuses.
const DRIVERS: usize = 4;
/// A driver's pause between two dossiers.
const PACE: Duration = Duration::from_millis(150);
/// The ledger, for the binary's offline commands.
const DATA: &[&str] = &["--data-dir", "data"];
/// Every this many kills, the cache is wrecked while the gateway is down.
const WRECK_EVERY: usize = 5;

/// One lookup client: two citizen lookups that are served (H99.01) for each
/// residence lookup the policy refuses (H99.02 has no residence grant),
/// remembering the request id of every answer.
async fn lookups(dir: PathBuf, port: u16, stop: Arc<AtomicBool>, seen: Seen) {
    let mut identity = IdentityServiceClient::new(channel(&dir, port, "H99.01"));
    let mut residency = ResidencyServiceClient::new(channel(&dir, port, "H99.02"));
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let answer = if n.is_multiple_of(3) {
            let req = GetResidenceRequest {
                context: context(),
                personal_id: ID.into(),
            };
            residency
                .get_residence(req)
                .await
                .map(|r| r.metadata().clone())
        } else {
            let req = GetCitizenRequest {
                context: context(),
                personal_id: ID.into(),
                fields: None,
            };
            identity
                .get_citizen(req)
                .await
                .map(|r| r.metadata().clone())
        };
        match answer {
            Ok(metadata) => remember(&seen, &metadata),
            // A refusal is an answer too, and must be on record.
            Err(status) if status.code() == Code::PermissionDenied => {
                remember(&seen, status.metadata())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Overwrites the cache's files with garbage, as a torn disk might leave them.
fn wreck_cache(dir: &Path) {
    let cache = dir.join("data/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("conf"), b"segment_size: garbage\x00\xff").unwrap();
    std::fs::write(cache.join("db"), vec![0xa5; 8192]).unwrap();
}

fn moved_aside(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("cache.broken-")
        })
        .count()
}

/// Starts the gateway on `port` in front of the portal simulator.
async fn start(dir: &Path, port: u16, portal_port: u16) -> Killed {
    let (dir, url) = (dir.to_path_buf(), format!("http://127.0.0.1:{portal_port}"));
    // Checkpoints within every round, so that each kill falls between them.
    std::fs::write(
        dir.join("crash.toml"),
        "[audit]\ncheckpoint_every = 200\ncheckpoint_interval = \"200ms\"\n",
    )
    .unwrap();
    tokio::task::spawn_blocking(move || {
        serve_with(
            &dir,
            port,
            &["--portal-url", &url, "--config", "crash.toml"],
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_under_mixed_load_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path().to_path_buf();
    let portal_port = free_port();
    let _portal = portal(
        &dir,
        portal_port,
        &["--record", "portal.jsonl", "--fail-rate", "0.05"],
    );
    let port = free_port();
    let mut gateway = start(&dir, port, portal_port).await;

    // Dossier drivers run through every kill; they hold each dossier's highest
    // acknowledged revision.
    let drivers = Drivers::start(&dir, &[port], DRIVERS, PACE);

    let seen: Seen = Arc::default();
    let mut dossiers = DossierServiceClient::new(channel(&dir, port, "H99.01"));
    let mut queries = 0;
    let mut ledger = Ledger::default();
    for kill in 0..KILLS {
        let round = std::time::Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..LOOKUPS)
            .map(|_| tokio::spawn(lookups(dir.clone(), port, stop.clone(), seen.clone())))
            .collect();
        let inspector = tokio::spawn(inspector(
            dir.clone(),
            vec![port],
            stop.clone(),
            seen.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(300 + random() % 700)).await;
        gateway.0.kill().expect("SIGKILL");
        gateway.0.wait().expect("reaped");
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.unwrap();
        }
        queries += inspector.await.unwrap();
        let acked_at_kill = drivers.acked();

        let head = ledger.head;
        ledger.catch_up(&dir, DATA, head);
        ledger.tree_holds(&dir, DATA, &format!("kill {kill}"));
        ledger.holds_every(&seen, &format!("kill {kill}"));
        let wrecked = (kill + 1).is_multiple_of(WRECK_EVERY);
        if wrecked {
            wreck_cache(&dir);
        }
        gateway = start(&dir, port, portal_port).await;
        stored(std::slice::from_mut(&mut dossiers), &acked_at_kill).await;
        eprintln!(
            "kill {kill} ({:.1} s): {} answers and {} records so far, all on record; {} dossiers acknowledged, all stored{}",
            round.elapsed().as_secs_f64(),
            seen.lock().unwrap().len(),
            ledger.head,
            acked_at_kill.len(),
            if wrecked {
                "; cache wrecked, moved aside"
            } else {
                ""
            }
        );
    }

    // The drivers finish the dossiers they are walking; everything they were
    // acknowledged reaches the portal, in order.
    let (acked, started) = drivers.finish().await;
    stored(std::slice::from_mut(&mut dossiers), &acked).await;
    // Every dossier started was walked to its end (an acknowledgement lost in a
    // kill is read back by the driver); each one's whole walk reaches the portal.
    let want = (WALK.len() + 1) as u64;
    let record = delivered(&dir, started, want).await;
    for (code, revisions) in &record {
        assert_eq!(
            revisions,
            &(1..=want).collect::<Vec<_>>(),
            "{code}: in order, none missing, none twice"
        );
    }
    let stats = portal_stats(portal_port).await;
    assert_eq!(stats["out_of_order"], 0, "{stats}");
    assert_eq!(
        moved_aside(&dir),
        KILLS / WRECK_EVERY,
        "each wrecked cache moved aside"
    );
    gateway.terminate();
    let answered = seen.lock().unwrap().len();
    eprintln!(
        "{KILLS} kills: {answered} answers all on record, {queries} audit queries answered, {started} dossiers ({} updates) stored and delivered in order, portal saw {} duplicates",
        started * WALK.len(),
        stats["duplicates"]
    );
    // Most kills land between two of redb's syncs: what the ledger then lacks, the
    // journal holds.
    eprintln!(
        "the journal replayed acknowledged records after {} kills",
        ledger.replayed
    );
    assert!(
        ledger.replayed > 0,
        "no kill left records to the journal alone"
    );
    assert!(
        answered > KILLS * 50 && queries > KILLS as u64 && acked.len() > KILLS,
        "too little load to prove anything: {answered} answers, {queries} queries, {} dossiers",
        acked.len()
    );
    // The whole chain once more, from the start, and every answer on record.
    let mut whole = Ledger::default();
    whole.catch_up(&dir, DATA, 0);
    whole.holds_every(&seen, "at the end");
    assert!(ledger.tree > 0, "the tree was proved after the kills");
}
