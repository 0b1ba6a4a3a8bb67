//! Searching the live log from the newest record back, a page at a time: through
//! the subject index when a citizen is asked for, otherwise by reading back in
//! windows, with a bound on how much one page may read (the next page goes on
//! from where it stopped).

use lienthong_ledger::{Item, Store};
use lienthong_proto::v1::{AuditRecord, Decision};
use lienthong_proto::{AgencyCode, PersonalId};

use super::pages::SearchForm;
use crate::policy::Operation;

/// Records a page shows.
const PAGE: usize = 50;
/// Records one page may read before it stops and offers the next.
const SCAN: u64 = 200_000;
/// Records read back at a time.
const WINDOW: u64 = 512;

/// What the records must match.
pub struct Filter {
    subject: String,
    agency: String,
    operation: String,
    decision: Option<Decision>,
    from: Option<i64>,
    to: Option<i64>,
    /// The form as given, for the next page's link.
    form: Vec<(&'static str, String)>,
}

/// A page of results.
pub struct Found {
    /// Newest first.
    pub records: Vec<AuditRecord>,
    /// Where the next page starts (records below it), if there may be one.
    pub next: Option<u64>,
    /// Whether the page stopped at the reading bound before filling up.
    pub scanned_out: bool,
}

/// The day `text` (`YYYY-MM-DD`) starts, and the next day starts, in Vietnam
/// time, as microseconds since the Unix epoch.
fn day(text: &str, field: &str) -> Result<(i64, i64), String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format)
        .map_err(|_| format!("{field}: “{text}” không phải một ngày (năm-tháng-ngày)"))?;
    let start = day_start(date);
    Ok((start, start + 86_400_000_000))
}

/// When `date` starts in Vietnam, in microseconds since the Unix epoch.
pub fn day_start(date: time::Date) -> i64 {
    let start = date.midnight().assume_offset(lienthong_proto::VIETNAM);
    (start.unix_timestamp_nanos() / 1_000) as i64
}

/// The time range of the days `from..=to` (either may be empty: open).
pub fn days(from: &str, to: &str) -> Result<(Option<i64>, Option<i64>), String> {
    let from = (!from.is_empty())
        .then(|| day(from, "Từ ngày"))
        .transpose()?;
    let to = (!to.is_empty()).then(|| day(to, "Đến ngày")).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && t.1 <= f.0
    {
        return Err("“Đến ngày” phải sau “Từ ngày”.".into());
    }
    Ok((from.map(|f| f.0), to.map(|t| t.1)))
}

impl Filter {
    /// The filter of a search form, or what is wrong with it.
    pub fn of(form: &SearchForm) -> Result<Filter, String> {
        let subject = form.subject.trim();
        if !subject.is_empty() {
            PersonalId::parse(subject).map_err(|e| format!("Số định danh không hợp lệ: {e}"))?;
        }
        let agency = form.agency.trim();
        if !agency.is_empty() {
            AgencyCode::parse(agency).map_err(|e| format!("Mã cơ quan không hợp lệ: {e}"))?;
        }
        if !form.operation.is_empty()
            && !Operation::ALL.iter().any(|op| op.name() == form.operation)
        {
            return Err("Thao tác không có trong danh sách.".into());
        }
        let decision = match form.decision.as_str() {
            "" => None,
            "granted" => Some(Decision::Granted),
            "denied" => Some(Decision::Denied),
            "invalid" => Some(Decision::Invalid),
            _ => return Err("Quyết định không có trong danh sách.".into()),
        };
        let (from, to) = days(&form.from, &form.to)?;
        Ok(Filter {
            subject: subject.to_owned(),
            agency: agency.to_owned(),
            operation: form.operation.clone(),
            decision,
            from,
            to,
            form: vec![
                ("subject", subject.to_owned()),
                ("agency", agency.to_owned()),
                ("operation", form.operation.clone()),
                ("decision", form.decision.clone()),
                ("from", form.from.clone()),
                ("to", form.to.clone()),
            ],
        })
    }

    fn keeps(&self, r: &AuditRecord) -> bool {
        (self.subject.is_empty() || r.subject_personal_id == self.subject)
            && (self.agency.is_empty() || r.agency_code == self.agency)
            && (self.operation.is_empty() || r.operation == self.operation)
            && self.decision.is_none_or(|d| r.decision == d as i32)
    }

    /// The filter as its audit record keeps it.
    pub fn summary(&self) -> String {
        let set: Vec<String> = self
            .form
            .iter()
            .filter(|(name, value)| *name != "subject" && !value.is_empty())
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        set.join(" ")
    }

    /// The query string of the page of records below `before`.
    pub fn query(&self, before: u64) -> String {
        let before = before.to_string();
        let pairs: Vec<(&str, &str)> = self
            .form
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (*name, value.as_str()))
            .chain([("before", before.as_str())])
            .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// The newest records matching `filter` below `before` (the head when `None`).
pub async fn run(
    store: &dyn Store,
    filter: &Filter,
    before: Option<u64>,
) -> Result<Found, lienthong_ledger::Error> {
    let head = store.audit_head().await?.seq;
    let mut lo = store.audit_first().await?;
    if let Some(from) = filter.from {
        lo = lo.max(store.audit_seq_at(from).await?);
    }
    let mut below = before.unwrap_or(u64::MAX).min(head.saturating_add(1));
    if let Some(to) = filter.to {
        below = below.min(store.audit_seq_at(to).await?);
    }
    let mut records = Vec::new();
    let mut read = 0u64;
    while records.len() < PAGE && below > lo && read < SCAN {
        if filter.subject.is_empty() {
            let start = below.saturating_sub(WINDOW).max(lo);
            let page = store.audit_page(start, below - 1, WINDOW as usize).await?;
            let window: Vec<AuditRecord> = page
                .items
                .into_iter()
                .filter_map(|item| match item {
                    Item::Record(r) if r.seq < below => Some(r),
                    _ => None,
                })
                .collect();
            read += window.len() as u64;
            below = start;
            for r in window.into_iter().rev() {
                if records.len() == PAGE {
                    below = r.seq + 1;
                    break;
                }
                if filter.keeps(&r) {
                    records.push(r);
                }
            }
        } else {
            let page = store
                .audit_by_subject(&filter.subject, lo, below, PAGE, true)
                .await?;
            if page.is_empty() {
                below = lo;
            }
            for r in page {
                read += 1;
                below = r.seq;
                if filter.keeps(&r) {
                    records.push(r);
                    if records.len() == PAGE {
                        break;
                    }
                }
            }
        }
    }
    Ok(Found {
        records,
        next: (below > lo).then_some(below),
        scanned_out: read >= SCAN,
    })
}

#[cfg(test)]
mod tests;
