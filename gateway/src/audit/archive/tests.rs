//! Archiving on real redb files and real archive files: what verification over
//! archives and live store passes, and every tampering with archives it names.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lienthong_ledger::Store;
use lienthong_proto::v1::{AuditRecord, Decision};

use super::check::check;
use super::{Actor, Settings, archive, expire, files};
use crate::audit::{self, Log, Signer};

fn entry(n: u64) -> AuditRecord {
    AuditRecord {
        agency_code: "H99.01".into(),
        operation: "IdentityService/GetCitizen".into(),
        subject_personal_id: format!("001085{n:06}"),
        purpose: "dossier-processing".into(),
        decision: Decision::Granted as i32,
        request_id: format!("req-{n}"),
        ..Default::default()
    }
}

struct Rig {
    _tmp: tempfile::TempDir,
    log: Log,
    key: Vec<u8>,
    settings: Settings,
}

impl Rig {
    /// A log of `n` records, archived into files of `per_file`.
    async fn new(n: u64, per_file: u64) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let signer = Signer::ephemeral();
        let key = signer.public_key().to_vec();
        let log = Log::open(
            &tmp.path().join("ledger.redb"),
            signer,
            audit::Settings {
                checkpoint_every: 40,
                max_batch: 64,
            },
            Duration::from_secs(3600),
        )
        .unwrap();
        for i in 0..n {
            log.append(entry(i)).await.unwrap();
        }
        let settings = Settings {
            dir: tmp.path().join("archive"),
            per_file,
            pace: Duration::ZERO,
        };
        Rig {
            _tmp: tmp,
            log,
            key,
            settings,
        }
    }

    fn store(&self) -> Arc<dyn Store> {
        self.log.store().clone()
    }

    /// The time of record `seq` (now, past the head): archiving before it keeps
    /// it live.
    async fn time_of(&self, seq: u64) -> i64 {
        match self.store().audit_record(seq).await.unwrap() {
            Some(r) => audit::record::micros(r.at.as_ref()),
            None => crate::clock::now_micros() + 1,
        }
    }

    async fn archive_before(&self, seq: u64) -> Vec<super::Note> {
        let before = self.time_of(seq).await;
        archive(&self.log, &self.settings, before, &Actor::default())
            .await
            .unwrap()
    }

    /// Verification of archives and live store; its verdict and detail.
    async fn verify(&self) -> (bool, u64, String) {
        let r = check(self.store(), Some(&self.settings.dir), &self.key)
            .await
            .unwrap();
        (r.ok, r.first_bad_seq, r.detail)
    }

    fn file(&self, first: u64, last: u64) -> PathBuf {
        self.settings.dir.join(files::name(first, last))
    }
}

fn gunzip(path: &Path) -> Vec<String> {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text.lines().map(str::to_owned).collect()
}

fn gzip(path: &Path, lines: &[String], level: u32) {
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::new(level),
    );
    for line in lines {
        writeln!(gz, "{line}").unwrap();
    }
    gz.finish().unwrap();
}

#[tokio::test]
async fn archives_and_live_store_verify_as_one_log_and_the_store_shrinks() {
    // Seed times strictly apart, so that "before record 201" is a clean cut.
    let rig = Rig::new(250, 100).await;
    let notes = rig.archive_before(201).await;
    let held: Vec<(u64, u64)> = notes.iter().map(|n| (n.first, n.last)).collect();
    assert_eq!(held, [(1, 100), (101, 200)]);
    assert!(rig.file(1, 100).exists() && rig.file(101, 200).exists());
    let store = rig.store();
    assert_eq!(store.audit_first().await.unwrap(), 201);
    assert!(store.audit_record(200).await.unwrap().is_none());
    // Each archive was noted in the log, after the records it holds.
    let head = store.audit_head().await.unwrap().seq;
    assert_eq!(head, 252);
    let last = store.audit_record(252).await.unwrap().unwrap();
    assert_eq!(super::Note::of(&last).unwrap(), notes[1]);

    let (ok, _, detail) = rig.verify().await;
    assert!(ok, "{detail}");
    assert!(
        detail.contains("252 records chain from 1 to 252"),
        "{detail}"
    );
    assert!(detail.contains("2 archive files"), "{detail}");
    // The live store alone: its first record continues from the noted archive.
    let alone = check(store.clone(), None, &rig.key).await.unwrap();
    assert!(alone.ok, "{}", alone.detail);
    // The gateway's own verification, knowing where its archives are.
    rig.log.archive_as(super::Plan {
        settings: rig.settings.clone(),
        keep_online: Duration::ZERO,
        retention: None,
    });
    assert!(rig.log.verify(0, 0).await.unwrap().ok);

    // Nothing is left to archive before the same time; appends go on.
    assert!(rig.archive_before(201).await.is_empty());
    rig.log.append(entry(999)).await.unwrap();
    assert!(rig.verify().await.0);
}

#[tokio::test]
async fn a_missing_archive_is_named() {
    let rig = Rig::new(300, 100).await;
    rig.archive_before(301).await;
    std::fs::remove_file(rig.file(101, 200)).unwrap();
    let (ok, seq, detail) = rig.verify().await;
    assert!(!ok);
    assert_eq!(seq, 101);
    assert!(detail.contains(&files::name(101, 200)), "{detail}");

    std::fs::remove_file(rig.file(1, 100)).unwrap();
    let (ok, seq, detail) = rig.verify().await;
    assert!(!ok);
    assert_eq!(seq, 1);
    assert!(detail.contains(&files::name(1, 100)), "{detail}");
    assert!(detail.contains(&files::name(101, 200)), "{detail}");

    // The newest archive, which the live store continues from.
    let rig = Rig::new(300, 100).await;
    rig.archive_before(301).await;
    std::fs::remove_file(rig.file(201, 299)).unwrap();
    let (ok, seq, detail) = rig.verify().await;
    assert!(!ok);
    assert_eq!(seq, 201);
    assert!(detail.contains(&files::name(201, 299)), "{detail}");
}

#[tokio::test]
async fn an_altered_cut_damaged_or_replaced_archive_is_named() {
    let rig = Rig::new(300, 100).await;
    rig.archive_before(301).await;
    let path = rig.file(101, 200);
    let original = std::fs::read(&path).unwrap();
    let lines = gunzip(&path);
    let name = files::name(101, 200);

    // A record changed inside.
    let altered: Vec<String> = lines
        .iter()
        .map(|l| l.replace("\"001085000149\"", "\"001085999999\""))
        .collect();
    assert_ne!(altered, lines);
    gzip(&path, &altered, 6);
    let (ok, seq, detail) = rig.verify().await;
    assert!(!ok);
    assert_eq!(seq, 150);
    assert!(
        detail.contains(&name) && detail.contains("altered"),
        "{detail}"
    );

    // Its tail cut (the closing checkpoint with it).
    gzip(&path, &lines[..lines.len() - 5], 6);
    let (ok, _, detail) = rig.verify().await;
    assert!(!ok);
    assert!(detail.contains(&name), "{detail}");

    // Bytes damaged.
    let mut damaged = original.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0xff;
    std::fs::write(&path, &damaged).unwrap();
    let (ok, _, detail) = rig.verify().await;
    assert!(!ok);
    assert!(detail.contains(&name), "{detail}");

    // The same records, compressed again: the chain holds, the note does not.
    gzip(&path, &lines, 1);
    let (ok, seq, detail) = rig.verify().await;
    assert!(!ok);
    assert!(seq > 200, "{seq}");
    assert!(
        detail.contains(&name) && detail.contains("altered or replaced"),
        "{detail}"
    );

    std::fs::write(&path, &original).unwrap();
    assert!(rig.verify().await.0);
}

#[tokio::test]
async fn expired_archives_are_noted_and_only_those_may_be_missing() {
    let rig = Rig::new(300, 100).await;
    let edge = rig.time_of(201).await;
    rig.archive_before(301).await;
    let gone = expire(&rig.log, &rig.settings.dir, edge, &Actor::default())
        .await
        .unwrap();
    // Only archives whose every record is older than the retention's edge.
    assert_eq!(gone.iter().map(|n| n.last).collect::<Vec<_>>(), [100, 200]);
    assert!(!rig.file(1, 100).exists() && rig.file(201, 299).exists());
    let (ok, _, detail) = rig.verify().await;
    assert!(ok, "{detail}");
    let last = rig.store().audit_head().await.unwrap().seq;
    let note = rig.store().audit_record(last).await.unwrap().unwrap();
    assert_eq!(note.operation, super::note::EXPIRED);
    assert!(
        note.reason.contains("first=101 last=200 count=100"),
        "{}",
        note.reason
    );

    // An archive deleted without a note is not an expiry.
    std::fs::remove_file(rig.file(201, 299)).unwrap();
    let (ok, _, detail) = rig.verify().await;
    assert!(!ok);
    assert!(detail.contains(&files::name(201, 299)), "{detail}");
}

#[tokio::test]
async fn an_archiving_run_cut_short_resumes_without_losing_or_doubling() {
    let rig = Rig::new(200, 1000).await;
    // A run that wrote and noted its archive, then stopped a little way into the
    // removal.
    let before = rig.time_of(151).await;
    std::fs::create_dir_all(&rig.settings.dir).unwrap();
    let note = super::write_and_note(&rig.log, &rig.settings.dir, 1, 150, &Actor::default())
        .await
        .unwrap();
    assert_eq!(note.last, 150);
    rig.store().audit_remove(150, 40).await.unwrap();
    assert_eq!(rig.store().audit_first().await.unwrap(), 41);
    // Overlapping archive and live store verify as one log.
    assert!(rig.verify().await.0);
    // And a stray partial file from a run killed while writing is ignored.
    std::fs::write(
        rig.settings
            .dir
            .join(format!("{}{}", files::name(151, 160), files::PARTIAL)),
        b"x",
    )
    .unwrap();

    let notes = archive(&rig.log, &rig.settings, before, &Actor::default())
        .await
        .unwrap();
    assert_eq!(
        notes.iter().map(|n| (n.first, n.last)).collect::<Vec<_>>(),
        [(1, 150)]
    );
    assert_eq!(rig.store().audit_first().await.unwrap(), 151);
    assert_eq!(files::list(&rig.settings.dir).unwrap().len(), 1);
    let (ok, _, detail) = rig.verify().await;
    assert!(ok, "{detail}");
}

#[tokio::test]
async fn a_reader_of_archives_and_live_store_holds_removals_off() {
    let rig = Arc::new(Rig::new(120, 1000).await);
    let reading = rig.log.quiet().await;
    let run = {
        let rig = rig.clone();
        tokio::spawn(async move { rig.archive_before(121).await })
    };
    // The archive is written and noted, but nothing leaves the live store while a
    // query or a verification reads.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !rig.file(1, 119).exists() {
        assert!(std::time::Instant::now() < deadline, "no archive written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rig.store().audit_first().await.unwrap(), 1);
    drop(reading);
    let notes = run.await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(rig.store().audit_first().await.unwrap(), 120);
    assert!(rig.verify().await.0);
}
