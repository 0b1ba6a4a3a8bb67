#!/usr/bin/env python3
"""Check a lienthong Merkle proof with nothing but the proof document, the log's
public key and Python (Ed25519 signatures need the `cryptography` package).

    lienthong audit prove --seq 42 --json > proof.json
    python3 docs/verify_proof.py proof.json certs/audit-signing.pub

An inclusion proof shows that one record is in the log as a signed checkpoint has
it: the record's hash (recomputed from the record when the document carries it,
docs/AUDIT.md), its leaf hash SHA-256(0x00 || record hash), and the audit path
lead to the checkpoint's Merkle root (RFC 9162, section 2.1.3.2). A consistency
proof shows that the later checkpoint's tree extends the earlier one's: nothing
in the earlier tree was changed, removed or reordered (section 2.1.4.2). Each
checkpoint must be signed by the given key twice: over the chain's head, and as a
C2SP signed note whose text is the log's origin, the tree size and the base64
root.

Exit status 0 when the proof holds, 1 otherwise.
"""
import base64
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify_audit import record_hash, signature_ok, trusted_key  # noqa: E402


class Failed(Exception):
    pass


def sha256(b):
    return hashlib.sha256(b).digest()


def leaf_hash(entry):
    return sha256(b"\x00" + entry)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def root_from_inclusion(index, size, leaf, path):
    """RFC 9162, 2.1.3.2."""
    if index >= size:
        raise Failed("entry %d is not in a tree of %d" % (index, size))
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Failed("the proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Failed("the proof is too short")
    return r


def check_consistency(first, second, first_root, second_root, path):
    """RFC 9162, 2.1.4.2."""
    if first == 0 or first > second:
        raise Failed("no consistency proof goes from %d to %d" % (first, second))
    if first == second:
        if path or first_root != second_root:
            raise Failed("equal sizes need an empty proof and equal roots")
        return
    if first & (first - 1) == 0:
        path = [first_root] + path
    if not path:
        raise Failed("the proof is empty")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Failed("the proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Failed("the proof is too short")
    if fr != first_root:
        raise Failed("the first root differs")
    if sr != second_root:
        raise Failed("the second root differs")


def origin(key):
    return "lienthong/audit/" + sha256(key)[:8].hex()


def note_signed(text, blob, key):
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(blob[4:], text.encode("utf-8"))
        return True
    except Exception:
        return False


class Checker:
    def __init__(self, key_hex):
        self.key_hex, self.key = key_hex, bytes.fromhex(key_hex)
        self.unchecked = 0

    def checkpoint(self, c, what):
        """The checkpoint's root, once both its signatures hold."""
        if c.get("public_key") != self.key_hex:
            raise Failed("%s is signed by another key" % what)
        ok = signature_ok(c, self.key_hex)
        if ok is False:
            raise Failed("%s: its signature does not verify" % what)
        note = c.get("note", "")
        split = note.rfind("\n\n")
        if not c.get("root") or split < 0:
            raise Failed("%s has no Merkle root" % what)
        text, lines = note[:split + 1], note[split + 2:].splitlines()
        name = origin(self.key)
        if text.split("\n")[:3] != [name, str(c["seq"]), base64.b64encode(bytes.fromhex(c["root"])).decode()]:
            raise Failed("%s: its note signs another tree head" % what)
        key_id = sha256(name.encode() + b"\n\x01" + self.key)[:4]
        signed = None
        for line in lines:
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
                continue
            blob = base64.b64decode(parts[2])
            if blob[:4] == key_id:
                signed = note_signed(text, blob, self.key)
                if signed is not False:
                    break
        if signed is False or (signed is None and ok is not None):
            raise Failed("%s: its note is not signed by the key" % what)
        if ok is None or signed is None:
            self.unchecked += 1
        return bytes.fromhex(c["root"])

    def inclusion(self, p):
        root = self.checkpoint(p["checkpoint"], "the checkpoint")
        seq, index, size = p["seq"], p["leaf_index"], p["tree_size"]
        if p["checkpoint"]["seq"] != size or seq != index + 1:
            raise Failed("the sizes do not match the checkpoint")
        rh = bytes.fromhex(p["record_hash"])
        r = p.get("record")
        if r is not None:
            if r["seq"] != seq:
                raise Failed("the record is %d, not %d" % (r["seq"], seq))
            if record_hash(r) != p["record_hash"] or r["hash"] != p["record_hash"]:
                raise Failed("record %d's contents do not match its hash: altered" % seq)
        leaf = leaf_hash(rh)
        if leaf.hex() != p["leaf_hash"]:
            raise Failed("leaf_hash is not the leaf hash of record_hash")
        path = [bytes.fromhex(h) for h in p["hashes"]]
        if root_from_inclusion(index, size, leaf, path) != root:
            raise Failed("record %d is not in the signed tree: the root differs" % seq)
        return "record %d is in the tree of %d records that %s signed" % (seq, size, origin(self.key))

    def consistency(self, p):
        second = self.checkpoint(p["second"], "the second checkpoint")
        if "first" not in p:
            raise Failed("no checkpoint at the first size: its root is not known")
        first = self.checkpoint(p["first"], "the first checkpoint")
        a, b = p["first_size"], p["second_size"]
        if p["first"]["seq"] != a or p["second"]["seq"] != b:
            raise Failed("the sizes do not match the checkpoints")
        path = [bytes.fromhex(h) for h in p["hashes"]]
        try:
            check_consistency(a, b, first, second, path)
        except Failed as e:
            raise Failed("the trees are not consistent: %s" % e)
        return "the tree of %d records that %s signed extends its tree of %d" % (b, origin(self.key), a)


def check(document, key_hex):
    checker = Checker(key_hex)
    try:
        if "inclusion" in document:
            what = checker.inclusion(document["inclusion"])
        elif "consistency" in document:
            what = checker.consistency(document["consistency"])
        else:
            raise Failed("not a proof document")
    except (Failed, KeyError, ValueError, TypeError) as e:
        return False, str(e) if isinstance(e, Failed) else "malformed: %r" % e
    if checker.unchecked:
        what += " (signatures not checked: no `cryptography`)"
    return True, what


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        ok, what = check(json.load(f), trusted_key(sys.argv[2]))
    print(("ok: " if ok else "FAILED: ") + what)
    sys.exit(0 if ok else 1)
