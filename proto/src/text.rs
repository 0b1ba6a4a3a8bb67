//! Free text as it crosses the gateway — names, officers, notes, addresses — and
//! what may be in it, whichever side it comes from.
//!
//! Inspectors read this text in terminals, logs and pages. A control character
//! (general category Cc) can move a terminal's cursor, set its title or end a log
//! line early; a format character (Cf: bidirectional overrides and isolates,
//! zero-width joiners, soft hyphens, byte-order marks) makes a viewer show other
//! text than what is stored (`cb1` + U+202E + `evil` reads `cb1live`). Neither has
//! a place in a name or a note, so both are refused where text enters, and escaped
//! wherever stored text is shown ([`printable`]).

use std::borrow::Cow;
use std::fmt;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Why a text is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// More characters than allowed.
    TooLong {
        /// The most allowed.
        max: usize,
    },
    /// A control character (general category Cc), such as an escape or a newline.
    Control(char),
    /// An invisible format character (general category Cf), such as U+202E.
    Format(char),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::TooLong { max } => write!(f, "must be at most {max} characters"),
            Problem::Control(c) => write!(
                f,
                "must not contain control characters (found U+{:04X})",
                u32::from(*c)
            ),
            Problem::Format(c) => write!(
                f,
                "must not contain invisible format characters such as bidirectional \
                 overrides or zero-width joiners (found U+{:04X}); send the text as it reads",
                u32::from(*c)
            ),
        }
    }
}

/// True for a character that changes how text around it is shown, or is not shown.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control | GeneralCategory::Format
    )
}

/// The first reason `text` cannot be kept, if any: at most `max` characters, and no
/// control or format character.
pub fn check(text: &str, max: usize) -> Result<(), Problem> {
    let mut count = 0;
    for c in text.chars() {
        count += 1;
        if count > max {
            return Err(Problem::TooLong { max });
        }
        match c.general_category() {
            GeneralCategory::Control => return Err(Problem::Control(c)),
            GeneralCategory::Format => return Err(Problem::Format(c)),
            _ => {}
        }
    }
    Ok(())
}

/// `text` safe to show in a terminal, a log line or a page: every control or
/// format character written as `\u{XXXX}`, the backslash itself as `\\`.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c == '\\' || is_hidden(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_hidden(c) {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` for a log line or an error detail: [`printable`], and cut after `max`
/// characters (saying how many more there were), so that no client or upstream
/// can make one line as large as what it sent.
pub fn shown(text: &str, max: usize) -> Cow<'_, str> {
    let printable = printable(text);
    let total = printable.chars().count();
    if total <= max {
        return printable;
    }
    let cut: String = printable.chars().take(max).collect();
    Cow::Owned(format!("{cut}… ({} more characters)", total - max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_text_passes_and_hidden_characters_do_not() {
        for good in [
            "Ngô Anh Đạt",
            "Nguyễn Thị Minh Khai",
            "Số 12, ngõ 34/5 phố Hàng Bạc",
            "ND-47/2020",
            "H'Mông",
        ] {
            assert_eq!(check(good, 100), Ok(()), "{good}");
            assert_eq!(printable(good), good);
        }
        assert_eq!(
            check("cb1\u{202E}evil", 64),
            Err(Problem::Format('\u{202E}'))
        );
        for hidden in ['\u{200B}', '\u{200D}', '\u{2066}', '\u{FEFF}', '\u{00AD}'] {
            assert_eq!(
                check(&format!("a{hidden}b"), 64),
                Err(Problem::Format(hidden))
            );
        }
        assert_eq!(check("a\u{1b}[2J", 64), Err(Problem::Control('\u{1b}')));
        assert_eq!(check("a\nb", 64), Err(Problem::Control('\n')));
        assert_eq!(check("ệệệ", 3), Ok(()), "characters, not bytes");
        assert_eq!(check("ệệệệ", 3), Err(Problem::TooLong { max: 3 }));
        assert!(Problem::Format('\u{202E}').to_string().contains("U+202E"));
    }

    #[test]
    fn printable_text_shows_what_is_there() {
        assert_eq!(printable("cb1\u{202E}evil"), "cb1\\u{202E}evil");
        assert_eq!(
            printable("\u{1b}]0;pwned\u{7}x"),
            "\\u{001B}]0;pwned\\u{0007}x"
        );
        // A backslash is escaped too, so an escape cannot be forged in plain text.
        assert_eq!(printable("a\\u{202E}b"), "a\\\\u{202E}b");
        assert!(
            printable(&printable("x\u{200B}y"))
                .chars()
                .all(|c| !is_hidden(c))
        );
    }
}
