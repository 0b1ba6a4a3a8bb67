//! The embedded ledger through the [`Store`] interface.

use async_trait::async_trait;
use lienthong_proto::Month;
use lienthong_proto::v1::{AuditRecord, Checkpoint, Dossier};

use super::{Embedded, audit, dossiers, facts, inbound, settle, subjects, tree};
use crate::merkle::Hash;
use crate::{Batch, Committed, Depth, Entry, Error, Event, Filter, Head, Page, Seal, Store};

#[async_trait]
impl Store for Embedded {
    fn describe(&self) -> String {
        format!("embedded ledger {}", self.path.display())
    }

    async fn commit(
        &self,
        batch: &mut Batch,
        seal: &mut (dyn Seal + Send),
    ) -> Result<Committed, Error> {
        self.commit_now(batch, seal)
    }

    fn index(&self, records: Vec<AuditRecord>) -> Result<(), Error> {
        self.index_now(records, false)
    }

    async fn audit_head(&self) -> Result<Head, Error> {
        self.caught_up().await
    }

    async fn audit_page(&self, from: u64, to: u64, limit: usize) -> Result<Page, Error> {
        self.read(move |txn| audit::page(txn, from, to, limit))
            .await
    }

    async fn audit_record(&self, seq: u64) -> Result<Option<AuditRecord>, Error> {
        self.read(move |txn| audit::record(txn, seq)).await
    }

    async fn audit_by_subject(
        &self,
        subject: &str,
        from: u64,
        below: u64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<AuditRecord>, Error> {
        let subject = subject.to_owned();
        self.read(move |txn| subjects::page(txn, &subject, from..below, limit, newest_first))
            .await
    }

    async fn audit_checkpoint_covering(&self, seq: u64) -> Result<Option<Checkpoint>, Error> {
        self.read(move |txn| audit::covering(txn, seq)).await
    }

    async fn audit_inclusion(&self, seq: u64, size: u64) -> Result<Vec<Hash>, Error> {
        let index = crate::entry_of(seq)?;
        self.read(move |txn| tree::inclusion(txn, index, size))
            .await
    }

    async fn audit_consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>, Error> {
        self.read(move |txn| tree::consistency(txn, first, second))
            .await
    }

    async fn audit_cosign(&self, seq: u64, witness: &str, line: &str) -> Result<(), Error> {
        let (witness, line) = (witness.to_owned(), line.to_owned());
        self.write(move |txn| tree::cosign(txn, seq, &witness, &line))
            .await
    }

    async fn audit_cosignatures(&self, seq: u64) -> Result<Vec<String>, Error> {
        self.read(move |txn| tree::cosignatures(txn, seq)).await
    }

    async fn audit_cosigned(&self, quorum: usize) -> Result<Option<u64>, Error> {
        self.read(move |txn| tree::cosigned(txn, quorum)).await
    }

    async fn audit_first(&self) -> Result<u64, Error> {
        let head = self.audit_head().await?.seq;
        self.read(move |txn| audit::first(txn, head)).await
    }

    async fn audit_remove(&self, upto: u64, limit: usize) -> Result<u64, Error> {
        let head = self.audit_head().await?.seq;
        self.remove_archived(upto, head, limit).await
    }

    async fn audit_seq_at(&self, micros: i64) -> Result<u64, Error> {
        let head = self.audit_head().await?.seq;
        self.read(move |txn| {
            let first = audit::first(txn, head)?;
            audit::seq_at(txn, micros, first, head)
        })
        .await
    }

    async fn dossier(&self, code: &str) -> Result<Option<Dossier>, Error> {
        let code = code.to_owned();
        self.read(move |txn| dossiers::get(txn, &code)).await
    }

    async fn dossiers(
        &self,
        after: &str,
        limit: usize,
        filter: &Filter,
    ) -> Result<(Vec<Dossier>, bool), Error> {
        let (after, filter) = (after.to_owned(), filter.clone());
        self.read(move |txn| dossiers::list(txn, &after, limit, &filter))
            .await
    }

    async fn dossier_facts(
        &self,
        month: Month,
        each: &mut (dyn FnMut(Dossier) + Send),
    ) -> Result<u64, Error> {
        // A page per read transaction: a long report holds no snapshot for long.
        let (mut after, mut seen) = (String::new(), 0);
        loop {
            let from = after.clone();
            let (page, more) = self
                .read(move |txn| facts::page(txn, month, &from, facts::PAGE))
                .await?;
            if let Some(last) = page.last() {
                after.clone_from(&last.dossier_code);
            }
            seen += page.len() as u64;
            page.into_iter().for_each(&mut *each);
            if !more {
                return Ok(seen);
            }
        }
    }

    async fn retire_dossiers(&self, stubs: &[Dossier]) -> Result<u64, Error> {
        let stubs = stubs.to_vec();
        self.write(move |txn| dossiers::retire(txn, &stubs)).await
    }

    async fn outbox(&self, after: u64, limit: usize) -> Result<Vec<Entry>, Error> {
        self.read(move |txn| dossiers::pending(txn, after, limit))
            .await
    }

    async fn outbox_depth(&self) -> Result<Depth, Error> {
        self.read(dossiers::depth).await
    }

    async fn dead_letters(&self) -> Result<Vec<(Entry, String)>, Error> {
        self.read(dossiers::dead_letters).await
    }

    async fn retry_dead(&self, code: Option<&str>) -> Result<u64, Error> {
        let code = code.map(str::to_owned);
        self.write(move |txn| dossiers::retry_dead(txn, code.as_deref()))
            .await
    }

    async fn inbound_cursor(&self) -> Result<String, Error> {
        self.read(inbound::cursor).await
    }

    async fn store_inbound(
        &self,
        dossiers: &[Dossier],
        cursor: &str,
    ) -> Result<(usize, u64), Error> {
        let (dossiers, cursor) = (dossiers.to_vec(), cursor.to_owned());
        let stored = self
            .write(move |txn| inbound::store(txn, &dossiers, &cursor))
            .await?;
        let _ = self.events.send(Event::Inbound(stored.1));
        Ok(stored)
    }

    async fn inbound(&self, after: u64, limit: usize) -> Result<Vec<(u64, Dossier)>, Error> {
        self.read(move |txn| inbound::after(txn, after, limit))
            .await
    }

    async fn inbound_head(&self) -> Result<u64, Error> {
        self.read(inbound::head).await
    }

    async fn claim(
        &self,
        owner: &str,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<Entry>, Error> {
        let (claims, owner) = (self.claims.clone(), owner.to_owned());
        self.read(move |txn| {
            claims
                .lock()
                .expect("claims")
                .claim(txn, &owner, lease, limit)
        })
        .await
    }

    async fn release(&self, owner: &str) -> Result<(), Error> {
        self.claims.lock().expect("claims").release(owner);
        Ok(())
    }

    async fn lease(
        &self,
        name: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, Error> {
        Ok(self
            .claims
            .lock()
            .expect("claims")
            .lease(name, owner, lease))
    }

    async fn announce(&self, event: Event) -> Result<(), Error> {
        let _ = self.events.send(event);
        Ok(())
    }

    fn events(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    async fn ping(&self) -> Result<(), Error> {
        Ok(())
    }

    async fn close(&self) -> Result<(), Error> {
        // The indexer stops; the records it has not written (or failed to) go to
        // redb now, which the settle makes durable.
        self.indexer.stop(&self.shared);
        self.index_now(Vec::new(), true)?;
        let mut journal = self.journal.lock().expect("journal");
        if let Some(journal) = &mut *journal {
            if journal.used() > 0 {
                settle(&*self.db()?)?;
                journal.restart();
            }
            // Every record is durable in redb: nothing in the journal is to be
            // replayed (not even records the ledger has since lost, whose loss
            // `audit verify` then shows).
            journal.clear()?;
        }
        Ok(())
    }
}
