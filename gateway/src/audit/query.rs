//! Reading the log for inspectors: filtered queries and sealed exports, the same
//! whether `AuditService` serves them or the CLI reads a stopped gateway's ledger.

use std::collections::VecDeque;
use std::sync::Arc;

use lienthong_ledger::{Store, Walk};
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{AuditRecord, QueryAuditRequest};

use super::record::micros;
use super::{Item, Signer};
use crate::Error;

/// Records `from_seq..=to_seq` (0 = open) narrowed to times `[from, to)`; records
/// are appended in time order, so a time bound is a sequence bound.
pub async fn range(
    store: &dyn Store,
    from_seq: u64,
    to_seq: u64,
    from: Option<&Timestamp>,
    to: Option<&Timestamp>,
) -> Result<(u64, u64), Error> {
    let mut lo = from_seq.max(1);
    let mut hi = if to_seq == 0 {
        store.audit_head().await.map_err(Error::audit)?.seq
    } else {
        to_seq
    };
    if let Some(f) = from {
        let at = store.audit_seq_at(micros(Some(f))).await;
        lo = lo.max(at.map_err(Error::audit)?);
    }
    if let Some(t) = to {
        let at = store.audit_seq_at(micros(Some(t))).await;
        hi = hi.min(at.map_err(Error::audit)?.saturating_sub(1));
    }
    Ok((lo, hi))
}

/// True when `r` matches every filter of `req`.
pub fn matches(req: &QueryAuditRequest, r: &AuditRecord) -> bool {
    (req.subject_personal_id.is_empty() || r.subject_personal_id == req.subject_personal_id)
        && (req.agency_code.is_empty() || r.agency_code == req.agency_code)
        && (req.operation.is_empty() || r.operation == req.operation)
}

/// The records of a query, in order, a page at a time: the archived ones first,
/// when the query is given the archives.
pub struct Query {
    archived: Option<super::archive::read::Records>,
    /// The live records, read in order (no subject asked for)…
    walk: Walk,
    /// …or found through the subject index, from this number on.
    store: Arc<dyn Store>,
    next_seq: u64,
    req: QueryAuditRequest,
    /// The last record the query may return.
    hi: u64,
    sent: u32,
    ready: VecDeque<AuditRecord>,
    done: bool,
}

impl Query {
    /// The records up to `upto` (0: the head) matching every filter of `req`, in
    /// the archives of `archives` and the live store.
    pub async fn start(
        store: Arc<dyn Store>,
        req: QueryAuditRequest,
        upto: u64,
        archives: Option<&std::path::Path>,
    ) -> Result<Query, Error> {
        let archived = archives
            .map(|dir| {
                super::archive::read::Records::new(
                    dir,
                    req.after_seq.saturating_add(1),
                    upto,
                    req.from.as_ref().map(|t| micros(Some(t))),
                    req.to.as_ref().map(|t| micros(Some(t))),
                )
            })
            .transpose()?;
        let archived_up_to = archived.as_ref().map_or(0, |a| a.last());
        let (lo, hi) = range(
            &*store,
            req.after_seq.max(archived_up_to).saturating_add(1),
            upto,
            req.from.as_ref(),
            req.to.as_ref(),
        )
        .await?;
        Ok(Query {
            archived,
            walk: Walk::new(store.clone(), lo, hi.max(lo)),
            store,
            next_seq: lo,
            done: hi < lo,
            req,
            hi,
            sent: 0,
            ready: VecDeque::new(),
        })
    }

    /// The next matching record, or `None` at the end (or the request's limit).
    pub async fn next(&mut self) -> Result<Option<AuditRecord>, Error> {
        loop {
            if self.req.limit != 0 && self.sent >= self.req.limit {
                return Ok(None);
            }
            if let Some(r) = self.ready.pop_front() {
                self.sent += 1;
                return Ok(Some(r));
            }
            if let Some(archived) = self.archived.take() {
                if let Some((records, rest)) = archived.page().await? {
                    let req = &self.req;
                    self.ready
                        .extend(records.into_iter().filter(|r| matches(req, r)));
                    self.archived = Some(rest);
                }
                continue;
            }
            if self.done {
                return Ok(None);
            }
            // A citizen's records come from the subject index, not the whole log.
            if !self.req.subject_personal_id.is_empty() {
                const PAGE: usize = 512;
                let page = self
                    .store
                    .audit_by_subject(
                        &self.req.subject_personal_id,
                        self.next_seq,
                        self.hi.saturating_add(1),
                        PAGE,
                        false,
                    )
                    .await
                    .map_err(Error::audit)?;
                self.done = page.len() < PAGE;
                if let Some(last) = page.last() {
                    self.next_seq = last.seq + 1;
                }
                let req = &self.req;
                self.ready
                    .extend(page.into_iter().filter(|r| matches(req, r)));
                continue;
            }
            match self.walk.page().await.map_err(Error::audit)? {
                None => self.done = true,
                Some(items) => {
                    for item in items {
                        let Item::Record(r) = item else { continue };
                        if r.seq > self.hi {
                            self.done = true;
                            break;
                        }
                        if matches(&self.req, &r) {
                            self.ready.push_back(r);
                        }
                    }
                }
            }
        }
    }
}

/// Records `lo..=hi` with the checkpoints among them, then a checkpoint that the
/// signer signs at the end over the last record (the seal an export ends with).
pub struct Export {
    walk: Walk,
    hi: u64,
    /// The last record handed out: what the seal signs.
    last: Option<(u64, Vec<u8>)>,
    ready: VecDeque<Item>,
    done: bool,
}

impl Export {
    /// An export of records `lo..=hi` of `store`.
    pub fn new(store: Arc<dyn Store>, lo: u64, hi: u64) -> Export {
        Export {
            walk: Walk::new(store, lo, hi.max(lo)),
            hi,
            last: None,
            ready: VecDeque::new(),
            done: hi < lo,
        }
    }

    /// The next item; after the last one, the seal signed by `signer`; then `None`.
    pub async fn next(&mut self, signer: &Signer) -> Result<Option<Item>, Error> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                if let Item::Record(r) = &item {
                    self.last = Some((r.seq, r.hash.clone()));
                }
                return Ok(Some(item));
            }
            if self.done {
                let seal = self.last.take().map(|(seq, hash)| {
                    Item::Checkpoint(signer.sign(seq, &hash, crate::clock::now_micros()))
                });
                return Ok(seal);
            }
            match self.walk.page().await.map_err(Error::audit)? {
                None => self.done = true,
                Some(items) => {
                    for item in items {
                        if matches!(&item, Item::Record(r) if r.seq > self.hi) {
                            self.done = true;
                            break;
                        }
                        self.ready.push_back(item);
                    }
                }
            }
        }
    }
}
