//! The tree's nodes as the stores keep them: in tiles, as C2SP `tlog-tiles` lays
//! a tree out, with tiles of height 5 rather than 8. The tile `(L, i)` holds the
//! hashes of the tree's level `5·L`, entries `32·i ..`: the leaf hashes at tile
//! level 0, the roots of 32-leaf subtrees at tile level 1, and so on, up to 32 of
//! them. A node between those levels is computed from the tile under it (at most
//! 15 hashes). A tile is at most 1 KiB, so PostgreSQL keeps it in its row (a
//! value over 2 KiB goes to TOAST, and rewriting the right edge's tile at every
//! commit would write it there each time).
//!
//! Stores keep the tiles of level 1 and up as records are appended ([`kept`]):
//! about one hash per 32 records, the partial tiles at the right edge rewritten
//! as they fill. The leaf hashes (tile level 0) are not written for the live log:
//! each record holds its hash, so a level-0 tile is read from the 32 records it
//! covers ([`leaf_tile`]). A store writes level-0 tiles only for records it
//! removes once archived, so that proofs that need their leaves still work.

use super::{Frontier, Hash, Node, node_hash};

/// Tree levels per tile.
pub const HEIGHT: u8 = 5;

/// Hashes per full tile.
pub const WIDTH: u64 = 1 << HEIGHT;

/// A tile: its tile level and index.
pub type TileId = (u8, u64);

/// What appends add to the tiles: for each tile they touch, in order, the
/// position (in hashes) where the new hashes start, and those hashes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Growth(pub Vec<(TileId, u64, Vec<u8>)>);

impl Growth {
    /// Adds the nodes that appends completed (as [`super::Frontier::push`]
    /// gives them, in order).
    pub fn add(&mut self, nodes: &[Node]) {
        for (level, index, hash) in nodes {
            if level % HEIGHT != 0 {
                continue;
            }
            let id = (level / HEIGHT, index / WIDTH);
            let at = index % WIDTH;
            match self.0.iter_mut().rev().find(|(t, _, _)| *t == id) {
                Some((_, start, bytes)) if *start + bytes.len() as u64 / 32 == at => {
                    bytes.extend_from_slice(hash);
                }
                _ => self.0.push((id, at, hash.to_vec())),
            }
        }
    }

    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets it all.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Whether stores keep the node at `level` as the log grows: the roots of tile
/// levels 1 and up (see the module's doc for the leaves).
pub fn kept(level: u8) -> bool {
    level > 0 && level.is_multiple_of(HEIGHT)
}

/// Appends the entry whose leaf hash is `leaf` to `tree`, adding to `nodes` the
/// nodes it completes that stores keep ([`kept`]).
pub fn append(tree: &mut Frontier, leaf: Hash, nodes: &mut Vec<Node>) {
    let from = nodes.len();
    tree.push_into(leaf, nodes);
    let mut to = from;
    for i in from..nodes.len() {
        if kept(nodes[i].0) {
            nodes.swap(to, i);
            to += 1;
        }
    }
    nodes.truncate(to);
}

/// The level-0 tile `index` from what is stored of it (the leaf hashes of
/// removed records, maybe none) and the leaf hashes of the entries after,
/// `(entry, leaf)` in order (from the records that hold them): as far as they
/// run on without a gap, up to a full tile.
pub fn leaf_tile(
    index: u64,
    mut stored: Vec<u8>,
    leaves: impl IntoIterator<Item = (u64, Hash)>,
) -> Vec<u8> {
    stored.truncate(WIDTH as usize * 32);
    for (entry, leaf) in leaves {
        let next = index * WIDTH + (stored.len() / 32) as u64;
        if entry < next {
            continue;
        }
        if entry > next || stored.len() == WIDTH as usize * 32 {
            break;
        }
        stored.extend_from_slice(&leaf);
    }
    stored
}

/// The tile that holds what the node `(level, index)` is computed from.
pub fn tile_of(level: u8, index: u64) -> TileId {
    let below = level % HEIGHT;
    (level / HEIGHT, (index << below) / WIDTH)
}

/// The node `(level, index)` from `tile`, the hashes of the tile that holds it
/// ([`tile_of`]); `None` when the tile does not reach that far.
pub fn node(level: u8, index: u64, tile: &[u8]) -> Option<Hash> {
    let below = level % HEIGHT;
    let (first, count) = (((index << below) % WIDTH) as usize, 1usize << below);
    let slice = tile.get(first * 32..(first + count) * 32)?;
    let mut hashes: Vec<Hash> = slice
        .chunks_exact(32)
        .map(|c| Hash::try_from(c).expect("32 bytes"))
        .collect();
    while hashes.len() > 1 {
        hashes = hashes
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    hashes.pop()
}

/// `stored` (a tile's hashes as kept, possibly none) with `bytes` written from
/// the hash `start` on: what the tile holds after a [`Growth`]. Writing the same
/// growth twice (a replay) gives the same tile.
pub fn grown(stored: &[u8], start: u64, bytes: &[u8]) -> Option<Vec<u8>> {
    let keep = start as usize * 32;
    let head = stored.get(..keep)?;
    let mut tile = Vec::with_capacity(keep + bytes.len());
    tile.extend_from_slice(head);
    tile.extend_from_slice(bytes);
    Some(tile)
}

/// How many hashes a level holds from its last tile: that tile's index and
/// length in bytes (for level 1, how many full tiles of leaves the tree has).
pub fn size(last: Option<(u64, usize)>) -> u64 {
    last.map_or(0, |(index, len)| index * WIDTH + (len / 32) as u64)
}
