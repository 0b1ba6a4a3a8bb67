//! Free text as it crosses the gateway — names, officers, notes, addresses — and
//! what may be in it, whichever side it comes from.
//!
//! **One normal form.** Vietnamese state bodies exchange text in TCVN 6909:2001,
//! that is Unicode (Decision 72/2002/QĐ-TTg). A tone mark may come precomposed
//! (NFC) or as a base letter followed by combining marks (NFD, what macOS and some
//! converters produce); the two look alike and compare unequal. Every text that
//! enters the gateway is put in NFC ([`nfc`]) before it is compared, stored,
//! audited or forwarded, and names compare in [`folded`] form. Text in an 8-bit
//! encoding read as Unicode is refused ([`legacy`]).
//!
//! Inspectors read this text in terminals, logs and pages. A control character
//! (general category Cc) can move a terminal's cursor, set its title or end a log
//! line early; a format character (Cf: bidirectional overrides and isolates,
//! zero-width joiners, soft hyphens, byte-order marks) makes a viewer show other
//! text than what is stored (`cb1` + U+202E + `evil` reads `cb1live`). Neither has
//! a place in a name or a note, so both are refused where text enters, and escaped
//! wherever stored text is shown ([`printable`]).

pub mod legacy;
mod normal;

pub use normal::InNfc;

use std::borrow::Cow;
use std::fmt;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// `text` in Unicode Normalization Form C (borrowed when it already is).
pub fn nfc(text: &str) -> Cow<'_, str> {
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    }
}

/// Puts `text` in NFC in place.
pub fn to_nfc(text: &mut String) {
    if let Cow::Owned(normal) = nfc(text) {
        *text = normal;
    }
}

/// A name as names compare: NFC, runs of white space folded to one space, lower
/// case (Đ/đ, Ư/ư, Ơ/ơ and every tone mark fold as Vietnamese expects, since the
/// precomposed letters have their own lower case).
pub fn folded(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    nfc(&nfc(&words.join(" ")).to_lowercase()).into_owned()
}

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
    /// Text in an 8-bit Vietnamese encoding read as Unicode.
    Legacy(legacy::Encoding),
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
            Problem::Legacy(encoding) => write!(
                f,
                "looks like {} text read as Unicode (mojibake): convert it to Unicode \
                 (TCVN 6909, UTF-8) before sending, e.g. with a font converter",
                encoding.name()
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
    hidden(c).is_some()
}

/// `Control` or `Format` for a character of those general categories. Unicode's
/// tables are looked up only outside ASCII, where most of what the gateway checks
/// is, and where only U+0000–U+001F and U+007F are either (controls).
fn hidden(c: char) -> Option<GeneralCategory> {
    if c.is_ascii() {
        return c.is_ascii_control().then_some(GeneralCategory::Control);
    }
    match c.general_category() {
        g @ (GeneralCategory::Control | GeneralCategory::Format) => Some(g),
        _ => None,
    }
}

/// The first reason `text` cannot be kept, if any: at most `max` characters, no
/// control or format character, and no sign of an 8-bit encoding. Meant for text
/// already in NFC.
pub fn check(text: &str, max: usize) -> Result<(), Problem> {
    let mut count = 0;
    for c in text.chars() {
        count += 1;
        if count > max {
            return Err(Problem::TooLong { max });
        }
        match hidden(c) {
            Some(GeneralCategory::Control) => return Err(Problem::Control(c)),
            Some(_) => return Err(Problem::Format(c)),
            None => {}
        }
    }
    match legacy::detect(text) {
        Some(encoding) => Err(Problem::Legacy(encoding)),
        None => Ok(()),
    }
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
    fn the_ascii_shortcut_agrees_with_unicodes_tables() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let table = matches!(
                c.general_category(),
                GeneralCategory::Control | GeneralCategory::Format
            )
            .then(|| c.general_category());
            assert_eq!(hidden(c), table, "{c:?}");
        }
    }

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
