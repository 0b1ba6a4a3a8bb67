//! How the embedded ledger commits: records alone become durable in one journal
//! frame and are answered then; they reach redb afterwards, many batches at a
//! time, written by the indexer while the next batches gather ([`super::indexer`]).
//! Everything else is one durable redb commit, which takes the records still
//! waiting first.

use lienthong_proto::v1::{AuditRecord, Checkpoint};

use super::journal::{self, Journal};
use super::{Context, Embedded, audit, dossiers, tree};
use crate::merkle::{Frontier, Node};
use crate::{Applied, Batch, Committed, Error, Head, Seal};

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
                self.shared
                    .deferred
                    .lock()
                    .expect("deferred")
                    .made
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
            let _writing = self.shared.writing.lock().expect("writing");
            let txn = db.begin_write().ctx("commit")?;
            return self.commit_in(txn, batch, tree, Vec::new(), checkpoint, head);
        }
        let _writing = self.shared.writing.lock().expect("writing");
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

    /// See [`crate::Store::index`]: the records go to the indexer, which writes
    /// them to redb without a sync (the journal holds them durably) and shows them
    /// to readers; with `now`, they are written before this returns.
    pub(super) fn index_now(&self, records: Vec<AuditRecord>, now: bool) -> Result<(), Error> {
        if !records.is_empty() {
            let head = *self.head.lock().expect("head");
            self.shared.hand_over(records, head);
            self.indexer.ensure(&self.shared)?;
        }
        if now {
            self.shared.write()?;
        }
        Ok(())
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
    /// record before it, and the journal starts again. The caller holds
    /// [`super::indexer::Shared::writing`]: no index is under way.
    fn commit_in(
        &self,
        txn: redb::WriteTransaction,
        batch: &mut Batch,
        tree: Tree,
        applied: Vec<Applied>,
        checkpoint: Option<Checkpoint>,
        mut head: Head,
    ) -> Result<Committed, Error> {
        // Unchanged until the commit is done: only this thread hands records
        // over, and the indexer waits for `writing`.
        self.shared
            .deferred
            .lock()
            .expect("deferred")
            .insert(&txn)?;
        audit::insert(&txn, &batch.records, checkpoint.as_ref())?;
        tree::insert(&txn, &tree.made)?;
        if let Some(c) = &checkpoint {
            head.checkpoint = c.seq;
        }
        txn.commit().ctx("commit")?;
        self.shared.deferred.lock().expect("deferred").clear();
        *self.tree.lock().expect("tree") = tree.frontier;
        if let Some(journal) = &mut *self.journal.lock().expect("journal") {
            journal.restart();
        }
        *self.head.lock().expect("head") = head;
        self.shared.visible.send_replace(head);
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
