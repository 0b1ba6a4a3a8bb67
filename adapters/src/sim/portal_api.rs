//! The National Public Service Portal's integration API, simulated as a real HTTP
//! server ([`crate::portal::wire`]): login with the unit's code for a session that
//! expires, one integration endpoint whose `service` names the operation, quotas
//! and maintenance windows answered with `Retry-After` ([`server`]), and the
//! portal's validation of every item of a batch ([`services`]).
//!
//! Like the real portal it keeps no revision: the last write of a dossier wins,
//! and every progress entry sent is appended. What it counts ([`Stats`]) shows
//! whether a client kept its order and idempotency: a progress entry it already
//! held (`duplicates`), or one whose status the status machine does not allow from
//! the one before (`out_of_order`), is taken and counted, never refused.
//!
//! The portal's state ([`Portal`]) outlives a server, so the simulator can be stopped
//! and started again like the real thing; with a record file, every write is
//! appended to it as a JSON line, and a new process replays it. Dossiers submitted
//! online are held from their submission on, as the portal holds them, and the feed
//! publishes them as held.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use lienthong_proto::v1::DossierStatus;
use lienthong_proto::{DossierCode, PersonalId};
use serde::{Deserialize, Serialize};

use super::{citizens, today};
use crate::national::format_stamp;
use crate::portal::schema::{HoSo, HoSoTrucTuyen, TienDo};

mod catalogue;
mod server;
mod services;

pub use catalogue::PROCEDURES;
pub use server::{Rules, Server};

/// What the portal has seen (`GET /sim/stats`, for tests and operators of the
/// simulator; not part of the portal's API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Progress entries appended.
    pub accepted: u64,
    /// Progress entries equal to the dossier's last one (a redelivery that reached
    /// the portal; equal entries apart are a dossier's steps that look alike).
    pub duplicates: u64,
    /// Progress entries whose status the status machine does not allow from the
    /// dossier's last one (a revision written out of order, or over a later one).
    pub out_of_order: u64,
    /// Items refused (invalid, a create of a held dossier, an update of an unknown
    /// one).
    pub rejected: u64,
    /// Dossier records written (`DongBoHoSoMC` items taken).
    pub writes: u64,
    /// Dossiers held.
    pub dossiers: u64,
    /// Calls refused for a used-up quota.
    pub quota_refusals: u64,
    /// Calls refused for an expired or unknown session.
    pub expired_sessions: u64,
}

/// One line of the record file.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Event {
    /// A dossier record written.
    HoSo(HoSo),
    /// A progress entry appended.
    TienDo(TienDo),
    /// A dossier submitted online.
    TrucTuyen(HoSo),
}

#[derive(Default)]
struct State {
    /// Dossier code → the record held, with its progress entries.
    held: HashMap<String, HoSo>,
    /// Applicant's name as received → dossier codes: the portal's search, which
    /// matches the stored text as it is (as a database index does).
    by_applicant: HashMap<String, Vec<String>>,
    stats: Stats,
    /// Dossiers submitted online, in feed order (the cursor is the index + 1).
    online: Vec<String>,
}

impl State {
    /// Applies `event` (taken, or replayed from the record).
    fn apply(&mut self, event: Event) {
        match event {
            Event::HoSo(mut h) | Event::TrucTuyen(mut h) => {
                let codes = self
                    .by_applicant
                    .entry(h.applicant_name.clone())
                    .or_default();
                if !codes.contains(&h.dossier_code) {
                    codes.push(h.dossier_code.clone());
                }
                // Progress comes by its own service only.
                h.progress = self
                    .held
                    .get_mut(&h.dossier_code)
                    .map(|before| std::mem::take(&mut before.progress))
                    .unwrap_or_default();
                self.held.insert(h.dossier_code.clone(), h);
                self.stats.writes += 1;
            }
            Event::TienDo(step) => {
                let Some(h) = self.held.get_mut(&step.dossier_code) else {
                    return;
                };
                if h.progress.last() == Some(&step) {
                    self.stats.duplicates += 1;
                }
                if let Some(last) = h.progress.last() {
                    let status = |n| DossierStatus::try_from(n).unwrap_or_default();
                    let (from, to) = (status(last.status), status(step.status));
                    if from != to && !lienthong_proto::dossier_status::allowed(from, to) {
                        self.stats.out_of_order += 1;
                    }
                }
                h.progress.push(step);
                self.stats.accepted += 1;
            }
        }
    }
}

/// The portal's state: what it holds, what it counted, its online feed.
pub struct Portal {
    state: Mutex<State>,
    /// Every write, one JSON line each.
    record: Option<Mutex<File>>,
    /// What the server enforces.
    rules: Mutex<Rules>,
}

impl Portal {
    /// A portal that keeps its state in memory only.
    pub fn new() -> Arc<Portal> {
        Arc::new(Portal {
            state: Mutex::default(),
            record: None,
            rules: Mutex::default(),
        })
    }

    /// A portal recording to `path`, after replaying what the file already holds.
    pub fn open(path: &Path) -> std::io::Result<Arc<Portal>> {
        let mut state = State::default();
        if let Ok(file) = File::open(path) {
            for line in BufReader::new(file).lines() {
                let event: Event = serde_json::from_str(&line?).map_err(std::io::Error::other)?;
                if let Event::TrucTuyen(h) = &event {
                    state.online.push(h.dossier_code.clone());
                }
                state.apply(event);
            }
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        // The simulated portal's record holds applicants' names: owner-only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path)?;
        Ok(Arc::new(Portal {
            state: Mutex::new(state),
            record: Some(Mutex::new(file)),
            rules: Mutex::default(),
        }))
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        let state = self.state.lock().expect("portal state");
        Stats {
            dossiers: state.held.len() as u64,
            ..state.stats
        }
    }

    /// Counts what `count` adds to the stats.
    fn count(&self, count: impl FnOnce(&mut Stats)) {
        count(&mut self.state.lock().expect("portal state").stats);
    }

    /// What the server enforces: session lifetime, quota, maintenance.
    pub fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().expect("portal rules")
    }

    /// The dossiers whose applicant's name is exactly `name` (the portal's
    /// search: text it was sent in another normal form is not found).
    pub fn search_applicant(&self, name: &str) -> Vec<String> {
        let state = self.state.lock().expect("portal state");
        state.by_applicant.get(name).cloned().unwrap_or_default()
    }

    /// The dossier `code` as held, with its progress entries.
    pub fn dossier(&self, code: &str) -> Option<HoSo> {
        self.state
            .lock()
            .expect("portal state")
            .held
            .get(code)
            .cloned()
    }

    /// How many steps of `code` the portal holds: a client that appends one per
    /// revision, each once, has delivered this revision.
    pub fn revision(&self, code: &str) -> Option<u64> {
        self.dossier(code).map(|h| h.progress.len() as u64)
    }

    /// Writes `events` to the record, then applies them.
    fn take(&self, state: &mut State, events: Vec<Event>) -> std::io::Result<()> {
        if let Some(record) = &self.record {
            let mut lines = String::new();
            for event in &events {
                lines.push_str(&serde_json::to_string(event).expect("plain data"));
                lines.push('\n');
            }
            let mut file = record.lock().expect("record file");
            file.write_all(lines.as_bytes())?;
            file.flush()?;
        }
        for event in events {
            state.apply(event);
        }
        Ok(())
    }

    /// `n` citizens submit dossiers online to `agency` today; returns them as the
    /// portal holds them.
    pub fn submit_online(&self, agency: &str, n: usize) -> Vec<HoSo> {
        let mut state = self.state.lock().expect("portal state");
        let now = time::OffsetDateTime::now_utc();
        let date = now.to_offset(lienthong_proto::VIETNAM).date();
        let mut made = Vec::with_capacity(n);
        for _ in 0..n {
            let serial = state.online.len() + 1;
            let procedure = &PROCEDURES[serial % PROCEDURES.len()];
            let applicant = applicant(serial);
            let h = HoSo {
                dossier_code: DossierCode::compose(agency, date, 900_000 + serial as u32),
                procedure_code: procedure.code.into(),
                procedure_name: procedure.name.into(),
                field_code: procedure.field.0.into(),
                field_name: procedure.field.1.into(),
                applicant_name: applicant.full_name,
                applicant_kind: "1".into(),
                applicant_code: applicant.personal_id,
                applicant_nationality: String::new(),
                agency_code: agency.into(),
                channel: 2,
                status: DossierStatus::Registered as i32,
                received_at: format_stamp(now),
                due_at: String::new(),
                completed_at: String::new(),
                returned_at: String::new(),
                supplements: Vec::new(),
                progress: Vec::new(),
            };
            let step = TienDo {
                dossier_code: h.dossier_code.clone(),
                handler: h.applicant_name.clone(),
                title: String::new(),
                at: h.received_at.clone(),
                department: String::new(),
                content: "Nộp hồ sơ trực tuyến".into(),
                status: h.status,
                started_at: String::new(),
                due_at: String::new(),
            };
            let events = vec![Event::TrucTuyen(h.clone()), Event::TienDo(step)];
            if self.take(&mut state, events).is_err() {
                break;
            }
            state.online.push(h.dossier_code.clone());
            made.push(h);
        }
        made
    }

    /// Online dossiers for agencies under `unit`, after `after`, as held now.
    fn feed(&self, unit: &str, after: usize, limit: usize) -> (Vec<HoSoTrucTuyen>, bool) {
        let state = self.state.lock().expect("portal state");
        let prefix = format!("{unit}.");
        let mut items = Vec::new();
        for (i, code) in state.online.iter().enumerate().skip(after) {
            let Some(h) = state.held.get(code) else {
                continue;
            };
            if h.agency_code != unit && !h.agency_code.starts_with(&prefix) {
                continue;
            }
            if items.len() == limit {
                return (items, true);
            }
            items.push(HoSoTrucTuyen {
                cursor: (i + 1).to_string(),
                dossier: HoSo {
                    progress: Vec::new(),
                    ..h.clone()
                },
            });
        }
        (items, false)
    }
}

/// A registered simulated citizen for the `n`-th online dossier.
fn applicant(n: usize) -> lienthong_proto::v1::Citizen {
    (n * 7919..)
        .find_map(|k| {
            let id =
                PersonalId::parse(&format!("0011{:02}{:06}", 80 + k % 20, k % 1_000_000)).ok()?;
            citizens::citizen(&id, today())
        })
        .expect("the simulator has citizens")
}

#[cfg(test)]
mod tests;
