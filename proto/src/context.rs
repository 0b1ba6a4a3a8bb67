//! Rules of the `RequestContext` every read carries, shared by the request
//! validators and the policy file (a grant may only name a purpose a request could
//! cite).

/// The longest purpose: a short slug, not a sentence.
pub const MAX_PURPOSE: usize = 64;

/// A purpose is a short slug: 1–64 characters of `a-z`, `0-9`, `-`, `_`, `.`.
pub fn is_purpose(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_PURPOSE
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_are_short_lowercase_slugs() {
        for good in ["dossier-processing", "a", "x.y_z-1", &"a".repeat(64)] {
            assert!(is_purpose(good), "{good}");
        }
        for bad in [
            "",
            "Dossier",
            "dossier processing",
            "đăng-ký",
            &"a".repeat(65),
        ] {
            assert!(!is_purpose(bad), "{bad}");
        }
    }
}
