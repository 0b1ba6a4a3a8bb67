//! Proofs of the audit log's Merkle tree, and their checking: that one record is
//! in the log as a signed checkpoint has it (inclusion), and that a later
//! checkpoint extends an earlier tree (consistency). A proof travels as a JSON
//! document (`lienthong audit prove --json`) that carries everything a verifier
//! needs besides the log's public key; `docs/verify_proof.py` checks the same
//! documents without this code.

use lienthong_ledger::Store;
use lienthong_ledger::merkle::{self, Hash};
use lienthong_proto::v1::{Checkpoint, ConsistencyProof, InclusionProof};
use serde::{Deserialize, Serialize};

use super::{Item, checkpoint, export, hex, record, unhex};
use crate::Error;

/// The signed checkpoint at `size` (0: the latest), with a Merkle root.
pub async fn signed(store: &dyn Store, size: u64) -> Result<Checkpoint, Error> {
    let ledger = Error::ledger;
    let size = match size {
        0 => store.audit_head().await.map_err(ledger)?.checkpoint,
        n => n,
    };
    let found = store
        .audit_checkpoint_covering(size)
        .await
        .map_err(ledger)?
        .filter(|c| c.seq == size);
    match found {
        Some(c) if !c.root.is_empty() => Ok(c),
        Some(_) => Err(Error::Unprovable(format!(
            "the checkpoint at {size} was signed before the log kept its Merkle tree"
        ))),
        None if size == 0 => Err(Error::NotFound("no checkpoint is signed yet".into())),
        None => Err(Error::NotFound(format!(
            "no signed checkpoint in the live log has tree size {size}"
        ))),
    }
}

/// The inclusion proof of record `seq` in the checkpoint of `tree_size` (0: the
/// latest), with the record.
pub async fn inclusion(
    store: &dyn Store,
    seq: u64,
    tree_size: u64,
) -> Result<InclusionProof, Error> {
    let checkpoint = signed(store, tree_size).await?;
    if seq == 0 || seq > checkpoint.seq {
        return Err(Error::NotFound(format!(
            "record {seq} is not in the tree of {} records",
            checkpoint.seq
        )));
    }
    let ledger = Error::ledger;
    let hashes = store
        .audit_inclusion(seq, checkpoint.seq)
        .await
        .map_err(ledger)?;
    let record = store.audit_record(seq).await.map_err(ledger)?;
    let Some(record_hash) = record.as_ref().map(|r| r.hash.clone()) else {
        return Err(Error::Unprovable(format!(
            "record {seq} is archived and no longer in the live log"
        )));
    };
    Ok(InclusionProof {
        leaf_index: seq - 1,
        tree_size: checkpoint.seq,
        leaf_hash: merkle::leaf_hash(&record_hash).to_vec(),
        record_hash,
        hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        checkpoint: Some(checkpoint),
        record,
    })
}

/// The consistency proof from the tree of `first` records to the checkpoint of
/// `second` (0: the latest).
pub async fn consistency(
    store: &dyn Store,
    first: u64,
    second: u64,
) -> Result<ConsistencyProof, Error> {
    let later = signed(store, second).await?;
    if first == 0 || first > later.seq {
        return Err(Error::NotFound(format!(
            "a consistency proof goes from a tree of 1 to {} records, not {first}",
            later.seq
        )));
    }
    let ledger = Error::ledger;
    let hashes = store
        .audit_consistency(first, later.seq)
        .await
        .map_err(ledger)?;
    let earlier = store
        .audit_checkpoint_covering(first)
        .await
        .map_err(ledger)?
        .filter(|c| c.seq == first && !c.root.is_empty());
    Ok(ConsistencyProof {
        first_size: first,
        second_size: later.seq,
        hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        first: earlier,
        second: Some(later),
    })
}

/// A proof document: what `audit prove --json` writes and `audit verify
/// --proof` reads. Hashes are lowercase hex; the record and checkpoints are as an
/// export's lines have them.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Document {
    /// A record in a signed tree.
    Inclusion {
        /// The record's sequence number.
        seq: u64,
        /// Its entry in the tree: `seq - 1`.
        leaf_index: u64,
        /// The checkpoint's tree size.
        tree_size: u64,
        /// The record's hash.
        record_hash: String,
        /// `SHA-256(0x00 ‖ record_hash)`.
        leaf_hash: String,
        /// The audit path, innermost sibling first.
        hashes: Vec<String>,
        /// The record, when the proof carries it (not in a citizen's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<serde_json::Value>,
        /// The signed checkpoint.
        checkpoint: serde_json::Value,
    },
    /// A signed tree extending an earlier one.
    Consistency {
        /// The earlier tree size.
        first_size: u64,
        /// The later one.
        second_size: u64,
        /// The proof, innermost first.
        hashes: Vec<String>,
        /// The checkpoint signed at the earlier size, when the log holds it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first: Option<serde_json::Value>,
        /// The checkpoint signed at the later size.
        second: serde_json::Value,
    },
}

/// The export line's object for `item`, without its kind.
fn inner(item: Item) -> serde_json::Value {
    let mut line: serde_json::Value =
        serde_json::from_str(&export::to_line(&item)).expect("an export line is JSON");
    let kind = if matches!(item, Item::Record(_)) {
        "record"
    } else {
        "checkpoint"
    };
    line[kind].take()
}

/// The item an export line's object holds.
fn item(kind: &str, value: &serde_json::Value) -> Result<Item, String> {
    export::from_line(&serde_json::json!({ kind: value }).to_string())
        .map_err(|e| format!("{kind}: {e}"))
}

fn checkpoint_of(value: &serde_json::Value) -> Result<Checkpoint, String> {
    match item("checkpoint", value)? {
        Item::Checkpoint(c) => Ok(c),
        Item::Record(_) => Err("not a checkpoint".into()),
    }
}

fn hashes(list: &[String]) -> Result<Vec<Hash>, String> {
    list.iter().map(|h| hash(h, "a proof hash")).collect()
}

fn hash(s: &str, what: &str) -> Result<Hash, String> {
    unhex(s)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{what} is not 32 bytes of hex"))
}

impl Document {
    /// The document of an inclusion proof.
    pub fn inclusion(p: InclusionProof) -> Document {
        Document::Inclusion {
            seq: p.leaf_index + 1,
            leaf_index: p.leaf_index,
            tree_size: p.tree_size,
            record_hash: hex(&p.record_hash),
            leaf_hash: hex(&p.leaf_hash),
            hashes: p.hashes.iter().map(|h| hex(h)).collect(),
            record: p.record.map(|r| inner(Item::Record(r))),
            checkpoint: inner(Item::Checkpoint(p.checkpoint.unwrap_or_default())),
        }
    }

    /// The document of a consistency proof.
    pub fn consistency(p: ConsistencyProof) -> Document {
        Document::Consistency {
            first_size: p.first_size,
            second_size: p.second_size,
            hashes: p.hashes.iter().map(|h| hex(h)).collect(),
            first: p.first.map(|c| inner(Item::Checkpoint(c))),
            second: inner(Item::Checkpoint(p.second.unwrap_or_default())),
        }
    }

    /// Checks the document against the log's raw public key `trusted`, from
    /// what it holds alone; says what it proves.
    pub fn check(&self, trusted: &[u8]) -> Result<String, String> {
        let tree = |c: &Checkpoint, what: &str| -> Result<(String, Hash), String> {
            checkpoint::verify(c, trusted).map_err(|e| format!("{what}: {e}"))?;
            let head = checkpoint::tree_head(c, trusted)
                .map_err(|e| format!("{what}: {e}"))?
                .ok_or_else(|| format!("{what} has no Merkle root"))?;
            Ok((head.origin, head.root))
        };
        match self {
            Document::Inclusion {
                seq,
                leaf_index,
                tree_size,
                record_hash,
                leaf_hash,
                hashes: path,
                record: held,
                checkpoint: signed,
            } => {
                let c = checkpoint_of(signed)?;
                let (origin, root) = tree(&c, "the checkpoint")?;
                if c.seq != *tree_size || *seq != leaf_index + 1 {
                    return Err("the sizes do not match the checkpoint".into());
                }
                let record_hash = hash(record_hash, "record_hash")?;
                if let Some(held) = held {
                    let Item::Record(r) = item("record", held)? else {
                        return Err("record: not a record".into());
                    };
                    if r.seq != *seq {
                        return Err(format!("the record is {}, not {seq}", r.seq));
                    }
                    if record::hash(&r.prev_hash, &r)[..] != record_hash
                        || r.hash[..] != record_hash
                    {
                        return Err(format!(
                            "record {seq}'s contents do not match its hash: altered"
                        ));
                    }
                }
                let leaf = merkle::leaf_hash(&record_hash);
                if hash(leaf_hash, "leaf_hash")? != leaf {
                    return Err("leaf_hash is not the leaf hash of record_hash".into());
                }
                merkle::verify_inclusion(*leaf_index, *tree_size, &leaf, &hashes(path)?, &root)
                    .map_err(|e| format!("record {seq} is not in the signed tree: {e}"))?;
                Ok(format!(
                    "record {seq} is in the tree of {tree_size} records that {origin} signed at {}",
                    export::format_time(record::micros(c.at.as_ref()))
                ))
            }
            Document::Consistency {
                first_size,
                second_size,
                hashes: path,
                first,
                second,
            } => {
                let later = checkpoint_of(second)?;
                let (origin, second_root) = tree(&later, "the second checkpoint")?;
                let first = first
                    .as_ref()
                    .ok_or("no checkpoint at the first size: its root is not known")?;
                let earlier = checkpoint_of(first)?;
                let (_, first_root) = tree(&earlier, "the first checkpoint")?;
                if earlier.seq != *first_size || later.seq != *second_size {
                    return Err("the sizes do not match the checkpoints".into());
                }
                merkle::verify_consistency(
                    *first_size,
                    *second_size,
                    &first_root,
                    &second_root,
                    &hashes(path)?,
                )
                .map_err(|e| format!("the trees are not consistent: {e}"))?;
                Ok(format!(
                    "the tree of {second_size} records that {origin} signed extends its tree of {first_size}"
                ))
            }
        }
    }
}
