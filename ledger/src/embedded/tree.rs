//! The Merkle tree of the embedded ledger ([`crate::merkle`]).
//!
//! `audit_tiles`: (tile level, index) → the tile's hashes ([`tiles`], C2SP
//! `tlog-tiles`' layout, height 5). Tiles of level 1 and up are written in the
//! transaction that writes the records they cover, about one hash per 32 records;
//! the leaves are read from the records ([`tiles::leaf_tile`]), and written as
//! level-0 tiles only when archived records are removed ([`keep_leaves`]). Tiles
//! are never removed: proofs that need the leaves of archived records still work.
//! A tree that lacks records the ledger holds (after the journal's replay, or in a
//! ledger from before the tree) is completed when the ledger opens.

use std::cell::RefCell;
use std::collections::HashMap;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use super::{Context, audit};
use crate::Error;
use crate::merkle::tiles::{self, Growth, TileId, WIDTH};
use crate::merkle::{self, Frontier, Hash, Node};
use crate::seal::stored_leaf;

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

/// Writes the leaves of the records `first..=last`, about to be removed, as
/// level-0 tiles in `txn`: the tiles keep every leaf from the first record on.
pub(super) fn keep_leaves(txn: &WriteTransaction, first: u64, last: u64) -> Result<(), Error> {
    let mut leaves = Vec::with_capacity((last + 1 - first) as usize);
    for entry in txn
        .open_table(audit::RECORDS)
        .ctx("keep the Merkle tree's leaves")?
        .range(first..=last)
        .ctx("keep the Merkle tree's leaves")?
    {
        let (seq, value) = entry.ctx("keep the Merkle tree's leaves")?;
        let seq = seq.value();
        leaves.push((0u8, seq - 1, stored_leaf(seq, value.value())?));
    }
    insert(txn, &leaves)
}

/// Reads nodes from the tiles, and leaves from the records, each tile once.
struct Reader<'a, T, R> {
    tiles: &'a T,
    records: &'a R,
    read: RefCell<HashMap<TileId, Vec<u8>>>,
}

impl<'a, T, R> Reader<'a, T, R>
where
    T: ReadableTable<(u8, u64), &'static [u8]>,
    R: ReadableTable<u64, &'static [u8]>,
{
    fn new(tiles: &'a T, records: &'a R) -> Self {
        Reader {
            tiles,
            records,
            read: RefCell::default(),
        }
    }

    /// The tile `id`: as stored, and for level 0 completed from the records.
    fn tile(&self, id: TileId) -> Result<Vec<u8>, Error> {
        let stored = self
            .tiles
            .get(id)
            .ctx("read the Merkle tree")?
            .map(|v| v.value().to_vec())
            .unwrap_or_default();
        if id.0 != 0 || stored.len() == WIDTH as usize * 32 {
            return Ok(stored);
        }
        let from = id.1 * WIDTH + (stored.len() / 32) as u64 + 1;
        let mut leaves = Vec::new();
        for entry in self
            .records
            .range(from..=(id.1 + 1) * WIDTH)
            .ctx("read the Merkle tree")?
        {
            let (seq, value) = entry.ctx("read the Merkle tree")?;
            let seq = seq.value();
            leaves.push((seq - 1, stored_leaf(seq, value.value())?));
        }
        Ok(tiles::leaf_tile(id.1, stored, leaves))
    }

    /// The node `(level, index)`.
    fn node(&self, level: u8, index: u64) -> Result<Hash, Error> {
        let id = tiles::tile_of(level, index);
        let mut read = self.read.borrow_mut();
        let tile = match read.entry(id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(self.tile(id)?),
        };
        tiles::node(level, index, tile).ok_or_else(|| {
            Error::Corrupt(format!("the Merkle tree lacks its node ({level}, {index})"))
        })
    }

    /// How large a tree the stored nodes and leaves can prove: as many leaves
    /// as there are, up to the full tiles of leaves level 1 covers and the
    /// partial one after.
    fn size(&self) -> Result<u64, Error> {
        let last = self
            .tiles
            .range((1u8, 0u64)..=(1u8, u64::MAX))
            .ctx("read the Merkle tree")?
            .next_back()
            .transpose()
            .ctx("read the Merkle tree")?;
        let full = tiles::size(last.map(|(k, v)| (k.value().1, v.value().len())));
        let leaves = self
            .records
            .last()
            .ctx("read the Merkle tree")?
            .map_or(0, |(k, _)| k.value());
        Ok(leaves.min(full * WIDTH + WIDTH - 1))
    }
}

/// The stored tree, completed with the records the ledger holds beyond it: what
/// the writer appends to. Left short, with an error logged, when a leaf it needs
/// is neither in a tile nor in the ledger (a record archived and removed before
/// the tree was kept).
pub(super) fn open(db: &Database) -> Result<Frontier, Error> {
    let txn = db.begin_read().ctx("open the Merkle tree")?;
    let head = audit::head(&txn)?.seq;
    let table = txn.open_table(TILES).ctx("open the Merkle tree")?;
    let records = txn.open_table(audit::RECORDS).ctx("open the Merkle tree")?;
    let reader = Reader::new(&table, &records);
    // The full tiles of leaves that level 1 covers: their nodes are stored.
    let stored = reader.size()?.min(head) / WIDTH * WIDTH;
    let mut frontier = Frontier::load(stored, |l, i| reader.node(l, i))?;
    let mut made = Vec::new();
    while frontier.size() < head {
        let at = frontier.size();
        let tile = reader.tile((0, at / WIDTH))?;
        for leaf in tile[((at % WIDTH) * 32) as usize..].chunks_exact(32) {
            let leaf = Hash::try_from(leaf).expect("32 bytes");
            tiles::append(&mut frontier, leaf, &mut made);
            if frontier.size() == head {
                break;
            }
        }
        if frontier.size() == at {
            tracing::error!(
                tree = at,
                head,
                "the audit log's Merkle tree cannot be completed: record {} is not in the \
                 ledger; nothing is appended until it is",
                at + 1
            );
            break;
        }
        if !made.is_empty() && (made.len() as u64 >= CHUNK / WIDTH || frontier.size() == head) {
            let txn = db.begin_write().ctx("complete the Merkle tree")?;
            insert(&txn, &made)?;
            txn.commit().ctx("complete the Merkle tree")?;
            made.clear();
        }
    }
    if frontier.size() >= stored + WIDTH {
        tracing::info!(
            from = stored + 1,
            to = frontier.size(),
            "the audit log's Merkle tree completed"
        );
    }
    Ok(frontier)
}

/// The inclusion proof of the entry `index` in the tree of `size` entries.
pub(super) fn inclusion(txn: &ReadTransaction, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
    prove(txn, size, |node| merkle::inclusion_proof(index, size, node))
}

/// The consistency proof between the trees of `first` and `second` entries.
pub(super) fn consistency(
    txn: &ReadTransaction,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, Error> {
    prove(txn, second, |node| {
        merkle::consistency_proof(first, second, node)
    })
}

/// Makes a proof in a tree of `size` entries from what `txn` reads; refuses a
/// tree larger than the one stored.
fn prove(
    txn: &ReadTransaction,
    size: u64,
    prove: impl FnOnce(&dyn Fn(u8, u64) -> Result<Hash, Error>) -> Result<Vec<Hash>, Error>,
) -> Result<Vec<Hash>, Error> {
    let table = txn.open_table(TILES).ctx("read the Merkle tree")?;
    let records = txn.open_table(audit::RECORDS).ctx("read the Merkle tree")?;
    let reader = Reader::new(&table, &records);
    let stored = reader.size()?;
    if size > stored {
        return Err(Error::Refused(format!(
            "the audit log's tree has {stored} records, not {size}"
        )));
    }
    prove(&|l, i| reader.node(l, i))
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
