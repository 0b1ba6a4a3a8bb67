//! Administrative procedure codes (mã thủ tục hành chính), as the national
//! database of administrative procedures publishes them.

/// A procedure code as the national database of administrative procedures
/// publishes it: a national code, one digit, a dot and six digits (`1.001193`),
/// or a province's localised form of one, with `.H` and the province's two digits
/// (`1.000948.H38`).
pub fn is_valid(s: &str) -> bool {
    let digits = |g: &str, n: usize| g.len() == n && g.bytes().all(|b| b.is_ascii_digit());
    let mut groups = s.split('.');
    let national = matches!(
        (groups.next(), groups.next()),
        (Some(a), Some(b)) if digits(a, 1) && digits(b, 6)
    );
    national
        && match (groups.next(), groups.next()) {
            (None, _) => true,
            (Some(local), None) => local.strip_prefix('H').is_some_and(|p| digits(p, 2)),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procedure_codes_are_national_or_localised() {
        for good in ["1.001193", "2.002154", "1.000948.H38", "3.000164.H01"] {
            assert!(is_valid(good), "{good}");
        }
        for bad in [
            "",
            "1",
            "1.",
            "1.00119",
            "1.0011930",
            "12.001193",
            "1.001193.",
            "1.001193.H3",
            "1.001193.H381",
            "1.001193.38",
            "1.001193.h38",
            "1.001193.H38.1",
            "TTHC-1",
            "1.00119a",
            " 1.001193",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }
}
