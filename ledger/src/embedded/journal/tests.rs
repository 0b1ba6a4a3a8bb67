//! The journal's frames, rounds, direct and buffered writes, and replay.

use super::*;

fn record(seq: u64) -> AuditRecord {
    AuditRecord {
        seq,
        request_id: format!("req-{seq}"),
        hash: vec![seq as u8; 32],
        ..Default::default()
    }
}

fn batch(seqs: std::ops::RangeInclusive<u64>) -> Vec<AuditRecord> {
    seqs.map(record).collect()
}

fn seqs(records: &[AuditRecord]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

/// Written directly where the file system takes it (here: the test's temporary
/// directory on ext4 or tmpfs), and buffered and synced where it does not.
#[test]
fn frames_read_back_in_order_up_to_the_first_that_does_not_continue() {
    for direct in [true, false] {
        frames_read_back(direct);
    }
}

fn frames_read_back(direct: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.journal");
    let mut journal = Journal::open(&path).unwrap();
    if direct {
        assert!(
            journal.direct.is_some(),
            "this file system takes direct writes"
        );
    } else {
        journal.direct = None;
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), SIZE);
    assert!(journal.append(&batch(1..=3)).unwrap());
    assert!(journal.append(&batch(4..=4)).unwrap());
    assert!(journal.append(&batch(5..=40)).unwrap());
    let read = frames(&std::fs::read(&path).unwrap());
    assert_eq!(seqs(&read), (1..=40).collect::<Vec<_>>());
    assert_eq!(read[4].request_id, "req-5");

    // A new round overwrites the first page only: the frames after it are from
    // the round before, with lower numbers, and are not read.
    journal.restart();
    assert!(journal.append(&batch(41..=42)).unwrap());
    assert_eq!(seqs(&frames(&std::fs::read(&path).unwrap())), vec![41, 42]);
    journal.clear().unwrap();
    assert!(frames(&std::fs::read(&path).unwrap()).is_empty());
}

#[test]
fn a_torn_or_damaged_frame_ends_the_journal() {
    let mut bytes = Vec::new();
    for (first, last) in [(1, 2), (3, 5)] {
        let mut frame = Vec::new();
        encode(&mut frame, first, &batch(first..=last));
        assert_eq!(frame.len() % PAGE, 0);
        bytes.extend_from_slice(&frame);
    }
    assert_eq!(seqs(&frames(&bytes)), vec![1, 2, 3, 4, 5]);
    // The second frame's payload torn (a byte flipped), then cut short.
    let mut damaged = bytes.clone();
    damaged[PAGE + HEADER + 3] ^= 0x40;
    assert_eq!(seqs(&frames(&damaged)), vec![1, 2]);
    assert_eq!(seqs(&frames(&bytes[..PAGE + HEADER + 5])), vec![1, 2]);
    // Zeros, or nothing, hold nothing.
    assert!(frames(&[0; 2 * PAGE]).is_empty());
    assert!(frames(&[]).is_empty());
}

#[test]
fn a_frame_that_does_not_fit_is_refused_and_the_journal_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j")).unwrap();
    let big = AuditRecord {
        seq: 1,
        purpose: "x".repeat(PAGE * 100),
        ..Default::default()
    };
    let mut seq = 0;
    loop {
        seq += 1;
        let used = journal.used();
        if !journal
            .append(&[AuditRecord { seq, ..big.clone() }])
            .unwrap()
        {
            assert_eq!(journal.used(), used, "nothing written");
            break;
        }
        assert!(journal.used() <= SIZE);
    }
    assert!(seq > 6, "{seq}");
    journal.restart();
    assert_eq!(journal.used(), 0);
    assert!(journal.append(&[AuditRecord { seq, ..big }]).unwrap());
}

#[test]
fn recovery_commits_only_what_the_ledger_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.redb");
    let db = super::super::create(&ledger).unwrap();
    let read = |db: &Database| {
        let txn = db.begin_read().unwrap();
        let page = super::super::audit::page(&txn, 1, 0, 100).unwrap();
        page.items
            .into_iter()
            .filter_map(|i| match i {
                crate::Item::Record(r) => Some(r.seq),
                crate::Item::Checkpoint(_) => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(recover(&db, &path_of(&ledger)).unwrap(), 0);
    let txn = db.begin_write().unwrap();
    super::super::audit::insert(&txn, &batch(1..=3), None).unwrap();
    txn.commit().unwrap();
    let mut journal = Journal::open(&path_of(&ledger)).unwrap();
    assert!(journal.append(&batch(1..=3)).unwrap());
    assert!(journal.append(&batch(4..=6)).unwrap());
    assert_eq!(recover(&db, &path_of(&ledger)).unwrap(), 3);
    assert_eq!(read(&db), vec![1, 2, 3, 4, 5, 6]);
    // Again: nothing more.
    assert_eq!(recover(&db, &path_of(&ledger)).unwrap(), 0);
}
