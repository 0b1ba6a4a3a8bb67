//! What the synthetic citizens are made of: Vietnamese surnames, middle and given
//! names (in NFC), ethnic groups and religions with their weights in the
//! population, and street names.

// Surnames by frequency (per mille, rounded) in the Vietnamese population.
pub(crate) const SURNAMES: &[(&str, u64)] = &[
    ("Nguyễn", 380),
    ("Trần", 110),
    ("Lê", 95),
    ("Phạm", 70),
    ("Hoàng", 30),
    ("Huỳnh", 21),
    ("Phan", 45),
    ("Vũ", 25),
    ("Võ", 15),
    ("Đặng", 20),
    ("Bùi", 20),
    ("Đỗ", 14),
    ("Hồ", 13),
    ("Ngô", 13),
    ("Dương", 10),
    ("Lý", 5),
    ("Đinh", 7),
    ("Trịnh", 5),
    ("Đào", 5),
    ("Mai", 4),
    ("Lương", 4),
    ("Tạ", 3),
    ("Cao", 3),
    ("Lâm", 3),
    ("Hà", 4),
];
pub(crate) const MIDDLE_MALE: &[&str] = &[
    "Văn", "Đức", "Minh", "Hữu", "Quang", "Thành", "Công", "Xuân", "Anh", "Gia",
];
pub(crate) const MIDDLE_FEMALE: &[&str] = &[
    "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Phương", "Bảo", "Kim", "Hồng", "Diệu",
];
pub(crate) const GIVEN_MALE: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy", "Khánh", "Khoa", "Long",
    "Minh", "Nam", "Nghĩa", "Phong", "Phúc", "Quân", "Sơn", "Tài", "Thắng", "Thịnh", "Toàn",
    "Trung", "Tuấn", "Việt", "Vinh", "Đạt", "Đức", "Kiên",
];
pub(crate) const GIVEN_FEMALE: &[&str] = &[
    "Anh", "Châu", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Huyền", "Lan",
    "Linh", "Loan", "Mai", "My", "Nga", "Ngân", "Nhung", "Oanh", "Phương", "Quỳnh", "Thảo", "Thu",
    "Trang", "Tuyết", "Uyên", "Vân", "Yến", "Xuân",
];
pub(crate) const ETHNICITIES: &[(&str, u64)] = &[
    ("Kinh", 853),
    ("Tày", 19),
    ("Thái", 19),
    ("Mường", 15),
    ("H'Mông", 15),
    ("Khmer", 13),
    ("Nùng", 11),
    ("Dao", 9),
    ("Hoa", 8),
    ("Gia Rai", 5),
    ("Ê Đê", 4),
    ("Ba Na", 3),
    ("Sán Chay", 2),
    ("Chăm", 2),
];
pub(crate) const RELIGIONS: &[(&str, u64)] = &[
    ("Không", 860),
    ("Công giáo", 61),
    ("Phật giáo", 48),
    ("Phật giáo Hòa Hảo", 10),
    ("Cao Đài", 9),
    ("Tin lành", 10),
    ("Hồi giáo", 2),
];
pub(crate) const STREETS: &[&str] = &[
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Nguyễn Trãi",
    "Hai Bà Trưng",
    "Lý Thường Kiệt",
    "Quang Trung",
    "Nguyễn Huệ",
    "Phan Chu Trinh",
    "Hùng Vương",
    "Điện Biên Phủ",
    "Lê Duẩn",
    "Bà Triệu",
];

/// Every full name the simulator can give, male and female: surname, middle name,
/// given name (the whole list that text checks are tried against).
pub fn every_full_name() -> impl Iterator<Item = String> {
    let male = MIDDLE_MALE
        .iter()
        .flat_map(|m| GIVEN_MALE.iter().map(move |g| (m, g)));
    let female = MIDDLE_FEMALE
        .iter()
        .flat_map(|m| GIVEN_FEMALE.iter().map(move |g| (m, g)));
    let given: Vec<_> = male.chain(female).collect();
    SURNAMES.iter().flat_map(move |(s, _)| {
        given
            .clone()
            .into_iter()
            .map(move |(m, g)| format!("{s} {m} {g}"))
    })
}

/// Every other text the simulator puts in a record: ethnic groups, religions,
/// streets, and the name of every province, district and commune it knows.
pub fn every_place_and_word() -> impl Iterator<Item = &'static str> {
    let places = super::places::places();
    let old = places
        .old
        .iter()
        .flat_map(|c| [c.province_name, c.district_name, c.name]);
    let new = places.new.iter().flat_map(|c| [c.province_name, c.name]);
    ETHNICITIES
        .iter()
        .chain(RELIGIONS)
        .map(|(w, _)| *w)
        .chain(STREETS.iter().copied())
        .chain(old)
        .chain(new)
}

#[cfg(test)]
mod tests {
    use lienthong_proto::text::{self, legacy};

    use super::*;
    use crate::sim::typing::{Form, write};

    #[test]
    fn no_simulated_name_or_place_looks_legacy_encoded() {
        let mut names = 0;
        for name in every_full_name() {
            assert_eq!(legacy::detect(&name), None, "{name}");
            assert_eq!(text::nfc(&name), name, "the lists are in NFC");
            names += 1;
        }
        assert!(names > 10_000, "{names}");
        for word in every_place_and_word() {
            for form in [Form::Nfc, Form::Nfd, Form::ToHop] {
                let written = write(word, form);
                assert_eq!(legacy::detect(&written), None, "{written}");
            }
        }
    }
}
