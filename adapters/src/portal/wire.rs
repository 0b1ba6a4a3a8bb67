//! The portal's integration API on the wire, as OpenCPS's `DVCQGIntegrationActionImpl`
//! shows it (VietOpenCPS/opencps-v2, backend-dossiermgt-service):
//!
//! - `POST {auth endpoint}` with the unit's code in the `dstcode` header and
//!   `{"username", "password"}` in the body, answered `{"error_code": 0, "session": …}`;
//! - `POST {integration endpoint}`, `dstcode` again, with `{"session", "madonvi",
//!   "service", …}`: `DongBoHoSoMC` (`isUpdating` "True"/"False" and a `data` batch of
//!   dossiers), `CapNhatTienDoHoSoMC` (a `data` batch of progress entries),
//!   `TraCuuHoSo` (`mahoso`), `LayThuTuc` (`maTTHC`); answers carry `error_code`
//!   (compared both as the number 0 and as a string there: "0" and "00" are
//!   success here) and a `result` list.
//!
//! Where that source is silent, this module chooses, and says so:
//! - the per-item results of a batch: `result` holds one `{MaHoSo, error_code,
//!   message}` per item, in order; the call's own `error_code` is about the call;
//! - the codes of a refusal: "401" a session unknown or expired (log in again),
//!   "403" credentials or unit refused, "400" a malformed call, "429" a quota used
//!   up and "503" maintenance (both with `Retry-After` in seconds), "500" an error of
//!   the portal; an item's "400" is a dossier the portal refuses for good, "409" a
//!   create of a dossier it holds, "404" an update of one it does not;
//! - the feed of dossiers submitted online, `DanhSachHoSoTrucTuyen` with `contro`
//!   and `soluong`: OpenCPS receives those through its own portal plug-in, not this
//!   API, so the service name and its fields are ours.

use serde::{Deserialize, Deserializer, Serialize};

/// Synchronise dossiers (create or update a batch).
pub const SYNC: &str = "DongBoHoSoMC";
/// Append progress entries to dossiers.
pub const PROGRESS: &str = "CapNhatTienDoHoSoMC";
/// Look a dossier up by its code.
pub const LOOKUP: &str = "TraCuuHoSo";
/// Fetch a procedure of the catalogue.
pub const PROCEDURE: &str = "LayThuTuc";
/// Dossiers submitted online (ours: see the module docs).
pub const ONLINE: &str = "DanhSachHoSoTrucTuyen";

/// The call's or the item's code: success.
pub const OK: &str = "0";
/// A malformed call, or a dossier refused for good.
pub const BAD_REQUEST: &str = "400";
/// The session is unknown or expired: log in again.
pub const SESSION_EXPIRED: &str = "401";
/// Credentials or unit refused.
pub const FORBIDDEN: &str = "403";
/// An update of a dossier the portal does not hold.
pub const NOT_HELD: &str = "404";
/// A create of a dossier the portal holds.
pub const HELD: &str = "409";
/// The quota is used up: wait `Retry-After`.
pub const QUOTA: &str = "429";
/// An error of the portal.
pub const SYSTEM_ERROR: &str = "500";
/// Maintenance: wait `Retry-After`.
pub const MAINTENANCE: &str = "503";

/// True for the success codes ("0", "00", or the number 0).
pub fn is_ok(code: &str) -> bool {
    !code.is_empty() && code.bytes().all(|b| b == b'0')
}

/// A value the portal sends as a string or as a number, read as a string.
pub fn loose<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Text(String),
        Number(i64),
    }
    Ok(match Loose::deserialize(d)? {
        Loose::Text(s) => s,
        Loose::Number(n) => n.to_string(),
    })
}

/// Credentials, with the unit's code in the `dstcode` header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    /// The province's account.
    pub username: String,
    /// Its secret.
    pub password: String,
}

/// A call of the integration endpoint. Which fields are set depends on `service`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Call {
    /// The session from the login.
    #[serde(default)]
    pub session: String,
    /// The unit calling (the province's code).
    #[serde(default)]
    pub madonvi: String,
    /// Which operation.
    #[serde(default)]
    pub service: String,
    /// `DongBoHoSoMC`: "True" to update dossiers the portal holds, "False" to create.
    #[serde(
        rename = "isUpdating",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub is_updating: Option<String>,
    /// `DongBoHoSoMC`, `CapNhatTienDoHoSoMC`: the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// `TraCuuHoSo`: the dossier's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mahoso: Option<String>,
    /// `LayThuTuc`: the procedure's code.
    #[serde(rename = "maTTHC", default, skip_serializing_if = "Option::is_none")]
    pub ma_tthc: Option<String>,
    /// `DanhSachHoSoTrucTuyen`: the cursor after which to read ("" from the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contro: Option<String>,
    /// `DanhSachHoSoTrucTuyen`: how many at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soluong: Option<u32>,
}

/// An answer of either endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply<T> {
    /// The call's code.
    #[serde(deserialize_with = "loose")]
    pub error_code: String,
    /// The portal's words.
    #[serde(default)]
    pub message: String,
    /// The login's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// What the call returns.
    #[serde(default = "Vec::new")]
    pub result: Vec<T>,
    /// `DanhSachHoSoTrucTuyen`: more follow.
    #[serde(rename = "ConTiep", default)]
    pub more: bool,
}

impl<T> Reply<T> {
    /// An answer with `code` and `message` and nothing else.
    pub fn code(code: &str, message: &str) -> Reply<T> {
        Reply {
            error_code: code.into(),
            message: message.into(),
            session: None,
            result: Vec::new(),
            more: false,
        }
    }

    /// A successful answer returning `result`.
    pub fn ok(result: Vec<T>) -> Reply<T> {
        Reply {
            result,
            ..Reply::code(OK, "Thành công")
        }
    }
}

/// What became of one item of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    /// The dossier.
    #[serde(rename = "MaHoSo")]
    pub dossier_code: String,
    /// The item's code.
    #[serde(deserialize_with = "loose")]
    pub error_code: String,
    /// The portal's words.
    #[serde(default)]
    pub message: String,
}

/// A field of a procedure (`LINHVUCTHUCHIEN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinhVuc {
    /// Its code.
    #[serde(rename = "MALINHVUC")]
    pub code: String,
    /// Its name.
    #[serde(rename = "TENLINHVUC", default)]
    pub name: String,
}

/// A time limit of a procedure for one channel (`THOIGIAN`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThoiGian {
    /// How long.
    #[serde(rename = "THOIGIANGIAIQUYET")]
    pub amount: f64,
    /// In what: "Ngày làm việc", "Ngày", "Giờ làm việc", …
    #[serde(rename = "DONVITINH", default)]
    pub unit: String,
    /// Remarks.
    #[serde(rename = "MOTA", default)]
    pub note: String,
}

/// How a procedure is carried out on one channel (`CACHTHUCTHUCHIEN`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachThuc {
    /// The channel: 1 in person, 2 online, 3 by post.
    #[serde(rename = "KENH")]
    pub channel: i32,
    /// Its time limits.
    #[serde(rename = "THOIGIAN", default)]
    pub limits: Vec<ThoiGian>,
}

/// A procedure of the national catalogue (`LayThuTuc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThuTuc {
    /// Its code.
    #[serde(rename = "MATTHC")]
    pub code: String,
    /// Its name.
    #[serde(rename = "TENTTHC")]
    pub name: String,
    /// The fields it belongs to.
    #[serde(rename = "LINHVUCTHUCHIEN", default)]
    pub fields: Vec<LinhVuc>,
    /// How it is carried out.
    #[serde(rename = "CACHTHUCTHUCHIEN", default)]
    pub ways: Vec<CachThuc>,
}

impl ThuTuc {
    /// Its time limit on `channel` in working days, when the catalogue gives one.
    pub fn working_days(&self, channel: i32) -> Option<u32> {
        let way = self
            .ways
            .iter()
            .find(|w| w.channel == channel)
            .or(self.ways.first())?;
        way.limits
            .iter()
            .find(|l| l.unit.to_lowercase().starts_with("ngày làm việc"))
            .map(|l| l.amount.ceil() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_as_the_portal_sends_them() {
        for (json, ok) in [
            (r#"{"error_code": 0}"#, true),
            (r#"{"error_code": "0"}"#, true),
            (r#"{"error_code": "00"}"#, true),
            (r#"{"error_code": "401"}"#, false),
            (r#"{"error_code": -1}"#, false),
            (r#"{"error_code": ""}"#, false),
        ] {
            let reply: Reply<ItemResult> = serde_json::from_str(json).unwrap();
            assert_eq!(is_ok(&reply.error_code), ok, "{json}");
        }
        assert!(serde_json::from_str::<Reply<ItemResult>>("{}").is_err());
    }

    #[test]
    fn a_procedures_limit_is_read_in_working_days() {
        let json = r#"{"MATTHC": "1.001193", "TENTTHC": "Đăng ký khai sinh",
            "LINHVUCTHUCHIEN": [{"MALINHVUC": "G09-TP03", "TENLINHVUC": "Hộ tịch"}],
            "CACHTHUCTHUCHIEN": [
              {"KENH": 1, "THOIGIAN": [{"THOIGIANGIAIQUYET": 3, "DONVITINH": "Ngày làm việc"}]},
              {"KENH": 2, "THOIGIAN": [{"THOIGIANGIAIQUYET": 2.5, "DONVITINH": "Ngày làm việc"}]},
              {"KENH": 3, "THOIGIAN": [{"THOIGIANGIAIQUYET": 5, "DONVITINH": "Ngày"}]}]}"#;
        let t: ThuTuc = serde_json::from_str(json).unwrap();
        assert_eq!(t.working_days(1), Some(3));
        assert_eq!(t.working_days(2), Some(3), "half days round up");
        assert_eq!(
            t.working_days(3),
            None,
            "calendar days are not working days"
        );
        assert_eq!(t.fields[0].code, "G09-TP03");
    }
}
