//! Reading archived records for queries: the archives of a directory in log
//! order, a page at a time, off the async runtime.

use std::collections::VecDeque;
use std::path::Path;

use lienthong_proto::v1::AuditRecord;

use super::files::{self, Archive, Reader};
use crate::Error;
use crate::audit::Item;
use crate::audit::record::micros;

/// Records read per page.
const PAGE: usize = 512;

/// The archived records numbered `from..=to` appended in `[after, before)`.
pub struct Records {
    files: VecDeque<Archive>,
    reader: Option<Reader>,
    from: u64,
    to: u64,
    after: Option<i64>,
    before: Option<i64>,
}

impl Records {
    /// The archived records of `dir` numbered `from..=to` (0: to the end) appended
    /// at or after `after` and before `before` (µs since the epoch).
    pub fn new(
        dir: &Path,
        from: u64,
        to: u64,
        after: Option<i64>,
        before: Option<i64>,
    ) -> Result<Records, Error> {
        let to = if to == 0 { u64::MAX } else { to };
        let files = files::list(dir)?
            .into_iter()
            .filter(|a| a.last >= from && a.first <= to)
            .collect();
        Ok(Records {
            files,
            reader: None,
            from,
            to,
            after,
            before,
        })
    }

    /// The last record the archives hold, by their names (0 when none).
    pub fn last(&self) -> u64 {
        self.files.back().map_or(0, |a| a.last)
    }

    /// The next page of records, and the rest to read; `None` once every archive
    /// was read.
    pub async fn page(mut self) -> Result<Option<(Vec<AuditRecord>, Records)>, Error> {
        super::background::run(move || Ok(self.read_page()?.map(|page| (page, self)))).await
    }

    fn read_page(&mut self) -> Result<Option<Vec<AuditRecord>>, Error> {
        let mut page = Vec::new();
        while page.len() < PAGE {
            let reader = match &mut self.reader {
                Some(r) => r,
                None => match self.files.pop_front() {
                    Some(a) => self.reader.insert(Reader::open(&a.path)?),
                    None => break,
                },
            };
            match reader.next_item()? {
                None => self.reader = None,
                Some(Item::Checkpoint(_)) => {}
                Some(Item::Record(r)) => {
                    let at = micros(r.at.as_ref());
                    if r.seq > self.to || self.before.is_some_and(|b| at >= b) {
                        self.files.clear();
                        self.reader = None;
                        break;
                    }
                    if r.seq >= self.from && self.after.is_none_or(|a| at >= a) {
                        page.push(r);
                    }
                }
            }
        }
        Ok((!page.is_empty() || self.reader.is_some() || !self.files.is_empty()).then_some(page))
    }
}
