use super::*;

// The example of golang.org/x/mod/sumdb/note, the reference implementation.
const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const LINE: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

#[test]
fn the_reference_note_is_signed_and_verified_byte_for_byte() {
    let signer = Signer::parse(SKEY).unwrap();
    assert_eq!(signer.verifier().encode(), VKEY);
    assert_eq!(signer.line(TEXT, 0), LINE);
    let key = VerifierKey::parse(VKEY).unwrap();
    let note = Note::parse(&format!("{TEXT}\n{LINE}")).unwrap();
    assert_eq!(note.text, TEXT);
    assert_eq!(note.encode(), format!("{TEXT}\n{LINE}"));
    assert_eq!(note.verify(&key), Ok(0));
    // A changed text, or another key of the same name, does not verify.
    let changed = Note::parse(&format!("{}\n{LINE}", TEXT.replace("answer", "Answer"))).unwrap();
    assert!(changed.verify(&key).is_err());
    let other = Signer::new(
        "PeterNeumann",
        Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap(),
        false,
    )
    .unwrap();
    assert!(note.verify(other.verifier()).is_err());
}

#[test]
fn mangled_keys_and_notes_are_refused() {
    let bytes = VKEY.as_bytes();
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] ^= 1;
        if let Ok(s) = std::str::from_utf8(&b) {
            assert!(VerifierKey::parse(s).is_err(), "{s}");
        }
    }
    for bad in [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", LINE.trim_end()),
        format!("{TEXT}\n— PeterNeumann\n"),
        format!("{TEXT}\n— Peter+Neumann x08g\n"),
        format!("a\u{7}b\n\n{LINE}"),
    ] {
        assert!(Note::parse(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_checkpoint_is_signed_by_the_log_and_cosigned_by_a_witness() {
    let head = TreeHead {
        origin: "lienthong.example/audit".into(),
        size: 1234,
        root: [9; 32],
    };
    let text = head.text();
    assert_eq!(TreeHead::parse(&text), Ok(head.clone()));
    let log = Signer::new(
        "lienthong.example/audit",
        Ed25519KeyPair::from_seed_unchecked(&[1; 32]).unwrap(),
        false,
    )
    .unwrap();
    let witness = Signer::new(
        "witness.example",
        Ed25519KeyPair::from_seed_unchecked(&[2; 32]).unwrap(),
        true,
    )
    .unwrap();
    let note = format!(
        "{text}\n{}{}",
        log.line(&text, 0),
        witness.line(&text, 1_800_000_000)
    );
    let note = Note::parse(&note).unwrap();
    assert_eq!(note.verify(log.verifier()), Ok(0));
    assert_eq!(note.verify(witness.verifier()), Ok(1_800_000_000));
    // The cosigner's key is typed: as a plain signer, its id differs.
    let plain = VerifierKey {
        kind: ED25519_TYPE,
        ..witness.verifier().clone()
    };
    assert!(note.verify(&plain).is_err());
    assert_eq!(
        VerifierKey::parse(&witness.verifier().encode()).as_ref(),
        Ok(witness.verifier())
    );
    // Another tree of the same size under the same signatures is refused.
    let forged = Note {
        text: TreeHead {
            root: [8; 32],
            ..head
        }
        .text(),
        ..note
    };
    assert!(forged.verify(log.verifier()).is_err());
    assert!(forged.verify(witness.verifier()).is_err());
    for bad in [
        "o\n01\nCQkJ\n",
        "o\n-1\nCQ==\n",
        "o\n5\n",
        "\n5\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n",
    ] {
        assert!(TreeHead::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_generated_key_reads_back_from_its_text() {
    let (signer, text) = Signer::generate("witness.h99", true).unwrap();
    let again = Signer::parse(&text).unwrap();
    assert_eq!(again.verifier(), signer.verifier());
    let line = signer.line("origin\n1\nAAAA\n", 1_795_000_000);
    let note = Note::parse(&format!("origin\n1\nAAAA\n\n{line}")).unwrap();
    assert_eq!(note.verify(again.verifier()), Ok(1_795_000_000));
}
