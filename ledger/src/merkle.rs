//! The Merkle tree of RFC 9162 (§2.1) over a log's entries: leaf and node hashes,
//! the tree kept incrementally as entries are appended, inclusion and consistency
//! proofs made from stored nodes, and their verification.
//!
//! A node is named by its level and index: level 0 holds the leaf hashes, and the
//! node `(level, index)` is the root of the perfect subtree over the entries
//! `index·2^level .. (index+1)·2^level`. A store keeps every such node once it is
//! complete, which [`Frontier::push`] returns; any other subtree hash a proof
//! needs (the tree's ragged right edge) is computed from them, so a proof takes
//! about 2·log2(size) node reads.

use sha2::{Digest, Sha256};

pub mod tiles;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The leaf hash of an entry: `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// An interior node's hash: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A node made complete by an append: its level, its index at that level, and
/// its hash.
pub type Node = (u8, u64, Hash);

/// The right edge of the tree: the roots of its perfect subtrees, largest first
/// (one per bit set in the size). Enough to append and to compute the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)`, levels strictly decreasing.
    roots: Vec<(u8, Hash)>,
}

impl Frontier {
    /// The frontier of a tree of `size` entries, from its stored nodes.
    pub fn load<E>(
        size: u64,
        mut node: impl FnMut(u8, u64) -> Result<Hash, E>,
    ) -> Result<Frontier, E> {
        let mut roots = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1 << level) != 0 {
                roots.push((level, node(level, start >> level)?));
                start += 1 << level;
            }
        }
        Ok(Frontier { size, roots })
    }

    /// The number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its subtree roots, largest first, one after the other: with the size,
    /// all a store needs to keep to append again.
    pub fn encode(&self) -> Vec<u8> {
        self.roots.iter().flat_map(|(_, h)| *h).collect()
    }

    /// The frontier of a tree of `size` entries from what [`Frontier::encode`]
    /// wrote; `None` when the bytes do not fit the size.
    pub fn decode(size: u64, bytes: &[u8]) -> Option<Frontier> {
        let mut chunks = bytes.chunks_exact(32);
        let frontier = Frontier::load(size, |_, _| {
            chunks
                .next()
                .map(|c| Hash::try_from(c).expect("32 bytes"))
                .ok_or(())
        })
        .ok()?;
        (chunks.next().is_none() && chunks.remainder().is_empty()).then_some(frontier)
    }

    /// Appends the entry whose leaf hash is `leaf`; returns the nodes this
    /// completes, leaf first.
    pub fn push(&mut self, leaf: Hash) -> Vec<Node> {
        let mut made = Vec::with_capacity(2);
        self.push_into(leaf, &mut made);
        made
    }

    /// [`Frontier::push`], adding the nodes to `made`.
    pub fn push_into(&mut self, leaf: Hash, made: &mut Vec<Node>) {
        let index = self.size;
        made.push((0u8, index, leaf));
        let (mut level, mut hash) = (0u8, leaf);
        while let Some(&(top, left)) = self.roots.last() {
            if top != level {
                break;
            }
            self.roots.pop();
            hash = node_hash(&left, &hash);
            level += 1;
            made.push((level, index >> level, hash));
        }
        self.roots.push((level, hash));
        self.size += 1;
    }

    /// The tree's root hash.
    pub fn root(&self) -> Hash {
        let mut roots = self.roots.iter().rev();
        let Some(&(_, mut hash)) = roots.next() else {
            return empty_root();
        };
        for (_, left) in roots {
            hash = node_hash(left, &hash);
        }
        hash
    }
}

/// The largest power of two below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The hash of the subtree over the entries `start..start + len`, from stored
/// nodes: one read when it is a perfect subtree, else split as RFC 9162 splits.
fn subtree<E>(start: u64, len: u64, node: &impl Fn(u8, u64) -> Result<Hash, E>) -> Result<Hash, E> {
    if len.is_power_of_two() && start.is_multiple_of(len) {
        let level = len.trailing_zeros() as u8;
        return node(level, start >> level);
    }
    let k = split(len);
    let left = subtree(start, k, node)?;
    let right = subtree(start + k, len - k, node)?;
    Ok(node_hash(&left, &right))
}

/// Why a proof cannot be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The sizes or index asked for do not fit (an index past the tree, a second
    /// size below the first).
    #[error("{0}")]
    Range(String),
    /// The proof does not lead to the hash it must.
    #[error("the proof does not match: {0}")]
    Mismatch(&'static str),
}

/// The inclusion proof (audit path, RFC 9162 §2.1.3.1) of the entry `index` in
/// the tree of `size` entries, innermost sibling first.
pub fn inclusion_proof<E: From<ProofError>>(
    index: u64,
    size: u64,
    node: impl Fn(u8, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    if index >= size {
        return Err(ProofError::Range(format!("entry {index} is not in a tree of {size}")).into());
    }
    let mut path = Vec::new();
    // PATH(m, D[start..start+n]), walked from the top; the siblings come out
    // outermost first.
    let (mut m, mut start, mut n) = (index, 0u64, size);
    while n > 1 {
        let k = split(n);
        if m < k {
            path.push(subtree(start + k, n - k, &node)?);
            n = k;
        } else {
            path.push(subtree(start, k, &node)?);
            m -= k;
            start += k;
            n -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof (RFC 9162 §2.1.4.1) between the tree of `first` entries
/// and the tree of `second`, innermost first; empty when they are equal. From the
/// empty tree there is none: it would prove nothing.
pub fn consistency_proof<E: From<ProofError>>(
    first: u64,
    second: u64,
    node: impl Fn(u8, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    range(first, second)?;
    let mut proof = Vec::new();
    if first == second {
        return Ok(proof);
    }
    // SUBPROOF(m, D[start..start+n], whole), walked from the top.
    let (mut m, mut start, mut n, mut whole) = (first, 0u64, second, true);
    while m != n {
        let k = split(n);
        if m <= k {
            proof.push(subtree(start + k, n - k, &node)?);
            n = k;
        } else {
            proof.push(subtree(start, k, &node)?);
            m -= k;
            start += k;
            n -= k;
            whole = false;
        }
    }
    if !whole {
        proof.push(subtree(start, n, &node)?);
    }
    proof.reverse();
    Ok(proof)
}

/// Refuses sizes that no consistency proof is between.
fn range(first: u64, second: u64) -> Result<(), ProofError> {
    if first == 0 {
        return Err(ProofError::Range(
            "a consistency proof from the empty tree would prove nothing".into(),
        ));
    }
    if first > second {
        return Err(ProofError::Range(format!(
            "a tree of {first} cannot be extended by a tree of {second}"
        )));
    }
    Ok(())
}

/// RFC 9162's verification walk (§2.1.3.2, §2.1.4.2): folds `path` into the
/// hash of the tree of `snode + 1` entries, starting from `seed` at the node
/// `fnode`; when `first` is given, also into the root of the smaller tree that
/// ends at `fnode` (a consistency proof's first root).
fn fold<'a>(
    mut fnode: u64,
    mut snode: u64,
    seed: Hash,
    mut first: Option<Hash>,
    path: impl IntoIterator<Item = &'a Hash>,
) -> Result<(Option<Hash>, Hash), ProofError> {
    let mut r = seed;
    for p in path {
        if snode == 0 {
            return Err(ProofError::Mismatch("the proof is too long"));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if let Some(f) = &mut first {
                *f = node_hash(p, f);
            }
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::Mismatch("the proof is too short"));
    }
    Ok((first, r))
}

/// The root that the inclusion `proof` of the entry `index` (leaf hash `leaf`)
/// in a tree of `size` entries leads to (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::Range(format!(
            "entry {index} is not in a tree of {size}"
        )));
    }
    Ok(fold(index, size - 1, *leaf, None, proof)?.1)
}

/// Checks that the entry `index` with leaf hash `leaf` is in the tree of `size`
/// entries whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if root_from_inclusion(index, size, leaf, proof)? != *root {
        return Err(ProofError::Mismatch("the root differs"));
    }
    Ok(())
}

/// Checks that the tree of `second` entries with root `second_root` extends the
/// tree of `first` entries with root `first_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    range(first, second)?;
    if first == second {
        return match (proof.is_empty(), first_root == second_root) {
            (true, true) => Ok(()),
            (false, _) => Err(ProofError::Mismatch("a proof between equal sizes is empty")),
            (true, false) => Err(ProofError::Mismatch("equal sizes with different roots")),
        };
    }
    // The walk starts from the first tree's root when that tree is a perfect
    // subtree, else from the proof's first hash.
    let (seed, rest) = match first.is_power_of_two() {
        true => (first_root, proof),
        false => proof
            .split_first()
            .ok_or(ProofError::Mismatch("the proof is empty"))?,
    };
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (fr, sr) = fold(fnode, snode, *seed, Some(*seed), rest)?;
    let fr = fr.expect("the first root is folded");
    if fr != *first_root {
        return Err(ProofError::Mismatch("the first root differs"));
    }
    if sr != *second_root {
        return Err(ProofError::Mismatch("the second root differs"));
    }
    Ok(())
}
