//! The crash loop with replicas, with real processes: three gateways on one
//! PostgreSQL ledger, the portal simulator as a process of its own, and clients
//! that spread their calls over the replicas and go to another when theirs is
//! down. Under mixed load (served and refused lookups, dossier walks, audit
//! queries) a random replica is killed with SIGKILL at a random moment, 20 times,
//! and started again under a new name; PostgreSQL itself is restarted twice.
//!
//! After every kill: the one audit history verifies (`lienthong audit verify
//! --ledger-url`) and every request id a client saw answered has its record;
//! every acknowledged dossier revision is stored. At the end: every acknowledged
//! revision reached the portal, in order, none missing; the portal saw repeats only
//! as recognised re-sends; no outbox entry is left claimed by a dead replica past
//! its lease. How long a dead replica's claimed deliveries wait before another
//! replica takes them is measured and printed.
//!
//! And the way a one-node province grows: `lienthong ledger migrate` into
//! PostgreSQL, `audit verify --ledger-url` on the result, a replica carrying on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::{GetCitizenRequest, GetDossierRequest};
use lienthong_testdb::Cluster;
use support::dossiers::{Drivers, WALK, delivered, drive, portal, portal_stats, stored};
use support::load::{Ledger, Seen, context, inspector, random, remember};
use support::{BIN, ID, Killed, channel, free_port, serve_with};
use tonic::Code;
use tonic::transport::Channel;

mod support;

const REPLICAS: usize = 3;
const KILLS: usize = 20;
/// PostgreSQL is restarted after these kills.
const DATABASE_RESTARTS: [usize; 2] = [6, 13];
const LOOKUPS: usize = 6;
const DRIVERS: usize = 4;
const PACE: Duration = Duration::from_millis(100);
/// The replicas' `sync.lease`.
const LEASE: Duration = Duration::from_secs(3);

/// One channel per replica, as `agency`.
fn channels(dir: &Path, ports: &[u16], agency: &str) -> Vec<Channel> {
    ports.iter().map(|p| channel(dir, *p, agency)).collect()
}

/// Lookups spread over the replicas: each call goes to the next one, and a call
/// that fails for want of a gateway is tried on the one after. Every third is a
/// lookup the policy refuses (H99.90, the inspectorate, has no grant for it).
async fn lookups(dir: PathBuf, ports: Vec<u16>, stop: Arc<AtomicBool>, seen: Seen) {
    let served: Vec<_> = channels(&dir, &ports, "H99.01")
        .into_iter()
        .map(IdentityServiceClient::new)
        .collect();
    let refused: Vec<_> = channels(&dir, &ports, "H99.90")
        .into_iter()
        .map(IdentityServiceClient::new)
        .collect();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let mut client = if n.is_multiple_of(3) {
            refused[n % ports.len()].clone()
        } else {
            served[n % ports.len()].clone()
        };
        let req = GetCitizenRequest {
            context: context(),
            personal_id: ID.into(),
            fields: None,
        };
        match client.get_citizen(req).await {
            Ok(r) => remember(&seen, r.metadata()),
            Err(status) if status.code() == Code::PermissionDenied => {
                remember(&seen, status.metadata())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Starts replica `i` (generation `generation`) on `port`.
async fn start(dir: &Path, i: usize, generation: usize, port: u16, portal_port: u16) -> Killed {
    let dir = dir.to_path_buf();
    let (data, name, portal) = (
        format!("data-{i}"),
        format!("replica-{i}-{generation}"),
        format!("http://127.0.0.1:{portal_port}"),
    );
    tokio::task::spawn_blocking(move || {
        let args = [
            "--config",
            "replica.toml",
            "--data-dir",
            &data,
            "--replica",
            &name,
            "--portal-url",
            &portal,
        ];
        serve_with(&dir, port, &args)
    })
    .await
    .unwrap()
}

/// A connection to the ledger's database, for what only the database can tell
/// (waiting while it restarts).
async fn database(url: &str) -> tokio_postgres::Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return client;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "the test reaches the database: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until no dossier with entries waiting is claimed by `owner` (which is
/// dead); how long that took, or `None` if it held nothing at its death.
async fn taken_over(url: String, owner: String, died: Instant) -> Option<Duration> {
    let pending = "SELECT count(*) FROM lienthong.outbox_claims c WHERE c.owner = $1
                   AND EXISTS (SELECT 1 FROM lienthong.outbox o WHERE o.code = c.code)";
    let mut db = database(&url).await;
    let mut first = true;
    loop {
        let held: i64 = match db.query_one(pending, &[&owner]).await {
            Ok(row) => row.get(0),
            Err(_) => {
                // The database was restarted under us: connect again.
                tokio::time::sleep(Duration::from_millis(200)).await;
                db = database(&url).await;
                continue;
            }
        };
        if held == 0 {
            return (!first).then(|| died.elapsed());
        }
        first = false;
        assert!(
            died.elapsed() < Duration::from_secs(60),
            "{owner}'s claims never taken"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_lose_nothing_through_twenty_kills_and_two_database_restarts() {
    let Some(cluster) = Cluster::own("") else {
        return;
    };
    let url = cluster.database().await;
    let source = ["--ledger-url", url.as_str()];
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_path_buf();
    let init = std::process::Command::new(BIN)
        .current_dir(&dir)
        .args(["pki", "init"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    std::fs::write(
        dir.join("replica.toml"),
        format!(
            "[ledger]\nbackend = \"postgres\"\nurl = \"{url}\"\nconnect_timeout = \"2s\"\n\
             [sync]\nlease = \"{}s\"\npoll_interval = \"200ms\"\nbackoff_base = \"50ms\"\nbackoff_max = \"1s\"\n\
             [audit]\ncheckpoint_interval = \"200ms\"\n",
            LEASE.as_secs()
        ),
    )
    .unwrap();
    let portal_port = free_port();
    let _portal = portal(
        &dir,
        portal_port,
        &[
            "--record",
            "portal.jsonl",
            "--fail-rate",
            "0.05",
            "--latency-ms",
            "15",
        ],
    );
    let ports: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect();
    let mut generation = [0; REPLICAS];
    let mut replicas = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        replicas.push(start(&dir, i, 0, *port, portal_port).await);
    }

    let drivers = Drivers::start(&dir, &ports, DRIVERS, PACE);

    let seen: Seen = Arc::default();
    let mut dossiers: Vec<_> = channels(&dir, &ports, "H99.01")
        .into_iter()
        .map(DossierServiceClient::new)
        .collect();
    let mut ledger = Ledger::default();
    let mut queries = 0;
    let mut takeovers = Vec::new();
    let mut checked = HashMap::new();
    for kill in 0..KILLS {
        let round = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..LOOKUPS)
            .map(|_| {
                tokio::spawn(lookups(
                    dir.clone(),
                    ports.clone(),
                    stop.clone(),
                    seen.clone(),
                ))
            })
            .collect();
        let inspector = tokio::spawn(inspector(
            dir.clone(),
            ports.clone(),
            stop.clone(),
            seen.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(300 + random() % 900)).await;
        let victim = (random() % REPLICAS as u64) as usize;
        replicas[victim].0.kill().expect("SIGKILL");
        replicas[victim].0.wait().expect("reaped");
        let died = Instant::now();
        let owner = format!("replica-{victim}-{}", generation[victim]);
        takeovers.push(tokio::spawn(taken_over(url.clone(), owner, died)));
        let restarted = DATABASE_RESTARTS.contains(&kill);
        if restarted {
            cluster.restart();
        }
        // The others carry on a while without it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.unwrap();
        }
        queries += inspector.await.unwrap();
        let acked_now = drivers.acked();

        let head = ledger.head;
        ledger.catch_up(&dir, &source, head);
        ledger.tree_holds(&dir, &source, &format!("kill {kill}"));
        ledger.holds_every(&seen, &format!("kill {kill}"));
        // Only what was acknowledged since the last look: the walks go on for
        // thousands of dossiers.
        let fresh: HashMap<String, u64> = acked_now
            .iter()
            .filter(|(code, rev)| checked.get(*code) != Some(*rev))
            .map(|(c, r)| (c.clone(), *r))
            .collect();
        stored(&mut dossiers, &fresh).await;
        checked = acked_now.clone();
        generation[victim] += 1;
        replicas[victim] =
            start(&dir, victim, generation[victim], ports[victim], portal_port).await;
        eprintln!(
            "kill {kill} (replica {victim}{}, {:.1} s): {} answers and {} records so far, all on record; {} dossiers acknowledged, all stored",
            if restarted {
                ", and PostgreSQL restarted"
            } else {
                ""
            },
            round.elapsed().as_secs_f64(),
            seen.lock().unwrap().len(),
            ledger.head,
            acked_now.len(),
        );
    }

    let (acked, started) = drivers.finish().await;
    stored(&mut dossiers, &acked).await;
    let want = (WALK.len() + 1) as u64;
    let record = delivered(&dir, started, want).await;
    let stats = portal_stats(portal_port).await;
    for (code, revisions) in &record {
        // A replica that dies between the portal's answer and its own commit
        // leaves the revision to be sent again: the portal recognises it.
        let mut unique = revisions.clone();
        unique.dedup();
        assert_eq!(
            unique,
            (1..=want).collect::<Vec<_>>(),
            "{code}: in order, none missing"
        );
    }
    assert_eq!(stats["out_of_order"], 0, "{stats}");

    // No entry is left claimed by a dead replica past its lease.
    let db = database(&url).await;
    let live: Vec<String> = (0..REPLICAS)
        .map(|i| format!("replica-{i}-{}", generation[i]))
        .collect();
    let stale: i64 = db
        .query_one(
            "SELECT count(*) FROM lienthong.outbox_claims c
             JOIN lienthong.outbox o ON o.code = c.code
             WHERE NOT (c.owner = ANY($1)) AND c.until_micros < lienthong.now_micros()",
            &[&live],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stale, 0,
        "entries claimed by dead replicas past their lease"
    );
    let waiting: i64 = db
        .query_one("SELECT count(*) FROM lienthong.outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 0, "everything delivered");

    let mut waits = Vec::new();
    for t in takeovers {
        if let Some(wait) = t.await.unwrap() {
            waits.push(wait);
        }
    }
    waits.sort();
    for r in replicas {
        r.terminate();
    }
    let mut whole = Ledger::default();
    whole.catch_up(&dir, &source, 0);
    whole.holds_every(&seen, "at the end");
    assert!(ledger.tree > 0, "the tree was proved after the kills");
    let answered = seen.lock().unwrap().len();
    eprintln!(
        "{KILLS} kills of {REPLICAS} replicas, PostgreSQL restarted {} times: {answered} answers all on record ({} records), {queries} audit queries answered, {started} dossiers ({} updates) stored and delivered in order, portal saw {} duplicates",
        DATABASE_RESTARTS.len(),
        whole.head,
        started * WALK.len(),
        stats["duplicates"]
    );
    if let (Some(min), Some(max)) = (waits.first(), waits.last()) {
        eprintln!(
            "takeover (lease {LEASE:?}): {} of {KILLS} deaths left claimed deliveries; resumed elsewhere after {:.2}–{:.2} s (median {:.2} s)",
            waits.len(),
            min.as_secs_f64(),
            max.as_secs_f64(),
            waits[waits.len() / 2].as_secs_f64()
        );
    }
    assert!(
        answered > KILLS * 50 && queries > KILLS as u64 && acked.len() > KILLS,
        "too little load to prove anything: {answered} answers, {queries} queries, {} dossiers",
        acked.len()
    );
}

/// Runs the binary in `dir`; its output.
fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("lienthong runs")
}

/// How a province that started on one node grows: the stopped gateway's embedded
/// ledger is migrated into PostgreSQL, verifies there, reads the same, refuses a
/// second migration, and a replica on PostgreSQL serves its dossiers and carries
/// the chain on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_node_ledger_moves_into_postgres_and_verifies() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.database().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let port = free_port();
    let one = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || serve_with(&dir, port, &[]))
            .await
            .unwrap()
    };
    let mut clients = vec![DossierServiceClient::new(channel(&dir, port, "H99.01"))];
    drive(&mut clients, 1, drop).await;
    for _ in 0..20 {
        assert!(
            support::client(&dir, port, "H99.01", &["citizen", ID])
                .status
                .success()
        );
    }
    one.terminate();
    let query = |source: &[&str]| {
        let out = run(&dir, &[&["audit", "query", "--json"][..], source].concat());
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let before = query(&["--data-dir", "data"]);

    let migrated = run(
        &dir,
        &["ledger", "migrate", "--data-dir", "data", "--to", &url],
    );
    assert!(migrated.status.success(), "{migrated:?}");
    let said = String::from_utf8_lossy(&migrated.stdout);
    assert!(said.contains("1 dossiers"), "{said}");
    let verify = run(&dir, &["audit", "verify", "--ledger-url", &url]);
    assert!(verify.status.success(), "{verify:?}");
    assert_eq!(query(&["--ledger-url", &url]), before);
    let again = run(
        &dir,
        &["ledger", "migrate", "--data-dir", "data", "--to", &url],
    );
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds a ledger"),
        "{again:?}"
    );
    let with_password = run(
        &dir,
        &[
            "audit",
            "verify",
            "--ledger-url",
            &url.replace("://", "://u:secret@"),
        ],
    );
    assert!(!with_password.status.success());
    assert!(
        !String::from_utf8_lossy(&with_password.stderr).contains("secret"),
        "{with_password:?}"
    );

    // A replica on PostgreSQL serves the migrated dossier and continues the chain.
    let port = free_port();
    let replica = {
        let (dir, url) = (dir.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            serve_with(&dir, port, &["--ledger-url", &url, "--data-dir", "data-pg"])
        })
        .await
        .unwrap()
    };
    let mut dossiers = DossierServiceClient::new(channel(&dir, port, "H99.01"));
    let d = dossiers
        .get_dossier(GetDossierRequest {
            dossier_code: support::dossiers::code(1),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.revision, (WALK.len() + 1) as u64);
    replica.terminate();
    let verify = run(&dir, &["audit", "verify", "--ledger-url", &url]);
    assert!(verify.status.success(), "{verify:?}");
    assert!(query(&["--ledger-url", &url]).len() > before.len());
    // An export of the PostgreSQL ledger verifies on its own.
    let export = run(&dir, &["audit", "export", "--ledger-url", &url]);
    assert!(export.status.success(), "{export:?}");
    std::fs::write(dir.join("export.jsonl"), &export.stdout).unwrap();
    let checked = run(&dir, &["audit", "verify", "--file", "export.jsonl"]);
    assert!(checked.status.success(), "{checked:?}");
}
