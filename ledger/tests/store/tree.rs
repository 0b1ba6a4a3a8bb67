//! The Merkle tree over the audit log in a store: grown in the commit that
//! appends the records, signed in every checkpoint, continued after a reopen,
//! built for a ledger from before it; its proofs verify against the roots a
//! reader computes from the records alone.

use std::sync::Arc;

use lienthong_ledger::merkle::{self, Frontier};

use super::*;

/// The tree a reader builds from the records `1..=upto`, as the store gives them.
pub async fn rebuilt(store: &Arc<dyn Store>, upto: u64) -> Frontier {
    let mut tree = Frontier::default();
    for item in items(store, 1, upto).await {
        if let Item::Record(r) = item {
            assert_eq!(r.seq, tree.size() + 1, "records in order, without gaps");
            tree.push(merkle::leaf_hash(&r.hash));
        }
    }
    tree
}

/// Checks every checkpoint's root, every record's inclusion in the last
/// checkpoint and the consistency of each checkpoint with the next.
async fn check_proofs(store: &Arc<dyn Store>) {
    let head = store.audit_head().await.unwrap();
    assert_eq!(
        head.root,
        rebuilt(store, head.seq).await.root(),
        "the head's root"
    );
    let checkpoints: Vec<Checkpoint> = items(store, 0, 0)
        .await
        .into_iter()
        .filter_map(|i| match i {
            Item::Checkpoint(c) => Some(c),
            Item::Record(_) => None,
        })
        .collect();
    assert!(checkpoints.len() >= 2, "{} checkpoints", checkpoints.len());
    for c in &checkpoints {
        assert_eq!(
            c.root,
            rebuilt(store, c.seq).await.root(),
            "checkpoint {}",
            c.seq
        );
    }
    let last = checkpoints.last().unwrap();
    let root: merkle::Hash = last.root.clone().try_into().unwrap();
    for seq in 1..=last.seq {
        let proof = store.audit_inclusion(seq, last.seq).await.unwrap();
        let record = store.audit_record(seq).await.unwrap().unwrap();
        let leaf = merkle::leaf_hash(&record.hash);
        merkle::verify_inclusion(seq - 1, last.seq, &leaf, &proof, &root)
            .unwrap_or_else(|e| panic!("record {seq}: {e}"));
        let other = merkle::leaf_hash(&[9; 32]);
        assert!(merkle::verify_inclusion(seq - 1, last.seq, &other, &proof, &root).is_err());
    }
    for pair in checkpoints.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let proof = store.audit_consistency(a.seq, b.seq).await.unwrap();
        let (ra, rb): (merkle::Hash, merkle::Hash) = (
            a.root.clone().try_into().unwrap(),
            b.root.clone().try_into().unwrap(),
        );
        merkle::verify_consistency(a.seq, b.seq, &ra, &rb, &proof)
            .unwrap_or_else(|e| panic!("{} to {}: {e}", a.seq, b.seq));
        assert!(merkle::verify_consistency(a.seq, b.seq, &rb, &rb, &proof).is_err());
    }
    // Sizes beyond the log, and record 0, are refused, not guessed at.
    for refused in [
        store.audit_inclusion(0, head.seq).await,
        store.audit_inclusion(1, head.seq + 1).await,
        store.audit_inclusion(head.seq + 1, head.seq).await,
        store.audit_consistency(0, head.seq).await,
        store.audit_consistency(2, 1).await,
        store.audit_consistency(1, head.seq + 1).await,
    ] {
        assert!(matches!(refused, Err(Error::Refused(_))), "{refused:?}");
    }
}

pub async fn the_merkle_tree_grows_with_the_records_and_proves_them(b: &dyn Backend) {
    let store = b.open().await;
    let w = Arc::new(writer(&store, 7));
    // Some together (one batch, one commit), then one at a time (a checkpoint
    // every 7).
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move { w.append(Some(record(i)), None).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for i in 12..45 {
        w.append(Some(record(i)), None).await.unwrap();
    }
    w.close().await;
    check_proofs(&store).await;
    let head = store.audit_head().await.unwrap();
    drop(w);
    drop(store);

    // Reopened, the tree goes on from where it was.
    let store = b.open().await;
    assert_eq!(store.audit_head().await.unwrap(), head);
    let w = writer(&store, 7);
    for i in 45..64 {
        w.append(Some(record(i)), None).await.unwrap();
    }
    w.close().await;
    check_proofs(&store).await;
}

/// Readers see a head only once its record and the tree's nodes up to it are
/// readable, while records reach the store's index beside durable commits
/// (a checkpoint every 7 records) and concurrent appends: every head read
/// proves its last record against its root.
pub async fn every_head_a_reader_sees_is_readable_and_proven(b: &dyn Backend) {
    let store = b.open().await;
    let w = Arc::new(writer(&store, 7));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let head = store.audit_head().await.unwrap();
                assert!(head.seq >= seen, "the head never goes back");
                seen = head.seq;
                if head.seq == 0 {
                    tokio::task::yield_now().await;
                    continue;
                }
                let last = store.audit_record(head.seq).await.unwrap();
                let last = last.expect("the head's record is readable");
                let proof = store.audit_inclusion(head.seq, head.seq).await.unwrap();
                merkle::verify_inclusion(
                    head.seq - 1,
                    head.seq,
                    &merkle::leaf_hash(&last.hash),
                    &proof,
                    &head.root,
                )
                .unwrap();
            }
            seen
        })
    };
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let w = w.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    w.append(Some(record(t * 100 + i)), None).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.await.unwrap() > 0, "the reader saw records");
    assert_eq!(store.audit_head().await.unwrap().seq, 640);
    w.close().await;
    check_proofs(&store).await;
}

/// The leaves of records `from..=to` as the store gives them.
async fn leaves(store: &Arc<dyn Store>, from: u64, to: u64) -> Vec<merkle::Hash> {
    let records = items(store, from, to).await.into_iter();
    records
        .filter_map(|i| match i {
            Item::Record(r) => Some(merkle::leaf_hash(&r.hash)),
            Item::Checkpoint(_) => None,
        })
        .collect()
}

/// Archiving removes records, not their leaves: proofs that need them (the
/// inclusion of an archived record, consistency from an old checkpoint whose
/// edge they make) still verify, after a reopen and more appends too.
pub async fn the_tree_proves_across_archived_records(b: &dyn Backend) {
    let store = b.open().await;
    let w = writer(&store, 7);
    for i in 0..100 {
        w.append(Some(record(i)), None).await.unwrap();
    }
    w.close().await;
    let mut all = leaves(&store, 1, 100).await;
    // One removal, then several short ones, each starting mid-tile.
    assert_eq!(store.audit_remove(17, 1000).await.unwrap(), 17);
    while store.audit_remove(70, 20).await.unwrap() > 0 {}
    assert_eq!(store.audit_first().await.unwrap(), 71);
    drop(w);
    drop(store);

    let store = b.open().await;
    let w = writer(&store, 7);
    for i in 100..130 {
        w.append(Some(record(i)), None).await.unwrap();
    }
    w.close().await;
    all.extend(leaves(&store, 101, 130).await);
    assert_eq!(all.len(), 130);
    let mut roots = vec![merkle::empty_root()];
    let mut tree = Frontier::default();
    for leaf in &all {
        tree.push(*leaf);
        roots.push(tree.root());
    }
    let head = store.audit_head().await.unwrap();
    assert_eq!((head.seq, head.root), (130, roots[130]), "the head's root");
    for old in [
        1, 5, 7, 14, 17, 18, 31, 32, 33, 63, 64, 70, 71, 99, 100, 129,
    ] {
        let proof = store.audit_consistency(old, 130).await.unwrap();
        merkle::verify_consistency(old, 130, &roots[old as usize], &roots[130], &proof)
            .unwrap_or_else(|e| panic!("{old} to 130: {e}"));
    }
    for seq in 1..=130u64 {
        let proof = store.audit_inclusion(seq, 130).await.unwrap();
        let leaf = &all[seq as usize - 1];
        merkle::verify_inclusion(seq - 1, 130, leaf, &proof, &roots[130])
            .unwrap_or_else(|e| panic!("record {seq}: {e}"));
    }
    for (seq, size) in [(3, 17), (17, 17), (20, 50), (64, 71)] {
        let proof = store.audit_inclusion(seq, size).await.unwrap();
        let leaf = &all[seq as usize - 1];
        merkle::verify_inclusion(seq - 1, size, leaf, &proof, &roots[size as usize])
            .unwrap_or_else(|e| panic!("record {seq} in {size}: {e}"));
    }
}

/// A ledger whose records were written before the tree was kept: `forget`
/// takes the tree away below the store; the next open builds it.
pub async fn the_tree_is_built_for_a_ledger_from_before_it(
    b: &dyn Backend,
    forget: impl AsyncFnOnce(),
) {
    let store = b.open().await;
    let w = writer(&store, 10);
    for i in 0..33 {
        w.append(Some(record(i)), None).await.unwrap();
    }
    w.close().await;
    let head = store.audit_head().await.unwrap();
    drop(w);
    drop(store);
    forget().await;
    let store = b.open().await;
    assert_eq!(
        store.audit_head().await.unwrap().root,
        head.root,
        "built alike"
    );
    let w = writer(&store, 10);
    w.append(Some(record(33)), None).await.unwrap();
    w.close().await;
    check_proofs(&store).await;
}

pub async fn cosignatures_are_kept_per_checkpoint_and_witness(b: &dyn Backend) {
    let store = b.open().await;
    assert!(store.audit_cosignatures(7).await.unwrap().is_empty());
    store
        .audit_cosign(7, "witness.b", "— witness.b BBB=")
        .await
        .unwrap();
    store
        .audit_cosign(7, "witness.a", "— witness.a AAA=")
        .await
        .unwrap();
    store
        .audit_cosign(8, "witness.a", "— witness.a CCC=")
        .await
        .unwrap();
    // A witness cosigning the same checkpoint again replaces its line.
    store
        .audit_cosign(7, "witness.b", "— witness.b DDD=")
        .await
        .unwrap();
    drop(store);
    let store = b.open().await;
    assert_eq!(
        store.audit_cosignatures(7).await.unwrap(),
        ["— witness.a AAA=", "— witness.b DDD="]
    );
    assert_eq!(
        store.audit_cosignatures(8).await.unwrap(),
        ["— witness.a CCC="]
    );
    assert_eq!(store.audit_cosigned(1).await.unwrap(), Some(8));
    assert_eq!(store.audit_cosigned(2).await.unwrap(), Some(7));
    assert_eq!(store.audit_cosigned(3).await.unwrap(), None);
}
