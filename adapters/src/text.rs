//! Text from an upstream, before it is believed: put in NFC (so that what the
//! gateway compares, stores and answers is in one normal form, whatever the
//! national system sent), within the length its schema gives it, and free of
//! control characters, invisible format characters and the marks of an 8-bit
//! encoding read as Unicode. The errors name the field, never its value: it may be
//! personal data.

use lienthong_proto::text::{self, Problem};

use crate::BadResponse;

/// Puts `value` in NFC and checks it; the cause and detail of a refusal.
pub fn field(name: &str, value: &mut String, max: usize) -> Result<(), (BadResponse, String)> {
    text::to_nfc(value);
    text::check(value, max).map_err(|problem| match problem {
        Problem::TooLong { max } => (
            BadResponse::Schema,
            format!("{name} is longer than {max} characters"),
        ),
        Problem::Control(c) | Problem::Format(c) => (
            BadResponse::Text,
            format!("{name} holds the hidden character U+{:04X}", u32::from(c)),
        ),
        Problem::Legacy(encoding) => (
            BadResponse::Text,
            format!("{name} looks like {} text read as Unicode", encoding.name()),
        ),
    })
}
