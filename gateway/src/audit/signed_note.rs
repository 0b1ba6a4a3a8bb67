//! Signed notes (C2SP `signed-note`), the checkpoints written in them (C2SP
//! `tlog-checkpoint`) and witnesses' cosignatures (C2SP `tlog-cosignature`), with
//! Ed25519 keys through ring: the form in which Go's sumdb, Sigstore and the public
//! witness network exchange a log's tree heads.
//!
//! A note is its text (UTF-8, ending in a newline), a blank line, and one line
//! per signature: `— <key name> <base64(key id ‖ signature)>`. A key's id is the
//! first 4 bytes of `SHA-256(name ‖ "\n" ‖ type ‖ public key)`: type 0x01 for a
//! plain Ed25519 signature over the text, 0x04 for a cosignature, whose signed
//! message is `cosignature/v1\ntime <t>\n` followed by the text, and whose line
//! carries the time (8 bytes, big-endian) between the id and the signature.
//!
//! Hand-written (about as long as a dependency's glue) because the crates that
//! implement these specifications are young and bring their own Ed25519; the
//! gateway's keys are ring's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sha2::{Digest, Sha256};

use super::hex;

/// Ed25519 over the note's text.
pub const ED25519_TYPE: u8 = 0x01;
/// Ed25519 cosignature/v1 over a checkpoint.
pub const COSIGNATURE_TYPE: u8 = 0x04;

/// What is wrong with a note, a key or a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Not in the form the specifications give.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// No signature by this key, or one that does not verify.
    #[error("no valid signature by {0}")]
    Unsigned(String),
}

fn malformed<T>(what: &'static str) -> Result<T, NoteError> {
    Err(NoteError::Malformed(what))
}

/// A key name: non-empty, no spaces, no `+`.
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return malformed("key name");
    }
    Ok(())
}

/// A key's id: the first 4 bytes of `SHA-256(name ‖ "\n" ‖ type ‖ key)`.
pub fn key_id(name: &str, kind: u8, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind]);
    h.update(public);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A public key that checks notes: `<name>+<hex id>+<base64(type ‖ key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// The key's name, as its signature lines give it.
    pub name: String,
    /// 0x01 (signer) or 0x04 (cosigner).
    pub kind: u8,
    /// The Ed25519 public key.
    pub public: [u8; 32],
}

impl VerifierKey {
    /// The key named `name` that signs notes (not a cosigner's).
    pub fn signer(name: &str, public: [u8; 32]) -> VerifierKey {
        VerifierKey {
            name: name.to_owned(),
            kind: ED25519_TYPE,
            public,
        }
    }

    /// Reads a verifier key, checking its id.
    pub fn parse(text: &str) -> Result<VerifierKey, NoteError> {
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return malformed("verifier key");
        };
        check_name(name)?;
        let key = B64.decode(key).or(malformed("verifier key"))?;
        let (&kind, public) = key
            .split_first()
            .ok_or(NoteError::Malformed("verifier key"))?;
        let public: [u8; 32] = public.try_into().or(malformed("verifier key"))?;
        if !matches!(kind, ED25519_TYPE | COSIGNATURE_TYPE) || id.len() != 8 {
            return malformed("verifier key");
        }
        let key = VerifierKey {
            name: name.to_owned(),
            kind,
            public,
        };
        if hex(&key.id()) != id {
            return malformed("verifier key id");
        }
        Ok(key)
    }

    /// The key's id.
    pub fn id(&self) -> [u8; 4] {
        key_id(&self.name, self.kind, &self.public)
    }

    /// The key in its text form.
    pub fn encode(&self) -> String {
        let mut key = vec![self.kind];
        key.extend_from_slice(&self.public);
        format!("{}+{}+{}", self.name, hex(&self.id()), B64.encode(key))
    }
}

/// A private key that signs notes.
pub struct Signer {
    pair: Ed25519KeyPair,
    key: VerifierKey,
}

impl Signer {
    /// A signer named `name` with `pair`, for plain signatures (`cosigner`
    /// false) or cosignatures.
    pub fn new(name: &str, pair: Ed25519KeyPair, cosigner: bool) -> Result<Signer, NoteError> {
        check_name(name)?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .or(malformed("Ed25519 key"))?;
        let kind = if cosigner {
            COSIGNATURE_TYPE
        } else {
            ED25519_TYPE
        };
        Ok(Signer {
            pair,
            key: VerifierKey {
                name: name.to_owned(),
                kind,
                public,
            },
        })
    }

    /// A fresh key named `name`, and its text form (for [`Signer::parse`]; keep it
    /// secret).
    pub fn generate(name: &str, cosigner: bool) -> Result<(Signer, String), NoteError> {
        use ring::rand::SecureRandom;
        let mut seed = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut seed)
            .or(malformed("random seed"))?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).or(malformed("seed"))?;
        let signer = Signer::new(name, pair, cosigner)?;
        let mut key = vec![signer.key.kind];
        key.extend_from_slice(&seed);
        let text = format!(
            "PRIVATE+KEY+{name}+{}+{}",
            hex(&signer.key.id()),
            B64.encode(key)
        );
        Ok((signer, text))
    }

    /// A signer from the text form `PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ seed)>`.
    pub fn parse(text: &str) -> Result<Signer, NoteError> {
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::Malformed("signer key"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return malformed("signer key");
        };
        let key = B64.decode(key).or(malformed("signer key"))?;
        let (&kind, seed) = key
            .split_first()
            .ok_or(NoteError::Malformed("signer key"))?;
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).or(malformed("signer key's seed"))?;
        let signer = Signer::new(name, pair, kind == COSIGNATURE_TYPE)?;
        if kind != signer.key.kind || hex(&signer.key.id()) != id {
            return malformed("signer key id");
        }
        Ok(signer)
    }

    /// The public half.
    pub fn verifier(&self) -> &VerifierKey {
        &self.key
    }

    /// The signature line this key adds to a note with `text` (a cosigner signs
    /// at `time`, seconds since the Unix epoch).
    pub fn line(&self, text: &str, time: u64) -> String {
        let mut blob = self.key.id().to_vec();
        if self.key.kind == COSIGNATURE_TYPE {
            blob.extend_from_slice(&time.to_be_bytes());
            blob.extend_from_slice(self.pair.sign(&cosigned(text, time)).as_ref());
        } else {
            blob.extend_from_slice(self.pair.sign(text.as_bytes()).as_ref());
        }
        format!("— {} {}\n", self.key.name, B64.encode(blob))
    }
}

/// What a cosignature signs.
fn cosigned(text: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{text}").into_bytes()
}

/// A signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key's name.
    pub name: String,
    /// The key id, then what the key's type puts there.
    pub blob: Vec<u8>,
}

/// A note: its text and its signatures, verified or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, with its final newline.
    pub text: String,
    /// Its signature lines, in order.
    pub signatures: Vec<Signature>,
}

impl Note {
    /// Reads a note (at most 100 signatures, as the specification allows).
    pub fn parse(note: &str) -> Result<Note, NoteError> {
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("note: no signature block"))?;
        let (text, block) = (&note[..split + 1], &note[split + 2..]);
        if text.chars().any(|c| c.is_control() && c != '\n') || !block.ends_with('\n') {
            return malformed("note");
        }
        let mut signatures = Vec::new();
        for line in block.lines() {
            let rest = line
                .strip_prefix("— ")
                .ok_or(NoteError::Malformed("signature line"))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or(NoteError::Malformed("signature line"))?;
            check_name(name)?;
            let blob = B64.decode(blob).or(malformed("signature"))?;
            if blob.len() < 5 {
                return malformed("signature");
            }
            signatures.push(Signature {
                name: name.to_owned(),
                blob,
            });
        }
        if signatures.is_empty() || signatures.len() > 100 {
            return malformed("note: 1 to 100 signatures");
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note with its signature lines.
    pub fn encode(&self) -> String {
        let mut out = format!("{}\n", self.text);
        for s in &self.signatures {
            out.push_str(&format!("— {} {}\n", s.name, B64.encode(&s.blob)));
        }
        out
    }

    /// Checks that `key` signed the text; for a cosigner, returns the time it
    /// cosigned at (0 for a plain signature).
    pub fn verify(&self, key: &VerifierKey) -> Result<u64, NoteError> {
        let id = key.id();
        let unsigned = || NoteError::Unsigned(key.name.clone());
        let ours = self
            .signatures
            .iter()
            .filter(|s| s.name == key.name && s.blob[..4] == id);
        let public = UnparsedPublicKey::new(&ED25519, &key.public);
        for s in ours {
            let rest = &s.blob[4..];
            let (message, time, signature) = if key.kind == COSIGNATURE_TYPE {
                if rest.len() != 8 + 64 {
                    continue;
                }
                let time = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
                (cosigned(&self.text, time), time, &rest[8..])
            } else {
                (self.text.as_bytes().to_vec(), 0, rest)
            };
            if public.verify(&message, signature).is_ok() {
                return Ok(time);
            }
        }
        Err(unsigned())
    }
}

/// A log's tree head in the C2SP `tlog-checkpoint` text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    /// The log's name, unique to it (e.g. `lienthong.gov.vn/audit/H99`).
    pub origin: String,
    /// How many records the tree holds.
    pub size: u64,
    /// Its RFC 9162 root hash.
    pub root: [u8; 32],
}

impl TreeHead {
    /// The note text: origin, size and base64 root, one a line.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Reads a checkpoint's text (extension lines are allowed and ignored).
    pub fn parse(text: &str) -> Result<TreeHead, NoteError> {
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return malformed("checkpoint");
        };
        let canonical = size == "0" || (!size.starts_with('0') && !size.is_empty());
        let size: u64 = match size.parse() {
            Ok(n) if canonical && size.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return malformed("checkpoint size"),
        };
        let root: [u8; 32] = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::Malformed("checkpoint root"))?;
        if origin.is_empty() || !text.ends_with('\n') {
            return malformed("checkpoint");
        }
        Ok(TreeHead {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests;
