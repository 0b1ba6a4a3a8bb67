//! Dossier sync end to end, with real processes: the gateway and the standalone
//! portal simulator. 10,000 status updates across 1,000 dossiers, while the portal
//! fails 10 % of calls and is stopped and restarted partway; afterwards every update
//! is in the portal's record, in order per dossier, none missing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong_adapters::population::grpc::{self, GrpcConfig};
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::{DossierStatus, SubmitDossierRequest, UpdateDossierStatusRequest};
use support::{BIN, Killed, free_port, serve_with};

mod support;

const DOSSIERS: u32 = 1_000;
/// The portal of the delivery runs: it records what it accepts and fails 10 % of calls.
const RECORDED_AND_FAILING: &[&str] = &["--record", "portal.jsonl", "--fail-rate", "0.1"];
/// A legal walk of ten status changes after submission (registered).
const WALK: [DossierStatus; 10] = [
    DossierStatus::Accepted,
    DossierStatus::Processing,
    DossierStatus::SupplementRequested,
    DossierStatus::Processing,
    DossierStatus::PaymentRequested,
    DossierStatus::Processing,
    DossierStatus::SupplementRequested,
    DossierStatus::Processing,
    DossierStatus::Processed,
    DossierStatus::ResultReturned,
];

/// The standalone portal simulator on `port`, with `options`, once it accepts.
fn portal(dir: &Path, port: u16, options: &[&str]) -> Killed {
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(["sim", "portal", "--listen", &format!("127.0.0.1:{port}")])
        .args(options)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("portal simulator starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "portal simulator did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Killed(child)
}

fn channel(dir: &Path, port: u16) -> tonic::transport::Channel {
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let certs = dir.join("certs");
    grpc::channel(&GrpcConfig {
        url: format!("https://localhost:{port}"),
        ca_pem: read(certs.join("ca.crt")),
        cert_pem: read(certs.join("clients/H99.01.crt")),
        key_pem: read(certs.join("clients/H99.01.key")),
        server_name: None,
        timeout: Duration::from_secs(10),
    })
    .expect("channel")
}

fn code(n: u32) -> String {
    lienthong_proto::DossierCode::compose("H99.01", lienthong_proto::today(), n)
}

/// The submission of dossier `n` (registered, received now).
fn submission(n: u32) -> SubmitDossierRequest {
    SubmitDossierRequest {
        dossier: Some(lienthong_adapters::sim::dossiers::dossier(
            &code(n),
            DossierStatus::Registered,
            std::time::SystemTime::now().into(),
        )),
    }
}

/// The change that takes dossier `n` from `revision` to the next step of [`WALK`].
fn step(n: u32, revision: u64) -> UpdateDossierStatusRequest {
    UpdateDossierStatusRequest {
        dossier_code: code(n),
        status: WALK[revision as usize - 1] as i32,
        expected_revision: revision,
        handler: "cb-0001".into(),
        note: String::new(),
        at: None,
    }
}

/// Each dossier's revisions in the portal's record file, in file order.
fn record(dir: &Path) -> HashMap<String, Vec<u64>> {
    let mut out: HashMap<String, Vec<u64>> = HashMap::new();
    let text = std::fs::read_to_string(dir.join("portal.jsonl")).unwrap_or_default();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        out.entry(v["MaHoSo"].as_str().unwrap().to_owned())
            .or_default()
            .push(v["PhienBan"].as_u64().unwrap());
    }
    out
}

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
    let client = DossierServiceClient::new(channel(&dir, port));

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
    let stats: serde_json::Value = reqwest_stats(portal_port).await;
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

/// The portal's record once it holds `want` revisions of each of `dossiers`
/// dossiers (within two minutes).
async fn delivered(dir: &Path, dossiers: usize, want: u64) -> HashMap<String, Vec<u64>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let rec = record(dir);
        if rec.len() == dossiers && rec.values().all(|r| r.len() as u64 == want) {
            return rec;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered: {} dossiers in the record",
            rec.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn reqwest_stats(port: u16) -> serde_json::Value {
    let http = lienthong_adapters::http::client("sim", None, Duration::from_secs(5)).unwrap();
    http.get(format!("http://127.0.0.1:{port}/sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Drives one dossier through its walk, surviving a gateway that disappears: after a
/// failed call it reads the dossier back and carries on from the revision it has.
/// Returns the revisions acknowledged.
async fn drive(client: &mut DossierServiceClient<tonic::transport::Channel>, n: u32) -> Vec<u64> {
    use lienthong_proto::v1::GetDossierRequest;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acked = Vec::new();
    let mut revision = 0u64;
    while revision < (WALK.len() + 1) as u64 {
        let result = if revision == 0 {
            client.submit_dossier(submission(n)).await
        } else {
            client.update_dossier_status(step(n, revision)).await
        };
        match result {
            Ok(d) => {
                revision = d.into_inner().revision;
                acked.push(revision);
            }
            Err(_) => loop {
                // Committed or not? Ask, once the gateway answers again.
                assert!(
                    Instant::now() < deadline,
                    "{}: the gateway did not come back",
                    code(n)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                match client
                    .get_dossier(GetDossierRequest {
                        dossier_code: code(n),
                    })
                    .await
                {
                    Ok(d) => {
                        revision = d.into_inner().revision;
                        break;
                    }
                    Err(s) if s.code() == tonic::Code::NotFound => {
                        revision = 0;
                        break;
                    }
                    Err(_) => {}
                }
            },
        }
    }
    acked
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
    let client = DossierServiceClient::new(channel(&dir, port));
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
                    acked.insert(code(n), drive(&mut client, n).await);
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
    let stats = reqwest_stats(portal_port).await;
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
    use lienthong_adapters::portal::rest::RestPortal;
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
            let mut client = DossierServiceClient::new(channel(&dir, port));
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
    let portal = RestPortal::new(Account {
        base_url: url,
        username: lienthong_adapters::sim::gate::Credentials::default().username,
        password: lienthong_adapters::sim::gate::Credentials::default().password,
        timeout: Duration::from_secs(5),
        ca_pem: None,
    })
    .unwrap();
    let feed = portal.online("H99", "", 1000).await.unwrap();
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
