//! What the crash loops share: the request context, the request ids clients saw
//! answered, the inspector reading the log while it is written, and the ledger read
//! with the binary after every kill.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::{QueryAuditRequest, RequestContext};

use super::{BIN, channel};

pub fn context() -> Option<RequestContext> {
    Some(RequestContext {
        purpose: "dossier-processing".into(),
        legal_basis: "ND-47/2020".into(),
        case_ref: String::new(),
        officer_id: "cb-crash".into(),
    })
}

/// A number that differs from call to call (for kill times and victims).
pub fn random() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    u64::from(nanos.wrapping_mul(2_654_435_761) >> 7)
}

/// Whatever a client saw: the request ids of the answers the gateways gave.
pub type Seen = Arc<Mutex<Vec<String>>>;

pub fn remember(seen: &Seen, metadata: &tonic::metadata::MetadataMap) {
    if let Some(id) = metadata.get("x-request-id").and_then(|v| v.to_str().ok()) {
        seen.lock().unwrap().push(id.to_owned());
    }
}

/// The inspectorate reading the log while it is written: the latest records of
/// H99.01, again and again, from each gateway on `ports` in turn. Returns how many
/// queries were answered in full.
pub async fn inspector(dir: PathBuf, ports: Vec<u16>, stop: Arc<AtomicBool>, seen: Seen) -> u64 {
    let clients: Vec<_> = ports
        .iter()
        .map(|port| AuditServiceClient::new(channel(&dir, *port, "H99.90")))
        .collect();
    let (mut answered, mut n) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let mut audit = clients[n % clients.len()].clone();
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

/// The ledger as the binary reads it (`source`: `--data-dir data` or
/// `--ledger-url …`), kept up with after every kill: the request ids on record,
/// the last sequence number checked, and how many times opening it replayed
/// acknowledged records from the embedded ledger's journal.
#[derive(Default)]
pub struct Ledger {
    pub ids: HashSet<String>,
    pub head: u64,
    pub replayed: usize,
    /// The tree size of the latest checkpoint at the last [`Ledger::tree_holds`].
    pub tree: u64,
}

impl Ledger {
    /// Verifies the chain from record `from` (so the link to what was checked
    /// before is checked again; 0: all of it), then reads the records after the
    /// last one read.
    pub fn catch_up(&mut self, dir: &Path, source: &[&str], from: u64) {
        let from = from.to_string();
        let verify = std::process::Command::new(BIN)
            .current_dir(dir)
            .args(["audit", "verify", "--from-seq", &from])
            .args(source)
            .output()
            .expect("audit verify runs");
        assert!(verify.status.success(), "the chain broke: {verify:?}");
        self.replayed += usize::from(
            String::from_utf8_lossy(&verify.stderr).contains("recovered from the journal"),
        );
        let after = self.head.to_string();
        let query = std::process::Command::new(BIN)
            .current_dir(dir)
            .args(["audit", "query", "--json", "--after-seq", &after])
            .args(source)
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

    /// Checks the Merkle tree as the binary reads it: the latest signed
    /// checkpoint proves its own last record, and extends the checkpoint seen at
    /// the last call (nothing a kill did changed that tree). Each proof is
    /// checked from its document (`audit verify --proof`).
    pub fn tree_holds(&mut self, dir: &Path, source: &[&str], when: &str) {
        let prove = |args: &[&str]| -> Option<String> {
            let out = std::process::Command::new(BIN)
                .current_dir(dir)
                .args(["audit", "prove", "--json"])
                .args(args)
                .args(source)
                .output()
                .expect("audit prove runs");
            let said = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() && said.contains("no checkpoint is signed yet") {
                return None;
            }
            assert!(out.status.success(), "{when}: audit prove {args:?}: {said}");
            Some(String::from_utf8(out.stdout).unwrap())
        };
        let check = |document: &str| {
            let path = dir.join("proof.json");
            std::fs::write(&path, document).unwrap();
            let out = std::process::Command::new(BIN)
                .current_dir(dir)
                .args(["audit", "verify", "--proof", "proof.json"])
                .output()
                .expect("audit verify runs");
            assert!(
                out.status.success(),
                "{when}: the proof does not hold: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let Some(extends) = prove(&["--extends", &self.tree.max(1).to_string()]) else {
            return;
        };
        let v: serde_json::Value = serde_json::from_str(&extends).expect("a proof document");
        let size = v["consistency"]["second_size"]
            .as_u64()
            .expect("a tree size");
        if self.tree > 0 {
            check(&extends);
        }
        let size_arg = size.to_string();
        let own = prove(&["--seq", &size_arg, "--tree-size", &size_arg]).expect("signed");
        check(&own);
        self.tree = size;
    }

    /// Panics unless every id in `seen` is on record.
    pub fn holds_every(&self, seen: &Seen, when: &str) {
        let seen = seen.lock().unwrap();
        let missing: Vec<_> = seen.iter().filter(|id| !self.ids.contains(*id)).collect();
        assert!(
            missing.is_empty(),
            "{when}: {} answered requests have no record, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
    }
}
