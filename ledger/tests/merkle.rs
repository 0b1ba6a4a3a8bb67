//! The Merkle tree against published known answers: the tree, node and root
//! hashes of the reference tree, and every inclusion and consistency case of
//! transparency-dev/merkle's test data (valid proofs and their mutations), in
//! `tests/merkle/transparency-dev.json` (Apache-2.0; its source and commit are
//! in the file).

use base64::Engine;
use lienthong_ledger::merkle::{
    self, Frontier, Hash, ProofError, consistency_proof, inclusion_proof, verify_consistency,
    verify_inclusion,
};
use serde_json::Value;

fn vectors() -> Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/merkle/transparency-dev.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .unwrap()
}

fn hex(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A hash from the test data; `None` when it is not 32 bytes (a mutation).
fn hash(bytes: Vec<u8>) -> Option<Hash> {
    bytes.try_into().ok()
}

/// A root from the test data, as a hash: a value that is not one (only ever
/// compared for equality in the cases that give one) stands for its SHA-256.
fn any_root(bytes: Vec<u8>) -> Hash {
    use sha2::Digest;
    hash(bytes.clone()).unwrap_or_else(|| sha2::Sha256::digest(&bytes).into())
}

fn proof(v: &Value) -> Option<Vec<Hash>> {
    v.as_array().map_or(Some(Vec::new()), |a| {
        a.iter().map(|h| hash(b64(h))).collect()
    })
}

/// Every stored node of the tree over `leaves`, as a store would keep them.
#[derive(Default)]
struct Nodes(std::collections::HashMap<(u8, u64), Hash>);

impl Nodes {
    fn of(leaves: &[Hash]) -> (Nodes, Vec<Hash>) {
        let (mut nodes, mut frontier, mut roots) = (Nodes::default(), Frontier::default(), vec![]);
        for leaf in leaves {
            for (level, index, h) in frontier.push(*leaf) {
                assert!(nodes.0.insert((level, index), h).is_none());
            }
            roots.push(frontier.root());
        }
        (nodes, roots)
    }

    fn get(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        Ok(self.0[&(level, index)])
    }
}

#[test]
fn the_reference_tree_has_the_published_nodes_and_roots() {
    let v = vectors();
    let tree = &v["tree"];
    let leaves: Vec<Hash> = tree["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| merkle::leaf_hash(&hex(l)))
        .collect();
    let (nodes, roots) = Nodes::of(&leaves);
    for (level, row) in tree["nodes"].as_array().unwrap().iter().enumerate() {
        for (index, want) in row.as_array().unwrap().iter().enumerate() {
            let got = nodes.get(level as u8, index as u64).unwrap();
            assert_eq!(got.to_vec(), hex(want), "node ({level}, {index})");
        }
    }
    assert_eq!(nodes.0.len(), 15, "8 leaves make 15 complete nodes");
    // The published roots are for sizes 1 to 8.
    for (size, want) in tree["roots"].as_array().unwrap().iter().enumerate() {
        assert_eq!(roots[size].to_vec(), hex(want), "root of {}", size + 1);
    }
    assert_eq!(
        merkle::empty_root().to_vec(),
        hex(&Value::from(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ))
    );
    // A frontier loaded from the stored nodes continues where the tree was.
    for size in 0..=8u64 {
        let loaded = Frontier::load(size, |l, i| nodes.get(l, i)).unwrap();
        let root = if size == 0 {
            merkle::empty_root()
        } else {
            roots[size as usize - 1]
        };
        assert_eq!(loaded.root(), root, "size {size}");
    }
}

#[test]
fn every_published_inclusion_case_verifies_or_fails_as_it_should() {
    let v = vectors();
    let cases = v["inclusion"].as_array().unwrap();
    assert!(cases.len() > 90);
    let (mut good, mut bad) = (0, 0);
    for case in cases {
        let want_err = case["wantErr"].as_bool().unwrap();
        let result = (|| {
            let proof = proof(&case["proof"]).ok_or("a hash of the wrong length")?;
            let leaf = hash(b64(&case["leafHash"])).ok_or("a leaf of the wrong length")?;
            let root = hash(b64(&case["root"])).ok_or("a root of the wrong length")?;
            let index = case["leafIdx"].as_u64().ok_or("no index")?;
            let size = case["treeSize"].as_u64().ok_or("no size")?;
            verify_inclusion(index, size, &leaf, &proof, &root).map_err(|_| "refused")
        })();
        assert_eq!(result.is_err(), want_err, "{}: {result:?}", case["file"]);
        if want_err { bad += 1 } else { good += 1 }
    }
    assert!(
        good >= 5 && bad >= 50,
        "{good} valid and {bad} invalid cases"
    );
}

#[test]
fn every_published_consistency_case_verifies_or_fails_as_it_should() {
    let v = vectors();
    let cases = v["consistency"].as_array().unwrap();
    assert!(cases.len() > 90);
    for case in cases {
        let want_err = case["wantErr"].as_bool().unwrap();
        let result = (|| {
            let proof = proof(&case["proof"]).ok_or("a hash of the wrong length")?;
            // Some cases give roots that are not hashes, only ever compared.
            let root1 = any_root(b64(&case["root1"]));
            let root2 = any_root(b64(&case["root2"]));
            let first = case["size1"].as_u64().ok_or("no first size")?;
            let second = case["size2"].as_u64().ok_or("no second size")?;
            verify_consistency(first, second, &root1, &root2, &proof).map_err(|_| "refused")
        })();
        assert_eq!(result.is_err(), want_err, "{}: {result:?}", case["file"]);
    }
}

/// The proofs this crate makes from stored nodes are the published ones.
#[test]
fn proofs_made_from_stored_nodes_are_the_published_proofs() {
    let v = vectors();
    let leaves: Vec<Hash> = v["tree"]["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| merkle::leaf_hash(&hex(l)))
        .collect();
    let (nodes, roots) = Nodes::of(&leaves);
    let on_reference =
        |size: u64, root: &Value| (1..=8).contains(&size) && b64(root) == roots[size as usize - 1];
    // The valid cases of `kind` on the reference tree: the case, its two numbers
    // (index and size, or the two sizes).
    let valid = |kind: &str, a: &str, b: &str, root: &str| {
        let mut out = Vec::new();
        for case in v[kind].as_array().unwrap() {
            let (Some(x), Some(y)) = (case[a].as_u64(), case[b].as_u64()) else {
                continue;
            };
            if !case["wantErr"].as_bool().unwrap() && on_reference(y, &case[root]) {
                out.push((case.clone(), x, y));
            }
        }
        out
    };
    let get = |l: u8, i: u64| nodes.get(l, i);
    let mut compared = 0;
    for (case, index, size) in valid("inclusion", "leafIdx", "treeSize", "root") {
        let made = inclusion_proof(index, size, get).unwrap();
        assert_eq!(Some(made), proof(&case["proof"]), "{}", case["file"]);
        compared += 1;
    }
    for (case, first, second) in valid("consistency", "size1", "size2", "root2") {
        let made = consistency_proof(first, second, get).unwrap();
        assert_eq!(Some(made), proof(&case["proof"]), "{}", case["file"]);
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} proofs compared");
}

/// Every proof in trees of 1 to 70 entries verifies, and fails for another
/// entry, another root or another size.
#[test]
fn every_proof_of_small_trees_verifies_and_a_changed_one_does_not() {
    let leaves: Vec<Hash> = (0..70u32)
        .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
        .collect();
    let (nodes, roots) = Nodes::of(&leaves);
    let get = |l: u8, i: u64| nodes.get(l, i);
    for size in 1..=70u64 {
        let root = roots[size as usize - 1];
        for index in 0..size {
            let leaf = &leaves[index as usize];
            let path = inclusion_proof(index, size, get).unwrap();
            assert!(path.len() <= 7);
            verify_inclusion(index, size, leaf, &path, &root).unwrap();
            let other = merkle::leaf_hash(b"forged");
            assert!(verify_inclusion(index, size, &other, &path, &root).is_err());
            if size > 1 {
                let elsewhere = (index + 1) % size;
                assert!(verify_inclusion(elsewhere, size, leaf, &path, &root).is_err());
            }
        }
        for first in 1..=size {
            let first_root = roots[first as usize - 1];
            let proof = consistency_proof(first, size, get).unwrap();
            verify_consistency(first, size, &first_root, &root, &proof).unwrap();
            if first < size {
                let forged = merkle::leaf_hash(b"another history");
                assert!(verify_consistency(first, size, &forged, &root, &proof).is_err());
                assert!(verify_consistency(first, size, &first_root, &forged, &proof).is_err());
            }
        }
    }
    assert!(inclusion_proof(5, 5, get).is_err());
    assert!(consistency_proof(6, 5, get).is_err());
    // From the empty tree, a proof proves nothing: none is made or taken.
    assert!(consistency_proof(0, 5, get).is_err());
    assert!(verify_consistency(0, 5, &merkle::empty_root(), &roots[4], &[]).is_err());
}

/// Stores keep the nodes in tiles of height 5, level 1 and up as the log grows,
/// and the leaves of archived entries only; the other leaves come from the
/// records. Every node read back, at every size (growing in batches of uneven
/// length, each batch written twice as a replay would, a third of the entries
/// archived after each), is the node the appends made; proofs from tiles are the
/// proofs from the nodes; the frontier's encoding reads back.
#[test]
fn tiles_give_back_every_node_and_the_same_proofs() {
    use lienthong_ledger::merkle::tiles::{self, Growth, WIDTH};
    use std::collections::HashMap;

    let (mut tree, mut full) = (Frontier::default(), Frontier::default());
    let mut nodes: HashMap<(u8, u64), merkle::Hash> = HashMap::new();
    let mut stored: HashMap<tiles::TileId, Vec<u8>> = HashMap::new();
    let (mut leaves, mut archived) = (Vec::new(), 0u64);
    let grow = |stored: &mut HashMap<tiles::TileId, Vec<u8>>, growth: &Growth| {
        for _ in 0..2 {
            for (id, start, bytes) in &growth.0 {
                let tile = stored.entry(*id).or_default();
                *tile = tiles::grown(tile, *start, bytes).expect("grows from what is kept");
            }
        }
    };
    for batch in [1u64, 3, 250, 2, 1, 300, 17, 1, 600, 5, 70000] {
        let (mut made, mut all) = (Vec::new(), Vec::new());
        for _ in 0..batch {
            let leaf = merkle::leaf_hash(&(leaves.len() as u64).to_be_bytes());
            tiles::append(&mut tree, leaf, &mut made);
            full.push_into(leaf, &mut all);
            leaves.push(leaf);
        }
        assert!(made.iter().all(|n| tiles::kept(n.0)));
        let kept: Vec<_> = all.iter().filter(|n| tiles::kept(n.0)).copied().collect();
        assert_eq!(made, kept, "append keeps what stores keep");
        let mut growth = Growth::default();
        growth.add(&made);
        grow(&mut stored, &growth);
        nodes.extend(all.iter().map(|(l, i, h)| ((*l, *i), *h)));
        let level1 = (0..)
            .take_while(|i| stored.contains_key(&(1, *i)))
            .last()
            .map(|i| (i, stored[&(1, i)].len()));
        assert_eq!(tiles::size(level1), tree.size() / WIDTH);
        let read = |level: u8, index: u64| -> Result<merkle::Hash, ProofError> {
            let id = tiles::tile_of(level, index);
            let tile = match id.0 {
                0 => tiles::leaf_tile(
                    id.1,
                    stored.get(&id).cloned().unwrap_or_default(),
                    (id.1 * WIDTH..leaves.len() as u64)
                        .take(WIDTH as usize)
                        .filter(|e| *e >= archived)
                        .map(|e| (e, leaves[e as usize])),
                ),
                _ => stored.get(&id).cloned().unwrap_or_default(),
            };
            tiles::node(level, index, &tile).ok_or(ProofError::Mismatch("no such node"))
        };
        let loaded = Frontier::load(tree.size(), read).unwrap();
        assert_eq!(loaded.root(), tree.root(), "size {}", tree.size());
        let from_nodes = |level: u8, index: u64| -> Result<merkle::Hash, ProofError> {
            nodes
                .get(&(level, index))
                .copied()
                .ok_or(ProofError::Mismatch("no such node"))
        };
        for index in [0, tree.size() / 3, tree.size() - 1] {
            assert_eq!(
                merkle::inclusion_proof(index, tree.size(), read).unwrap(),
                merkle::inclusion_proof(index, tree.size(), from_nodes).unwrap()
            );
        }
        let first = (tree.size() / 2).max(1);
        assert_eq!(
            merkle::consistency_proof(first, tree.size(), read).unwrap(),
            merkle::consistency_proof(first, tree.size(), from_nodes).unwrap()
        );
        for ((level, index), hash) in nodes.iter().filter(|((_, i), _)| i % 97 == 0) {
            assert_eq!(
                read(*level, *index).as_ref(),
                Ok(hash),
                "({level}, {index})"
            );
        }
        let mut longer = tree.encode();
        longer.extend_from_slice(&[0; 32]);
        assert!(Frontier::decode(tree.size(), &longer).is_none());
        assert_eq!(
            Frontier::decode(tree.size(), &tree.encode())
                .unwrap()
                .root(),
            tree.root()
        );
        // Archived: a third of the log, its leaves written as level-0 tiles.
        let upto = tree.size() / 3;
        let removed: Vec<_> = (archived..upto)
            .map(|e| (0u8, e, leaves[e as usize]))
            .collect();
        let mut growth = Growth::default();
        growth.add(&removed);
        grow(&mut stored, &growth);
        archived = upto.max(archived);
    }
}
