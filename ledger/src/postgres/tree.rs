//! The Merkle tree on PostgreSQL ([`crate::merkle`]).
//!
//! `audit_tiles (level, idx, hashes)`: the tree's tiles ([`tiles`], C2SP
//! `tlog-tiles`' layout, height 5). Tiles of level 1 and up grow by concatenation
//! in the statement or transaction that appends the records they cover; the
//! leaves are read from the records ([`tiles::leaf_tile`]), and written as level-0
//! tiles only when archived records are removed ([`super::prune`]).
//! `audit_head.tree_size` and `audit_head.tree`: the tree's size and its right
//! edge ([`Frontier::encode`]), moved with the head under its lock, so that
//! every replica appends to the same tree. Tiles are never removed.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use lienthong_proto::v1::AuditRecord;
use prost::Message;
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::commit::cached;
use super::db;
use crate::merkle::{self, Frontier, Hash, Node, tiles};
use crate::seal::stored_leaf;
use crate::{Error, Head};

/// Records read per round trip while the tree is completed.
const CHUNK: i64 = 5_000;

/// The head and the tree from `audit_head`'s row `seq, hash, at_micros,
/// checkpoint, tree_size, tree`.
pub(super) fn head(row: &tokio_postgres::Row, from: usize) -> Result<(Head, Frontier), Error> {
    let size = row.get::<_, i64>(from + 4) as u64;
    let tree = Frontier::decode(size, row.get::<_, &[u8]>(from + 5)).ok_or_else(|| {
        Error::Corrupt(format!("the audit head's tree does not fit {size} records"))
    })?;
    let head = Head {
        seq: row.get::<_, i64>(from) as u64,
        hash: row
            .get::<_, Vec<u8>>(from + 1)
            .try_into()
            .map_err(|_| Error::Corrupt("the audit head's hash is not 32 bytes".into()))?,
        at: row.get(from + 2),
        checkpoint: row.get::<_, i64>(from + 3) as u64,
        root: tree.root(),
    };
    Ok((head, tree))
}

/// The parameters that grow the tiles by what `nodes` complete: tile levels,
/// indexes, and the hashes to append to each.
pub(super) fn columns(nodes: &[Node]) -> (Vec<i16>, Vec<i64>, Vec<Vec<u8>>) {
    let mut growth = tiles::Growth::default();
    growth.add(nodes);
    let mut columns = (Vec::new(), Vec::new(), Vec::new());
    for ((level, index), _, bytes) in growth.0 {
        columns.0.push(i16::from(level));
        columns.1.push(index as i64);
        columns.2.push(bytes);
    }
    columns
}

/// Grows tiles: levels, indexes and the hashes appended to each, as arrays. A
/// tile grows only at its end and only with the head, under its lock or in the
/// fast path's one statement, so appending is writing at its end.
pub(super) const INSERT: &str = "INSERT INTO audit_tiles AS t (level, idx, hashes)
 SELECT * FROM unnest($1::int2[], $2::int8[], $3::bytea[])
 ON CONFLICT (level, idx) DO UPDATE SET hashes = t.hashes || EXCLUDED.hashes";

/// Moves the stored tree: its size and right edge.
const MOVE: &str = "UPDATE audit_head SET tree_size = $1, tree = $2";

/// Writes `nodes` and moves the stored tree to `tree`, in the commit `txn`.
pub(super) async fn grow(
    txn: &Transaction<'_>,
    nodes: &[Node],
    tree: &Frontier,
) -> Result<(), Error> {
    let (levels, indexes, hashes) = columns(nodes);
    let (size, edge) = (tree.size() as i64, tree.encode());
    let inserted = async {
        match nodes.is_empty() {
            true => Ok(0),
            false => cached(txn, INSERT, &[&levels, &indexes, &hashes]).await,
        }
    };
    let moved = async { cached(txn, MOVE, &[&size, &edge]).await };
    tokio::try_join!(inserted, moved).map_err(db("grow the Merkle tree"))?;
    Ok(())
}

/// Keeps the leaves of `rows` (`seq, record` of the records about to be
/// removed, in order, following those removed before) as level-0 tiles.
pub(super) async fn keep_leaves(
    client: &impl GenericClient,
    rows: &[tokio_postgres::Row],
) -> Result<(), Error> {
    let mut leaves = Vec::with_capacity(rows.len());
    for row in rows {
        let seq = row.get::<_, i64>(0) as u64;
        leaves.push((0u8, seq - 1, stored_leaf(seq, row.get::<_, &[u8]>(1))?));
    }
    let mut growth = tiles::Growth::default();
    growth.add(&leaves);
    let indexes: Vec<i64> = growth.0.iter().map(|((_, i), ..)| *i as i64).collect();
    let stored: HashMap<i64, Vec<u8>> = client
        .query(
            "SELECT idx, hashes FROM audit_tiles WHERE level = 0 AND idx = ANY($1)",
            &[&indexes],
        )
        .await
        .map_err(db("keep the Merkle tree's leaves"))?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut tiles_out = Vec::with_capacity(growth.0.len());
    for ((_, index), start, bytes) in &growth.0 {
        let kept = stored.get(&(*index as i64)).map_or(&[][..], Vec::as_slice);
        tiles_out.push(tiles::grown(kept, *start, bytes).ok_or_else(|| {
            Error::Corrupt(format!(
                "the Merkle tree keeps {} leaves of tile {index}, not the {start} the \
                 records removed follow",
                kept.len() / 32
            ))
        })?);
    }
    client
        .execute(
            "INSERT INTO audit_tiles (level, idx, hashes)
             SELECT 0, * FROM unnest($1::int8[], $2::bytea[])
             ON CONFLICT (level, idx) DO UPDATE SET hashes = EXCLUDED.hashes",
            &[&indexes, &tiles_out],
        )
        .await
        .map_err(db("keep the Merkle tree's leaves"))?;
    Ok(())
}

/// Completes the stored tree with the records held beyond it (a database from
/// before the tree, an import), in `txn`; how many records it took. Left short,
/// with an error logged, when a record it needs is not held (archived and removed
/// before the tree was kept): nothing is appended until it is complete.
pub(super) async fn complete(txn: &tokio_postgres::Transaction<'_>) -> Result<u64, Error> {
    let row = txn
        .query_one(
            "SELECT seq, hash, at_micros, checkpoint, tree_size, tree FROM audit_head FOR UPDATE",
            &[],
        )
        .await
        .map_err(db("read the Merkle tree"))?;
    let (head, mut tree) = head(&row, 0)?;
    let before = tree.size();
    while tree.size() < head.seq {
        let from = tree.size() as i64 + 1;
        let rows = txn
            .query(
                "SELECT seq, record FROM audit_records WHERE seq >= $1 ORDER BY seq LIMIT $2",
                &[&from, &CHUNK],
            )
            .await
            .map_err(db("complete the Merkle tree"))?;
        let (mut made, at) = (Vec::new(), tree.size());
        for row in rows {
            if row.get::<_, i64>(0) as u64 != tree.size() + 1 {
                break;
            }
            let record = AuditRecord::decode(row.get::<_, &[u8]>(1))
                .map_err(|e| Error::corrupt("audit record", e))?;
            tiles::append(&mut tree, merkle::leaf_hash(&record.hash), &mut made);
        }
        if tree.size() == at {
            tracing::error!(
                tree = tree.size(),
                head = head.seq,
                "the audit log's Merkle tree cannot be completed: record {from} is not held; \
                 nothing is appended until it is"
            );
            break;
        }
        let (levels, indexes, hashes) = columns(&made);
        txn.execute(INSERT, &[&levels, &indexes, &hashes])
            .await
            .map_err(db("complete the Merkle tree"))?;
        txn.execute(MOVE, &[&(tree.size() as i64), &tree.encode()])
            .await
            .map_err(db("complete the Merkle tree"))?;
    }
    Ok(tree.size() - before)
}

/// Reads the nodes a proof over stored nodes takes, in one round trip (the
/// tiles, and the records that give the leaves), and makes the proof: `prove`
/// runs once to learn which nodes (their hashes do not decide which), then
/// again over what was read.
pub(super) async fn prove(
    client: &impl GenericClient,
    size: u64,
    prove: impl Fn(&dyn Fn(u8, u64) -> Result<Hash, Error>) -> Result<Vec<Hash>, Error>,
) -> Result<Vec<Hash>, Error> {
    let stored = client
        .query_one("SELECT tree_size FROM audit_head", &[])
        .await
        .map_err(db("read the Merkle tree"))?
        .get::<_, i64>(0) as u64;
    if size > stored {
        return Err(Error::Refused(format!(
            "the audit log's tree has {stored} records, not {size}"
        )));
    }
    let wanted = std::cell::RefCell::new(std::collections::BTreeSet::new());
    prove(&|level, index| {
        wanted.borrow_mut().insert(tiles::tile_of(level, index));
        Ok([0; 32])
    })?;
    let wanted = wanted.into_inner();
    let (levels, indexes): (Vec<i16>, Vec<i64>) = wanted
        .iter()
        .map(|&(level, index)| (i16::from(level), index as i64))
        .unzip();
    let leaves: Vec<i64> = wanted
        .iter()
        .filter(|(level, _)| *level == 0)
        .map(|&(_, index)| index as i64)
        .collect();
    let width = tiles::WIDTH as i64;
    let (tile_params, record_params): ([&(dyn ToSql + Sync); 2], [&(dyn ToSql + Sync); 2]) =
        ([&levels, &indexes], [&leaves, &width]);
    let (rows, records) = tokio::try_join!(
        client.query(
            "SELECT t.level, t.idx, t.hashes FROM audit_tiles t
               JOIN unnest($1::int2[], $2::int8[]) AS w(level, idx)
                 ON t.level = w.level AND t.idx = w.idx",
            &tile_params,
        ),
        client.query(
            "SELECT r.seq, r.record FROM unnest($1::int8[]) AS w(idx)
               JOIN audit_records r ON r.seq > w.idx * $2 AND r.seq <= (w.idx + 1) * $2
              ORDER BY r.seq",
            &record_params,
        ),
    )
    .map_err(db("read the Merkle tree"))?;
    let mut read: HashMap<tiles::TileId, Vec<u8>> = rows
        .into_iter()
        .map(|row| {
            let id = (row.get::<_, i16>(0) as u8, row.get::<_, i64>(1) as u64);
            (id, row.get::<_, Vec<u8>>(2))
        })
        .collect();
    let mut by_tile: HashMap<u64, Vec<(u64, Hash)>> = HashMap::new();
    for row in &records {
        let seq = row.get::<_, i64>(0) as u64;
        let leaf = stored_leaf(seq, row.get::<_, &[u8]>(1))?;
        by_tile
            .entry((seq - 1) / tiles::WIDTH)
            .or_default()
            .push((seq - 1, leaf));
    }
    for index in leaves {
        let index = index as u64;
        let stored = read.remove(&(0, index)).unwrap_or_default();
        let tile = tiles::leaf_tile(index, stored, by_tile.remove(&index).unwrap_or_default());
        read.insert((0, index), tile);
    }
    prove(&|level, index| {
        read.get(&tiles::tile_of(level, index))
            .and_then(|tile| tiles::node(level, index, tile))
            .ok_or_else(|| {
                Error::Corrupt(format!("the Merkle tree lacks its node ({level}, {index})"))
            })
    })
}

/// See [`crate::Store::audit_cosign`].
pub(super) async fn cosign(
    client: &impl GenericClient,
    seq: u64,
    witness: &str,
    line: &str,
) -> Result<(), Error> {
    client
        .execute(
            "INSERT INTO audit_cosignatures (seq, witness, line) VALUES ($1, $2, $3)
             ON CONFLICT (seq, witness) DO UPDATE SET line = EXCLUDED.line",
            &[&(seq as i64), &witness, &line],
        )
        .await
        .map_err(db("keep a cosignature"))?;
    Ok(())
}

/// See [`crate::Store::audit_cosignatures`].
pub(super) async fn cosignatures(
    client: &impl GenericClient,
    seq: u64,
) -> Result<Vec<String>, Error> {
    let rows = client
        .query(
            "SELECT line FROM audit_cosignatures WHERE seq = $1 ORDER BY witness",
            &[&(seq as i64)],
        )
        .await
        .map_err(db("read cosignatures"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// See [`crate::Store::audit_cosigned`].
pub(super) async fn cosigned(
    client: &impl GenericClient,
    quorum: usize,
) -> Result<Option<u64>, Error> {
    let row = client
        .query_opt(
            "SELECT seq FROM audit_cosignatures GROUP BY seq HAVING count(*) >= $1
             ORDER BY seq DESC LIMIT 1",
            &[&(quorum.max(1) as i64)],
        )
        .await
        .map_err(db("read cosignatures"))?;
    Ok(row.map(|r| r.get::<_, i64>(0) as u64))
}
