//! Dossiers for the tests that run the real binary: the standalone portal simulator,
//! a legal walk of status changes, a driver that survives a gateway that disappears,
//! and the portal's record of what it was delivered.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::{DossierStatus, SubmitDossierRequest, UpdateDossierStatusRequest};

use super::{BIN, Killed};

/// A legal walk of ten status changes after submission (registered).
pub const WALK: [DossierStatus; 10] = [
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
pub fn portal(dir: &Path, port: u16, options: &[&str]) -> Killed {
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

pub fn code(n: u32) -> String {
    lienthong_proto::DossierCode::compose("H99.01", lienthong_proto::today(), n)
}

/// The submission of dossier `n` (registered, received now).
pub fn submission(n: u32) -> SubmitDossierRequest {
    SubmitDossierRequest {
        dossier: Some(lienthong_adapters::sim::dossiers::dossier(
            &code(n),
            DossierStatus::Registered,
            std::time::SystemTime::now().into(),
        )),
    }
}

/// The change that takes dossier `n` from `revision` to the next step of [`WALK`].
pub fn step(n: u32, revision: u64) -> UpdateDossierStatusRequest {
    UpdateDossierStatusRequest {
        dossier_code: code(n),
        status: WALK[revision as usize - 1] as i32,
        expected_revision: revision,
        handler: "cb-0001".into(),
        note: String::new(),
        at: None,
        due_at: None,
    }
}

/// Each dossier's revisions in the portal's record file: the portal keeps no
/// revision, but the gateway appends one progress entry per revision, so the
/// entries of a dossier, numbered in file order, are its revisions (an entry sent
/// twice shows as one revision too many).
pub fn record(dir: &Path) -> HashMap<String, Vec<u64>> {
    let mut out: HashMap<String, Vec<u64>> = HashMap::new();
    let text = std::fs::read_to_string(dir.join("portal.jsonl")).unwrap_or_default();
    // A last line without its newline is still being written: it counts next time.
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        if let Some(step) = v.get("TienDo") {
            let steps = out
                .entry(step["MaHoSo"].as_str().unwrap().to_owned())
                .or_default();
            steps.push(steps.len() as u64 + 1);
        }
    }
    out
}

/// The portal's record once it holds `want` revisions of each of `dossiers`
/// dossiers (within two minutes).
pub async fn delivered(dir: &Path, dossiers: usize, want: u64) -> HashMap<String, Vec<u64>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let rec = record(dir);
        if rec.len() == dossiers && rec.values().all(|r| r.len() as u64 == want) {
            return rec;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered: {} dossiers, {} of {} revisions in the record",
            rec.len(),
            rec.values().map(Vec::len).sum::<usize>(),
            dossiers as u64 * want
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn portal_stats(port: u16) -> serde_json::Value {
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
/// failed call it reads the dossier back (from the next of `clients`, as a client
/// with several addresses goes to another replica) and carries on from the revision
/// it has. Returns the revisions acknowledged, each also told to `ack` as it comes.
pub async fn drive(
    clients: &mut [DossierServiceClient<tonic::transport::Channel>],
    n: u32,
    mut ack: impl FnMut(u64),
) -> Vec<u64> {
    use lienthong_proto::v1::GetDossierRequest;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acked = Vec::new();
    let mut revision = 0u64;
    let mut at = n as usize % clients.len();
    while revision < (WALK.len() + 1) as u64 {
        let client = &mut clients[at];
        let result = if revision == 0 {
            client.submit_dossier(submission(n)).await
        } else {
            client.update_dossier_status(step(n, revision)).await
        };
        match result {
            Ok(d) => {
                revision = d.into_inner().revision;
                acked.push(revision);
                ack(revision);
            }
            Err(_) => loop {
                // Committed or not? Ask, once a gateway answers again.
                assert!(
                    Instant::now() < deadline,
                    "{}: no gateway came back",
                    code(n)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                at = (at + 1) % clients.len();
                match clients[at]
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

/// Dossier drivers running through every kill, each walking one dossier after
/// another over the gateways on `ports` (going to the next after a failure).
pub struct Drivers {
    /// Each dossier's highest acknowledged revision.
    pub acked: std::sync::Arc<std::sync::Mutex<HashMap<String, u64>>>,
    next: std::sync::Arc<std::sync::atomic::AtomicU32>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drivers {
    /// `count` drivers, pausing `pace` between two dossiers (so that later rounds
    /// are no longer than early ones).
    pub fn start(dir: &Path, ports: &[u16], count: usize, pace: Duration) -> Drivers {
        use std::sync::atomic::Ordering;
        let drivers = Drivers {
            acked: Default::default(),
            next: Default::default(),
            done: Default::default(),
            tasks: Vec::new(),
        };
        let tasks = (0..count)
            .map(|_| {
                let mut clients: Vec<_> = ports
                    .iter()
                    .map(|p| DossierServiceClient::new(super::channel(dir, *p, "H99.01")))
                    .collect();
                let (acked, next, done) = (
                    drivers.acked.clone(),
                    drivers.next.clone(),
                    drivers.done.clone(),
                );
                tokio::spawn(async move {
                    while !done.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let code = code(n);
                        drive(&mut clients, n, |revision| {
                            acked.lock().unwrap().insert(code.clone(), revision);
                        })
                        .await;
                        tokio::time::sleep(pace).await;
                    }
                })
            })
            .collect();
        Drivers { tasks, ..drivers }
    }

    /// What has been acknowledged so far.
    pub fn acked(&self) -> HashMap<String, u64> {
        self.acked.lock().unwrap().clone()
    }

    /// Lets each driver finish the dossier it walks; every acknowledgement, and
    /// how many dossiers were started (each walked to its end).
    pub async fn finish(self) -> (HashMap<String, u64>, usize) {
        use std::sync::atomic::Ordering;
        self.done.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        (acked, self.next.load(Ordering::Relaxed) as usize)
    }
}

/// Every dossier in `acked` is stored at least at the revision acknowledged, as
/// the gateways on `clients` (tried in turn while one is down) tell.
pub async fn stored(
    clients: &mut [DossierServiceClient<tonic::transport::Channel>],
    acked: &HashMap<String, u64>,
) {
    use lienthong_proto::v1::GetDossierRequest;
    // The gateway that answered last is asked first: a dead one costs one failed
    // call per check, not one per dossier.
    let mut at = 0;
    for (code, revision) in acked {
        let mut failed = 0;
        let dossier = loop {
            let request = GetDossierRequest {
                dossier_code: code.clone(),
            };
            match clients[at].get_dossier(request).await {
                Ok(d) => break d.into_inner(),
                Err(s) if s.code() == tonic::Code::NotFound => {
                    panic!("{code}: acknowledged at {revision}, not stored")
                }
                Err(s) => {
                    assert!(failed < 100, "{code}: {s:?}");
                    failed += 1;
                    at = (at + 1) % clients.len();
                    // Every gateway tried: wait for one to come back.
                    if failed % clients.len() == 0 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        };
        assert!(
            dossier.revision >= *revision,
            "{code}: revision {revision} was acknowledged, {} is stored",
            dossier.revision
        );
    }
}
