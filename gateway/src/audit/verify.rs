//! Verification of a sequence of records and checkpoints, wherever it comes from:
//! the ledger itself, or an export handed to an inspector.
//!
//! Records must come in sequence order with no gaps, each chained to the one before
//! and hashing to its stored hash; a checkpoint must follow the record it signs and
//! carry that record's hash under a valid signature of the trusted key, and a
//! checkpoint with a Merkle root the root of the records up to it (when the walk
//! starts at the log's start) under its note's signature. The first
//! thing found wrong stops the walk and names the sequence number where it is.

use lienthong_proto::v1::{AuditRecord, Checkpoint, VerifyAuditResponse};

use lienthong_ledger::merkle::{self, Frontier};

use super::checkpoint;
use super::record::{GENESIS, hash};

/// A walk over records and checkpoints.
pub struct Verifier {
    trusted: Vec<u8>,
    /// The sequence number the next record must have; `None` until the first.
    next: Option<u64>,
    /// Where the walk starts: at 1 the first record must chain to [`GENESIS`];
    /// later, its `prev_hash` is taken as given.
    from: u64,
    head: [u8; 32],
    last_seq: u64,
    records: u64,
    checkpoints: u64,
    /// Sequence number of the last record a checkpoint covered.
    sealed: u64,
    /// The Merkle tree over the records walked, when the walk starts at the
    /// log's start: each checkpoint's root is checked against it.
    tree: Option<Frontier>,
    bad: Option<(u64, String)>,
}

impl Verifier {
    /// A walk starting at `from` (0 or 1: the start of the log) that trusts
    /// checkpoints signed by `trusted` (a raw Ed25519 public key).
    pub fn new(trusted: &[u8], from: u64) -> Verifier {
        Verifier {
            trusted: trusted.to_vec(),
            next: (from <= 1).then_some(1),
            from: from.max(1),
            head: GENESIS,
            last_seq: from.max(1) - 1,
            records: 0,
            checkpoints: 0,
            sealed: 0,
            tree: (from <= 1).then(Frontier::default),
            bad: None,
        }
    }

    /// True while nothing is wrong.
    pub fn ok(&self) -> bool {
        self.bad.is_none()
    }

    /// What is wrong, and at which record, once something is.
    pub fn failure(&self) -> Option<&(u64, String)> {
        self.bad.as_ref()
    }

    /// The last record checked (the one before the start, before any).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn fail(&mut self, seq: u64, detail: String) -> bool {
        self.bad.get_or_insert((seq, detail));
        false
    }

    /// Checks the next record; false once something is wrong.
    pub fn record(&mut self, r: &AuditRecord) -> bool {
        if !self.ok() {
            return false;
        }
        let expected = self.next.unwrap_or(self.from).max(1);
        if self.next.is_none() && r.seq > expected {
            // A range that starts later than asked for: the records before are missing.
            return self.fail(
                expected,
                format!("record {expected} is missing (the first is {})", r.seq),
            );
        }
        if r.seq != expected {
            let detail = if r.seq > expected {
                format!(
                    "record {expected} is missing (record {} follows {})",
                    r.seq, self.last_seq
                )
            } else {
                format!("record {} is out of order (expected {expected})", r.seq)
            };
            return self.fail(expected, detail);
        }
        let chained = if self.records == 0 && r.seq > 1 {
            true
        } else {
            r.prev_hash == self.head
        };
        if !chained {
            return self.fail(
                r.seq,
                format!(
                    "record {}'s prev_hash is not the hash of record {}: it is not chained",
                    r.seq,
                    r.seq - 1
                ),
            );
        }
        if hash(&r.prev_hash, r)[..] != r.hash[..] {
            return self.fail(
                r.seq,
                format!("record {}'s contents do not match its hash: altered", r.seq),
            );
        }
        self.head.copy_from_slice(&r.hash);
        if let Some(tree) = &mut self.tree {
            tree.push(merkle::leaf_hash(&r.hash));
        }
        self.last_seq = r.seq;
        self.next = Some(r.seq + 1);
        self.records += 1;
        true
    }

    /// Checks a checkpoint; it must come right after the record it signs.
    pub fn checkpoint(&mut self, c: &Checkpoint) -> bool {
        if !self.ok() {
            return false;
        }
        if let Err(why) = checkpoint::verify(c, &self.trusted) {
            return self.fail(c.seq, format!("checkpoint at record {}: {why}", c.seq));
        }
        if c.seq > self.last_seq {
            let missing = self.last_seq + 1;
            return self.fail(
                missing,
                format!(
                    "a signed checkpoint covers record {} but the log ends at record {}: truncated",
                    c.seq, self.last_seq
                ),
            );
        }
        if c.seq < self.last_seq || self.records == 0 {
            return self.fail(
                c.seq,
                format!("checkpoint at record {} is out of place", c.seq),
            );
        }
        if c.hash[..] != self.head[..] {
            return self.fail(
                c.seq,
                format!(
                    "record {}'s hash differs from the signed checkpoint: rewritten",
                    c.seq
                ),
            );
        }
        if let Some(tree) = self.tree.as_ref().filter(|_| !c.root.is_empty())
            && tree.root()[..] != c.root[..]
        {
            return self.fail(
                c.seq,
                format!(
                    "the Merkle root of records 1 to {} differs from the signed checkpoint: rewritten",
                    c.seq
                ),
            );
        }
        self.checkpoints += 1;
        self.sealed = c.seq;
        true
    }

    /// The verdict. With `sealed`, the last record must be covered by a checkpoint
    /// (an export ends with one, so a cut tail shows).
    pub fn finish(mut self, sealed: bool) -> VerifyAuditResponse {
        if self.ok() && sealed && self.records > 0 && self.sealed != self.last_seq {
            let seq = self.last_seq + 1;
            self.fail(
                seq,
                format!(
                    "no signed checkpoint covers the last record ({}): the tail may have been cut",
                    self.last_seq
                ),
            );
        }
        let (ok, first_bad_seq, detail) = match self.bad {
            None => (
                true,
                0,
                format!(
                    "{} records chain from {} to {}; {} signed checkpoints hold",
                    self.records, self.from, self.last_seq, self.checkpoints
                ),
            ),
            Some((seq, detail)) => (false, seq, detail),
        };
        VerifyAuditResponse {
            ok,
            records_checked: self.records,
            first_bad_seq,
            head_hash: self.head.to_vec(),
            detail,
            checkpoints_checked: self.checkpoints,
        }
    }
}
