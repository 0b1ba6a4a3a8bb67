//! The dossier status machine, with the National Public Service Portal's numbers,
//! as the one-stop-shop counter really moves dossiers.
//!
//! Sources, as we read them: Decree 61/2018/NĐ-CP on the one-stop shop, as amended
//! by Decree 107/2021/NĐ-CP (Art. 18: receiving a dossier, and asking for missing
//! papers at reception with the form "phiếu yêu cầu bổ sung, hoàn thiện hồ sơ";
//! Art. 19–20: procedures settled on the spot, and the apology with a new
//! appointment, "phiếu xin lỗi và hẹn lại ngày trả kết quả"), whose rules Decree
//! 118/2025/NĐ-CP carries on from 1 July 2025; and the portal's status codes
//! (TrangThaiHoSo 1–10) as its integration API uses them.
//!
//! - Registered (1): accepted (2), rejected (3), asked for papers at reception (5),
//!   or withdrawn (7).
//! - Accepted (2): into processing (4), settled on the spot (9, or 10 when the
//!   result is handed over at once), withdrawn.
//! - Processing (4): papers (5) or payment (6) asked for, processed (9), stopped (8)
//!   or withdrawn.
//! - Papers asked for (5): accepted (2) or rejected (3) once they come, when they
//!   were asked for at reception; back into processing (4) when asked for during
//!   it; or withdrawn, or stopped. The portal keeps no record of which, so both are
//!   allowed.
//! - Payment asked for (6): back into processing, withdrawn or stopped.
//! - Processed (9): the result returned (10).
//! - Rejected, withdrawn, stopped and returned (3, 7, 8, 10) are final, and nothing
//!   goes back to registered (1).
//!
//! A new appointment date without a status change is not a move of this machine:
//! see `UpdateDossierStatusRequest.due_at`.

use crate::v1::DossierStatus;

use DossierStatus::*;

/// Every status a dossier can have.
pub const ALL: [DossierStatus; 10] = [
    Registered,
    Accepted,
    Rejected,
    Processing,
    SupplementRequested,
    PaymentRequested,
    Withdrawn,
    Stopped,
    Processed,
    ResultReturned,
];

/// The statuses a dossier may be submitted with.
pub const INITIAL: [DossierStatus; 2] = [Registered, Accepted];

/// The statuses `from` may move to.
pub fn next(from: DossierStatus) -> &'static [DossierStatus] {
    match from {
        Registered => &[Accepted, Rejected, SupplementRequested, Withdrawn],
        Accepted => &[Processing, Processed, ResultReturned, Withdrawn],
        Processing => &[
            SupplementRequested,
            PaymentRequested,
            Processed,
            Stopped,
            Withdrawn,
        ],
        SupplementRequested => &[Accepted, Rejected, Processing, Withdrawn, Stopped],
        PaymentRequested => &[Processing, Withdrawn, Stopped],
        Processed => &[ResultReturned],
        Rejected | Withdrawn | Stopped | ResultReturned | Unspecified => &[],
    }
}

/// Whether `from` may move to `to`.
pub fn allowed(from: DossierStatus, to: DossierStatus) -> bool {
    next(from).contains(&to)
}

/// Whether nothing leaves `status`.
pub fn is_final(status: DossierStatus) -> bool {
    status != Unspecified && next(status).is_empty()
}

/// The status's Vietnamese name, as the portal displays it.
pub fn vietnamese(status: DossierStatus) -> &'static str {
    match status {
        Unspecified => "",
        Registered => "Mới đăng ký",
        Accepted => "Được tiếp nhận",
        Rejected => "Không được tiếp nhận",
        Processing => "Đang xử lý",
        SupplementRequested => "Yêu cầu bổ sung giấy tờ",
        PaymentRequested => "Yêu cầu thực hiện nghĩa vụ tài chính",
        Withdrawn => "Công dân yêu cầu rút hồ sơ",
        Stopped => "Dừng xử lý",
        Processed => "Đã xử lý xong",
        ResultReturned => "Đã trả kết quả",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole 10 x 10 table: a row per `from`, the statuses it may reach (the
    /// cases the counter meets every day: 1→5 papers asked for at reception, 5→2
    /// and 5→3 once they come, 2→9 and 2→10 settled on the spot).
    #[test]
    fn transition_table() {
        let table: [(DossierStatus, &[u8]); 10] = [
            (Registered, &[2, 3, 5, 7]),
            (Accepted, &[4, 7, 9, 10]),
            (Rejected, &[]),
            (Processing, &[5, 6, 7, 8, 9]),
            (SupplementRequested, &[2, 3, 4, 7, 8]),
            (PaymentRequested, &[4, 7, 8]),
            (Withdrawn, &[]),
            (Stopped, &[]),
            (Processed, &[10]),
            (ResultReturned, &[]),
        ];
        for (from, reachable) in table {
            for to in ALL {
                let want = reachable.contains(&(to as i32 as u8));
                assert_eq!(allowed(from, to), want, "{from:?} -> {to:?}");
            }
            assert!(!allowed(from, from), "{from:?} -> itself");
            assert!(!allowed(from, Unspecified));
            assert!(!allowed(from, Registered), "no jump back to 1");
        }
    }

    #[test]
    fn finals_and_numbers() {
        let finals: Vec<i32> = ALL
            .into_iter()
            .filter(|s| is_final(*s))
            .map(|s| s as i32)
            .collect();
        assert_eq!(finals, [3, 7, 8, 10]);
        assert!(!is_final(Unspecified));
        assert_eq!(ALL.map(|s| s as i32), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        // every non-final status can still reach a final one
        for s in ALL.into_iter().filter(|s| !is_final(*s)) {
            let mut seen = vec![s];
            let mut i = 0;
            while i < seen.len() {
                for n in next(seen[i]) {
                    if !seen.contains(n) {
                        seen.push(*n);
                    }
                }
                i += 1;
            }
            assert!(seen.iter().any(|x| is_final(*x)), "{s:?}");
        }
        assert_eq!(vietnamese(Processing), "Đang xử lý");
    }
}
