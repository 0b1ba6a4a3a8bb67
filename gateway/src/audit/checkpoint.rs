//! Signed checkpoints: Ed25519 signatures over the log's head.
//!
//! The chain alone shows that no record was changed in place; it cannot show that
//! the tail was cut off, or that the whole log was rewritten with fresh hashes. A
//! checkpoint signs `(seq, hash, at)` with a key the log's writer holds and the
//! inspector trusts, so a log that ends before a checkpoint, or whose record at a
//! checkpoint has another hash, is caught.
//!
//! Signed message: the 30 bytes `lienthong audit checkpoint v1` followed by a zero
//! byte, then `seq` (8 bytes), `hash` (32 bytes) and `at` in microseconds since the
//! Unix epoch (8 bytes, signed), all big-endian.

use std::path::Path;

use lienthong_proto::v1::Checkpoint;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer};

use super::record::{micros, timestamp};
use crate::Error;

/// What every signed message starts with.
const DOMAIN: &[u8] = b"lienthong audit checkpoint v1\0";

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw key follows.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The bytes a checkpoint's signature covers.
pub fn message(seq: u64, hash: &[u8], at_micros: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 48);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(&at_micros.to_be_bytes());
    m
}

/// The log's signing key.
pub struct Signer {
    key: Ed25519KeyPair,
}

impl Signer {
    /// Reads a PKCS#8 PEM Ed25519 key (as `lienthong pki init` writes it).
    pub fn load(path: &Path) -> Result<Signer, Error> {
        let bad =
            |detail: String| Error::Pki(format!("audit signing key {}: {detail}", path.display()));
        let der = PrivatePkcs8KeyDer::from_pem_file(path).map_err(|e| bad(e.to_string()))?;
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
            .map_err(|e| bad(format!("not an Ed25519 key: {e}")))?;
        Ok(Signer { key })
    }

    /// A fresh key that lives only in memory (tests and benchmarks).
    pub fn ephemeral() -> Signer {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key generation");
        Signer {
            key: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("fresh key parses"),
        }
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// Signs the head `(seq, hash)` as of `at_micros`.
    pub fn sign(&self, seq: u64, hash: &[u8], at_micros: i64) -> Checkpoint {
        let signature = self.key.sign(&message(seq, hash, at_micros));
        Checkpoint {
            seq,
            hash: hash.to_vec(),
            at: Some(timestamp(at_micros)),
            signature: signature.as_ref().to_vec(),
            public_key: self.public_key().to_vec(),
        }
    }
}

/// Checks a checkpoint's signature against the trusted raw public key.
pub fn verify(checkpoint: &Checkpoint, trusted: &[u8]) -> Result<(), String> {
    if checkpoint.public_key != trusted {
        return Err("signed by a key other than the trusted one".into());
    }
    let m = message(
        checkpoint.seq,
        &checkpoint.hash,
        micros(checkpoint.at.as_ref()),
    );
    UnparsedPublicKey::new(&ED25519, trusted)
        .verify(&m, &checkpoint.signature)
        .map_err(|_| "signature does not verify".to_owned())
}

/// Reads a public key file: SPKI PEM (as `pki init` writes it) or 64 hex digits.
pub fn load_public_key(path: &Path) -> Result<Vec<u8>, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    if let Some(raw) = super::unhex(text.trim()).filter(|k| k.len() == 32) {
        return Ok(raw);
    }
    let spki = SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes())
        .map_err(|e| Error::Pki(format!("{}: {e}", path.display())))?;
    match spki.as_ref().strip_prefix(&SPKI_PREFIX[..]) {
        Some(raw) if raw.len() == 32 => Ok(raw.to_vec()),
        _ => Err(Error::Pki(format!(
            "{}: not an Ed25519 public key",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_seq_hash_and_time() {
        let signer = Signer::ephemeral();
        let cp = signer.sign(42, &[7; 32], 1_000);
        verify(&cp, signer.public_key()).expect("verifies");
        for tamper in [
            |c: &mut Checkpoint| c.seq = 43,
            |c: &mut Checkpoint| c.hash[0] ^= 1,
            |c: &mut Checkpoint| c.at = Some(timestamp(1_001)),
            |c: &mut Checkpoint| c.signature[0] ^= 1,
        ] {
            let mut bad = cp.clone();
            tamper(&mut bad);
            assert!(verify(&bad, signer.public_key()).is_err());
        }
        let other = Signer::ephemeral();
        let forged = other.sign(42, &[7; 32], 1_000);
        assert!(verify(&forged, signer.public_key()).is_err());
    }
}
