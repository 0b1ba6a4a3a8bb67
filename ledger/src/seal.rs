//! The seal: how the gateway completes audit records inside a store's
//! transaction, and how every store grows the Merkle tree over them there.

use lienthong_proto::v1::{AuditRecord, Checkpoint};

use crate::merkle::{self, Frontier, Hash, Node, tiles};
use crate::{Applied, Error, Head};

/// Completes audit records inside the writer's transaction: what a record means is
/// the caller's business (the gateway chains and signs), where it goes is the
/// store's.
pub trait Seal: Send + 'static {
    /// Completes `record`, whose dossier change was just applied (or refused) in
    /// this transaction, before it is sealed.
    fn complete(&mut self, record: &mut AuditRecord, applied: &Applied);

    /// Numbers and chains `records` after `head`, moving `head` past them (all
    /// but its `root`, which the store computes after), and says whether a
    /// checkpoint is due (or `force`d and there is something to sign). Called once
    /// per commit, even with no records.
    fn seal(&mut self, head: &mut Head, records: &mut [AuditRecord], force: bool) -> bool;

    /// Signs `head`, root included: the checkpoint to store with the records.
    fn sign(&mut self, head: &Head) -> Checkpoint;
}

/// A seal for a ledger without an audit log (the benchmark baseline): it never
/// receives records and never signs.
pub struct Unsealed;

impl Seal for Unsealed {
    fn complete(&mut self, _: &mut AuditRecord, _: &Applied) {}

    fn seal(&mut self, _: &mut Head, _: &mut [AuditRecord], _: bool) -> bool {
        false
    }

    fn sign(&mut self, _: &Head) -> Checkpoint {
        unreachable!("an unsealed ledger never has a checkpoint due")
    }
}

/// Seals `records` after `head` with `seal`, appends them to `tree` (the
/// Merkle tree over the records before them; the nodes this completes that a
/// store keeps go to `made`, [`tiles::kept`]), sets the head's root, and signs the checkpoint if one is due. What
/// every store does inside the transaction that appends the records.
pub(crate) fn seal_into(
    seal: &mut (dyn Seal + Send),
    head: &mut Head,
    tree: &mut Frontier,
    made: &mut Vec<Node>,
    records: &mut [AuditRecord],
    force: bool,
) -> Result<Option<Checkpoint>, Error> {
    if tree.size() != head.seq {
        return Err(Error::Unavailable(format!(
            "the audit log's Merkle tree holds {} of its {} records; \
             no record can be appended until it is complete",
            tree.size(),
            head.seq
        )));
    }
    let due = seal.seal(head, records, force);
    for r in records.iter() {
        tiles::append(tree, merkle::leaf_hash(&r.hash), made);
    }
    head.root = tree.root();
    Ok(due.then(|| seal.sign(head)))
}

/// The Merkle leaf hash of the audit record stored as `bytes` (its protobuf
/// encoding), decoding its number and hash only: how stores read the leaves of
/// the live log ([`tiles::leaf_tile`]). Its number is checked against `seq`.
pub(crate) fn stored_leaf(seq: u64, bytes: &[u8]) -> Result<Hash, Error> {
    /// The fields of `AuditRecord` a leaf needs; prost skips the others.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Leaf {
        #[prost(uint64, tag = "1")]
        seq: u64,
        #[prost(bytes = "vec", tag = "18")]
        hash: Vec<u8>,
    }
    let leaf = <Leaf as prost::Message>::decode(bytes)
        .map_err(|e| Error::corrupt(&format!("audit record {seq}"), e))?;
    if leaf.seq != seq {
        return Err(Error::Corrupt(format!(
            "audit record {seq} is stored as number {}",
            leaf.seq
        )));
    }
    Ok(merkle::leaf_hash(&leaf.hash))
}
