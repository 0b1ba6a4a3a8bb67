//! Archives with the gateway as a real process: the schedule moves closed periods
//! out of the live store while lookups go on, the operator archives on demand,
//! queries and verification reach archived records online and offline, a killed
//! gateway loses nothing, retention deletes archives only with a note, and the
//! standalone Python verifier checks archives and live log from the documents
//! alone — and every tampering with the archives is named.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::{GetCitizenRequest, QueryAuditRequest, VerifyAuditRequest};
use support::load::{Ledger, Seen, context, remember};
use support::{ID, channel, free_port, run, serve_with, text};

fn python(dir: &Path, args: &[&str]) -> Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/verify_audit.py");
    Command::new("python3")
        .current_dir(dir)
        .arg(script)
        .args(args)
        .arg("certs/audit-signing.pub")
        .output()
        .expect("python3 runs")
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn archives(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("data/archive"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".jsonl.gz"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_outlives_the_live_store_and_every_tampering_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::write(
        dir.join("archive.toml"),
        "[audit.archive]\nevery = \"300ms\"\nkeep_online = \"1s\"\nper_file = 40\npace = \"0s\"\n",
    )
    .unwrap();
    let port = free_port();
    let serve = {
        let dir = dir.clone();
        move || serve_with(&dir, port, &["--config", "archive.toml"])
    };
    let gateway = tokio::task::spawn_blocking(serve.clone()).await.unwrap();
    let mut identity = IdentityServiceClient::new(channel(&dir, port, "H99.01"));
    let seen = Seen::default();
    let lookup = || GetCitizenRequest {
        personal_id: ID.into(),
        context: context(),
        fields: None,
    };
    // Lookups while the schedule archives what is older than a second.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let r = identity.get_citizen(lookup()).await.unwrap();
        remember(&seen, r.metadata());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while archives(&dir).len() < 2 {
        assert!(Instant::now() < deadline, "the schedule archived nothing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Online: the whole log verifies, archives included; a query reaches the
    // first lookups, which only the archives hold now.
    let mut audit = AuditServiceClient::new(channel(&dir, port, "H99.90"));
    let verified = audit
        .verify_audit(VerifyAuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{}", verified.detail);
    assert!(
        !verified.detail.contains(" 0 archive files"),
        "{}",
        verified.detail
    );
    let first_id = seen.lock().unwrap()[0].clone();
    let mut found = false;
    let mut stream = audit
        .query_audit(QueryAuditRequest {
            subject_personal_id: ID.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while let Some(r) = stream.message().await.unwrap() {
        found |= r.request_id == first_id;
    }
    assert!(
        found,
        "the first lookup's record was not found among the archives"
    );

    // The operator archives on demand; others may not.
    let url = format!("https://localhost:{port}");
    let refused = run(
        &dir,
        &["audit", "archive", "--url", &url, "--agency", "H99.90"],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("ROLE_REQUIRED"),
        "{}",
        text(&refused)
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let now = now_rfc3339();
    let asked = run(
        &dir,
        &[
            "audit", "archive", "--url", &url, "--agency", "H99.99", "--before", &now,
        ],
    );
    assert!(asked.status.success(), "{}", text(&asked));
    let future = "2999-01-01T00:00:00Z";
    let bad = run(
        &dir,
        &[
            "audit", "archive", "--url", &url, "--agency", "H99.99", "--before", future,
        ],
    );
    assert!(
        text(&bad).contains("before: is in the future"),
        "{}",
        text(&bad)
    );

    // Killed mid-schedule: nothing answered is lost, archives and live log
    // verify as one log offline.
    for _ in 0..50 {
        let r = identity.get_citizen(lookup()).await.unwrap();
        remember(&seen, r.metadata());
    }
    drop(gateway);
    let mut ledger = Ledger::default();
    ledger.catch_up(&dir, &["--data-dir", "data"], 0);
    ledger.holds_every(&seen, "after archiving and a kill");
    let offline = run(&dir, &["audit", "verify", "--data-dir", "data"]);
    assert!(offline.status.success(), "{}", text(&offline));
    assert!(
        text(&offline).contains("archive files"),
        "{}",
        text(&offline)
    );

    // Offline archiving of the rest, then the Python verifier over the archives
    // and an export of the live log.
    let now = now_rfc3339();
    let rest = run(
        &dir,
        &["audit", "archive", "--data-dir", "data", "--before", &now],
    );
    assert!(rest.status.success(), "{}", text(&rest));
    assert!(text(&rest).contains("archived audit-"), "{}", text(&rest));
    let live = run(&dir, &["audit", "export", "--data-dir", "data"]);
    assert!(live.status.success(), "{}", text(&live));
    std::fs::write(dir.join("live.jsonl"), &live.stdout).unwrap();
    let py = python(&dir, &["data/archive", "live.jsonl"]);
    assert!(py.status.success(), "{}", text(&py));

    // Tampering, each on a copy of the archives.
    let names = archives(&dir);
    assert!(names.len() >= 3, "{names:?}");
    let tampered = |f: &dyn Fn(&Path)| {
        let copy = dir.join("copy");
        let _ = std::fs::remove_dir_all(&copy);
        std::fs::create_dir_all(&copy).unwrap();
        for n in &names {
            std::fs::copy(dir.join("data/archive").join(n), copy.join(n)).unwrap();
        }
        f(&copy);
        let ours = run(
            &dir,
            &["audit", "verify", "--data-dir", "data", "--archive", "copy"],
        );
        assert_eq!(ours.status.code(), Some(1), "{}", text(&ours));
        let theirs = python(&dir, &["copy", "live.jsonl"]);
        assert_eq!(theirs.status.code(), Some(1), "{}", text(&theirs));
        (text(&ours), text(&theirs))
    };
    let middle = &names[1];
    let (ours, theirs) = tampered(&|copy| std::fs::remove_file(copy.join(middle)).unwrap());
    assert!(ours.contains(middle.as_str()), "{ours}");
    assert!(theirs.contains(middle.as_str()), "{theirs}");
    let (ours, theirs) = tampered(&|copy| {
        let path = copy.join(middle);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
    });
    assert!(ours.contains(middle.as_str()), "{ours}");
    assert!(theirs.contains("FAILED"), "{theirs}");
    let first = &names[0];
    let (ours, theirs) = tampered(&|copy| std::fs::remove_file(copy.join(first)).unwrap());
    assert!(ours.contains(first.as_str()), "{ours}");
    assert!(theirs.contains(first.as_str()), "{theirs}");

    // Retention: every archive is past a one-second retention; each deletion is
    // noted, and the log still verifies without them.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now = now_rfc3339();
    let expired = run(
        &dir,
        &[
            "audit",
            "archive",
            "--data-dir",
            "data",
            "--before",
            &now,
            "--expire",
            "--retention",
            "1s",
        ],
    );
    assert!(expired.status.success(), "{}", text(&expired));
    assert!(
        text(&expired).contains("expired audit-"),
        "{}",
        text(&expired)
    );
    let after = run(&dir, &["audit", "verify", "--data-dir", "data"]);
    assert!(after.status.success(), "{}", text(&after));
    let query = run(
        &dir,
        &[
            "audit",
            "query",
            "--data-dir",
            "data",
            "--operation",
            "AuditLog/Expired",
        ],
    );
    assert!(
        text(&query).contains("AuditLog/Expired"),
        "{}",
        text(&query)
    );
    let live = run(&dir, &["audit", "export", "--data-dir", "data"]);
    std::fs::write(dir.join("live.jsonl"), &live.stdout).unwrap();
    let py = python(&dir, &["data/archive", "live.jsonl"]);
    assert!(py.status.success(), "{}", text(&py));
}
