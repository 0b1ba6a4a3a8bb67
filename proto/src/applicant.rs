//! Who may apply besides a citizen: an organisation, by its enterprise or tax code
//! (mã số doanh nghiệp / mã số thuế: 10 digits, or 13 with a branch's suffix
//! `-NNN`, Circular 105/2020/TT-BTC), and a foreigner, by passport number and
//! nationality. The shapes are checked; a tax code's check digit is not (the
//! published algorithm is not authoritative enough to refuse on).

/// Checks an enterprise or tax code.
pub fn tax_code(s: &str) -> Result<(), String> {
    let digits = |g: &str, n: usize| g.len() == n && g.bytes().all(|b| b.is_ascii_digit());
    let ok = match s.split_once('-') {
        None => digits(s, 10),
        Some((main, branch)) => digits(main, 10) && digits(branch, 3) && branch != "000",
    };
    if ok {
        Ok(())
    } else {
        Err(
            "is not an enterprise or tax code: 10 digits, or 13 with a branch suffix, \
             e.g. 0101234567 or 0101234567-001"
                .into(),
        )
    }
}

/// Checks a passport number: 5 to 20 capital letters and digits, with a digit.
pub fn passport(s: &str) -> Result<(), String> {
    let ok = (5..=20).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err("is not a passport number: 5 to 20 capital letters and digits, e.g. C1234567".into())
    }
}

/// Checks a foreigner's nationality: an ISO 3166-1 alpha-2 code, not Vietnam's.
pub fn nationality(s: &str) -> Result<(), String> {
    if s == "VN" {
        return Err("is VN: a Vietnamese citizen applies with a personal ID".into());
    }
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err("is not a country code: two capital letters (ISO 3166-1 alpha-2), e.g. KR".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_of_applicants_who_are_not_citizens() {
        for good in ["0101234567", "0101234567-001", "3700123456-123"] {
            assert_eq!(tax_code(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "010123456",
            "01012345678",
            "0101234567-01",
            "0101234567-0011",
            "0101234567-000",
            "0101234567_001",
            "01012345a7",
            "0101234567-",
        ] {
            assert!(tax_code(bad).is_err(), "{bad:?}");
        }
        for good in ["C1234567", "B12345", "M12345678901234567890"[..20].as_ref()] {
            assert_eq!(passport(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "C123",
            "c1234567",
            "ABCDEFGH",
            "C12-4567",
            "C1234567890123456789012",
        ] {
            assert!(passport(bad).is_err(), "{bad:?}");
        }
        assert_eq!(nationality("KR"), Ok(()));
        for bad in ["VN", "", "K", "KOR", "kr"] {
            assert!(nationality(bad).is_err(), "{bad:?}");
        }
    }
}
