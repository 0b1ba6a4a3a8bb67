//! The dossier status machine, with the National Public Service Portal's numbers.
//!
//! A dossier is registered (1) or accepted (2) when it is submitted. Registered, it
//! is accepted, rejected (3) or withdrawn (7). Accepted, it goes into processing (4)
//! or is withdrawn. Processing may ask for supplements (5) or payment (6), both of
//! which return to processing or end in withdrawal or a stop (8); processing ends in
//! processed (9), a stop or a withdrawal. Processed, the result is returned (10).
//! Rejected, withdrawn, stopped and returned are final: nothing leaves them.

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
        Registered => &[Accepted, Rejected, Withdrawn],
        Accepted => &[Processing, Withdrawn],
        Processing => &[
            SupplementRequested,
            PaymentRequested,
            Processed,
            Stopped,
            Withdrawn,
        ],
        SupplementRequested | PaymentRequested => &[Processing, Withdrawn, Stopped],
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

    /// The whole 10 x 10 table: a row per `from`, the statuses it may reach.
    #[test]
    fn transition_table() {
        let table: [(DossierStatus, &[u8]); 10] = [
            (Registered, &[2, 3, 7]),
            (Accepted, &[4, 7]),
            (Rejected, &[]),
            (Processing, &[5, 6, 7, 8, 9]),
            (SupplementRequested, &[4, 7, 8]),
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
