//! One-time sign-in links. `lienthong console login` (run on the gateway's machine,
//! by someone who can read its data dir) writes a file named by the SHA-256 of a
//! fresh random token, holding the agency, the officer and the expiry; the link
//! carries the token. The console spends a link by removing its file: of two
//! uses, only one removes it, and a link outlives a restart of the gateway but not
//! its expiry. The token itself is stored nowhere.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lienthong_proto::AgencyCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// The directory of pending links under `data_dir`.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("console-links")
}

#[derive(Serialize, Deserialize)]
struct Pending {
    agency: String,
    officer: String,
    /// Microseconds since the Unix epoch.
    expires: i64,
}

/// What a token turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// A link never minted, or already used.
    Unknown,
    /// A link used too late (now spent).
    Expired {
        /// The agency it was for.
        agency: String,
        /// The officer it named.
        officer: String,
    },
    /// A link used in time (now spent).
    Valid {
        /// The agency it is for.
        agency: String,
        /// The officer it names.
        officer: String,
    },
}

fn file(dir: &Path, token: &str) -> Option<PathBuf> {
    let well_formed = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| dir.join(crate::audit::hex(&Sha256::digest(token.as_bytes()))))
}

/// Mints a link for `agency` (and `officer`, may be empty) that works once within
/// `ttl`; returns its token. Links already expired are cleared away.
pub fn mint(
    dir: &Path,
    agency: &AgencyCode,
    officer: &str,
    ttl: Duration,
) -> Result<String, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(Error::io(dir))?;
    }
    let now = crate::clock::now_micros();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let stale = std::fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Pending>(&b).ok())
                .is_none_or(|p| p.expires <= now);
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let token = super::session::token();
    let pending = Pending {
        agency: agency.as_str().to_owned(),
        officer: officer.to_owned(),
        expires: now.saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX)),
    };
    let path = file(dir, &token).expect("a fresh token is well formed");
    let bytes = serde_json::to_vec(&pending).expect("serializable");
    lienthong_pki::write(&path, &bytes, true).map_err(|e| Error::Pki(e.to_string()))?;
    Ok(token)
}

/// Spends the link `token`, whatever it turns out to be.
pub fn redeem(dir: &Path, token: &str) -> Result<Redeemed, Error> {
    let Some(path) = file(dir, token) else {
        return Ok(Redeemed::Unknown);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Redeemed::Unknown),
        Err(e) => return Err(Error::io(&path)(e)),
    };
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        // Spent by another use between the read and now.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Redeemed::Unknown),
        Err(e) => return Err(Error::io(&path)(e)),
    }
    let Ok(p) = serde_json::from_slice::<Pending>(&bytes) else {
        return Ok(Redeemed::Unknown);
    };
    Ok(if p.expires <= crate::clock::now_micros() {
        Redeemed::Expired {
            agency: p.agency,
            officer: p.officer,
        }
    } else {
        Redeemed::Valid {
            agency: p.agency,
            officer: p.officer,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_once_and_only_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let agency = AgencyCode::parse("H99.90").unwrap();
        let token = mint(dir.path(), &agency, "Nguyễn Văn A", Duration::from_secs(60)).unwrap();
        assert_eq!(
            redeem(dir.path(), &token).unwrap(),
            Redeemed::Valid {
                agency: "H99.90".into(),
                officer: "Nguyễn Văn A".into()
            }
        );
        assert_eq!(redeem(dir.path(), &token).unwrap(), Redeemed::Unknown);
        let late = mint(dir.path(), &agency, "", Duration::from_micros(1)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(
            redeem(dir.path(), &late).unwrap(),
            Redeemed::Expired { .. }
        ));
        assert_eq!(
            redeem(dir.path(), "not a token").unwrap(),
            Redeemed::Unknown
        );
        assert_eq!(
            redeem(dir.path(), &"0".repeat(64)).unwrap(),
            Redeemed::Unknown
        );
        // The token is stored nowhere: only its hash names the file.
        let minted = mint(dir.path(), &agency, "", Duration::from_secs(60)).unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1, "the expired and spent links were cleared");
        assert_ne!(names[0], minted);
    }
}
