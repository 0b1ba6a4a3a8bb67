//! Crash safety of the audit log, with real processes: the gateway is killed with
//! SIGKILL at random moments under concurrent load and restarted on the same data
//! dir. After every kill the chain verifies offline, and every request id a client
//! saw answered — served or refused — has its record.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lienthong_adapters::population::grpc::{self, GrpcConfig};
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use lienthong_proto::v1::{GetCitizenRequest, GetResidenceRequest, RequestContext};
use support::{BIN, ID, free_port, serve};
use tonic::Code;

mod support;

/// Kills per run; each costs about a second.
const KILLS: usize = 8;
/// Concurrent clients per run.
const CLIENTS: usize = 12;

fn context() -> Option<RequestContext> {
    Some(RequestContext {
        purpose: "dossier-processing".into(),
        legal_basis: "ND-47/2020".into(),
        case_ref: String::new(),
        officer_id: "cb-crash".into(),
    })
}

fn channel(dir: &Path, port: u16, agency: &str) -> tonic::transport::Channel {
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let certs = dir.join("certs");
    grpc::channel(&GrpcConfig {
        url: format!("https://localhost:{port}"),
        ca_pem: read(certs.join("ca.crt")),
        cert_pem: read(certs.join(format!("clients/{agency}.crt"))),
        key_pem: read(certs.join(format!("clients/{agency}.key"))),
        server_name: None,
        timeout: Duration::from_secs(2),
    })
    .expect("channel")
}

/// One client: alternately a lookup that is served and one the policy refuses,
/// remembering the request id of every answer the gateway gave.
async fn load(dir: PathBuf, port: u16, stop: Arc<AtomicBool>, seen: Arc<Mutex<Vec<String>>>) {
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
        let metadata = match answer {
            Ok(metadata) => metadata,
            // A refusal is an answer too, and must be on record.
            Err(status) if status.code() == Code::PermissionDenied => status.metadata().clone(),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        if let Some(id) = metadata.get("x-request-id").and_then(|v| v.to_str().ok()) {
            seen.lock().unwrap().push(id.to_owned());
        }
    }
}

/// The request ids in the (stopped) gateway's ledger, after verifying its chain.
fn recorded(dir: &Path) -> HashSet<String> {
    let verify = std::process::Command::new(BIN)
        .current_dir(dir)
        .args(["audit", "verify", "--data-dir", "data"])
        .output()
        .expect("audit verify runs");
    assert!(
        verify.status.success(),
        "chain broken after a kill: {verify:?}"
    );
    let query = std::process::Command::new(BIN)
        .current_dir(dir)
        .args(["audit", "query", "--data-dir", "data", "--json"])
        .output()
        .expect("audit query runs");
    assert!(query.status.success(), "{query:?}");
    String::from_utf8(query.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["record"]["request_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_answered_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path().to_path_buf();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for kill in 0..KILLS {
        let port = free_port();
        let d = dir.clone();
        let mut gateway = tokio::task::spawn_blocking(move || serve(&d, port))
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| tokio::spawn(load(dir.clone(), port, stop.clone(), seen.clone())))
            .collect();
        let jitter = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        tokio::time::sleep(Duration::from_millis(200 + u64::from(jitter % 600))).await;
        gateway.0.kill().expect("SIGKILL");
        gateway.0.wait().expect("reaped");
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.unwrap();
        }
        let on_record = recorded(&dir);
        let seen = seen.lock().unwrap();
        let missing: Vec<_> = seen.iter().filter(|id| !on_record.contains(*id)).collect();
        assert!(
            missing.is_empty(),
            "kill {kill}: {} answered requests have no record, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
        eprintln!(
            "kill {kill}: {} answers so far, {} records, all on record",
            seen.len(),
            on_record.len()
        );
    }
    let answered = seen.lock().unwrap().len();
    assert!(
        answered > KILLS * 20,
        "too little load to prove anything: {answered} answers"
    );
}
