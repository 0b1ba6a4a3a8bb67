//! Reading the audit log in order, a page at a time, whatever the store: what
//! queries, verification and exports are built on.

use std::sync::Arc;

use lienthong_proto::v1::{AuditRecord, Checkpoint};

use crate::{Error, Item, Page, Store};

/// Records read per page.
pub const PAGE: usize = 512;

/// A walk over records `from..=to` (`to` = 0: to the end) and their checkpoints.
pub struct Walk {
    store: Arc<dyn Store>,
    next: Option<u64>,
    to: u64,
}

impl Walk {
    /// A walk of `store` from record `from` (0 or 1: the start).
    pub fn new(store: Arc<dyn Store>, from: u64, to: u64) -> Walk {
        Walk {
            store,
            next: Some(from.max(1)),
            to,
        }
    }

    /// The next page of items, or `None` at the end.
    pub async fn page(&mut self) -> Result<Option<Vec<Item>>, Error> {
        let Some(from) = self.next else {
            return Ok(None);
        };
        if self.to != 0 && from > self.to {
            self.next = None;
            return Ok(None);
        }
        let page = self.store.audit_page(from, self.to, PAGE).await?;
        self.next = page.next;
        if page.items.is_empty() && self.next.is_none() {
            return Ok(None);
        }
        Ok(Some(page.items))
    }

    /// Hands `f` every item in order until it returns false.
    pub async fn each(mut self, mut f: impl FnMut(Item) -> bool) -> Result<(), Error> {
        while let Some(items) = self.page().await? {
            for item in items {
                if !f(item) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// Where the page after `records` (read up to `limit` from a range ending at `to`,
/// `u64::MAX` for the end) starts, if there may be one; and up to which number its
/// checkpoints belong to this page: its last record, or the range's end when it is
/// the last page (so that checkpoints beyond a cut tail show).
pub(crate) fn bounds(records: &[AuditRecord], limit: usize, to: u64) -> (Option<u64>, u64) {
    let full = records.len() == limit && limit > 0;
    let last = records.last().map(|r| r.seq);
    let next = if full { last.map(|s| s + 1) } else { None };
    let upto = if full { last.unwrap_or(to) } else { to };
    (next, upto)
}

/// A page of `records` with the `checkpoints` signed in them, each right after the
/// record it signs; one whose record never came (a gap) before the next record,
/// and those past the last record at the end.
pub(crate) fn assemble(
    records: Vec<AuditRecord>,
    checkpoints: Vec<Checkpoint>,
    next: Option<u64>,
) -> Page {
    let mut signed = checkpoints.into_iter().peekable();
    let mut items = Vec::with_capacity(records.len() + 2);
    for r in records {
        let seq = r.seq;
        while let Some(c) = signed.next_if(|c| c.seq < seq) {
            items.push(Item::Checkpoint(c));
        }
        items.push(Item::Record(r));
        while let Some(c) = signed.next_if(|c| c.seq == seq) {
            items.push(Item::Checkpoint(c));
        }
    }
    items.extend(signed.map(Item::Checkpoint));
    Page { items, next }
}
