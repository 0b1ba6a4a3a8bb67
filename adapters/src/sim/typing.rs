//! How provincial systems write Vietnamese, so the simulators can send each: the
//! precomposed letters of NFC (*dựng sẵn*), NFD, the *tổ hợp* form of Unikey and
//! Windows-1258 (a precomposed vowel and a combining tone mark), and the 8-bit
//! TCVN3 and VNI of the pre-Unicode fonts, passed on as if they were Windows-1252
//! (what a system that stores them in a Latin-1 column sends).
//!
//! The 8-bit tables are the published ones: glibc's TCVN5712-1 for TCVN3's small
//! letters and its capitals Ă Â Ê Ô Ơ Ư Đ (the ABC fonts have no others: a capital
//! with a tone is the small letter's byte in a capitals font), and the VNI Windows
//! table (a base letter, then a byte for its marks).

use unicode_normalization::UnicodeNormalization;

/// A way of writing Vietnamese.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Precomposed letters (NFC).
    Nfc,
    /// Fully decomposed (NFD).
    Nfd,
    /// A precomposed vowel and a combining tone mark (Unikey's *tổ hợp*).
    ToHop,
    /// TCVN3 bytes read as Windows-1252.
    Tcvn3,
    /// VNI bytes read as Windows-1252.
    Vni,
}

/// `text` written in `form`.
pub fn write(text: &str, form: Form) -> String {
    match form {
        Form::Nfc => text.nfc().collect(),
        Form::Nfd => text.nfd().collect(),
        Form::ToHop => text.nfc().map(to_hop).collect(),
        Form::Tcvn3 => windows_1252(&text.nfc().flat_map(tcvn3).collect::<Vec<u8>>()),
        Form::Vni => windows_1252(&text.nfc().flat_map(vni).collect::<Vec<u8>>()),
    }
}

/// The five tone marks as combining characters: grave, acute, hook, tilde, dot.
const TONES: [char; 5] = ['\u{300}', '\u{301}', '\u{309}', '\u{303}', '\u{323}'];

/// A letter split into its base (with breve, circumflex or horn) and its tone
/// (an index into [`TONES`]).
fn split(letter: char) -> (char, Option<usize>) {
    let mut tone = None;
    let rest: String = std::iter::once(letter)
        .nfd()
        .filter(|c| match TONES.iter().position(|t| t == c) {
            Some(i) => {
                tone = Some(i);
                false
            }
            None => true,
        })
        .nfc()
        .collect();
    let base = rest.chars().next().unwrap_or(letter);
    if rest.chars().count() == 1 {
        (base, tone)
    } else {
        (letter, None)
    }
}

fn to_hop(letter: char) -> String {
    match split(letter) {
        (base, Some(tone)) => [base, TONES[tone]].into_iter().collect(),
        (base, None) => base.to_string(),
    }
}

/// TCVN3's bytes for the small letters, in the order of [`SMALL`].
const TCVN3_SMALL: [u8; 67] = [
    0xb5, 0xb8, 0xb6, 0xb7, 0xb9, 0xa8, 0xbb, 0xbe, 0xbc, 0xbd, 0xc6, 0xa9, 0xc7, 0xca, 0xc8, 0xc9,
    0xcb, 0xcc, 0xd0, 0xce, 0xcf, 0xd1, 0xaa, 0xd2, 0xd5, 0xd3, 0xd4, 0xd6, 0xd7, 0xdd, 0xd8, 0xdc,
    0xde, 0xdf, 0xe3, 0xe1, 0xe2, 0xe4, 0xab, 0xe5, 0xe8, 0xe6, 0xe7, 0xe9, 0xac, 0xea, 0xed, 0xeb,
    0xec, 0xee, 0xef, 0xf3, 0xf1, 0xf2, 0xf4, 0xad, 0xf5, 0xf8, 0xf6, 0xf7, 0xf9, 0xfa, 0xfd, 0xfb,
    0xfc, 0xfe, 0xae,
];

/// The small Vietnamese letters outside ASCII.
const SMALL: &str = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ";

fn tcvn3(c: char) -> Vec<u8> {
    if c.is_ascii() {
        return vec![c as u8];
    }
    if let Some(i) = "ĂÂÊÔƠƯĐ".chars().position(|k| k == c) {
        return vec![0xa1 + i as u8];
    }
    let small = c.to_lowercase().next().unwrap_or(c);
    match SMALL.chars().position(|k| k == small) {
        Some(i) => vec![TCVN3_SMALL[i]],
        None => vec![b'?'],
    }
}

/// VNI's mark bytes for a tone (grave, acute, hook, tilde, dot) on a plain vowel,
/// on a circumflex and on a breve; a capital's marks are these less 0x20.
const VNI_TONE: [[u8; 5]; 3] = [
    [0xf8, 0xf9, 0xfb, 0xf5, 0xef],
    [0xe0, 0xe1, 0xe5, 0xe3, 0xe4],
    [0xe8, 0xe9, 0xfa, 0xfc, 0xeb],
];

fn vni(c: char) -> Vec<u8> {
    if c.is_ascii() {
        return vec![c as u8];
    }
    let capital = c.is_uppercase();
    let case = |b: u8| if capital { b - 0x20 } else { b };
    let (base, tone) = split(c.to_lowercase().next().unwrap_or(c));
    // Letters VNI writes in one byte: i with a tone, ỵ, ơ, ư, đ.
    let single = match (base, tone) {
        ('i', Some(t)) => Some([0xec, 0xed, 0xe6, 0xf3, 0xf2][t]),
        ('y', Some(4)) => Some(0xee),
        ('đ', _) => Some(0xf1),
        _ => None,
    };
    if let Some(b) = single {
        return vec![case(b)];
    }
    let (letter, set, bare) = match base {
        'â' | 'ê' | 'ô' => (base_of(base), 1, Some(0xe2)),
        'ă' => ('a', 2, Some(0xea)),
        'ơ' => ('ô', 0, None),
        'ư' => ('ö', 0, None),
        _ => (base, 0, None),
    };
    let letter = if capital {
        letter.to_uppercase().next().unwrap_or(letter)
    } else {
        letter
    };
    let mut bytes = vec![letter as u32 as u8];
    match (tone, bare) {
        (Some(t), _) => bytes.push(case(VNI_TONE[set][t])),
        (None, Some(b)) => bytes.push(case(b)),
        (None, None) => {}
    }
    bytes
}

fn base_of(c: char) -> char {
    std::iter::once(c).nfd().next().unwrap_or(c)
}

/// Windows-1252's characters for 0x80–0x9F (the five it leaves out are read as
/// the C1 controls, as browsers do).
const CP1252_HIGH: &str = "€\u{81}‚ƒ„…†‡ˆ‰Š‹Œ\u{8d}Ž\u{8f}\u{90}‘’“”•–—˜™š›œ\u{9d}žŸ";

fn windows_1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9f => CP1252_HIGH
                .chars()
                .nth(usize::from(b - 0x80))
                .unwrap_or('?'),
            _ => char::from(b),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use lienthong_proto::text::legacy::{self, Encoding};

    use super::*;
    use crate::sim::names::every_full_name;

    #[test]
    fn the_forms_are_the_published_ones() {
        let name = "Nguyễn Văn Đạt";
        assert_eq!(write(name, Form::Nfc), name);
        assert_eq!(write(name, Form::Nfd).chars().count(), 18);
        assert_eq!(write(name, Form::ToHop), "Nguyê\u{303}n Văn Đa\u{323}t");
        assert_eq!(write(name, Form::Tcvn3), "NguyÔn V¨n §¹t");
        assert_eq!(write(name, Form::Vni), "Nguyeãn Vaên Ñaït");
        assert_eq!(
            write("Trương Thị Ánh Hồng", Form::Vni),
            "Tröông Thò AÙnh Hoàng"
        );
        assert_eq!(write("Lưu Ỷ", Form::Tcvn3), "L\u{ad}u û");
        for form in [Form::Nfd, Form::ToHop, Form::Tcvn3, Form::Vni] {
            assert_eq!(
                write("Ha Noi", form),
                "Ha Noi",
                "ASCII is ASCII in every form"
            );
        }
    }

    #[test]
    fn names_in_tcvn3_or_vni_are_told_apart_from_unicode() {
        let (mut names, mut tcvn3, mut vni, mut mislabelled) = (0u32, 0u32, 0u32, 0u32);
        for name in every_full_name() {
            if name.is_ascii() {
                continue; // The same in every encoding.
            }
            names += 1;
            for form in [Form::Nfd, Form::ToHop] {
                let written = write(&name, form);
                assert_eq!(legacy::detect(&written), None, "{written}");
            }
            match legacy::detect(&write(&name, Form::Tcvn3)) {
                Some(Encoding::Tcvn3) => tcvn3 += 1,
                Some(Encoding::Vni) => mislabelled += 1,
                None => {}
            }
            match legacy::detect(&write(&name, Form::Vni)) {
                Some(Encoding::Vni) => vni += 1,
                Some(Encoding::Tcvn3) => mislabelled += 1,
                None => {}
            }
        }
        // The rest read as Vietnamese in either: VNI's Hồ is `Hoà`, its Thị
        // `Thò`; TCVN3's Vũ is `Vò`, its Lý `Lý`.
        let share = |n: u32| f64::from(n) / f64::from(names);
        println!(
            "{names} names: TCVN3 {:.4}, VNI {:.4}, mislabelled {mislabelled}",
            share(tcvn3),
            share(vni)
        );
        assert!(names > 14_000, "{names}");
        assert!(share(tcvn3) > 0.98, "TCVN3 caught {tcvn3} of {names}");
        assert!(share(vni) > 0.98, "VNI caught {vni} of {names}");
        assert!(
            mislabelled < names / 1000,
            "{mislabelled} named the wrong encoding"
        );
    }
}
