//! The crash loop, with real processes: the gateway runs under mixed load —
//! lookups (served and refused), dossier submissions and status updates, audit
//! queries — and is killed with SIGKILL at random moments, 20 times, and started
//! again on the same data dir each time. The portal simulator is a process of its
//! own that outlives every kill and fails 5 % of deliveries.
//!
//! After every kill: the audit chain verifies offline, and every request id a
//! client saw answered has its record. After every restart: every acknowledged
//! dossier update is stored. Every fifth kill also wrecks the cache, which must be
//! moved aside and rebuilt rather than stop the gateway. At the end, every
//! acknowledged update has reached the portal, in order, none missing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use lienthong_proto::v1::{
    GetCitizenRequest, GetDossierRequest, GetResidenceRequest, QueryAuditRequest, RequestContext,
};
use support::dossiers::{WALK, delivered, drive, portal, portal_stats};
use support::{BIN, ID, Killed, channel, free_port, serve_with};
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
/// Every this many kills, the cache is wrecked while the gateway is down.
const WRECK_EVERY: usize = 5;

fn context() -> Option<RequestContext> {
    Some(RequestContext {
        purpose: "dossier-processing".into(),
        legal_basis: "ND-47/2020".into(),
        case_ref: String::new(),
        officer_id: "cb-crash".into(),
    })
}

/// Whatever a client saw: the request ids of the answers the gateway gave.
type Seen = Arc<Mutex<Vec<String>>>;

fn remember(seen: &Seen, metadata: &tonic::metadata::MetadataMap) {
    if let Some(id) = metadata.get("x-request-id").and_then(|v| v.to_str().ok()) {
        seen.lock().unwrap().push(id.to_owned());
    }
}

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

/// The inspectorate reading the log while it is written: the latest records of
/// H99.01, again and again. Returns how many queries were answered in full.
async fn inspector(dir: PathBuf, port: u16, stop: Arc<AtomicBool>, seen: Seen) -> u64 {
    let mut audit = AuditServiceClient::new(channel(&dir, port, "H99.90"));
    let mut answered = 0;
    while !stop.load(Ordering::Relaxed) {
        let request = QueryAuditRequest {
            agency_code: "H99.01".into(),
            limit: 50,
            ..Default::default()
        };
        let Ok(response) = audit.query_audit(request).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        remember(&seen, response.metadata());
        let mut stream = response.into_inner();
        let mut complete = true;
        loop {
            match stream.message().await {
                Ok(Some(record)) => assert_eq!(record.agency_code, "H99.01"),
                Ok(None) => break,
                Err(_) => {
                    complete = false;
                    break;
                }
            }
        }
        answered += u64::from(complete);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    answered
}

/// The (stopped) gateway's ledger, read offline and kept up with after every kill:
/// the request ids on record, the last sequence number checked, and how many
/// times opening it replayed acknowledged records from the audit journal (those
/// redb had not synced when the gateway died).
#[derive(Default)]
struct Ledger {
    ids: HashSet<String>,
    head: u64,
    replayed: usize,
}

impl Ledger {
    /// Verifies the chain from the last record checked before (so the link to it
    /// is checked again; 0: all of it), then reads the records after it.
    fn catch_up(&mut self, dir: &Path, from: u64) {
        let from = from.to_string();
        let verify = std::process::Command::new(BIN)
            .current_dir(dir)
            .args(["audit", "verify", "--data-dir", "data", "--from-seq", &from])
            .output()
            .expect("audit verify runs");
        assert!(
            verify.status.success(),
            "chain broken after a kill: {verify:?}"
        );
        self.replayed += usize::from(
            String::from_utf8_lossy(&verify.stderr).contains("recovered from the journal"),
        );
        let after = self.head.to_string();
        let query = std::process::Command::new(BIN)
            .current_dir(dir)
            .args(["audit", "query", "--data-dir", "data", "--json"])
            .args(["--after-seq", &after])
            .output()
            .expect("audit query runs");
        assert!(query.status.success(), "{query:?}");
        for line in String::from_utf8(query.stdout).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let record = &v["record"];
            self.ids
                .insert(record["request_id"].as_str().unwrap().to_owned());
            self.head = self.head.max(record["seq"].as_u64().expect("a seq"));
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
    tokio::task::spawn_blocking(move || serve_with(&dir, port, &["--portal-url", &url]))
        .await
        .unwrap()
}

/// Every dossier in `acked` is stored at least at the revision acknowledged.
async fn stored(
    client: &mut DossierServiceClient<tonic::transport::Channel>,
    acked: &HashMap<String, u64>,
) {
    for (code, revision) in acked {
        let dossier = client
            .get_dossier(GetDossierRequest {
                dossier_code: code.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("{code}: acknowledged at {revision}, now {s:?}"))
            .into_inner();
        assert!(
            dossier.revision >= *revision,
            "{code}: revision {revision} was acknowledged, {} is stored",
            dossier.revision
        );
    }
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

    // Dossier drivers run through every kill; `acked` holds each dossier's highest
    // acknowledged revision.
    let acked = Arc::new(Mutex::new(HashMap::<String, u64>::new()));
    let (next, done) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let drivers: Vec<_> = (0..DRIVERS)
        .map(|_| {
            let mut client = DossierServiceClient::new(channel(&dir, port, "H99.01"));
            let (acked, next, done) = (acked.clone(), next.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let code = support::dossiers::code(n);
                    drive(std::slice::from_mut(&mut client), n, |revision| {
                        acked.lock().unwrap().insert(code.clone(), revision);
                    })
                    .await;
                    // A steady pace, so that later rounds are no longer than early ones.
                    tokio::time::sleep(PACE).await;
                }
            })
        })
        .collect();

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
        let inspector = tokio::spawn(inspector(dir.clone(), port, stop.clone(), seen.clone()));
        let jitter = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        tokio::time::sleep(Duration::from_millis(300 + u64::from(jitter % 700))).await;
        gateway.0.kill().expect("SIGKILL");
        gateway.0.wait().expect("reaped");
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.unwrap();
        }
        queries += inspector.await.unwrap();
        let acked_at_kill = acked.lock().unwrap().clone();

        let head = ledger.head;
        ledger.catch_up(&dir, head);
        {
            let seen = seen.lock().unwrap();
            let missing: Vec<_> = seen.iter().filter(|id| !ledger.ids.contains(*id)).collect();
            assert!(
                missing.is_empty(),
                "kill {kill}: {} answered requests have no record, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(3)]
            );
        }
        let wrecked = (kill + 1).is_multiple_of(WRECK_EVERY);
        if wrecked {
            wreck_cache(&dir);
        }
        gateway = start(&dir, port, portal_port).await;
        stored(&mut dossiers, &acked_at_kill).await;
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
    done.store(true, Ordering::Relaxed);
    for d in drivers {
        d.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    stored(&mut dossiers, &acked).await;
    // Every dossier started was walked to its end (an acknowledgement lost in a
    // kill is read back by the driver); each one's whole walk reaches the portal.
    let started = next.load(Ordering::Relaxed) as usize;
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
    whole.catch_up(&dir, 0);
    let seen = seen.lock().unwrap();
    assert!(seen.iter().all(|id| whole.ids.contains(id)));
}
