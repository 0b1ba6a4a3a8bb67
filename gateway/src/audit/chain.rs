//! The seal of the audit log: how the ledger's writer completes each record inside
//! its transaction — numbered, timed, chained to the one before, and signed into a
//! checkpoint when one is due.

use std::sync::Arc;

use lienthong_ledger::{Applied, Head, Seal};
use lienthong_proto::v1::{AuditRecord, Checkpoint};

use super::checkpoint::Signer;
use super::record::{bounded, hash, timestamp};
use crate::Error;
use crate::clock::now_micros;

/// Chains records and signs checkpoints.
pub struct Chain {
    signer: Arc<Signer>,
    /// Sign a checkpoint after this many records.
    every: u64,
}

impl Chain {
    /// A chain signed by `signer` every `every` records.
    pub fn new(signer: Arc<Signer>, every: u64) -> Chain {
        Chain { signer, every }
    }
}

impl Seal for Chain {
    /// A dossier change's record says what the change became: the applicant as its
    /// subject, or the refusal's reason and status code (and nothing released).
    fn complete(&mut self, record: &mut AuditRecord, applied: &Applied) {
        match applied {
            Ok(d) if record.subject_personal_id.is_empty() => {
                record.subject_personal_id = bounded(d.applicant_personal_id.as_str());
            }
            Ok(_) => {}
            Err(refusal) => {
                let e = Error::Dossier(refusal.clone());
                record.reason = crate::status::reason(&e).to_owned();
                record.outcome = crate::status::code(&e) as u32;
                record.fields_released.clear();
            }
        }
    }

    fn seal(&mut self, head: &mut Head, records: &mut [AuditRecord], force: bool) -> bool {
        let now = now_micros();
        for r in records.iter_mut() {
            head.seq += 1;
            head.at = head.at.max(now);
            r.seq = head.seq;
            r.at = Some(timestamp(head.at));
            r.prev_hash = head.hash.to_vec();
            head.hash = hash(&head.hash, r);
            r.hash = head.hash.to_vec();
        }
        head.seq - head.checkpoint >= self.every || (force && head.seq > head.checkpoint)
    }

    fn sign(&mut self, head: &Head) -> Checkpoint {
        self.signer.sign_head(head)
    }
}
