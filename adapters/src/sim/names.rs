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
