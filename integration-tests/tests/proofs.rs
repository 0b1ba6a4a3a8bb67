//! The audit log's Merkle proofs over real mTLS, on both ledgers: a record's
//! inclusion in a signed checkpoint and the consistency of two checkpoints, for
//! auditors; a citizen's own access, by its hash only, for `subject-access`;
//! each checked from the document alone by the Rust verifier and by
//! `docs/verify_proof.py`, and refused once anything in it is changed; every
//! call in the log.

use std::time::Duration;

use integration_tests::{Ledger, TestPki, audit_records, auditor, channel, reason};
use lienthong_gateway::audit::checkpoint;
use lienthong_gateway::audit::prove::{self, Document};
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::subject_access_service_client::SubjectAccessServiceClient;
use lienthong_proto::v1::{
    ExportAuditRequest, ProveAccessRequest, ProveConsistencyRequest, ProveInclusionRequest,
    QueryAuditRequest, export_item,
};
use tonic::Code;

/// What both verifiers say of `document`: Rust's verdict, and whether Python's
/// exit status agrees, with its words.
fn both(document: &Document, key: &[u8]) -> (Result<String, String>, bool, String) {
    let rust = document.check(key);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proof.json");
    std::fs::write(&path, serde_json::to_string(document).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/verify_proof.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&path)
        .arg(lienthong_gateway::audit::hex(key))
        .output()
        .expect("python3 runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (rust, out.status.success(), said)
}

/// Both verifiers accept `document`, with every signature checked.
fn holds(document: &Document, key: &[u8]) {
    let (rust, python, said) = both(document, key);
    assert!(rust.is_ok(), "{rust:?}");
    assert!(python && said.starts_with("ok: "), "{said}");
    assert!(
        !said.contains("not checked"),
        "Python checks the signatures: {said}"
    );
}

/// Both verifiers refuse `document`.
fn refused(document: &Document, key: &[u8], why: &str) {
    let (rust, python, said) = both(document, key);
    assert!(rust.is_err(), "{why}: Rust accepts it");
    assert!(
        !python && said.starts_with("FAILED: "),
        "{why}: Python says {said}"
    );
}

/// `document` with `change` made to its JSON.
fn altered(document: &Document, change: impl FnOnce(&mut serde_json::Value)) -> Document {
    let mut value = serde_json::to_value(document).unwrap();
    change(&mut value);
    serde_json::from_value(value).unwrap()
}

async fn records_and_trees_are_proved_from_the_document_alone(ledger: Ledger) {
    let pki = TestPki::new();
    let mut config = integration_tests::config(&pki);
    assert!(ledger.apply(&mut config).await);
    config.audit.checkpoint_every = 4;
    config.audit.checkpoint_interval = Duration::from_millis(100);
    let (registry, _) = integration_tests::population(Duration::ZERO);
    let gw = integration_tests::start(&config, registry).await;
    let key = checkpoint::load_public_key(&pki.paths.audit_public_key()).unwrap();
    let (lan, other) = (
        integration_tests::sim_id("001085", true),
        integration_tests::sim_id("079190", true),
    );
    let mut shop = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    for id in [&lan, &other, &lan, &other, &other, &lan, &other] {
        shop.get_citizen(integration_tests::citizen_request(id))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut audit = auditor(gw.addr(), &pki);
    let lans = audit_records(
        &mut audit,
        QueryAuditRequest {
            subject_personal_id: lan.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(lans.len(), 3);

    // Each of Lan's records, in the latest checkpoint and in the first.
    for r in &lans {
        let proof = audit
            .prove_inclusion(ProveInclusionRequest {
                seq: r.seq,
                tree_size: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(proof.record.as_ref(), Some(r));
        assert!(proof.tree_size >= 7, "{}", proof.tree_size);
        holds(&Document::inclusion(proof), &key);
    }
    // The checkpoints signed so far (the export's closing seal has no root).
    let mut export = audit
        .export_audit(ExportAuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut sizes = Vec::new();
    while let Some(item) = export.message().await.unwrap() {
        if let Some(export_item::Item::Checkpoint(c)) = item.item
            && !c.root.is_empty()
        {
            sizes.push(c.seq);
        }
    }
    assert!(sizes.len() >= 2, "{sizes:?}");
    // A tree of at least two records: its audit paths are never empty.
    let earliest = *sizes.iter().find(|s| **s >= lans[0].seq.max(2)).unwrap();
    let first = audit
        .prove_inclusion(ProveInclusionRequest {
            seq: lans[0].seq,
            tree_size: earliest,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.tree_size, earliest);
    let document = Document::inclusion(first);
    holds(&document, &key);

    // Anything changed in it is caught.
    for (why, change) in [
        (
            "a field of the record",
            Box::new(|v: &mut serde_json::Value| {
                v["inclusion"]["record"]["agency_code"] = "H99.02".into();
            }) as Box<dyn FnOnce(&mut serde_json::Value)>,
        ),
        (
            "another record's hash",
            Box::new(|v: &mut serde_json::Value| {
                let other = lienthong_gateway::audit::hex(&[7; 32]);
                v["inclusion"]["record"].as_object_mut().unwrap().clear();
                v["inclusion"].as_object_mut().unwrap().remove("record");
                v["inclusion"]["record_hash"] = other.into();
            }),
        ),
        (
            "a hash of the path",
            Box::new(|v: &mut serde_json::Value| {
                let h = v["inclusion"]["hashes"][0].as_str().unwrap().to_owned();
                let flipped = if h.starts_with('0') { "1" } else { "0" };
                v["inclusion"]["hashes"][0] = format!("{flipped}{}", &h[1..]).into();
            }),
        ),
        (
            "another place in the tree",
            Box::new(|v: &mut serde_json::Value| {
                let index = v["inclusion"]["leaf_index"].as_u64().unwrap();
                v["inclusion"]["leaf_index"] = (index ^ 1).into();
                v["inclusion"]["seq"] = ((index ^ 1) + 1).into();
            }),
        ),
        (
            "the checkpoint's root",
            Box::new(|v: &mut serde_json::Value| {
                v["inclusion"]["checkpoint"]["root"] =
                    lienthong_gateway::audit::hex(&[1; 32]).into();
            }),
        ),
    ] {
        refused(&altered(&document, change), &key, why);
    }
    let stranger = lienthong_gateway::audit::Signer::ephemeral();
    refused(&document, stranger.public_key(), "another key");

    // The latest checkpoint extends the first and every other.
    let extends = audit
        .prove_consistency(ProveConsistencyRequest {
            first_size: sizes[0],
            second_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(extends.second_size >= sizes[sizes.len() - 1], "{extends:?}");
    let document = Document::consistency(extends);
    holds(&document, &key);
    refused(
        &altered(&document, |v| {
            let h = v["consistency"]["hashes"][0].as_str().unwrap().to_owned();
            let flipped = if h.starts_with('0') { "1" } else { "0" };
            v["consistency"]["hashes"][0] = format!("{flipped}{}", &h[1..]).into();
        }),
        &key,
        "a hash of the proof",
    );
    refused(
        &altered(&document, |v| {
            v["consistency"]["first"]["root"] = lienthong_gateway::audit::hex(&[1; 32]).into();
        }),
        &key,
        "another first root",
    );

    // What is not there, and what is asked wrongly.
    let e = audit
        .prove_inclusion(ProveInclusionRequest {
            seq: 0,
            tree_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let unsigned = (1..).find(|n| !sizes.contains(n)).unwrap();
    let e = audit
        .prove_inclusion(ProveInclusionRequest {
            seq: 1,
            tree_size: unsigned,
        })
        .await
        .unwrap_err();
    assert_eq!((e.code(), reason(&e)), (Code::NotFound, "NOT_FOUND".into()));
    let e = audit
        .prove_consistency(ProveConsistencyRequest {
            first_size: 9,
            second_size: 4,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // A citizen proves their own access, by its hash; nobody else's.
    let mut portal = SubjectAccessServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let own = portal
        .prove_access(ProveAccessRequest {
            personal_id: lan.clone(),
            seq: lans[1].seq,
            tree_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        own.record.is_none(),
        "the record itself stays with the auditors"
    );
    assert_eq!(own.record_hash, lans[1].hash);
    holds(&Document::inclusion(own), &key);
    let others = audit_records(
        &mut audit,
        QueryAuditRequest {
            subject_personal_id: other.clone(),
            ..Default::default()
        },
    )
    .await;
    let e = portal
        .prove_access(ProveAccessRequest {
            personal_id: lan.clone(),
            seq: others[0].seq,
            tree_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let mut department = SubjectAccessServiceClient::new(channel(gw.addr(), &pki.paths, "H99.02"));
    let e = department
        .prove_access(ProveAccessRequest {
            personal_id: lan.clone(),
            seq: lans[1].seq,
            tree_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e)),
        (Code::PermissionDenied, "ROLE_REQUIRED".into())
    );
    let mut auditor_as_citizen =
        SubjectAccessServiceClient::new(channel(gw.addr(), &pki.paths, "H99.90"));
    assert!(
        auditor_as_citizen
            .prove_access(ProveAccessRequest {
                personal_id: lan.clone(),
                seq: lans[1].seq,
                tree_size: 0,
            })
            .await
            .is_err()
    );

    // Every call is in the log; the citizen's, in their list.
    let all = audit_records(&mut audit, QueryAuditRequest::default()).await;
    let count = |op: &str| all.iter().filter(|r| r.operation == op).count();
    assert!(count("AuditService/ProveInclusion") >= 6, "{all:?}");
    assert!(count("AuditService/ProveConsistency") >= 2);
    let access_calls: Vec<_> = all
        .iter()
        .filter(|r| r.operation == "SubjectAccessService/ProveAccess")
        .collect();
    assert_eq!(access_calls.len(), 4);
    assert!(access_calls.iter().all(|r| r.subject_personal_id == lan));
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// The gateway's side of witnessing, on both ledgers: a cosignature is kept only
/// from a configured witness whose key verifies it; the checkpoint is served with
/// it; only the `witness` role may call; and while the witnesses lag behind
/// `audit.witness_grace`, `/readyz` says so (still ready) and the metrics show it.
async fn cosignatures_are_checked_kept_and_their_lag_shows(ledger: Ledger) {
    use lienthong_gateway::audit::signed_note::Signer;
    use lienthong_proto::v1::witness_service_client::WitnessServiceClient;
    use lienthong_proto::v1::{AddCosignatureRequest, GetCheckpointRequest};

    let pki = TestPki::new();
    let (witness, _) = Signer::generate("witness.one", true).unwrap();
    let (stranger, _) = Signer::generate("witness.two", true).unwrap();
    let mut config = integration_tests::config(&pki);
    assert!(ledger.apply(&mut config).await);
    config.audit.checkpoint_interval = Duration::from_millis(100);
    config.audit.witnesses = vec![witness.verifier().encode()];
    config.audit.witness_grace = Duration::from_secs(1);
    let (registry, _) = integration_tests::population(Duration::ZERO);
    let gw = integration_tests::start(&config, registry).await;
    let admin = gw.admin_addr().unwrap();
    let mut shop = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let id = integration_tests::sim_id("001085", true);
    let mut witnessing = WitnessServiceClient::new(channel(gw.addr(), &pki.paths, "H99.90"));

    // Checkpoints come and nobody cosigns: after the grace, the log lags.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        shop.get_citizen(integration_tests::citizen_request(&id))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        gw.check_readiness().await;
        let (code, body) = integration_tests::http_get(admin, "/readyz").await;
        assert_eq!(
            code, 200,
            "lagging witnesses do not make it unready: {body}"
        );
        if body.contains("witnesses: ") {
            assert!(body.contains("\"lagging\":true"), "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
    }
    let latest = witnessing
        .get_checkpoint(GetCheckpointRequest { tree_size: 0 })
        .await
        .unwrap()
        .into_inner();
    let text = &latest.note[..latest.note.find("\n\n").unwrap() + 1];

    // Refused: an unknown witness, a line over another text, a bad request, the
    // role.
    let now = 1_795_000_000;
    for (line, size) in [
        (stranger.line(text, now), latest.seq),
        (witness.line("other\n1\nAAAA\n", now), latest.seq),
        ("— witness.one garbage".to_owned(), latest.seq),
        (witness.line(text, now), 0),
    ] {
        let e = witnessing
            .add_cosignature(AddCosignatureRequest {
                tree_size: size,
                cosignature: line.trim_end().to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{line}: {e:?}");
    }
    let mut shop_witness = WitnessServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let e = shop_witness
        .get_checkpoint(GetCheckpointRequest { tree_size: 0 })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e)),
        (Code::PermissionDenied, "ROLE_REQUIRED".into())
    );

    // Kept, and served with the checkpoint; the lag is gone.
    let served = witnessing
        .add_cosignature(AddCosignatureRequest {
            tree_size: latest.seq,
            cosignature: witness.line(text, now).trim_end().to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(served.note.contains("\n— witness.one "), "{}", served.note);
    let note = lienthong_gateway::audit::signed_note::Note::parse(&served.note).unwrap();
    assert_eq!(note.verify(witness.verifier()), Ok(now));
    let again = witnessing
        .get_checkpoint(GetCheckpointRequest {
            tree_size: latest.seq,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.note, served.note);
    gw.check_readiness().await;
    let (_, body) = integration_tests::http_get(admin, "/readyz").await;
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        report["witnesses"]["cosigned"].as_u64().unwrap() >= latest.seq,
        "{body}"
    );
    let samples = integration_tests::scrape(admin).await;
    assert!(
        integration_tests::sample(&samples, "lienthong_audit_witness_cosigned_tree_size", &[])
            >= latest.seq as f64
    );
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

integration_tests::on_both_ledgers!(
    records_and_trees_are_proved_from_the_document_alone,
    cosignatures_are_checked_kept_and_their_lag_shows,
);

/// Twenty records as an agency's lookups, numbered by `n` in their request ids.
fn lookups(ns: impl IntoIterator<Item = u64>) -> Vec<lienthong_proto::v1::AuditRecord> {
    ns.into_iter()
        .map(|n| lienthong_proto::v1::AuditRecord {
            request_id: format!("request-{n}"),
            agency_code: "H99.01".into(),
            operation: "IdentityService/GetCitizen".into(),
            subject_personal_id: format!("001085{n:06}"),
            decision: lienthong_proto::v1::Decision::Granted as i32,
            ..Default::default()
        })
        .collect()
}

/// A log in `dir` holding `records` in order, appended one commit each and
/// closed (its last checkpoint signed), signed with the key in `key`.
async fn written(
    dir: &std::path::Path,
    key: &std::path::Path,
    records: Vec<lienthong_proto::v1::AuditRecord>,
) -> std::sync::Arc<dyn lienthong_ledger::Store> {
    std::fs::create_dir_all(dir).unwrap();
    let log = lienthong_gateway::audit::Log::open(
        &dir.join("ledger.redb"),
        lienthong_gateway::audit::Signer::load(key).unwrap(),
        lienthong_gateway::audit::Settings {
            checkpoint_every: 5,
            max_batch: 64,
        },
        Duration::from_secs(3600),
    )
    .unwrap();
    for r in records {
        log.append(r).await.unwrap();
    }
    log.close().await;
    log.store().clone()
}

/// Whoever holds the signing key rewrites the log — a changed record, a record
/// removed, a pair reordered, the tail rewritten — and signs fresh checkpoints:
/// each rewrite is caught by a consistency proof against the checkpoint a
/// witness cosigned before, and its records' inclusion proofs do not lead to that
/// checkpoint's root. Without the key, a record changed in place is caught by
/// its own inclusion proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rewrite_is_caught_against_a_checkpoint_witnessed_before() {
    use lienthong_gateway::audit::signed_note::{Note, Signer as NoteSigner};
    use lienthong_ledger::merkle;

    let pki = TestPki::new();
    let key = pki.paths.audit_key();
    let trusted = checkpoint::load_public_key(&pki.paths.audit_public_key()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let honest = written(&tmp.path().join("honest"), &key, lookups(0..20)).await;
    let witnessed = prove::signed(&*honest, 20).await.unwrap();
    // A witness cosigned it, after checking it as it checks every checkpoint.
    let (witness, _) = NoteSigner::generate("witness.test", true).unwrap();
    let text = &witnessed.note[..witnessed.note.find("\n\n").unwrap() + 1];
    let cosigned = format!("{}{}", witnessed.note, witness.line(text, 1_795_000_000));
    Note::parse(&cosigned)
        .unwrap()
        .verify(witness.verifier())
        .unwrap();
    let root: merkle::Hash = witnessed.root.clone().try_into().unwrap();

    let rewrites: Vec<(&str, Vec<u64>, u64)> = vec![
        (
            "a changed record",
            (0..20).map(|n| if n == 7 { 1007 } else { n }).collect(),
            7,
        ),
        (
            "a removed record",
            (0..20).filter(|n| *n != 7).chain([20]).collect(),
            7,
        ),
        (
            "a reordered pair",
            [0, 1, 2, 3, 4, 5, 6, 8, 7]
                .into_iter()
                .chain(9..20)
                .collect(),
            7,
        ),
        ("a rewritten tail", (0..15).chain(100..110).collect(), 15),
    ];
    for (what, ns, touched) in rewrites {
        let dir = tmp.path().join(what.replace(' ', "-"));
        let forged = written(&dir, &key, lookups(ns)).await;
        let latest = prove::signed(&*forged, 0).await.unwrap();
        assert!(latest.seq >= 20, "{what}: {}", latest.seq);
        checkpoint::verify(&latest, &trusted).expect("signed with the log's own key");
        let second: merkle::Hash = latest.root.clone().try_into().unwrap();
        let proof = forged.audit_consistency(20, latest.seq).await.unwrap();
        assert!(
            merkle::verify_consistency(20, latest.seq, &root, &second, &proof).is_err(),
            "{what}: the rewritten log passes for an extension of the witnessed one"
        );
        // The record the rewrite touched is not in the witnessed tree as it
        // stands now.
        let record = forged.audit_record(touched + 1).await.unwrap().unwrap();
        let path = forged.audit_inclusion(touched + 1, 20).await.unwrap();
        let leaf = merkle::leaf_hash(&record.hash);
        assert!(
            merkle::verify_inclusion(touched, 20, &leaf, &path, &root).is_err(),
            "{what}: its record {} proves into the witnessed root",
            touched + 1
        );
    }
    // The honest log extends it, and proves every record into it.
    let proof = honest.audit_consistency(20, 20).await.unwrap();
    merkle::verify_consistency(20, 20, &root, &root, &proof).unwrap();

    // Without the key: record 8 changed in place, its stored hash kept. Its
    // inclusion proof, checked from the document, names it.
    drop(honest);
    lienthong_ledger::forge::embedded_rewrite(&tmp.path().join("honest/ledger.redb"), 8, |r| {
        r.agency_code = "H99.02".into()
    });
    let reopened =
        lienthong_ledger::embedded::Embedded::open(&tmp.path().join("honest/ledger.redb")).unwrap();
    let document = Document::inclusion(prove::inclusion(&*reopened, 8, 20).await.unwrap());
    let refused = document.check(&trusted).unwrap_err();
    assert!(refused.contains("altered"), "{refused}");
}
