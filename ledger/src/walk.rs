//! Reading the audit log in order, a page at a time, whatever the store: what
//! queries, verification and exports are built on.

use std::sync::Arc;

use crate::{Error, Item, Store};

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
