//! The simulated portal's procedure catalogue (`LayThuTuc`): real national codes
//! and names, fields of the national list, time limits for illustration (not the
//! legal ones), the same as the gateway's development catalogue
//! (`gateway/catalogue.dev.toml`).

use crate::portal::wire::{CachThuc, LinhVuc, ThoiGian, ThuTuc};

/// A procedure of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Procedure {
    /// Its code.
    pub code: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its field: code and name.
    pub field: (&'static str, &'static str),
    /// Its time limit in working days.
    pub working_days: u32,
}

/// The procedures citizens apply for.
pub const PROCEDURES: [Procedure; 4] = [
    Procedure {
        code: "1.001193",
        name: "Đăng ký khai sinh",
        field: ("G09-TP03", "Hộ tịch"),
        working_days: 3,
    },
    Procedure {
        code: "1.000894",
        name: "Đăng ký kết hôn",
        field: ("G09-TP03", "Hộ tịch"),
        working_days: 5,
    },
    Procedure {
        code: "1.004227",
        name: "Cấp Giấy chứng nhận quyền sử dụng đất",
        field: ("G09-TN01", "Đất đai"),
        working_days: 15,
    },
    Procedure {
        code: "2.002154",
        name: "Cấp giấy phép xây dựng",
        field: ("G09-XD04", "Hoạt động xây dựng"),
        working_days: 15,
    },
];

/// The catalogue's entry for `code`, as `LayThuTuc` answers it.
pub fn procedure(code: &str) -> Option<ThuTuc> {
    let p = PROCEDURES.iter().find(|p| p.code == code)?;
    Some(ThuTuc {
        code: p.code.into(),
        name: p.name.into(),
        fields: vec![LinhVuc {
            code: p.field.0.into(),
            name: p.field.1.into(),
        }],
        ways: (1..=3)
            .map(|channel| CachThuc {
                channel,
                limits: vec![ThoiGian {
                    amount: f64::from(p.working_days),
                    unit: "Ngày làm việc".into(),
                    note: String::new(),
                }],
            })
            .collect(),
    })
}
