#!/usr/bin/env python3
"""Verify a lienthong audit export with nothing but Python's standard library.

    python3 docs/verify_audit.py export.jsonl certs/audit-signing.pub

The key is the one you trust, obtained from the gateway's operator: the PEM file
`lienthong pki init` writes, or its raw 32 bytes as 64 hex digits.

Recomputes every record's hash from the canonical encoding in docs/AUDIT.md and
checks the chain, the sequence numbers, and that each checkpoint carries the hash of
the record before it and is signed by the given key. Ed25519 signatures need the
`cryptography` package; without it they are reported as not checked.
Exit status 0 when the export verifies, 1 otherwise.
"""
import base64
import datetime
import hashlib
import json
import struct
import sys

DECISIONS = {"granted": 1, "denied": 2, "invalid": 3}
STRINGS = ["request_id", "agency_code", "certificate_fingerprint", "officer_id",
           "operation", "subject_personal_id", "purpose", "legal_basis", "case_ref"]


def micros(rfc3339):
    t = datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ")
    delta = t - datetime.datetime(1970, 1, 1)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def string(s):
    b = s.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def canonical(r):
    out = bytes([1]) + struct.pack(">Qq", r["seq"], micros(r["at"]))
    for key in STRINGS:
        out += string(r[key])
    out += bytes([DECISIONS[r["decision"]]]) + string(r["reason"])
    out += struct.pack(">I", r["outcome"]) + struct.pack(">I", len(r["fields_released"]))
    for f in r["fields_released"]:
        out += string(f)
    return out + string(r["cache"])


def record_hash(r):
    return hashlib.sha256(bytes.fromhex(r["prev_hash"]) + canonical(r)).hexdigest()


def signature_ok(c, key_hex):
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None
    message = (b"lienthong audit checkpoint v1\0" + struct.pack(">Q", c["seq"])
               + bytes.fromhex(c["hash"]) + struct.pack(">q", micros(c["at"])))
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex)).verify(
            bytes.fromhex(c["signature"]), message)
        return True
    except Exception:
        return False


def verify(lines, key_hex):
    head, last_seq, sealed, unchecked = None, None, None, 0
    for line in lines:
        if not line.strip():
            continue
        item = json.loads(line)
        if "record" in item:
            r = item["record"]
            if last_seq is not None and r["seq"] != last_seq + 1:
                return False, last_seq + 1, "record %d is missing or out of order" % (last_seq + 1)
            if head is not None and r["prev_hash"] != head:
                return False, r["seq"], "record %d is not chained" % r["seq"]
            if record_hash(r) != r["hash"]:
                return False, r["seq"], "record %d is altered" % r["seq"]
            head, last_seq = r["hash"], r["seq"]
        else:
            c = item["checkpoint"]
            ok = signature_ok(c, key_hex) if c["public_key"] == key_hex else False
            if ok is False:
                return False, c["seq"], "checkpoint %d is not signed by the key" % c["seq"]
            unchecked += ok is None
            if last_seq is None or c["seq"] != last_seq or c["hash"] != head:
                return False, c["seq"], "checkpoint %d does not match the records" % c["seq"]
            sealed = c["seq"]
    if last_seq is not None and sealed != last_seq:
        return False, last_seq + 1, "no checkpoint covers the last record: the tail may be cut"
    note = " (%d signatures not checked: no `cryptography`)" % unchecked if unchecked else ""
    return True, 0, "verified up to record %s%s" % (last_seq, note)


def trusted_key(arg):
    """64 hex digits, or an Ed25519 SubjectPublicKeyInfo PEM file."""
    try:
        with open(arg, encoding="ascii") as f:
            pem = f.read()
    except OSError:
        return arg.lower()
    body = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))
    der = base64.b64decode(body)
    if len(der) != 44 or der[:12] != bytes.fromhex("302a300506032b6570032100"):
        sys.exit("%s: not an Ed25519 public key" % arg)
    return der[12:].hex()


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        ok, bad, detail = verify(f, trusted_key(sys.argv[2]))
    print(("ok: " if ok else "FAILED at record %d: " % bad) + detail)
    sys.exit(0 if ok else 1)
