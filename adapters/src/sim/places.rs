//! Real administrative units, loaded once from the tables in `data/`.
//!
//! Addresses registered before 2025-07-01 carry three-level codes (province, district,
//! commune); those registered later carry two-level codes (province, commune).

use std::collections::HashMap;
use std::sync::OnceLock;

const OLD_TSV: &str = include_str!("data/communes-2024.tsv");
const NEW_TSV: &str = include_str!("data/communes-2025.tsv");

/// A commune of the three-level system in force until 2025-06-30.
#[derive(Debug)]
pub struct OldCommune {
    /// Province code, 2 digits.
    pub province_code: &'static str,
    /// Province name, e.g. "Tỉnh Nam Định".
    pub province_name: &'static str,
    /// District code, 3 digits.
    pub district_code: &'static str,
    /// District name.
    pub district_name: &'static str,
    /// Commune code, 5 digits.
    pub code: &'static str,
    /// Commune name.
    pub name: &'static str,
    /// The province that took this commune's province over on 2025-07-01.
    pub successor_province: &'static str,
}

/// A commune of the two-level system in force from 2025-07-01.
#[derive(Debug)]
pub struct NewCommune {
    /// Province code, 2 digits.
    pub province_code: &'static str,
    /// Province name.
    pub province_name: &'static str,
    /// Commune code, 5 digits.
    pub code: &'static str,
    /// Commune name.
    pub name: &'static str,
}

/// Both tables, sorted by province code.
pub struct Places {
    /// Three-level communes.
    pub old: Vec<OldCommune>,
    /// Two-level communes.
    pub new: Vec<NewCommune>,
    new_by_code: HashMap<&'static str, usize>,
}

/// The tables, parsed on first use.
pub fn places() -> &'static Places {
    static PLACES: OnceLock<Places> = OnceLock::new();
    PLACES.get_or_init(|| {
        let old: Vec<OldCommune> = rows(OLD_TSV)
            .filter_map(|f| match f[..] {
                [
                    province_code,
                    province_name,
                    district_code,
                    district_name,
                    code,
                    name,
                    successor_province,
                ] => Some(OldCommune {
                    province_code,
                    province_name,
                    district_code,
                    district_name,
                    code,
                    name,
                    successor_province,
                }),
                _ => None,
            })
            .collect();
        let new: Vec<NewCommune> = rows(NEW_TSV)
            .filter_map(|f| match f[..] {
                [province_code, province_name, code, name] => Some(NewCommune {
                    province_code,
                    province_name,
                    code,
                    name,
                }),
                _ => None,
            })
            .collect();
        let new_by_code = new.iter().enumerate().map(|(i, c)| (c.code, i)).collect();
        Places {
            old,
            new,
            new_by_code,
        }
    })
}

fn rows(tsv: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').collect())
}

impl Places {
    /// The three-level communes of an old province (2-digit code).
    pub fn old_in_province(&self, code: &str) -> &[OldCommune] {
        let start = self.old.partition_point(|c| c.province_code < code);
        let end = self.old.partition_point(|c| c.province_code <= code);
        &self.old[start..end]
    }

    /// The two-level communes of a new province (2-digit code).
    pub fn new_in_province(&self, code: &str) -> &[NewCommune] {
        let start = self.new.partition_point(|c| c.province_code < code);
        let end = self.new.partition_point(|c| c.province_code <= code);
        &self.new[start..end]
    }

    /// The two-level commune with this code, if the code survived the 2025 reform.
    pub fn new_by_code(&self, code: &str) -> Option<&NewCommune> {
        self.new_by_code.get(code).map(|&i| &self.new[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load_completely() {
        let p = places();
        assert_eq!(p.old.len(), 10051);
        assert_eq!(p.new.len(), 3321);
        let mut provinces: Vec<_> = p.new.iter().map(|c| c.province_code).collect();
        provinces.dedup();
        assert_eq!(provinces.len(), 34);
        let mut old_provinces: Vec<_> = p.old.iter().map(|c| c.province_code).collect();
        old_provinces.dedup();
        assert_eq!(old_provinces.len(), 63);
    }

    #[test]
    fn known_units() {
        let p = places();
        let ba_dinh = p.new_by_code("00004").map(|c| (c.province_code, c.name));
        assert_eq!(ba_dinh, Some(("01", "Phường Ba Đình")));
        let nam_dinh = p.old_in_province("36");
        assert!(!nam_dinh.is_empty());
        assert!(
            nam_dinh.iter().all(|c| c.successor_province == "37"),
            "Nam Định joined Ninh Bình"
        );
        assert!(
            p.new_in_province("36").is_empty(),
            "no province 36 after 2025"
        );
    }
}
