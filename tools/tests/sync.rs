//! Dossier sync end to end, with real processes: the gateway and the standalone
//! portal simulator. 10,000 status updates across 1,000 dossiers, while the portal
//! fails 10 % of calls and is stopped and restarted partway; afterwards every update
//! is in the portal's record, in order per dossier, none missing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use support::dossiers::{WALK, code, delivered, drive, portal, portal_stats, step, submission};
use support::{channel, free_port, serve_with};

mod support;

const DOSSIERS: u32 = 1_000;
/// The portal of the delivery runs: it records what it accepts and fails 10 % of calls.
const RECORDED_AND_FAILING: &[&str] = &["--record", "portal.jsonl", "--fail-rate", "0.1"];
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_updates_reach_the_portal_in_order_through_failures_and_an_outage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path().to_path_buf();
    let portal_port = free_port();
    let mut sim = portal(&dir, portal_port, RECORDED_AND_FAILING);
    let port = free_port();
    let d = dir.clone();
    let url = format!("http://127.0.0.1:{portal_port}");
    let _gateway =
        tokio::task::spawn_blocking(move || serve_with(&d, port, &["--portal-url", &url]))
            .await
            .unwrap();
    let client = DossierServiceClient::new(channel(&dir, port, "H99.01"));

    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (mut client, next) = (client.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= DOSSIERS {
                        return;
                    }
                    client
                        .submit_dossier(submission(n))
                        .await
                        .expect("submitted");
                    for revision in 1..=WALK.len() as u64 {
                        client
                            .update_dossier_status(step(n, revision))
                            .await
                            .expect("acknowledged");
                    }
                }
            })
        })
        .collect();
    // The portal goes down for a second while updates pour in, then comes back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(sim);
    tokio::time::sleep(Duration::from_secs(1)).await;
    sim = portal(&dir, portal_port, RECORDED_AND_FAILING);
    for t in tasks {
        t.await.unwrap();
    }
    let acknowledged = started.elapsed();

    // Everything acknowledged reaches the portal.
    let want = (WALK.len() + 1) as u64;
    let rec = delivered(&dir, DOSSIERS as usize, want).await;
    let delivered = started.elapsed();
    for (code, revisions) in rec {
        assert_eq!(
            revisions,
            (1..=want).collect::<Vec<_>>(),
            "{code}: in order, none missing, none twice"
        );
    }
    let stats: serde_json::Value = portal_stats(portal_port).await;
    eprintln!(
        "{} updates acknowledged in {acknowledged:?}, all delivered after {delivered:?}; portal saw {} duplicates, {} out of order",
        DOSSIERS as usize * WALK.len(),
        stats["duplicates"],
        stats["out_of_order"]
    );
    assert_eq!(
        stats["out_of_order"], 0,
        "no revision ever overtook another"
    );
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_run_loses_no_acknowledged_update() {
    const N: u32 = 300;
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path().to_path_buf();
    let portal_port = free_port();
    let _sim = portal(&dir, portal_port, RECORDED_AND_FAILING);
    let port = free_port();
    let url = format!("http://127.0.0.1:{portal_port}");
    let (d, u) = (dir.clone(), url.clone());
    let gateway = tokio::task::spawn_blocking(move || serve_with(&d, port, &["--portal-url", &u]))
        .await
        .unwrap();
    let client = DossierServiceClient::new(channel(&dir, port, "H99.01"));
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (mut client, next) = (client.clone(), next.clone());
            tokio::spawn(async move {
                let mut acked = HashMap::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= N {
                        return acked;
                    }
                    acked.insert(
                        code(n),
                        drive(std::slice::from_mut(&mut client), n, drop).await,
                    );
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut gateway = gateway;
    gateway.0.kill().expect("SIGKILL");
    gateway.0.wait().expect("reaped");
    let (d, u) = (dir.clone(), url.clone());
    let _gateway = tokio::task::spawn_blocking(move || serve_with(&d, port, &["--portal-url", &u]))
        .await
        .unwrap();
    let mut acked: HashMap<String, Vec<u64>> = HashMap::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert_eq!(acked.len(), N as usize);
    let want = (WALK.len() + 1) as u64;
    for (code, revisions) in &delivered(&dir, N as usize, want).await {
        assert_eq!(revisions, &(1..=want).collect::<Vec<_>>(), "{code}");
        for r in &acked[code] {
            assert!(
                revisions.contains(r),
                "{code}: acknowledged revision {r} lost"
            );
        }
    }
    let stats = portal_stats(portal_port).await;
    eprintln!(
        "{} updates across a SIGKILL; portal saw {} duplicates",
        N as usize * WALK.len(),
        stats["duplicates"]
    );
    assert_eq!(stats["out_of_order"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_dossiers_reach_a_watcher_once_across_a_disconnect_and_a_gateway_restart() {
    use lienthong_adapters::http::Account;
    use lienthong_adapters::portal::NationalPortal;
    use lienthong_adapters::portal::dvcqg::Dvcqg;
    use lienthong_proto::v1::WatchDossiersRequest;

    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path().to_path_buf();
    std::fs::write(
        dir.join("lienthong.toml"),
        "[sync]\npoll_interval = \"100ms\"\n",
    )
    .unwrap();
    let portal_port = free_port();
    // Citizens submit a dossier online every 50 ms.
    let online = ["--online-agency", "H99.01", "--online-every-ms", "50"];
    let _sim = portal(&dir, portal_port, &online);
    let url = format!("http://127.0.0.1:{portal_port}");
    let port = free_port();
    let args = ["--config", "lienthong.toml", "--portal-url", url.as_str()];
    let (d, a) = (dir.clone(), args.map(str::to_owned));
    let gateway = tokio::task::spawn_blocking(move || {
        serve_with(&d, port, &a.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();

    // Reads `n` events after `cursor` (empty: from the start).
    let read = |cursor: String, n: usize| {
        let dir = dir.clone();
        async move {
            let mut client = DossierServiceClient::new(channel(&dir, port, "H99.01"));
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut stream = loop {
                match client
                    .watch_dossiers(WatchDossiersRequest {
                        after_cursor: cursor.clone(),
                    })
                    .await
                {
                    Ok(s) => break s.into_inner(),
                    Err(e) => {
                        assert!(Instant::now() < deadline, "no watch: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            };
            let mut got = Vec::new();
            while got.len() < n {
                let e = tokio::time::timeout(Duration::from_secs(20), stream.message())
                    .await
                    .expect("an event in time")
                    .expect("stream")
                    .expect("not ended");
                got.push((e.cursor.clone(), e.dossier.unwrap().dossier_code));
            }
            got
        }
    };
    let mut seen = read(String::new(), 10).await; // then the client goes away
    let more = read(seen.last().unwrap().0.clone(), 10).await;
    seen.extend(more);
    // The gateway is killed and started again on the same data dir.
    let mut gateway = gateway;
    gateway.0.kill().expect("SIGKILL");
    gateway.0.wait().expect("reaped");
    let (d, a) = (dir.clone(), args.map(str::to_owned));
    let _gateway = tokio::task::spawn_blocking(move || {
        serve_with(&d, port, &a.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let more = read(seen.last().unwrap().0.clone(), 20).await;
    seen.extend(more);

    // Exactly the portal's feed, in its order: nothing twice, nothing skipped.
    let portal = Dvcqg::new(
        Account {
            base_url: url,
            username: lienthong_adapters::sim::gate::Credentials::default().username,
            password: lienthong_adapters::sim::gate::Credentials::default().password,
            timeout: Duration::from_secs(5),
            ca_pem: None,
            bounds: lienthong_adapters::http::Bounds::default(),
        },
        "H99",
    )
    .unwrap();
    let feed = portal.online("", 1000).await.unwrap();
    let expected: Vec<String> = feed
        .items
        .iter()
        .take(seen.len())
        .map(|i| i.dossier.dossier_code.clone())
        .collect();
    let got: Vec<String> = seen.iter().map(|(_, code)| code.clone()).collect();
    assert_eq!(got, expected);
    let cursors: Vec<u64> = seen.iter().map(|(c, _)| c.parse().unwrap()).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
}
