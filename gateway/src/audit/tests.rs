//! The log end to end on real redb files: group commit, restart, verification, and
//! every kind of tampering an inspector must catch.

use std::sync::atomic::Ordering;

use lienthong_ledger::forge;
use lienthong_proto::v1::Decision;

use super::*;

/// The embedded ledger at `path`, as a reader sees it.
fn open(path: &Path) -> Arc<dyn Store> {
    Embedded::open(path).unwrap()
}

fn settings(every: u64) -> Settings {
    Settings {
        checkpoint_every: every,
        max_batch: 1024,
    }
}

fn entry(n: u64) -> AuditRecord {
    AuditRecord {
        agency_code: "H99.01".into(),
        certificate_fingerprint: "ab".repeat(32),
        officer_id: "cb-0001".into(),
        operation: "IdentityService/GetCitizen".into(),
        subject_personal_id: format!("001085{n:06}"),
        purpose: "dossier-processing".into(),
        legal_basis: "ND-47/2020".into(),
        decision: Decision::Granted as i32,
        fields_released: vec!["citizen.full_name".into()],
        request_id: format!("req-{n}"),
        ..Default::default()
    }
}

/// A log with `n` records appended one after another (so checkpoints fall exactly
/// every `every` records), closed; returns its public key.
async fn filled(path: &Path, n: u64, every: u64) -> Vec<u8> {
    let signer = Signer::ephemeral();
    let key = signer.public_key().to_vec();
    let log = Log::open(path, signer, settings(every), Duration::from_secs(3600)).unwrap();
    for i in 0..n {
        assert_eq!(log.append(entry(i)).await.unwrap(), i + 1);
    }
    log.close().await;
    key
}

/// The whole ledger as export lines (the close checkpoint seals it).
async fn export(path: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    Walk::new(open(path), 0, 0)
        .each(|item| {
            lines.push(export::to_line(&item));
            true
        })
        .await
        .unwrap();
    lines
}

fn verify_lines(lines: &[String], key: &[u8]) -> VerifyAuditResponse {
    export::verify(lines.join("\n").as_bytes(), key).unwrap()
}

#[tokio::test]
async fn concurrent_appends_share_commits_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let signer = Signer::ephemeral();
    let key = signer.public_key().to_vec();
    let log = Arc::new(Log::open(&path, signer, settings(100), Duration::from_secs(3600)).unwrap());
    let tasks: Vec<_> = (0..256)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(entry(i)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let commits = log.stats().commits.load(Ordering::Relaxed);
    assert_eq!(log.stats().records.load(Ordering::Relaxed), 256);
    assert!(
        commits < 256,
        "group commit: {commits} commits for 256 records"
    );
    let report = log.verify(0, 0).await.unwrap();
    assert!(report.ok, "{}", report.detail);
    assert_eq!(report.records_checked, 256);
    assert!(report.checkpoints_checked >= 1, "{report:?}");
    log.close().await;
    assert!(log.append(entry(0)).await.is_err(), "closed logs refuse");
    drop(log);
    assert!(
        verify_store(open(&path), &key, 0, 0, None)
            .await
            .unwrap()
            .ok
    );
}

#[tokio::test]
async fn restart_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let key_path = dir.path().join("audit.key");
    std::fs::write(&key_path, lienthong_pki::audit_key_pem().unwrap().0).unwrap();
    for round in 0..3u64 {
        let signer = Signer::load(&key_path).unwrap();
        let log = Log::open(&path, signer, settings(1000), Duration::from_secs(3600)).unwrap();
        for i in 0..10 {
            let seq = log.append(entry(i)).await.unwrap();
            assert_eq!(seq, round * 10 + i + 1);
        }
        log.close().await;
    }
    let key = Signer::load(&key_path).unwrap().public_key().to_vec();
    let store = open(&path);
    let report = verify_store(store.clone(), &key, 0, 0, None).await.unwrap();
    assert!(report.ok, "{}", report.detail);
    assert_eq!(
        (report.records_checked, report.checkpoints_checked),
        (30, 3)
    );
    assert_eq!(store.audit_head().await.unwrap().checkpoint, 30);
}

#[tokio::test]
async fn tampered_exports_name_the_first_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let key = filled(&path, 40, 10).await;
    let lines = export(&path).await;
    let report = verify_lines(&lines, &key);
    assert!(report.ok, "{}", report.detail);
    assert_eq!(
        (report.records_checked, report.checkpoints_checked),
        (40, 4)
    );

    let index = |seq: u64| {
        lines
            .iter()
            .position(|l| l.starts_with(&format!("{{\"record\":{{\"seq\":{seq},")))
            .unwrap()
    };
    let expect = |lines: Vec<String>, seq: u64, words: &str| {
        let r = verify_lines(&lines, &key);
        assert!(!r.ok, "tampering with {seq} not detected");
        assert_eq!(r.first_bad_seq, seq, "{}", r.detail);
        assert!(r.detail.contains(words), "{}", r.detail);
    };

    // altered: another citizen's ID in record 17
    let mut altered = lines.clone();
    altered[index(17)] = altered[index(17)].replace("001085000", "001085999");
    assert_ne!(altered, lines);
    expect(altered, 17, "altered");
    // deleted: record 23 gone
    let mut deleted = lines.clone();
    deleted.remove(index(23));
    expect(deleted, 23, "missing");
    // reordered: 31 and 32 swapped
    let mut reordered = lines.clone();
    reordered.swap(index(31), index(32));
    expect(reordered, 31, "missing");
    // appended without chain: a record made up after 40, hashed but not chained
    let mut forged = entry(99);
    forged.seq = 41;
    forged.at = Some(record::timestamp(1));
    forged.prev_hash = vec![0; 32];
    forged.hash = record::hash(&forged.prev_hash, &forged).to_vec();
    let mut appended = lines.clone();
    appended.push(export::to_line(&Item::Record(forged.clone())));
    expect(appended, 41, "not chained");
    // appended and chained, but not signed: the tail is unsealed
    let mut chained = forged.clone();
    let last = match export::from_line(&lines[index(40)]).unwrap() {
        Item::Record(r) => r,
        Item::Checkpoint(_) => unreachable!(),
    };
    chained.prev_hash = last.hash.clone();
    chained.hash = record::hash(&chained.prev_hash, &chained).to_vec();
    let mut unsealed = lines.clone();
    unsealed.push(export::to_line(&Item::Record(chained)));
    expect(unsealed, 42, "tail");
    // cut: the last records removed, the final checkpoint kept
    let mut cut = lines.clone();
    cut.retain(|l| !(36..=40).any(|s| l.starts_with(&format!("{{\"record\":{{\"seq\":{s},"))));
    expect(cut, 36, "truncated");
    // cut with the checkpoint: unsealed
    let mut cut = lines[..index(38)].to_vec();
    cut.truncate(index(38));
    expect(cut, 38, "tail");
    // rewritten: record 5 altered and every hash after it recomputed
    let mut rewritten = Vec::new();
    let mut prev = record::GENESIS.to_vec();
    for line in &lines {
        match export::from_line(line).unwrap() {
            Item::Record(mut r) => {
                if r.seq == 5 {
                    r.purpose = "marketing".into();
                }
                r.prev_hash = prev.clone();
                r.hash = record::hash(&prev, &r).to_vec();
                prev = r.hash.clone();
                rewritten.push(export::to_line(&Item::Record(r)));
            }
            Item::Checkpoint(_) => rewritten.push(line.clone()),
        }
    }
    expect(rewritten, 10, "rewritten");
    // a checkpoint signed by someone else
    let other = Signer::ephemeral();
    let mut resigned = lines.clone();
    let forged_cp = other.sign(40, &last.hash, 1);
    *resigned.last_mut().unwrap() = export::to_line(&Item::Checkpoint(forged_cp));
    expect(resigned, 40, "key other than the trusted one");
}

#[tokio::test]
async fn a_truncated_ledger_is_caught_by_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let key = filled(&path, 50, 20).await;
    forge::embedded_remove(&path, 45..=50);
    let store = open(&path);
    assert_eq!(store.audit_head().await.unwrap().seq, 44);
    let report = verify_store(store.clone(), &key, 0, 0, None).await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, 45, "{}", report.detail);
    assert!(report.detail.contains("truncated"), "{}", report.detail);
    // Within the range that is still whole, it verifies.
    assert!(verify_store(store, &key, 0, 40, None).await.unwrap().ok);
}

#[tokio::test]
async fn an_altered_ledger_record_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let key = filled(&path, 30, 100).await;
    forge::embedded_rewrite(&path, 12, |r| r.decision = Decision::Denied as i32);
    let store = open(&path);
    let report = verify_store(store.clone(), &key, 0, 0, None).await.unwrap();
    assert_eq!(
        (report.ok, report.first_bad_seq),
        (false, 12),
        "{}",
        report.detail
    );
    assert_eq!(
        store.audit_head().await.unwrap().seq,
        30,
        "nothing else changed"
    );
}

#[test]
fn hex_round_trips() {
    assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
    assert_eq!(unhex("0001ABff"), Some(vec![0, 1, 0xab, 0xff]));
    for bad in ["0", "zz", "+f", "0g"] {
        assert_eq!(unhex(bad), None, "{bad}");
    }
}

#[tokio::test]
async fn a_change_and_its_record_commit_together_and_the_record_says_how_it_went() {
    use lienthong_ledger::{Change, Refusal};
    use lienthong_proto::v1::DossierStatus;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let signer = Signer::ephemeral();
    let key = signer.public_key().to_vec();
    let log = Log::open(&path, signer, settings(1000), Duration::from_secs(3600)).unwrap();
    let code = "H99.01-261122-0001";
    let dossier = lienthong_adapters::sim::dossiers::dossier(
        code,
        DossierStatus::Accepted,
        lienthong_adapters::sim::dossiers::RECEIVED,
    );
    let submit = || Change::Submit(Box::new(dossier.clone()));
    let mut unnamed = entry(1);
    unnamed.subject_personal_id.clear();
    let (seq, applied) = log.append_change(unnamed, submit()).await.unwrap();
    assert_eq!(applied.unwrap().revision, 1);
    let stored = log.store().audit_record(seq).await.unwrap().unwrap();
    assert_eq!(
        (stored.subject_personal_id.as_str(), stored.reason.as_str()),
        (dossier.applicant_personal_id.as_str(), ""),
        "the applicant becomes the subject"
    );
    // Submitted twice: refused, and its record carries the refusal's reason and code.
    let (seq, applied) = log.append_change(entry(2), submit()).await.unwrap();
    assert_eq!(applied, Err(Refusal::Exists(code.into())));
    let stored = log.store().audit_record(seq).await.unwrap().unwrap();
    assert_eq!(
        (stored.reason.as_str(), stored.outcome),
        ("DOSSIER_EXISTS", tonic::Code::AlreadyExists as u32)
    );
    assert!(stored.fields_released.is_empty());
    assert_eq!(
        log.append(entry(3)).await.unwrap(),
        seq + 1,
        "the chain went on"
    );
    log.close().await;
    drop(log);
    let verified = verify_store(open(&path), &key, 0, 0, None).await.unwrap();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.records_checked, 3);
}
