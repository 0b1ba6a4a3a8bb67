//! How the embedded ledger commits: records alone become durable in one journal
//! frame and are answered then; they reach redb afterwards, many batches at a
//! time, while the next batches gather ([`crate::Store::index`]). Everything
//! else is one durable redb commit, which takes the records still waiting first.

use std::sync::atomic::Ordering;

use lienthong_proto::v1::{AuditRecord, Checkpoint};

use super::journal::{self, Journal};
use super::{Context, Embedded, audit, dossiers, tree};
use crate::merkle::{Frontier, Node};
use crate::{Applied, Batch, Committed, Error, Head, Seal};

/// Deferred records are written to redb once this many gather…
const INDEX_BATCH: usize = 512;

/// … or the oldest has waited this long, or a reader waits for them ([`Wanted`]).
/// Redb's commit costs the same for one record as for hundreds: the longer
/// records gather, the less each pays.
const INDEX_AFTER: std::time::Duration = std::time::Duration::from_millis(10);

/// Whether a reader waits for deferred records, and the writer to wake for them.
#[derive(Default)]
pub(super) struct Wanted {
    asked: std::sync::atomic::AtomicBool,
    writer: futures_util::task::AtomicWaker,
}

impl Wanted {
    /// A reader waits: the writer is to index at once.
    pub(super) fn ask(&self) {
        self.asked.store(true, Ordering::SeqCst);
        self.writer.wake();
    }

    /// Whether a reader waits; `writer` is woken when one asks.
    pub(super) fn asked(&self, writer: &std::task::Waker) -> bool {
        self.writer.register(writer);
        self.asked.load(Ordering::SeqCst)
    }
}

/// Records durable in the journal, waiting to be written to redb with the
/// Merkle tree's nodes over them.
pub(super) struct Deferred {
    records: Vec<AuditRecord>,
    nodes: Vec<Node>,
    /// When the oldest came.
    since: std::time::Instant,
}

impl Default for Deferred {
    fn default() -> Self {
        Deferred {
            records: Vec::new(),
            nodes: Vec::new(),
            since: std::time::Instant::now(),
        }
    }
}

impl Deferred {
    /// Forgets them: they are in redb, or the journal gives them back.
    pub(super) fn clear(&mut self) {
        self.records.clear();
        self.nodes.clear();
    }

    /// Writes them in `txn`.
    fn insert(&self, txn: &redb::WriteTransaction) -> Result<(), Error> {
        audit::insert(txn, &self.records, None)?;
        tree::insert(txn, &self.nodes)
    }
}

impl Embedded {
    /// See [`crate::Store::commit`]; blocks. A failed commit may leave redb refusing the
    /// file: then it is reopened for the next.
    pub(super) fn commit_now(
        &self,
        batch: &mut Batch,
        seal: &mut (dyn Seal + Send),
    ) -> Result<Committed, Error> {
        let committed = self.commit_once(batch, seal);
        if committed.is_err() {
            self.reopen_if_poisoned();
        }
        committed
    }

    fn commit_once(
        &self,
        batch: &mut Batch,
        seal: &mut (dyn Seal + Send),
    ) -> Result<Committed, Error> {
        let db = self.db()?;
        let mut head = *self.head.lock().expect("head");
        let mut tree = Tree {
            frontier: self.tree.lock().expect("tree").clone(),
            made: Vec::new(),
        };
        // Records alone are durable once framed in the journal: answered then, and
        // written to redb after ([`crate::Store::index`]), the tree's nodes with them.
        if batch.changes.is_empty() && batch.deliveries.is_empty() {
            let checkpoint = tree.seal(seal, &mut head, &mut batch.records, batch.checkpoint)?;
            if checkpoint.is_none()
                && (batch.records.is_empty() || self.journaled(&batch.records)?)
            {
                self.deferred
                    .lock()
                    .expect("deferred")
                    .nodes
                    .extend(tree.made);
                *self.tree.lock().expect("tree") = tree.frontier;
                *self.head.lock().expect("head") = head;
                return Ok(Committed {
                    applied: Vec::new(),
                    checkpoint,
                    deferred: !batch.records.is_empty(),
                    head,
                });
            }
            let txn = db.begin_write().ctx("commit")?;
            return self.commit_in(txn, batch, tree, Vec::new(), checkpoint, head);
        }
        let txn = db.begin_write().ctx("commit")?;
        let now = crate::now_micros();
        for (entry, outcome) in &batch.deliveries {
            dossiers::mark(&txn, entry, outcome)?;
        }
        let mut applied = Vec::with_capacity(batch.changes.len());
        for (record, change) in &batch.changes {
            let result = dossiers::apply(&txn, change, now)?;
            if let Some(r) = record.and_then(|i| batch.records.get_mut(i)) {
                seal.complete(r, &result);
            }
            applied.push(result);
        }
        let checkpoint = tree.seal(seal, &mut head, &mut batch.records, batch.checkpoint)?;
        let changed = applied.iter().any(Result::is_ok) || !batch.deliveries.is_empty();
        if batch.records.is_empty() && checkpoint.is_none() && !changed {
            txn.abort().ctx("commit")?;
            return Ok(Committed {
                applied,
                checkpoint,
                head,
                deferred: false,
            });
        }
        self.commit_in(txn, batch, tree, applied, checkpoint, head)
    }

    /// See [`crate::Store::index`]: the records go to redb without a sync (the journal
    /// holds them durably), and readers see them.
    pub(super) fn index_now(&self, records: Vec<AuditRecord>, now: bool) -> Result<bool, Error> {
        let mut deferred = self.deferred.lock().expect("deferred");
        if deferred.records.is_empty() {
            deferred.records = records;
            deferred.since = std::time::Instant::now();
        } else {
            deferred.records.extend(records);
        }
        if deferred.records.is_empty() {
            return Ok(false);
        }
        let due = now
            || self.wanted.asked.load(Ordering::SeqCst)
            || deferred.records.len() >= INDEX_BATCH
            || deferred.since.elapsed() >= INDEX_AFTER;
        if !due {
            return Ok(true);
        }
        let db = self.db()?;
        let mut txn = db.begin_write().ctx("index audit records")?;
        txn.set_durability(redb::Durability::None)
            .map_err(|x| Error::unavailable("index audit records", x))?;
        deferred.insert(&txn)?;
        txn.commit().ctx("index audit records")?;
        // Every record answered so far is in `deferred` (the writer hands them over
        // before it commits again, and only it moves the head), so this write
        // served every reader that asked.
        self.wanted.asked.store(false, Ordering::SeqCst);
        deferred.clear();
        self.visible.send_replace(*self.head.lock().expect("head"));
        Ok(false)
    }

    /// Makes `records` durable in one journal frame; false when the journal is
    /// full or fails, and they are to be committed durably instead.
    fn journaled(&self, records: &[AuditRecord]) -> Result<bool, Error> {
        let mut journal = self.journal.lock().expect("journal");
        let journal = match &mut *journal {
            Some(j) => j,
            slot => slot.insert(Journal::open(&journal::path_of(&self.path))?),
        };
        match journal.append(records) {
            Ok(fits) => Ok(fits),
            Err(e) => {
                tracing::warn!(error = %e, "the audit journal failed; the ledger takes the batch durably");
                Ok(false)
            }
        }
    }

    /// Writes the records not yet indexed, `batch`'s records, the tree's nodes
    /// over them and `checkpoint` in `txn` and commits it durably: it covers every
    /// record before it, and the journal starts again.
    fn commit_in(
        &self,
        txn: redb::WriteTransaction,
        batch: &mut Batch,
        tree: Tree,
        applied: Vec<Applied>,
        checkpoint: Option<Checkpoint>,
        mut head: Head,
    ) -> Result<Committed, Error> {
        let mut deferred = self.deferred.lock().expect("deferred");
        deferred.insert(&txn)?;
        audit::insert(&txn, &batch.records, checkpoint.as_ref())?;
        tree::insert(&txn, &tree.made)?;
        if let Some(c) = &checkpoint {
            head.checkpoint = c.seq;
        }
        txn.commit().ctx("commit")?;
        deferred.clear();
        *self.tree.lock().expect("tree") = tree.frontier;
        if let Some(journal) = &mut *self.journal.lock().expect("journal") {
            journal.restart();
        }
        *self.head.lock().expect("head") = head;
        self.visible.send_replace(head);
        Ok(Committed {
            applied,
            checkpoint,
            head,
            deferred: false,
        })
    }
}

/// The tree as a commit grows it: kept only if the commit is.
struct Tree {
    frontier: Frontier,
    made: Vec<Node>,
}

impl Tree {
    /// See [`crate::seal::seal_into`].
    fn seal(
        &mut self,
        seal: &mut (dyn Seal + Send),
        head: &mut Head,
        records: &mut [AuditRecord],
        force: bool,
    ) -> Result<Option<Checkpoint>, Error> {
        crate::seal::seal_into(
            seal,
            head,
            &mut self.frontier,
            &mut self.made,
            records,
            force,
        )
    }
}
