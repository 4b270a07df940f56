#!/usr/bin/env python3
"""Write the committed seed corpora under fuzz/seeds/TARGET/ (deterministic for a given input).

    python3 fuzz/make-seeds.py [SEALBOX_BINARY]

Seeds come from the committed test vectors (tests/vectors): per algorithm suite and body layout
(framed with each frame length, non-framed), the smallest message whose keys the fuzz targets'
fixed keyring holds (the vectors' raw AES keys), and a few with other keys for the header parser.
With a sealbox binary, small messages in every suite are added, encrypted under that keyring.
The encryption-context seeds are the context fields of those headers.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
VECTORS = os.path.join(ROOT, "tests", "vectors")
SEEDS = os.path.join(FUZZ, "seeds")
SUITES = ["0014", "0046", "0078", "0114", "0146", "0178", "0214", "0346", "0378", "0478", "0578"]


def header_fields(msg):
    """(suite, framed, frame_length, context bytes) of a message header, or None."""
    try:
        v = msg[0]
        at = 2 if v == 1 else 1
        suite = msg[at : at + 2].hex()
        at += 2 + (16 if v == 1 else 32)
        n = int.from_bytes(msg[at : at + 2], "big")
        ec = msg[at + 2 : at + 2 + n]
        at += 2 + n
        count = int.from_bytes(msg[at : at + 2], "big")
        at += 2
        for _ in range(count):
            for _ in range(3):
                at += 2 + int.from_bytes(msg[at : at + 2], "big")
        content = msg[at]
        at += 1 + (5 if v == 1 else 0)
        frame = int.from_bytes(msg[at : at + 4], "big")
        return suite, content == 2, frame, ec
    except IndexError:
        return None


def vector_messages():
    """(message, ours) for the committed vectors; ours: decryptable by the fuzz keyring."""
    out = []
    for name in ("python-4.0.7", "net-4.0.1"):
        manifest = json.load(open(os.path.join(VECTORS, name, "manifest.json")))
        for test in manifest["tests"].values():
            keys = test.get("master-keys") or test.get("decryptionMethod") or []
            ours = any(k.get("type") == "raw" and str(k.get("key", "")).startswith("aes-") for k in keys if isinstance(k, dict))
            path = os.path.join(VECTORS, name, test["ciphertext"].removeprefix("file://"))
            out.append((open(path, "rb").read(), ours))
    legacy = os.path.join(VECTORS, "python-1.3.0-legacy")
    manifest = json.load(open(os.path.join(legacy, "manifests", "ciphertext.manifest")))
    for case in manifest["test_cases"]:
        out.append((open(os.path.join(legacy, case["ciphertext"]["filename"]), "rb").read(), False))
    return out


def sealbox_messages(binary):
    """Small messages in every suite under the fuzz keyring's AES-256 key."""
    out = []
    key = bytes([t * 16 + o for t in range(4) for o in range(10)])[:32]
    with tempfile.TemporaryDirectory() as tmp:
        keyfile = os.path.join(tmp, "aes-256")
        open(keyfile, "wb").write(key)
        for suite in SUITES:
            committing = suite in ("0478", "0578")
            for size, frame in ((0, 4096), (40, 16), (100, 64)):
                pt = os.path.join(tmp, "pt")
                open(pt, "wb").write(bytes(range(size)))
                ct = os.path.join(tmp, "ct")
                subprocess.run(
                    [binary, "encrypt", "-i", pt, "-o", ct, "--quiet", "--aes-key-file", keyfile,
                     "--key-namespace", "aws-raw-vectors-persistant", "--key-name", "aes-256",
                     "--suite", suite, "--frame-length", str(frame), "-c", "purpose=fuzz",
                     "--policy", "require" if committing else "forbid"],
                    check=True,
                )
                out.append(open(ct, "rb").read())
    return out


def write(target, blobs):
    d = os.path.join(SEEDS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for b in blobs:
        open(os.path.join(d, hashlib.sha1(b).hexdigest()[:16]), "wb").write(b)
    print(f"{target}: {len(set(blobs))} seeds")


def main():
    messages = vector_messages()
    chosen, others = {}, {}
    for msg, ours in sorted(messages, key=lambda m: (len(m[0]), m[0])):
        f = header_fields(msg)
        if f is None:
            continue
        suite, framed, frame, _ = f
        bucket = chosen if ours else others
        bucket.setdefault((suite, framed, frame), msg)
    picked = list(chosen.values()) + list(others.values())[:8]
    if len(sys.argv) > 1:
        picked += sealbox_messages(sys.argv[1])
    write("header", picked)
    write("decrypt", picked)
    # First byte: how many bytes each read hands the stream, minus one.
    write("stream_decrypt", [bytes([(7 * i) % 256]) + m for i, m in enumerate(picked)])
    contexts = sorted({header_fields(m)[3] for m in picked} | {b""})
    write("context", contexts)
    rnd = [hashlib.sha512(str(i).encode()).digest() * (i + 1) for i in range(12)]
    write("roundtrip", rnd)


main()
