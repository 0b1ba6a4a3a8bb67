//! The National Public Service Portal's dossier sync API, simulated as a real HTTP
//! server ([`crate::portal::schema`]).
//!
//! - `POST /api/dvcqg/xacthuc`: credentials for a session token.
//! - `POST /api/dvcqg/hoso/dongbo`: one revision of a dossier, create-or-update. A
//!   revision already held is acknowledged as a duplicate (and counted); one that
//!   skips ahead is refused as out of order (409, retryable); an illegal status
//!   change or a malformed dossier is refused for good (422, 400).
//! - `GET /api/dvcqg/hoso/tructuyen?MaDonVi=H99&SauConTro=12&SoLuong=100`: dossiers
//!   citizens submitted online for agencies under `MaDonVi`, after a cursor.
//!
//! The portal's state ([`Portal`]) outlives a server, so the simulator can be stopped
//! and started again like the real thing; with a record file, every accepted
//! revision is appended to it as a JSON line, and a new process replays it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use lienthong_proto::v1::DossierStatus;
use lienthong_proto::{DossierCode, PersonalId, dossier_status};

use super::{citizens, today};
use crate::national::{self as schema, format_stamp};
use crate::portal::schema::{
    DanhSachTrucTuyen, HoSo, HoSoTrucTuyen, KetQuaDongBo, OUT_OF_ORDER, UNPROCESSABLE,
};

/// Procedures the simulated citizens apply for online.
const PROCEDURES: [(&str, &str); 4] = [
    ("1.001193", "Đăng ký khai sinh"),
    ("1.000894", "Đăng ký kết hôn"),
    ("1.004227", "Cấp bản sao trích lục hộ tịch"),
    ("2.002154", "Cấp giấy phép xây dựng nhà ở riêng lẻ"),
];

/// What the portal has seen (`GET /sim/stats`, for tests and operators of the
/// simulator; not part of the portal's API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Revisions accepted.
    pub accepted: u64,
    /// Revisions delivered again after they were accepted.
    pub duplicates: u64,
    /// Revisions refused because one before them was missing.
    pub out_of_order: u64,
    /// Revisions refused for good.
    pub rejected: u64,
    /// Dossiers held.
    pub dossiers: u64,
}

#[derive(Default)]
struct Held {
    /// Dossier code → (revision, status) last accepted.
    held: HashMap<String, (u64, i32)>,
    /// Applicant's name as received → dossier codes: the portal's search, which
    /// matches the stored text as it is (as a database index does).
    by_applicant: HashMap<String, Vec<String>>,
    stats: Stats,
    /// Dossiers submitted online, in feed order (the cursor is the index + 1).
    online: Vec<HoSo>,
}

impl Held {
    fn index(&mut self, h: &HoSo) {
        let codes = self
            .by_applicant
            .entry(h.applicant_name.clone())
            .or_default();
        if !codes.contains(&h.dossier_code) {
            codes.push(h.dossier_code.clone());
        }
    }
}

/// The portal's state: what it holds, what it counted, its online feed.
pub struct Portal {
    state: Mutex<Held>,
    /// Every accepted revision, one JSON line each.
    record: Option<Mutex<File>>,
}

impl Portal {
    /// A portal that keeps its state in memory only.
    pub fn new() -> Arc<Portal> {
        Arc::new(Portal {
            state: Mutex::default(),
            record: None,
        })
    }

    /// A portal recording to `path`, after replaying what the file already holds.
    pub fn open(path: &Path) -> std::io::Result<Arc<Portal>> {
        let mut state = Held::default();
        if let Ok(file) = File::open(path) {
            for line in BufReader::new(file).lines() {
                let h: HoSo = serde_json::from_str(&line?).map_err(std::io::Error::other)?;
                state
                    .held
                    .insert(h.dossier_code.clone(), (h.revision, h.status));
                state.index(&h);
                state.stats.accepted += 1;
            }
        }
        state.stats.dossiers = state.held.len() as u64;
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        // The simulated portal's record holds applicants' names: owner-only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path)?;
        Ok(Arc::new(Portal {
            state: Mutex::new(state),
            record: Some(Mutex::new(file)),
        }))
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        self.state.lock().expect("portal state").stats
    }

    /// The dossiers whose applicant's name is exactly `name` (the portal's
    /// search: text it was sent in another normal form is not found).
    pub fn search_applicant(&self, name: &str) -> Vec<String> {
        let state = self.state.lock().expect("portal state");
        state.by_applicant.get(name).cloned().unwrap_or_default()
    }

    /// The revision held for `dossier_code`, if any.
    pub fn revision(&self, dossier_code: &str) -> Option<u64> {
        let state = self.state.lock().expect("portal state");
        state.held.get(dossier_code).map(|(r, _)| *r)
    }

    /// `n` citizens submit dossiers online to `agency` today; returns them.
    pub fn submit_online(&self, agency: &str, n: usize) -> Vec<HoSo> {
        let mut state = self.state.lock().expect("portal state");
        let now = time::OffsetDateTime::now_utc();
        let date = now.to_offset(lienthong_proto::VIETNAM).date();
        let mut made = Vec::with_capacity(n);
        for _ in 0..n {
            let serial = state.online.len() + 1;
            let (procedure_code, procedure_name) = PROCEDURES[serial % PROCEDURES.len()];
            let applicant = applicant(serial);
            let h = HoSo {
                dossier_code: DossierCode::compose(agency, date, 900_000 + serial as u32),
                procedure_code: procedure_code.into(),
                procedure_name: procedure_name.into(),
                agency_code: agency.into(),
                applicant_name: applicant.full_name,
                applicant_personal_id: applicant.personal_id,
                applicant_kind: 1,
                applicant_code: String::new(),
                applicant_nationality: String::new(),
                channel: 2,
                status: DossierStatus::Registered as i32,
                submitted_at: format_stamp(now),
                received_at: format_stamp(now),
                due_at: String::new(),
                completed_at: String::new(),
                returned_at: String::new(),
                revision: 1,
            };
            state.online.push(h.clone());
            made.push(h);
        }
        made
    }

    /// Accepts, acknowledges or refuses one revision.
    fn sync(&self, h: HoSo) -> Result<KetQuaDongBo, (StatusCode, i32, String)> {
        let bad = |m: String| Err((StatusCode::BAD_REQUEST, schema::BAD_REQUEST, m));
        let code = match DossierCode::parse(&h.dossier_code) {
            Ok(c) => c,
            Err(e) => return bad(format!("MaHoSo {e}")),
        };
        if code.agency().as_str() != h.agency_code {
            return bad("MaCoQuan không khớp với MaHoSo".into());
        }
        let Ok(status) = DossierStatus::try_from(h.status) else {
            return bad("TrangThaiHoSo phải từ 1 đến 10".into());
        };
        if status == DossierStatus::Unspecified || h.revision == 0 || h.procedure_code.is_empty() {
            return bad("Thiếu TrangThaiHoSo, PhienBan hoặc MaTTHC".into());
        }
        let mut state = self.state.lock().expect("portal state");
        let (held, held_status) = state.held.get(&h.dossier_code).copied().unwrap_or((0, 0));
        let answer = |revision, duplicate| KetQuaDongBo {
            dossier_code: h.dossier_code.clone(),
            revision,
            duplicate,
        };
        if h.revision <= held {
            state.stats.duplicates += 1;
            return Ok(answer(held, true));
        }
        if h.revision > held + 1 {
            state.stats.out_of_order += 1;
            return Err((
                StatusCode::CONFLICT,
                OUT_OF_ORDER,
                format!("PhienBan {} đến trước PhienBan {}", h.revision, held + 1),
            ));
        }
        let legal = if held == 0 {
            dossier_status::INITIAL.contains(&status) || h.channel == 2
        } else {
            let from = DossierStatus::try_from(held_status).unwrap_or_default();
            dossier_status::allowed(from, status) || from == status
        };
        if !legal {
            state.stats.rejected += 1;
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                UNPROCESSABLE,
                format!(
                    "Không thể chuyển trạng thái {held_status} sang {}",
                    h.status
                ),
            ));
        }
        if let Some(record) = &self.record {
            let line = serde_json::to_string(&h).expect("plain data");
            let mut file = record.lock().expect("record file");
            if let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush()) {
                return Err((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    schema::SYSTEM_ERROR,
                    format!("Lỗi ghi: {e}"),
                ));
            }
        }
        if held == 0 {
            state.stats.dossiers += 1;
            state.index(&h);
        }
        state
            .held
            .insert(h.dossier_code.clone(), (h.revision, h.status));
        state.stats.accepted += 1;
        Ok(answer(h.revision, false))
    }

    /// Online dossiers for agencies under `unit`, after `after`.
    fn feed(&self, unit: &str, after: usize, limit: usize) -> DanhSachTrucTuyen {
        let state = self.state.lock().expect("portal state");
        let prefix = format!("{unit}.");
        let mut items = Vec::new();
        let mut more = false;
        for (i, h) in state.online.iter().enumerate().skip(after) {
            if h.agency_code != unit && !h.agency_code.starts_with(&prefix) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(HoSoTrucTuyen {
                cursor: (i + 1).to_string(),
                dossier: h.clone(),
            });
        }
        DanhSachTrucTuyen { items, more }
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

mod server;

pub use server::Server;

#[cfg(test)]
mod tests;
