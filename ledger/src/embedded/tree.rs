//! The Merkle tree of the embedded ledger ([`crate::merkle`]).
//!
//! `audit_tiles`: (tile level, index) → the tile's hashes ([`tiles`], C2SP
//! `tlog-tiles`' layout, height 8): about one new tile per 256 records, and the
//! partial tiles at the right edge rewritten as they fill. Tiles are written in
//! the transaction that writes the records they cover, and are never removed
//! (archiving removes records, not the tree: proofs about archived records still
//! work). A tree that lacks records the ledger holds (after the journal's replay,
//! or in a ledger from before the tree) is completed when the ledger opens.

use std::cell::RefCell;
use std::collections::HashMap;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use super::{Context, audit};
use crate::Error;
use crate::merkle::tiles::{self, Growth, TileId};
use crate::merkle::{self, Frontier, Hash, Node};

pub(super) const TILES: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("audit_tiles");

/// (checkpoint seq, witness name) → the witness's cosignature line.
pub(super) const COSIGNATURES: TableDefinition<(u64, &str), &str> =
    TableDefinition::new("audit_cosignatures");

/// Records read per transaction while the tree is completed at open.
const CHUNK: u64 = 20_000;

/// Writes the tiles' part of `nodes` in `txn`.
pub(super) fn insert(txn: &WriteTransaction, nodes: &[Node]) -> Result<(), Error> {
    let mut growth = Growth::default();
    growth.add(nodes);
    if growth.is_empty() {
        return Ok(());
    }
    let mut table = txn.open_table(TILES).ctx("grow the Merkle tree")?;
    for (id, start, bytes) in &growth.0 {
        let stored = table
            .get(*id)
            .ctx("grow the Merkle tree")?
            .map(|v| v.value().to_vec())
            .unwrap_or_default();
        let tile = tiles::grown(&stored, *start, bytes).ok_or_else(|| {
            Error::Corrupt(format!(
                "the Merkle tree's tile {id:?} holds {} hashes, not the {start} it grows from",
                stored.len() / 32
            ))
        })?;
        table
            .insert(*id, tile.as_slice())
            .ctx("grow the Merkle tree")?;
    }
    Ok(())
}

/// How many records the stored tree covers.
fn size(table: &impl ReadableTable<(u8, u64), &'static [u8]>) -> Result<u64, Error> {
    let last = table
        .range((0u8, 0u64)..=(0u8, u64::MAX))
        .ctx("read the Merkle tree")?
        .next_back()
        .transpose()
        .ctx("read the Merkle tree")?;
    Ok(tiles::size(
        last.map(|(k, v)| (k.value().1, v.value().len())),
    ))
}

/// Reads nodes from the tiles, each tile once.
struct Reader<'a, T> {
    table: &'a T,
    read: RefCell<HashMap<TileId, Vec<u8>>>,
}

impl<'a, T: ReadableTable<(u8, u64), &'static [u8]>> Reader<'a, T> {
    fn new(table: &'a T) -> Self {
        Reader {
            table,
            read: RefCell::default(),
        }
    }

    /// The node `(level, index)`.
    fn node(&self, level: u8, index: u64) -> Result<Hash, Error> {
        let id = tiles::tile_of(level, index);
        let mut read = self.read.borrow_mut();
        let tile = match read.entry(id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                self.table
                    .get(id)
                    .ctx("read the Merkle tree")?
                    .map(|v| v.value().to_vec())
                    .unwrap_or_default(),
            ),
        };
        tiles::node(level, index, tile).ok_or_else(|| {
            Error::Corrupt(format!("the Merkle tree lacks its node ({level}, {index})"))
        })
    }
}

/// The stored tree, completed with the records the ledger holds beyond it: what
/// the writer appends to. Left short, with an error logged, when a record it needs
/// is not in the ledger (archived and removed before the tree was kept).
pub(super) fn open(db: &Database) -> Result<Frontier, Error> {
    let (mut frontier, head) = {
        let txn = db.begin_read().ctx("open the Merkle tree")?;
        let table = txn.open_table(TILES).ctx("open the Merkle tree")?;
        let size = size(&table)?;
        let reader = Reader::new(&table);
        (
            Frontier::load(size, |l, i| reader.node(l, i))?,
            audit::head(&txn)?.seq,
        )
    };
    let before = frontier.size();
    while frontier.size() < head {
        let from = frontier.size() + 1;
        let txn = db.begin_write().ctx("complete the Merkle tree")?;
        let mut made = Vec::new();
        {
            let records = txn
                .open_table(audit::RECORDS)
                .ctx("complete the Merkle tree")?;
            let upto = head.min(from + CHUNK - 1);
            for entry in records.range(from..=upto).ctx("complete the Merkle tree")? {
                let (seq, value) = entry.ctx("complete the Merkle tree")?;
                if seq.value() != frontier.size() + 1 {
                    break;
                }
                let record = audit::decode_record(value.value())?;
                frontier.push_into(merkle::leaf_hash(&record.hash), &mut made);
            }
        }
        if made.is_empty() {
            tracing::error!(
                tree = frontier.size(),
                head,
                "the audit log's Merkle tree cannot be completed: record {from} is not in the \
                 ledger; nothing is appended until it is"
            );
            break;
        }
        insert(&txn, &made)?;
        txn.commit().ctx("complete the Merkle tree")?;
    }
    if frontier.size() > before {
        tracing::info!(
            from = before + 1,
            to = frontier.size(),
            "the audit log's Merkle tree completed"
        );
    }
    Ok(frontier)
}

/// The inclusion proof of the entry `index` in the tree of `size` entries.
pub(super) fn inclusion(txn: &ReadTransaction, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
    let table = txn.open_table(TILES).ctx("read the Merkle tree")?;
    within(&table, size)?;
    let reader = Reader::new(&table);
    merkle::inclusion_proof(index, size, |l, i| reader.node(l, i))
}

/// The consistency proof between the trees of `first` and `second` entries.
pub(super) fn consistency(
    txn: &ReadTransaction,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, Error> {
    let table = txn.open_table(TILES).ctx("read the Merkle tree")?;
    within(&table, second)?;
    let reader = Reader::new(&table);
    merkle::consistency_proof(first, second, |l, i| reader.node(l, i))
}

/// Refuses a tree larger than the one stored.
fn within(table: &impl ReadableTable<(u8, u64), &'static [u8]>, size: u64) -> Result<(), Error> {
    let stored = self::size(table)?;
    if size > stored {
        return Err(Error::Refused(format!(
            "the audit log's tree has {stored} records, not {size}"
        )));
    }
    Ok(())
}

/// See [`crate::Store::audit_cosign`].
pub(super) fn cosign(
    txn: &WriteTransaction,
    seq: u64,
    witness: &str,
    line: &str,
) -> Result<(), Error> {
    txn.open_table(COSIGNATURES)
        .ctx("keep a cosignature")?
        .insert((seq, witness), line)
        .ctx("keep a cosignature")?;
    Ok(())
}

/// See [`crate::Store::audit_cosignatures`].
pub(super) fn cosignatures(txn: &ReadTransaction, seq: u64) -> Result<Vec<String>, Error> {
    let table = txn.open_table(COSIGNATURES).ctx("read cosignatures")?;
    let mut lines = Vec::new();
    for entry in table
        .range((seq, "")..(seq.saturating_add(1), ""))
        .ctx("read cosignatures")?
    {
        lines.push(entry.ctx("read cosignatures")?.1.value().to_owned());
    }
    Ok(lines)
}

/// See [`crate::Store::audit_cosigned`]: read from the newest back.
pub(super) fn cosigned(txn: &ReadTransaction, quorum: usize) -> Result<Option<u64>, Error> {
    let table = txn.open_table(COSIGNATURES).ctx("read cosignatures")?;
    let (mut seq, mut count) = (None, 0usize);
    for entry in table.iter().ctx("read cosignatures")?.rev() {
        let (key, _) = entry.ctx("read cosignatures")?;
        let at = key.value().0;
        if seq != Some(at) {
            (seq, count) = (Some(at), 0);
        }
        count += 1;
        if count >= quorum.max(1) {
            return Ok(seq);
        }
    }
    Ok(None)
}
