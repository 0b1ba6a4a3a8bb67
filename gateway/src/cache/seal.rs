//! Personal data at rest in the cache: sealed with ChaCha20-Poly1305, filed under a
//! keyed hash.
//!
//! One 32-byte master key (`data/cache.key`, 0600, made on first start) yields two
//! subkeys: one for HMAC-SHA256 over (operation, personal ID), which is the sled key,
//! so personal IDs never appear in the files; one for the AEAD that seals the record.
//! A value is `stored_at` (8 bytes, big-endian µs, in clear so that expiry and
//! eviction need no key) ‖ nonce (12) ‖ ciphertext ‖ tag; the sled key and
//! `stored_at` are authenticated with it, so a value moved to another key or
//! re-dated does not open. Under another master key nothing opens and nothing is
//! found: a cold cache, never a wrong answer.

use std::path::Path;

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::Error;

/// Length of the master key.
pub const KEY_LEN: usize = 32;

/// The cache's keys.
pub struct Keys {
    seal: LessSafeKey,
    index: hmac::Key,
    rng: SystemRandom,
}

impl Keys {
    /// Keys derived from a master key.
    pub fn from_master(master: &[u8; KEY_LEN]) -> Keys {
        let master = hmac::Key::new(hmac::HMAC_SHA256, master);
        let derive = |label: &[u8]| hmac::sign(&master, label);
        let seal = derive(b"lienthong cache seal v1");
        let index = derive(b"lienthong cache index v1");
        Keys {
            seal: LessSafeKey::new(
                UnboundKey::new(&CHACHA20_POLY1305, seal.as_ref()).expect("32-byte key"),
            ),
            index: hmac::Key::new(hmac::HMAC_SHA256, index.as_ref()),
            rng: SystemRandom::new(),
        }
    }

    /// The master key in `path`, or a new one written there (0600) when the file is
    /// missing or not a key: the old entries then stay unreadable, and are dropped.
    pub fn load_or_create(path: &Path) -> Result<Keys, Error> {
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() == KEY_LEN => {
                let mut master = [0; KEY_LEN];
                master.copy_from_slice(&bytes);
                return Ok(Keys::from_master(&master));
            }
            Ok(bytes) => {
                tracing::warn!(path = %path.display(), len = bytes.len(), "cache key is not a key; making a new one (the cache starts cold)")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(path = %path.display(), "no cache key; making one");
            }
            Err(e) => return Err(Error::io(path)(e)),
        }
        let mut master = [0; KEY_LEN];
        SystemRandom::new()
            .fill(&mut master)
            .map_err(|_| Error::Pki("no randomness for the cache key".into()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        lienthong_pki::write(path, &master, true)?;
        Ok(Keys::from_master(&master))
    }

    /// The sled key of `operation`'s record about `personal_id`.
    pub fn index(&self, operation: &str, personal_id: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.index);
        ctx.update(operation.as_bytes());
        ctx.update(&[0]);
        ctx.update(personal_id.as_bytes());
        let mut out = [0; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Seals `plain` for the sled key `index`, stored at `stored_at` (µs).
    pub fn seal(&self, index: &[u8; 32], stored_at: i64, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("system randomness");
        let mut out = Vec::with_capacity(8 + NONCE_LEN + plain.len() + 16);
        out.extend_from_slice(&stored_at.to_be_bytes());
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(index, stored_at)),
                &mut body,
            )
            .expect("sealing cannot fail for in-memory data");
        out.extend_from_slice(&body);
        out
    }

    /// The record sealed in `value` and when it was stored; `None` if it does not
    /// open under these keys for this sled key.
    pub fn open(&self, index: &[u8; 32], value: &[u8]) -> Option<(i64, Vec<u8>)> {
        let stored_at = stored_at(value)?;
        let nonce: [u8; NONCE_LEN] = value.get(8..8 + NONCE_LEN)?.try_into().ok()?;
        let mut body = value.get(8 + NONCE_LEN..)?.to_vec();
        let plain = self
            .seal
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(index, stored_at)),
                &mut body,
            )
            .ok()?;
        let len = plain.len();
        body.truncate(len);
        Some((stored_at, body))
    }
}

fn aad(index: &[u8; 32], stored_at: i64) -> [u8; 40] {
    let mut aad = [0; 40];
    aad[..32].copy_from_slice(index);
    aad[32..].copy_from_slice(&stored_at.to_be_bytes());
    aad
}

/// When a value was stored (µs), readable without the key.
pub fn stored_at(value: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(value.get(..8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_open_only_with_their_key_index_and_date() {
        let keys = Keys::from_master(&[7; 32]);
        let a = keys.index("IdentityService/GetCitizen", "001085012345");
        let b = keys.index("ResidencyService/GetResidence", "001085012345");
        assert_ne!(a, b);
        let sealed = keys.seal(&a, 42, b"Nguyen Van An");
        assert!(!sealed.windows(6).any(|w| w == b"Nguyen"));
        assert_eq!(
            keys.open(&a, &sealed),
            Some((42, b"Nguyen Van An".to_vec()))
        );
        assert_eq!(stored_at(&sealed), Some(42));
        assert_eq!(keys.open(&b, &sealed), None, "moved to another key");
        let mut redated = sealed.clone();
        redated[7] ^= 1;
        assert_eq!(keys.open(&a, &redated), None, "re-dated");
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(keys.open(&a, &flipped), None, "altered");
        let other = Keys::from_master(&[8; 32]);
        assert_eq!(other.open(&a, &sealed), None, "another master key");
        assert_ne!(other.index("IdentityService/GetCitizen", "001085012345"), a);
        assert_eq!(keys.open(&a, &sealed[..10]), None, "truncated");
    }

    #[test]
    fn a_missing_or_broken_key_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.key");
        let first = Keys::load_or_create(&path).unwrap();
        let again = Keys::load_or_create(&path).unwrap();
        assert_eq!(first.index("op", "id"), again.index("op", "id"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        let fresh = Keys::load_or_create(&path).unwrap();
        assert_ne!(fresh.index("op", "id"), first.index("op", "id"));
        assert_eq!(std::fs::read(&path).unwrap().len(), KEY_LEN);
    }
}
