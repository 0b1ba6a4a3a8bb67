//! Text from the 8-bit era read as Unicode: what a provincial system that still
//! stores names in TCVN3 (TCVN 5712:1993, the "ABC" fonts) or VNI sends when it
//! passes those bytes on as if they were Windows-1252. Such names pass every length
//! and control-character check and reach the register, the portal and the audit
//! log as nonsense (`NguyÔn V¨n §¹t`, `Nguyeãn Vaên Ñaït`), so they are caught here.
//!
//! The tell-tales are derived from the published tables (glibc's TCVN5712-1, and
//! the VNI Windows table), mapping each Vietnamese letter to its bytes and those
//! bytes to Windows-1252:
//!
//! - **TCVN3** puts a whole precomposed letter in one byte. Decoded as
//!   Windows-1252, most such bytes are not Vietnamese letters at all (`¨ § ¹ Ö
//!   Ç Þ å` …), and the rest are accented capitals in the middle of a word
//!   (`NguyÔn`), which Vietnamese never writes.
//! - **VNI** writes a base vowel, then a byte for its marks: `a` + `ù` is á,
//!   `e` + `ã` is ễ, `ö` is ư, `ñ` is đ. Decoded as Windows-1252, those pairs are a
//!   vowel followed by an accented vowel that Vietnamese never joins (`eã`, `aâ`),
//!   or letters of other alphabets (`ø ï å ä ü ë æ î ñ ö`). The pairs `oà oá oã`
//!   are left out: they are also the old way of writing *hoà*, *khoá*, *hoãn*.
//!
//! - Some letters are Vietnamese in one place and not in another: `â` never ends
//!   a word (TCVN3's õ: `Vâ`), `u` is never followed by `ú` (TCVN3's ỳ:
//!   `Huúnh`), o never comes before *nh* or *ch* (VNI's ĩ and ị: `Thònh`), and a
//!   VNI mark agrees in case with its vowel. Where a character fits both
//!   encodings, one that only the other's table can produce decides.
//!
//! A text is suspect only where such a character sits inside a word (a letter
//! beside it): typographic punctuation between words (`“ ” – …`) is not a
//! tell-tale, and nor is a degree sign in a note. Letters of other Latin alphabets
//! (`ü ñ ç ø ë`) are tell-tales only in a word shaped like a Vietnamese syllable
//! once read in the suspected encoding (`Ngäc` is TCVN3's Ngọc): foreign
//! applicants keep their names (`Müller`, `Núñez`, `Anaïs`, `Søren`).
//!
//! Against the simulator's 14,712 full names that are not plain ASCII, 98.3 % of
//! those written in TCVN3 and 98.1 % in VNI are caught, none is named as the wrong
//! encoding, and no name, place or word in Unicode (NFC, NFD or combining tones)
//! is refused (`lienthong_adapters::sim::typing`). The rest read as Vietnamese in
//! either: VNI's Hồ is `Hoà`, its Thị `Thò`; TCVN3's Vũ is `Vò`.

use unicode_normalization::UnicodeNormalization;

/// An 8-bit Vietnamese encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// TCVN 5712:1993 ("TCVN3", the ABC fonts).
    Tcvn3,
    /// VNI (VNI-Windows fonts).
    Vni,
}

impl Encoding {
    /// Its usual name.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Tcvn3 => "TCVN3 (ABC)",
            Encoding::Vni => "VNI",
        }
    }
}

/// The precomposed Vietnamese letters outside ASCII (lower and upper case).
const VIETNAMESE: &str = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ\
ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ";

/// Characters that Windows-1252 shows for TCVN3 bytes and that are no Vietnamese
/// letter (from glibc's TCVN5712-1 table): the Latin-1 signs and letters, and the
/// Windows-1252 extras of 0x80–0x9F.
const TCVN3: &str = "¡¢£¤¥¦§¨©ª«¬®¯µ¶·¸¹º»¼½¾¿ÄÅÆÇËÎÏÐÑÖ×ØÛÜÞßäåæçëîïðñö÷øûüþÿŒœŠšŸŽžƒˆ˜‚„†‡‰‹›€™";

/// The marks VNI writes after a vowel, as Windows-1252 shows them; which vowels
/// take which (the VNI Windows table).
const VNI_MARKS: [(&str, &str); 7] = [
    ("aA", "ùøûõïâáàåãäêéèúüëÙØÛÕÏÂÁÀÅÃÄÊÉÈÚÜË"),
    ("eE", "ùøûõïâáàåãäÙØÛÕÏÂÁÀÅÃÄ"),
    ("oO", "ùøûõïâåäÙØÛÕÏÂÅÄ"),
    ("ôÔ", "ùøûõïÙØÛÕÏ"),
    ("uU", "ùøûõïÙØÛÕÏ"),
    ("öÖ", "ùøûõïÙØÛÕÏ"),
    ("yY", "ùøûõÙØÛÕ"),
];

/// Every character other than ASCII that each encoding's bytes show in
/// Windows-1252 (from the same tables): a character one can show and the other
/// cannot settles which it is.
const TCVN3_SHOWS: &str =
    "¡¢£¤¥¦§¨©ª«¬\u{ad}®µ¶·¸¹»¼½¾ÆÇÈÉÊËÌÎÏÐÑÒÓÔÕÖ×ØÜÝÞßáâãäåæçèéêëìíîïñòóôõö÷øùúûüýþ";
const VNI_SHOWS: &str = "ÀÁÂÃÄÅÆÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜàáâãäåæèéêëìíîïñòóôõöøùúûü";

/// Letters of other Latin alphabets among the tell-tales: in a word not shaped
/// like a Vietnamese syllable they are a foreign name, not a legacy one.
const FOREIGN: &str = "äåæçëîïðñöøûüþÿœšžßÄÅÆÇËÎÏÐÑÖØÛÜÞŒŠŸŽ";

/// Letters VNI writes on their own that are no Vietnamese letter: ỉ ỵ đ Đ ư Ư.
const VNI_SINGLES: &str = "æîñÑöÖÆÎ";

fn is_letter(c: char) -> bool {
    c.is_alphabetic()
}

/// The encoding `text` most likely came from, when it shows the marks of one. The
/// text is read in NFC, so a name typed in NFD or with combining tones is judged
/// by its letters.
pub fn detect(text: &str) -> Option<Encoding> {
    if text.is_ascii() {
        return None;
    }
    let chars: Vec<char> = text.nfc().collect();
    let (mut tcvn3, mut vni) = (0usize, 0usize);
    let (mut tcvn3_only, mut vni_only) = (false, false);
    let mut foreign = 0usize;
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii() {
            continue;
        }
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        let in_word = before.is_some_and(is_letter) || after.is_some_and(is_letter);
        if !in_word {
            continue;
        }
        let after_small_letter = before.is_some_and(char::is_lowercase);
        let mark = before.is_some_and(|b| vni_mark(b, c, &chars[i + 1..]));
        let single = VNI_SINGLES.contains(c) && !(c.is_uppercase() && after_small_letter);
        if mark || single || vni_i(c, &chars[i + 1..]) {
            // Read as VNI; the same character is not also counted for TCVN3.
            vni += 1;
            vni_only |= !TCVN3_SHOWS.contains(c);
            let read = match c.to_lowercase().next() {
                _ if mark => Read::Mark,
                Some('ñ') => Read::Letter('d'),
                Some('ö') => Read::Letter('u'),
                Some('æ') => Read::Letter('i'),
                Some('î') => Read::Letter('y'),
                _ => Read::Vowel,
            };
            foreign += usize::from(FOREIGN.contains(c) && !syllable(&chars, i, read));
        } else if TCVN3.contains(c)
            || (c == 'â'
                && before.is_some_and(|b| is_letter(b) && !"aeoAEO".contains(b))
                && !after.is_some_and(is_letter))
            || (c == 'ú' && before.is_some_and(|b| "uU".contains(b)))
            || (VIETNAMESE.contains(c)
                && c.is_uppercase()
                && before.is_some_and(is_letter)
                && word_around(&chars, i).any(char::is_lowercase))
        {
            // A TCVN3 byte that is no Vietnamese letter; `â` ending a word, which
            // Vietnamese never does (TCVN3's õ, `Vâ`); `uú`, which it never
            // writes (TCVN3's ỳ, `Huúnh`); or an accented capital
            // inside a word written in small letters (`NguyÔn`, `YÕn`): TCVN3's
            // byte for a small letter.
            tcvn3 += 1;
            tcvn3_only |= !VNI_SHOWS.contains(c);
            foreign += usize::from(FOREIGN.contains(c) && !syllable(&chars, i, Read::Vowel));
        }
    }
    if tcvn3 + vni == foreign {
        // Only letters of other alphabets, in words no Vietnamese syllable is
        // shaped like: a foreign name (`Müller`, `Anaïs`, `Núñez`).
        return None;
    }
    match (tcvn3, vni, tcvn3_only, vni_only) {
        (0, 0, ..) => None,
        (_, _, true, false) => Some(Encoding::Tcvn3),
        (_, _, false, true) => Some(Encoding::Vni),
        (t, v, ..) if v >= t => Some(Encoding::Vni),
        _ => Some(Encoding::Tcvn3),
    }
}

/// Whether `mark` after `vowel` is a VNI mark, `rest` following. VNI's breve
/// (`aê`, ă) is one only before a consonant, as ă always is: a name such as the
/// commune *Laêê* joins the letters in Unicode. Likewise a toned y ends its
/// syllable or comes before *nh* (`Lyù`, `Huyønh`): `YÕn` is TCVN3's Yến.
fn vni_mark(vowel: char, mark: char, rest: &[char]) -> bool {
    let after = rest.first().copied();
    if "aA".contains(vowel) && "êÊ".contains(mark) {
        return after.is_some_and(|a| a.is_ascii_alphabetic() && !"aeiouyAEIOUY".contains(a));
    }
    if "yY".contains(vowel) && after.is_some_and(is_letter) && !before_nh(rest) {
        return false;
    }
    // VNI writes a capital's marks in capitals, and a small letter's in small.
    vowel.is_uppercase() == mark.is_uppercase()
        && VNI_MARKS
            .iter()
            .any(|(vowels, marks)| vowels.contains(vowel) && marks.contains(mark))
}

/// VNI's ĩ and ị (`ó`, `ò`) before *nh* or *ch*, where Vietnamese has no o.
fn vni_i(c: char, rest: &[char]) -> bool {
    "óòÓÒ".contains(c)
        && (before_nh(rest) || matches!(rest, [c, h, ..] if "cC".contains(*c) && "hH".contains(*h)))
}

fn before_nh(rest: &[char]) -> bool {
    matches!(rest, [n, h, ..] if "nN".contains(*n) && "hH".contains(*h))
}

/// How the encoding that suspects a character reads it.
#[derive(Clone, Copy)]
enum Read {
    /// As a vowel (TCVN3's bytes for vowels with a tone).
    Vowel,
    /// As the marks of the vowel before it (VNI).
    Mark,
    /// As this letter (VNI's ñ is đ).
    Letter(char),
}

/// Vietnamese syllables: an initial, a vowel nucleus (with its glides), a final;
/// all without their marks.
const INITIALS: [&str; 27] = [
    "ngh", "ng", "nh", "ch", "gh", "gi", "kh", "ph", "th", "tr", "qu", "b", "c", "d", "g", "h",
    "k", "l", "m", "n", "p", "r", "s", "t", "v", "x", "",
];
const NUCLEI: [&str; 36] = [
    "ieu", "yeu", "uye", "uya", "oai", "oay", "oeo", "uoi", "uou", "uay", "uyu", "ai", "ao", "au",
    "ay", "eo", "eu", "ia", "ie", "iu", "oa", "oe", "oi", "ua", "ue", "ui", "uo", "uu", "uy", "ye",
    "a", "e", "i", "o", "u", "y",
];
const FINALS: [&str; 9] = ["ng", "nh", "ch", "c", "m", "n", "p", "t", ""];

/// Whether the word holding `chars[i]` has the shape of a Vietnamese syllable
/// when that character is read as `read`: a legacy name does (`Ngäc` is ng-ọ-c),
/// a foreign one seldom (`Müller`, `Søren`, `Peña`).
fn syllable(chars: &[char], i: usize, read: Read) -> bool {
    let (start, end) = word_bounds(chars, i);
    let mut bare = Vec::with_capacity(end - start);
    for (j, &c) in chars.iter().enumerate().take(end).skip(start) {
        match (j == i, read) {
            (true, Read::Vowel) => bare.push('*'),
            (true, Read::Mark) => {}
            (true, Read::Letter(l)) => bare.push(l),
            (false, _) => {
                let base = std::iter::once(c).nfd().next().unwrap_or(c);
                bare.push(match base.to_lowercase().next().unwrap_or(base) {
                    'đ' => 'd',
                    b => b,
                });
            }
        }
    }
    let vowel = |c: &char, n: char| *c == n || (*c == '*' && "aeiouy".contains(n));
    INITIALS.iter().any(|initial| {
        let Some(rest) = strip(&bare, initial) else {
            return false;
        };
        NUCLEI.iter().any(|nucleus| {
            let n: Vec<char> = nucleus.chars().collect();
            rest.len() >= n.len()
                && rest.iter().zip(&n).all(|(c, n)| vowel(c, *n))
                && FINALS
                    .iter()
                    .any(|f| rest[n.len()..].iter().copied().eq(f.chars()))
        })
    })
}

fn strip<'a>(word: &'a [char], prefix: &str) -> Option<&'a [char]> {
    let n = prefix.chars().count();
    (word.len() >= n && word[..n].iter().copied().eq(prefix.chars())).then(|| &word[n..])
}

/// Where the word that holds `chars[i]` starts and ends.
fn word_bounds(chars: &[char], i: usize) -> (usize, usize) {
    let start = chars[..i]
        .iter()
        .rposition(|c| !is_letter(*c))
        .map_or(0, |p| p + 1);
    let end = chars[i..]
        .iter()
        .position(|c| !is_letter(*c))
        .map_or(chars.len(), |p| i + p);
    (start, end)
}

/// The letters of the word that holds `chars[i]`.
fn word_around(chars: &[char], i: usize) -> impl Iterator<Item = char> + '_ {
    let (start, end) = word_bounds(chars, i);
    chars[start..end].iter().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tell_tales_of_each_encoding() {
        for (text, encoding) in [
            ("NguyÔn V¨n §¹t", Encoding::Tcvn3),
            ("TrÇn Thu YÕn", Encoding::Tcvn3),
            ("Huúnh Minh An", Encoding::Tcvn3),
            ("Vâ Thanh Lan", Encoding::Tcvn3),
            ("Nguyeãn Vaên Ñaït", Encoding::Vni),
            ("Phaïm Minh Hoaøng", Encoding::Vni),
            ("Cao Quang Thònh", Encoding::Vni),
            ("Huyønh Minh Khoa", Encoding::Vni),
            ("Tröông Thò AÙnh", Encoding::Vni),
            ("Mai Ngäc Lan Ngäc", Encoding::Tcvn3),
        ] {
            assert_eq!(detect(text), Some(encoding), "{text}");
        }
    }

    #[test]
    fn vietnamese_and_its_neighbours_pass() {
        for text in [
            "Nguyễn Văn Đạt",
            "NGUYỄN VĂN ĐẠT",
            "Xã Laêê, huyện Nam Giang",
            "Ê Đê",
            "Huỳnh Thị Yến",
            "hoà, khoá, hoãn",
            "Thò tay vào",
            "Nhiệt độ 37° — “bình thường”…",
            "Nguye\u{302}\u{303}n Va\u{306}n",
            "",
            "ND-47/2020",
            // Foreign applicants.
            "Hans Müller",
            "Anaïs Dupont",
            "François Martin",
            "Søren Kierkegaard",
            "José Núñez",
            "João Gonçalves",
            "Zoë Citroën",
            "Björn Ångström",
            "Jürgen Weiß",
            "Gaëlle Noël",
            "Benoît Lefèvre",
            "Ines Jääskeläinen",
            "Mehmet Öztürk",
        ] {
            assert_eq!(detect(text), None, "{text}");
        }
    }
}
