//! The indicators of Decision 766/QĐ-TTg (2022) — the province's score for its
//! public services — computed from the dossiers that pass the gateway, per agency,
//! procedure and month of receipt in Vietnam time.
//!
//! Every figure is about a month's dossiers (its cohort): how many were received
//! and how many online; of them, how many have a result on time or late, are
//! still open within or past their due date (as of now), or ended without a
//! result; how many the portal holds at their latest revision, and how long the
//! oldest it does not has waited. The decision's own indicators are the rates:
//! "Tỷ lệ hồ sơ trực tuyến", "Tỷ lệ hồ sơ xử lý trước hạn, đúng hạn" (group
//! "Tiến độ, kết quả giải quyết"), "Tỷ lệ hồ sơ đồng bộ lên Cổng Dịch vụ công quốc
//! gia" (group "Công khai, minh bạch").
//!
//! The store hands over each dossier's report fields ([`lienthong_ledger::dossier::facts`],
//! no applicant in them) as it reads them; nothing else is read, nothing is held
//! but the tallies.

use std::collections::{BTreeMap, HashMap};

use lienthong_ledger::Store;
use lienthong_proto::Month;
use lienthong_proto::agency_code::acts_for;
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{Channel, Dossier, DossierStatus, IndicatorRow, Indicators};

pub mod board;

/// Where one dossier stands, as the indicators count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// A result (status 9 or 10) no later than its due date, or with none.
    OnTime,
    /// A result after its due date.
    Late,
    /// Open (1, 2, 4, 5, 6) and not past its due date.
    InProgress,
    /// Open and past its due date; a dossier waiting for papers is past due when
    /// they were asked for after its due date (its clock is stopped meanwhile).
    Overdue,
    /// Not accepted (3), withdrawn (7) or stopped (8).
    Ended,
}

fn seconds(t: Option<Timestamp>) -> Option<i64> {
    t.map(|t| t.seconds)
}

/// Where `d` stands `now` (Unix seconds).
pub fn standing(d: &Dossier, now: i64) -> Standing {
    use DossierStatus::*;
    let due = seconds(d.due_at);
    match DossierStatus::try_from(d.status).unwrap_or_default() {
        Processed | ResultReturned => {
            let resolved = seconds(d.completed_at.or(d.returned_at));
            match (resolved, due) {
                (Some(at), Some(due)) if at > due => Standing::Late,
                _ => Standing::OnTime,
            }
        }
        Rejected | Withdrawn | Stopped => Standing::Ended,
        status => {
            let as_of = match status {
                SupplementRequested => seconds(d.supplement_requested_at).unwrap_or(now),
                _ => now,
            };
            match due {
                Some(due) if due < as_of => Standing::Overdue,
                _ => Standing::InProgress,
            }
        }
    }
}

/// The counts of one row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Received.
    pub received: u64,
    /// Of them, online.
    pub online: u64,
    /// Each [`Standing`], in its order.
    pub on_time: u64,
    /// See [`Standing::Late`].
    pub late: u64,
    /// See [`Standing::InProgress`].
    pub in_progress: u64,
    /// See [`Standing::Overdue`].
    pub overdue: u64,
    /// See [`Standing::Ended`].
    pub ended: u64,
    /// Held by the portal at their latest revision.
    pub synced: u64,
    /// The earliest time (Unix seconds) a dossier not synchronised fell behind.
    pub unsynced_since: Option<i64>,
}

impl Tally {
    /// Counts `d` as of `now`.
    pub fn add(&mut self, d: &Dossier, now: i64) {
        self.received += 1;
        self.online += u64::from(d.channel == Channel::Online as i32);
        match standing(d, now) {
            Standing::OnTime => self.on_time += 1,
            Standing::Late => self.late += 1,
            Standing::InProgress => self.in_progress += 1,
            Standing::Overdue => self.overdue += 1,
            Standing::Ended => self.ended += 1,
        }
        let sync = d.sync.as_ref();
        if sync.is_some_and(|s| s.last_delivered_revision >= d.revision) {
            self.synced += 1;
        } else {
            let since = seconds(sync.and_then(|s| s.pending_since).or(d.received_at));
            self.unsynced_since = min(self.unsynced_since, since);
        }
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Tally) {
        self.received += other.received;
        self.online += other.online;
        self.on_time += other.on_time;
        self.late += other.late;
        self.in_progress += other.in_progress;
        self.overdue += other.overdue;
        self.ended += other.ended;
        self.synced += other.synced;
        self.unsynced_since = min(self.unsynced_since, other.unsynced_since);
    }

    /// The row of `agency` and `procedure` ("" for all), with its rates, `now`.
    pub fn row(&self, agency: &str, procedure: &str, now: i64) -> IndicatorRow {
        let rate = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        IndicatorRow {
            agency_code: agency.to_owned(),
            procedure_code: procedure.to_owned(),
            received: self.received,
            online: self.online,
            resolved_on_time: self.on_time,
            resolved_late: self.late,
            in_progress: self.in_progress,
            in_progress_overdue: self.overdue,
            ended_without_result: self.ended,
            synced: self.synced,
            oldest_unsynced_age_seconds: self
                .unsynced_since
                .map_or(0, |since| (now - since).max(0) as u64),
            online_rate: rate(self.online, self.received),
            on_time_rate: rate(self.on_time, self.on_time + self.late),
            sync_rate: rate(self.synced, self.received),
        }
    }
}

fn min(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The tallies of `month`'s dossiers of `agency` and the agencies below it (""
/// for all), by agency and procedure, as of `now` (Unix seconds).
pub async fn tally(
    store: &dyn Store,
    month: Month,
    agency: &str,
    now: i64,
) -> Result<BTreeMap<String, BTreeMap<String, Tally>>, lienthong_ledger::Error> {
    let mut tallies: HashMap<String, HashMap<String, Tally>> = HashMap::new();
    store
        .dossier_facts(month, &mut |d| {
            if !(agency.is_empty() || acts_for(agency, &d.agency_code)) {
                return;
            }
            let procedures = match tallies.get_mut(&d.agency_code) {
                Some(p) => p,
                None => tallies.entry(d.agency_code.clone()).or_default(),
            };
            match procedures.get_mut(&d.procedure_code) {
                Some(t) => t.add(&d, now),
                None => procedures
                    .entry(d.procedure_code.clone())
                    .or_default()
                    .add(&d, now),
            }
        })
        .await?;
    Ok(tallies
        .into_iter()
        .map(|(agency, procedures)| (agency, procedures.into_iter().collect()))
        .collect())
}

/// The indicators of `month` for `agency` and below ("" for all), as of `now`
/// (Unix seconds): a row per agency and procedure, each agency's own row after its
/// procedures, the total last.
pub async fn indicators(
    store: &dyn Store,
    month: Month,
    agency: &str,
    now: i64,
) -> Result<Indicators, lienthong_ledger::Error> {
    let tallies = tally(store, month, agency, now).await?;
    let mut rows = Vec::new();
    let mut total = Tally::default();
    for (agency, procedures) in &tallies {
        let mut sum = Tally::default();
        for (procedure, t) in procedures {
            rows.push(t.row(agency, procedure, now));
            sum.merge(t);
        }
        rows.push(sum.row(agency, "", now));
        total.merge(&sum);
    }
    rows.push(total.row("", "", now));
    Ok(Indicators {
        month: month.to_string(),
        computed_at: Some(Timestamp {
            seconds: now,
            nanos: 0,
        }),
        rows,
    })
}

#[cfg(test)]
mod tests;
