#!/usr/bin/env python3
"""Verify a lienthong audit export, or a whole archived log, with nothing but
Python's standard library.

    python3 docs/verify_audit.py export.jsonl certs/audit-signing.pub
    python3 docs/verify_audit.py data/archive/ live.jsonl certs/audit-signing.pub

The key is the one you trust, obtained from the gateway's operator: the PEM file
`lienthong pki init` writes, or its raw 32 bytes as 64 hex digits.

Recomputes every record's hash from the canonical encoding in docs/AUDIT.md and
checks the chain, the sequence numbers, and that each checkpoint carries the hash of
the record before it and is signed by the given key. Ed25519 signatures need the
`cryptography` package; without it they are reported as not checked.

Several files (a directory stands for its archive files, audit-*.jsonl.gz, in
order) are verified as one log: each must end with a checkpoint over its last
record, and each must continue the one before (the next number, chained to its
last hash). A gap names the archive file that would hold it. The log must start at
record 1, unless records noted as expired (an "AuditLog/Expired" record) account
for those before; an archive that an "AuditLog/Archived" record names must have
the SHA-256 that record gives.
Exit status 0 when everything verifies, 1 otherwise.
"""
import base64
import datetime
import gzip
import hashlib
import json
import os
import struct
import sys
import zlib

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
    out += string(r["cache"])
    # A trace id is encoded only when the record has one (older records have none).
    if r.get("trace_id"):
        out += string(r["trace_id"])
    return out


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


class Failed(Exception):
    def __init__(self, seq, detail):
        super().__init__(detail)
        self.seq, self.detail = seq, detail


def archive_name(first, last):
    return "audit-%020d-%020d.jsonl.gz" % (first, last)


class Log:
    """Records and checkpoints of one or more files, checked as one chain."""

    def __init__(self, key_hex):
        self.key_hex, self.head, self.last_seq, self.start = key_hex, None, None, None
        self.unchecked, self.notes, self.digests = 0, [], {}

    def record(self, r, name):
        if self.last_seq is not None and r["seq"] != self.last_seq + 1:
            first = self.last_seq + 1
            raise Failed(first, "records %d to %d are missing (%s is missing)"
                         % (first, r["seq"] - 1, archive_name(first, r["seq"] - 1))
                         if r["seq"] > first else "record %d is out of order" % r["seq"])
        if self.head is not None and r["prev_hash"] != self.head:
            raise Failed(r["seq"], "record %d is not chained" % r["seq"])
        if record_hash(r) != r["hash"]:
            raise Failed(r["seq"], "record %d is altered (in %s)" % (r["seq"], name))
        if self.start is None:
            self.start = (r["seq"], r["prev_hash"])
        self.head, self.last_seq = r["hash"], r["seq"]
        if r["operation"] in ("AuditLog/Archived", "AuditLog/Expired"):
            note = dict(kv.split("=", 1) for kv in r["reason"].split(" "))
            note["file"], note["expired"] = r["case_ref"], r["operation"].endswith("Expired")
            digest = self.digests.get(note["file"])
            if "sha256" in note and digest is not None and digest != note["sha256"]:
                raise Failed(r["seq"], "%s is not the archive record %d noted: altered or replaced"
                             % (note["file"], r["seq"]))
            self.notes.append(note)

    def checkpoint(self, c):
        ok = signature_ok(c, self.key_hex) if c["public_key"] == self.key_hex else False
        if ok is False:
            raise Failed(c["seq"], "checkpoint %d is not signed by the key" % c["seq"])
        self.unchecked += ok is None
        if self.last_seq is None or c["seq"] != self.last_seq or c["hash"] != self.head:
            raise Failed(c["seq"], "checkpoint %d does not match the records" % c["seq"])

    def read(self, name, lines):
        sealed = None
        for line in lines:
            if not line.strip():
                continue
            item = json.loads(line)
            if "record" in item:
                self.record(item["record"], name)
                sealed = None
            else:
                self.checkpoint(item["checkpoint"])
                sealed = item["checkpoint"]["seq"]
        if self.last_seq is not None and sealed != self.last_seq:
            raise Failed(self.last_seq + 1, "no checkpoint covers the last record of %s: "
                         "the tail may be cut" % name)

    def whole(self):
        """The records before the first one read must have been noted as expired."""
        if self.start is None or self.start[0] == 1:
            return
        seq, prev = self.start
        expired = [n for n in self.notes if n["expired"]]
        covered = 0
        for n in sorted(expired, key=lambda n: int(n["first"])):
            if int(n["first"]) <= covered + 1:
                covered = max(covered, int(n["last"]))
        joined = any(int(n["last"]) + 1 == seq and n["last_hash"] == prev for n in expired)
        if covered + 1 < seq or not joined:
            named = [n["file"] for n in self.notes if not n["expired"] and int(n["first"]) < seq]
            raise Failed(1, "records %d to %d are missing and were not expired (%s is missing)"
                         % (covered + 1, seq - 1, ", ".join(named) or archive_name(covered + 1, seq - 1)))


def files_of(args):
    for arg in args:
        if os.path.isdir(arg):
            for name in sorted(os.listdir(arg)):
                if name.startswith("audit-") and name.endswith(".jsonl.gz"):
                    yield os.path.join(arg, name)
        else:
            yield arg


def verify_files(paths, key_hex):
    log = Log(key_hex)
    try:
        for path in paths:
            name = os.path.basename(path)
            with open(path, "rb") as f:
                raw = f.read()
            digest = hashlib.sha256(raw).hexdigest()
            if raw[:2] == b"\x1f\x8b":
                try:
                    raw = gzip.decompress(raw)
                except (OSError, EOFError, zlib.error) as e:
                    raise Failed((log.last_seq or 0) + 1, "%s is damaged: %s" % (name, e))
            try:
                log.read(name, raw.decode("utf-8").splitlines())
            except (ValueError, KeyError, TypeError) as e:
                raise Failed((log.last_seq or 0) + 1, "%s is damaged: %s" % (name, e))
            log.digests[name] = digest
        if len(paths) > 1 or paths[0].endswith(".jsonl.gz"):
            log.whole()
    except Failed as failed:
        return False, failed.seq, failed.detail
    note = " (%d signatures not checked: no `cryptography`)" % log.unchecked if log.unchecked else ""
    return True, 0, "verified up to record %s%s" % (log.last_seq, note)


def verify(lines, key_hex):
    """One export's lines: its first record's prev_hash is taken as given."""
    log = Log(key_hex)
    try:
        log.read("the export", lines)
    except Failed as failed:
        return False, failed.seq, failed.detail
    note = " (%d signatures not checked: no `cryptography`)" % log.unchecked if log.unchecked else ""
    return True, 0, "verified up to record %s%s" % (log.last_seq, note)


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
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    paths = list(files_of(sys.argv[1:-1]))
    if not paths:
        sys.exit("no file to verify")
    ok, bad, detail = verify_files(paths, trusted_key(sys.argv[-1]))
    print(("ok: " if ok else "FAILED at record %d: " % bad) + detail)
    sys.exit(0 if ok else 1)
