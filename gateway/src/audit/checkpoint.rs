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

use lienthong_ledger::Head;
use sha2::{Digest, Sha256};

use super::record::{micros, timestamp};
use super::signed_note::{self, Note, TreeHead, VerifierKey};
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
    /// The same key, signing the checkpoint's note under the log's origin.
    note: signed_note::Signer,
}

impl Signer {
    /// Reads a PKCS#8 PEM Ed25519 key (as `lienthong pki init` writes it).
    pub fn load(path: &Path) -> Result<Signer, Error> {
        let bad =
            |detail: String| Error::Pki(format!("audit signing key {}: {detail}", path.display()));
        let der = PrivatePkcs8KeyDer::from_pem_file(path).map_err(|e| bad(e.to_string()))?;
        Signer::from_pkcs8(der.secret_pkcs8_der()).map_err(bad)
    }

    /// A fresh key that lives only in memory (tests and benchmarks).
    pub fn ephemeral() -> Signer {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key generation");
        Signer::from_pkcs8(pkcs8.as_ref()).expect("a fresh key parses")
    }

    fn from_pkcs8(der: &[u8]) -> Result<Signer, String> {
        let pair = || {
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|e| format!("not an Ed25519 key: {e}"))
        };
        let key = pair()?;
        let note = signed_note::Signer::new(&origin(key.public_key().as_ref()), pair()?, false)
            .map_err(|e| e.to_string())?;
        Ok(Signer { key, note })
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// The log's name in its checkpoints' notes ([`origin`]).
    pub fn origin(&self) -> &str {
        &self.note.verifier().name
    }

    /// The note verifier key that witnesses and verifiers are given.
    pub fn verifier(&self) -> &VerifierKey {
        self.note.verifier()
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
            ..Checkpoint::default()
        }
    }

    /// Signs `head` with its Merkle root: the chain's head as [`Signer::sign`]
    /// does, and the tree's as a C2SP checkpoint note.
    pub fn sign_head(&self, head: &Head) -> Checkpoint {
        let text = TreeHead {
            origin: self.origin().to_owned(),
            size: head.seq,
            root: head.root,
        }
        .text();
        let signature = self.note.line(&text, 0);
        Checkpoint {
            root: head.root.to_vec(),
            note: format!("{text}\n{signature}"),
            ..self.sign(head.seq, &head.hash, head.at)
        }
    }
}

/// The origin of the log whose checkpoints `public` signs: `lienthong/audit/`
/// and the first 8 bytes of the key's SHA-256 in hex. It follows the key, so
/// that the gateway and every tool that signs for the log (offline archiving)
/// name it alike, with nothing to configure.
pub fn origin(public: &[u8]) -> String {
    let digest = Sha256::digest(public);
    format!("lienthong/audit/{}", super::hex(&digest[..8]))
}

/// The tree head a checkpoint's note signs, checked against `trusted` (the
/// log's raw public key) and against the checkpoint's own size and root; `None`
/// for a checkpoint from before the tree.
pub fn tree_head(checkpoint: &Checkpoint, trusted: &[u8]) -> Result<Option<TreeHead>, String> {
    if checkpoint.root.is_empty() && checkpoint.note.is_empty() {
        return Ok(None);
    }
    let public: [u8; 32] = trusted
        .try_into()
        .map_err(|_| "the trusted key is not 32 bytes".to_owned())?;
    let note = Note::parse(&checkpoint.note).map_err(|e| format!("its note: {e}"))?;
    note.verify(&VerifierKey::signer(&origin(trusted), public))
        .map_err(|e| format!("its note: {e}"))?;
    let head = TreeHead::parse(&note.text).map_err(|e| format!("its note: {e}"))?;
    if head.origin != origin(trusted)
        || head.size != checkpoint.seq
        || head.root[..] != checkpoint.root[..]
    {
        return Err("its note signs another tree head than the checkpoint's".into());
    }
    Ok(Some(head))
}

/// Checks a checkpoint's signatures against the trusted raw public key: over
/// the chain's head, and over the tree's when it has one.
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
        .map_err(|_| "signature does not verify".to_owned())?;
    tree_head(checkpoint, trusted).map(|_| ())
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

    #[test]
    fn a_tree_head_is_signed_as_a_c2sp_checkpoint_note() {
        let signer = Signer::ephemeral();
        let head = Head {
            seq: 5,
            hash: [3; 32],
            at: 1_000,
            checkpoint: 0,
            root: [8; 32],
        };
        let cp = signer.sign_head(&head);
        verify(&cp, signer.public_key()).expect("verifies");
        let signed = tree_head(&cp, signer.public_key()).unwrap().unwrap();
        assert_eq!(
            (signed.origin.as_str(), signed.size, signed.root),
            (signer.origin(), 5, [8; 32])
        );
        assert!(signer.origin().starts_with("lienthong/audit/"));
        assert!(cp.note.starts_with(&format!("{}\n5\n", signer.origin())));
        // A root beside the note changed, a note over another root, a note by
        // another key, a note cut off: each refused.
        let mut other_root = cp.clone();
        other_root.root[0] ^= 1;
        let mut other_note = cp.clone();
        other_note.note = signer
            .sign_head(&Head {
                root: [9; 32],
                ..head
            })
            .note;
        let mut other_key = cp.clone();
        other_key.note = Signer::ephemeral().sign_head(&head).note;
        let mut cut = cp.clone();
        cut.note.truncate(cut.note.find("\n\n").unwrap());
        for bad in [other_root, other_note, other_key, cut] {
            assert!(verify(&bad, signer.public_key()).is_err(), "{bad:?}");
        }
        // A checkpoint from before the tree has neither, and still verifies.
        let old = signer.sign(5, &[3; 32], 1_000);
        assert_eq!(tree_head(&old, signer.public_key()), Ok(None));
        verify(&old, signer.public_key()).expect("verifies");
    }
}
