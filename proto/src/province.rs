//! The 63 birth-registration province codes of the 2016 table (Circular 07/2016/TT-BCA),
//! used as the first three digits of a personal ID. They stay valid after the 2025
//! merger of provinces: a personal ID never changes.

/// A province as it appears in the personal ID table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BirthProvince {
    /// Three digits, e.g. "001".
    pub code: &'static str,
    /// The province's name at the time of the table.
    pub name: &'static str,
}

const fn p(code: &'static str, name: &'static str) -> BirthProvince {
    BirthProvince { code, name }
}

/// Every birth-registration province, sorted by code.
pub const BIRTH_PROVINCES: [BirthProvince; 63] = [
    p("001", "Hà Nội"),
    p("002", "Hà Giang"),
    p("004", "Cao Bằng"),
    p("006", "Bắc Kạn"),
    p("008", "Tuyên Quang"),
    p("010", "Lào Cai"),
    p("011", "Điện Biên"),
    p("012", "Lai Châu"),
    p("014", "Sơn La"),
    p("015", "Yên Bái"),
    p("017", "Hòa Bình"),
    p("019", "Thái Nguyên"),
    p("020", "Lạng Sơn"),
    p("022", "Quảng Ninh"),
    p("024", "Bắc Giang"),
    p("025", "Phú Thọ"),
    p("026", "Vĩnh Phúc"),
    p("027", "Bắc Ninh"),
    p("030", "Hải Dương"),
    p("031", "Hải Phòng"),
    p("033", "Hưng Yên"),
    p("034", "Thái Bình"),
    p("035", "Hà Nam"),
    p("036", "Nam Định"),
    p("037", "Ninh Bình"),
    p("038", "Thanh Hóa"),
    p("040", "Nghệ An"),
    p("042", "Hà Tĩnh"),
    p("044", "Quảng Bình"),
    p("045", "Quảng Trị"),
    p("046", "Thừa Thiên Huế"),
    p("048", "Đà Nẵng"),
    p("049", "Quảng Nam"),
    p("051", "Quảng Ngãi"),
    p("052", "Bình Định"),
    p("054", "Phú Yên"),
    p("056", "Khánh Hòa"),
    p("058", "Ninh Thuận"),
    p("060", "Bình Thuận"),
    p("062", "Kon Tum"),
    p("064", "Gia Lai"),
    p("066", "Đắk Lắk"),
    p("067", "Đắk Nông"),
    p("068", "Lâm Đồng"),
    p("070", "Bình Phước"),
    p("072", "Tây Ninh"),
    p("074", "Bình Dương"),
    p("075", "Đồng Nai"),
    p("077", "Bà Rịa - Vũng Tàu"),
    p("079", "Hồ Chí Minh"),
    p("080", "Long An"),
    p("082", "Tiền Giang"),
    p("083", "Bến Tre"),
    p("084", "Trà Vinh"),
    p("086", "Vĩnh Long"),
    p("087", "Đồng Tháp"),
    p("089", "An Giang"),
    p("091", "Kiên Giang"),
    p("092", "Cần Thơ"),
    p("093", "Hậu Giang"),
    p("094", "Sóc Trăng"),
    p("095", "Bạc Liêu"),
    p("096", "Cà Mau"),
];

/// The province with this three-digit code, if there is one.
pub fn by_code(code: &str) -> Option<&'static BirthProvince> {
    BIRTH_PROVINCES
        .binary_search_by(|p| p.code.cmp(code))
        .ok()
        .map(|i| &BIRTH_PROVINCES[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in BIRTH_PROVINCES.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{:?} before {:?}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(by_code("001").map(|p| p.name), Some("Hà Nội"));
        assert_eq!(by_code("079").map(|p| p.name), Some("Hồ Chí Minh"));
        assert_eq!(by_code("096").map(|p| p.name), Some("Cà Mau"));
        for missing in ["000", "003", "005", "099", "097", "100", "01", ""] {
            assert_eq!(by_code(missing), None, "{missing}");
        }
    }
}
