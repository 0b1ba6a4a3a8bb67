//! Dossier changes and their outbox, as every store applies them: the rules a
//! change follows (optimistic concurrency, the status machine), what a delivery
//! outcome does to a dossier's sync state, and what a requeue resets. Stores keep
//! the bytes; these functions decide what the bytes become.

use lienthong_proto::agency_code::acts_for;
use lienthong_proto::dossier_status;
use lienthong_proto::month::Month;
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{Dossier, DossierStatus, DossierStep, SyncState, SyncStatus};

/// A change to the dossiers.
#[derive(Debug, Clone)]
pub enum Change {
    /// A dossier received in the province (validated at the edge).
    Submit(Box<Dossier>),
    /// A status change.
    Update {
        /// Which dossier.
        code: String,
        /// To what.
        status: DossierStatus,
        /// The revision the caller last saw.
        expected_revision: u64,
        /// When it happened.
        at: Timestamp,
        /// A new appointment date, later than the current one; with `status`
        /// unchanged, the whole change.
        due_at: Option<Timestamp>,
        /// The officer who made it.
        handler: String,
        /// What was done, in their words.
        note: String,
    },
}

impl Change {
    /// The dossier it changes.
    pub fn code(&self) -> &str {
        match self {
            Change::Submit(d) => &d.dossier_code,
            Change::Update { code, .. } => code,
        }
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Submitted twice.
    #[error("dossier {0} already exists")]
    Exists(String),
    /// No such dossier.
    #[error("no dossier {0}")]
    NotFound(String),
    /// Someone changed it since the caller looked.
    #[error("dossier {code} is at revision {current}, not {expected}: read it again")]
    StaleRevision {
        /// Which dossier.
        code: String,
        /// The revision the caller expected.
        expected: u64,
        /// The revision it has.
        current: u64,
    },
    /// The status machine does not allow it.
    #[error("dossier {code} cannot go from {} ({}) to {} ({})", *.from as i32, dossier_status::vietnamese(*.from), *.to as i32, dossier_status::vietnamese(*.to))]
    IllegalTransition {
        /// Which dossier.
        code: String,
        /// Its status.
        from: DossierStatus,
        /// The status asked for.
        to: DossierStatus,
    },
    /// A new appointment date that is not later than the one the dossier has.
    #[error(
        "dossier {code} is due at {current} (Unix seconds); a new date must be later, not {asked}"
    )]
    DueNotLater {
        /// Which dossier.
        code: String,
        /// Its due date.
        current: i64,
        /// The date asked for.
        asked: i64,
    },
}

/// A change's result: the dossier as stored, or why it was refused.
pub type Applied = Result<Dossier, Refusal>;

/// One entry of the outbox: a dossier as it was at one revision, to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its place in the outbox.
    pub seq: u64,
    /// When it was queued (µs since the Unix epoch).
    pub queued_at: i64,
    /// The dossier at that revision (without its sync state).
    pub dossier: Dossier,
}

impl Entry {
    /// The dossier's code.
    pub fn code(&self) -> &str {
        &self.dossier.dossier_code
    }

    /// The revision to deliver.
    pub fn revision(&self) -> u64 {
        self.dossier.revision
    }
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The portal holds the revision (new or a redelivery): the entry leaves the
    /// outbox.
    Delivered,
    /// It failed in a way that may pass later: the entry stays.
    Retry {
        /// Attempts so far.
        attempts: u32,
        /// Why.
        error: String,
    },
    /// The portal refused it for good: it goes to the dead letters with the reason.
    Dead {
        /// The portal's reason.
        reason: String,
    },
}

/// Which dossiers a listing wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Dossiers of this agency or of codes below it ("" for all).
    pub owner: String,
    /// Only this status (0 for any).
    pub status: i32,
    /// Only this procedure ("" for any).
    pub procedure_code: String,
    /// Received at or after this time (Unix seconds).
    pub received_from: Option<i64>,
    /// Received before this time (Unix seconds).
    pub received_to: Option<i64>,
}

impl Filter {
    /// True when `d` is wanted.
    pub fn matches(&self, d: &Dossier) -> bool {
        let received = d.received_at.as_ref().map_or(0, |t| t.seconds);
        (self.owner.is_empty() || acts_for(&self.owner, &d.agency_code))
            && (self.status == 0 || d.status == self.status)
            && (self.procedure_code.is_empty() || d.procedure_code == self.procedure_code)
            && self.received_from.is_none_or(|f| received >= f)
            && self.received_to.is_none_or(|t| received < t)
    }
}

fn pending(last_delivered_revision: u64, since: Timestamp) -> Option<SyncState> {
    Some(SyncState {
        status: SyncStatus::Pending as i32,
        attempts: 0,
        last_error: String::new(),
        last_delivered_revision,
        pending_since: Some(since),
    })
}

/// What reports read of a dossier (the QĐ 766 indicators): its codes, channel,
/// status, dates, revision and how far the portal has it; nothing that names its
/// applicant. Every store keeps them beside the dossier, by [`month_of`], rewritten
/// with every change and delivery; archiving the dossier leaves them as they were.
pub fn facts(d: &Dossier) -> Dossier {
    Dossier {
        dossier_code: d.dossier_code.clone(),
        procedure_code: d.procedure_code.clone(),
        agency_code: d.agency_code.clone(),
        channel: d.channel,
        status: d.status,
        received_at: d.received_at,
        due_at: d.due_at,
        completed_at: d.completed_at,
        returned_at: d.returned_at,
        supplement_requested_at: d.supplement_requested_at,
        revision: d.revision,
        sync: d.sync.as_ref().map(|s| SyncState {
            last_delivered_revision: s.last_delivered_revision,
            pending_since: s.pending_since,
            ..SyncState::default()
        }),
        ..Dossier::default()
    }
}

/// The month of receipt under which a dossier's [`facts`] are kept: `202611`.
pub fn month_of(d: &Dossier) -> u32 {
    Month::of(d.received_at.map_or(0, |t| t.seconds)).key()
}

fn timestamp(micros: i64) -> Timestamp {
    Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// Whether `current` may give way to its archived `stub`: closed (a final status,
/// every revision delivered), at the stub's revision, not archived yet.
pub fn retirable(current: &Dossier, stub: &Dossier) -> bool {
    let status = DossierStatus::try_from(current.status).unwrap_or_default();
    dossier_status::is_final(status)
        && current.sync.as_ref().map(|s| s.last_delivered_revision) == Some(current.revision)
        && current.revision == stub.revision
        && current.archived_in.is_empty()
        && !stub.archived_in.is_empty()
        && current.dossier_code == stub.dossier_code
}

/// The dossier after `change`, given what is stored (`current`), or why not;
/// `now` (µs since the Unix epoch) is when the gateway accepts it.
pub fn next(change: &Change, current: Option<Dossier>, now: i64) -> Applied {
    match (change, current) {
        (Change::Submit(d), Some(_)) => Err(Refusal::Exists(d.dossier_code.clone())),
        (Change::Submit(d), None) => Ok(Dossier {
            revision: 1,
            sync: pending(0, timestamp(now)),
            ..(**d).clone()
        }),
        (Change::Update { code, .. }, None) => Err(Refusal::NotFound(code.clone())),
        (
            Change::Update {
                code,
                status,
                expected_revision,
                at,
                due_at,
                handler,
                note,
            },
            Some(d),
        ) => {
            if d.revision != *expected_revision {
                return Err(Refusal::StaleRevision {
                    code: code.clone(),
                    expected: *expected_revision,
                    current: d.revision,
                });
            }
            let from = DossierStatus::try_from(d.status).unwrap_or_default();
            // The same status with a new appointment date is a new date alone.
            let rescheduled =
                from == *status && due_at.is_some() && !dossier_status::is_final(from);
            if !rescheduled && !dossier_status::allowed(from, *status) {
                return Err(Refusal::IllegalTransition {
                    code: code.clone(),
                    from,
                    to: *status,
                });
            }
            // A dossier held back by a dead letter stays so until an operator acts.
            // The portal falls behind now, unless it already was.
            let sync = match d.sync.clone() {
                Some(s) if s.status == SyncStatus::Dead as i32 => Some(s),
                s => {
                    let delivered = s.as_ref().map_or(0, |s| s.last_delivered_revision);
                    let since = s
                        .and_then(|s| s.pending_since)
                        .filter(|_| delivered < d.revision);
                    pending(delivered, since.unwrap_or_else(|| timestamp(now)))
                }
            };
            if let Some(due) = due_at {
                let current = d.due_at.map_or(i64::MIN, |t| t.seconds);
                if due.seconds <= current {
                    return Err(Refusal::DueNotLater {
                        code: code.clone(),
                        current,
                        asked: due.seconds,
                    });
                }
            }
            let mut next = Dossier {
                status: *status as i32,
                revision: d.revision + 1,
                sync,
                due_at: due_at.or(d.due_at),
                step: Some(DossierStep {
                    handler: handler.clone(),
                    note: note.clone(),
                    at: Some(*at),
                }),
                ..d
            };
            if rescheduled {
                return Ok(next);
            }
            // The deadline's clock stops while papers are asked for.
            if *status == DossierStatus::SupplementRequested {
                next.supplement_requested_at = Some(*at);
            } else if let Some(since) = next.supplement_requested_at.take()
                && due_at.is_none()
                && let Some(due) = next.due_at
            {
                let calendar = lienthong_proto::calendar::current();
                next.due_at = Some(calendar.later(due, calendar.elapsed(since, *at)));
            }
            match status {
                DossierStatus::Processed
                | DossierStatus::Rejected
                | DossierStatus::Withdrawn
                | DossierStatus::Stopped => next.completed_at = Some(*at),
                DossierStatus::ResultReturned => next.returned_at = Some(*at),
                _ => {}
            }
            Ok(next)
        }
    }
}

/// The outbox snapshot of a stored dossier: without its sync state.
pub fn snapshot(d: &Dossier) -> Dossier {
    Dossier {
        sync: None,
        ..d.clone()
    }
}

/// What `outcome` for `entry` does to the dossier's sync state.
pub fn delivered(dossier: &mut Dossier, entry: &Entry, outcome: &Outcome) {
    let mut sync = dossier.sync.take().unwrap_or_default();
    match outcome {
        Outcome::Delivered => {
            sync.last_delivered_revision = sync.last_delivered_revision.max(entry.revision());
            sync.attempts = 0;
            sync.last_error.clear();
            sync.status = if sync.last_delivered_revision >= dossier.revision {
                sync.pending_since = None;
                SyncStatus::Delivered
            } else {
                SyncStatus::Pending
            } as i32;
        }
        Outcome::Retry { attempts, error } => {
            sync.attempts = *attempts;
            sync.last_error.clone_from(error);
        }
        Outcome::Dead { reason } => {
            sync.status = SyncStatus::Dead as i32;
            sync.last_error.clone_from(reason);
        }
    }
    dossier.sync = Some(sync);
}

/// A dossier whose dead letters were requeued: pending again.
pub fn requeued(dossier: &mut Dossier) {
    let mut sync = dossier.sync.take().unwrap_or_default();
    sync.status = SyncStatus::Pending as i32;
    sync.attempts = 0;
    sync.last_error.clear();
    dossier.sync = Some(sync);
}
