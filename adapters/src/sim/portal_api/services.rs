//! The portal's operations on a batch, item by item, with its validation: a
//! dossier of the right form (the gateway's own check of what the portal sends,
//! [`crate::portal::check`], plus its dates), created only if new and updated only
//! if held; a progress entry only for a dossier held, at a valid time and status.

use serde_json::Value;

use super::{Event, Portal, State};
use crate::national::parse_stamp;
use crate::portal::schema::{HoSo, TienDo};
use crate::portal::wire::{self, ItemResult};

fn item(code: &str, error_code: &str, message: &str) -> ItemResult {
    ItemResult {
        dossier_code: code.into(),
        error_code: error_code.into(),
        message: message.into(),
    }
}

/// The items of a batch: `data` must be a list; an item that is not an object is
/// given an empty code.
fn items(data: Option<Value>) -> Result<Vec<Value>, String> {
    match data {
        Some(Value::Array(items)) if !items.is_empty() => Ok(items),
        _ => Err("data phải là danh sách không rỗng".into()),
    }
}

fn code_of(v: &Value) -> String {
    v.get("MaHoSo")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Why the portal refuses `h`, if it does.
fn invalid(h: &mut HoSo) -> Option<String> {
    if let Err((_, why)) = crate::portal::check::dossier(h) {
        return Some(why);
    }
    if !lienthong_proto::DossierCode::parse(&h.dossier_code)
        .is_ok_and(|c| c.agency().as_str() == h.agency_code)
    {
        return Some("DonViXuLy không khớp với MaHoSo".into());
    }
    let mut times = Vec::new();
    for (name, value) in [
        ("NgayTiepNhan", &h.received_at),
        ("NgayHenTra", &h.due_at),
        ("NgayKetThucXuLy", &h.completed_at),
        ("NgayTra", &h.returned_at),
    ] {
        match (value.is_empty(), parse_stamp(value)) {
            (true, _) => times.push(None),
            (false, Ok(t)) => times.push(Some(t.seconds)),
            (false, Err(_)) => return Some(format!("{name} không đúng định dạng yyyyMMddHHmmss")),
        }
    }
    if times[0].is_none() {
        return Some("Thiếu NgayTiepNhan".into());
    }
    if let (Some(received), Some(due)) = (times[0], times[1])
        && due < received
    {
        return Some("NgayHenTra trước NgayTiepNhan".into());
    }
    None
}

/// An item's refusal: its code and the portal's words.
type Refusal = (&'static str, String);

/// What the portal answers a batch: per-item results, or why the call is refused
/// (`Err` inside), or a failure to record (`Err` outside).
type Batch = Result<Result<Vec<ItemResult>, String>, std::io::Error>;

impl Portal {
    /// Reads each item of `data` as a `T` (named `what` in refusals), lets `check`
    /// decide what it becomes, and takes or refuses it.
    fn each<T: serde::de::DeserializeOwned>(
        &self,
        data: Option<Value>,
        what: &str,
        check: impl Fn(&State, &str, T) -> Result<Event, Refusal>,
    ) -> Batch {
        let items = match items(data) {
            Ok(items) => items,
            Err(why) => return Ok(Err(why)),
        };
        let mut state = self.state.lock().expect("portal state");
        let mut results = Vec::with_capacity(items.len());
        for v in items {
            let code = code_of(&v);
            let result = match serde_json::from_value::<T>(v) {
                Err(e) => Err((
                    wire::BAD_REQUEST,
                    format!(
                        "{what} không hợp lệ: {}",
                        crate::national::describe_json_error(&e)
                    ),
                )),
                Ok(item) => check(&state, &code, item),
            };
            results.push(self.settle(&mut state, &code, result)?);
        }
        Ok(Ok(results))
    }

    /// `DongBoHoSoMC`: creates (`updating` false) or updates the dossiers of `data`.
    pub(super) fn sync(&self, updating: bool, data: Option<Value>) -> Batch {
        self.each(data, "Hồ sơ", |state, code, mut h: HoSo| {
            match (invalid(&mut h), state.held.contains_key(code)) {
                (Some(why), _) => Err((wire::BAD_REQUEST, why)),
                (None, true) if !updating => Err((wire::HELD, "Hồ sơ đã tồn tại".into())),
                (None, false) if updating => Err((wire::NOT_HELD, "Không tìm thấy hồ sơ".into())),
                (None, _) => Ok(Event::HoSo(h)),
            }
        })
    }

    /// `CapNhatTienDoHoSoMC`: appends the progress entries of `data`.
    pub(super) fn progress(&self, data: Option<Value>) -> Batch {
        self.each(data, "Tiến độ", |state, code, step: TienDo| {
            if !state.held.contains_key(code) {
                Err((wire::NOT_HELD, "Không tìm thấy hồ sơ".into()))
            } else if parse_stamp(&step.at).is_err() {
                Err((
                    wire::BAD_REQUEST,
                    "ThoiDiemXuLy không đúng định dạng yyyyMMddHHmmss".into(),
                ))
            } else if !(1..=10).contains(&step.status) {
                Err((wire::BAD_REQUEST, "TrangThai phải từ 1 đến 10".into()))
            } else {
                Ok(Event::TienDo(step))
            }
        })
    }

    /// Takes an item's event, or counts its refusal; the item's result.
    fn settle(
        &self,
        state: &mut State,
        code: &str,
        result: Result<Event, Refusal>,
    ) -> std::io::Result<ItemResult> {
        match result {
            Ok(event) => {
                self.take(state, vec![event])?;
                Ok(item(code, wire::OK, "Thành công"))
            }
            Err((error_code, why)) => {
                state.stats.rejected += 1;
                Ok(item(code, error_code, &why))
            }
        }
    }

    /// `TraCuuHoSo`: the dossier `code` with its progress entries, if held.
    pub(super) fn lookup(&self, code: &str) -> Vec<HoSo> {
        self.dossier(code).into_iter().collect()
    }
}
