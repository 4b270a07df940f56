#!/usr/bin/env python3
"""Encrypt a set of messages with the real Python AWS Encryption SDK, for sealbox to decrypt.

Usage: interop_encrypt.py [KEYS_MANIFEST] OUT_DIR

KEYS_MANIFEST defaults to tests/vectors/framework-keys.v3.json (a copy of the framework's
0002-keys.v3.json). OUT_DIR receives an awses-decrypt v2 set:

    OUT_DIR/manifest.json   {"manifest": {"type": "awses-decrypt", "version": 2}, "keys": "file://keys.json", ...}
    OUT_DIR/keys.json       a copy of KEYS_MANIFEST
    OUT_DIR/ciphertexts/ID
    OUT_DIR/plaintexts/NAME

It covers every raw key type (AES-128/192/256 and RSA-4096 with PKCS#1 and OAEP-SHA1/256/384/512,
RSA through the `rsa-4096-private` key) across v1 and v2 suites, non-framed and framed bodies
(including frames that divide the plaintext exactly), empty/ASCII/unicode/control-character
encryption contexts, empty to multi-frame plaintexts, every suite at least once and a few
two-key messages. Each message is decrypted again with the SDK before it is written.
The plaintexts and the list of tests are deterministic; the ciphertexts are not (random keys/IVs).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aws_encryption_sdk  # noqa: E402
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy  # noqa: E402

from interop_decrypt import Keys, ManifestError  # noqa: E402  pylint: disable=wrong-import-position

REPO = Path(__file__).resolve().parent.parent
DEFAULT_KEYS = REPO / "tests" / "vectors" / "framework-keys.v3.json"
PROVIDER_ID = "aws-raw-vectors-persistant"
RSA_KEY = "rsa-4096-private"


def aes(name: str) -> dict:
    return {"type": "raw", "key": name, "provider-id": PROVIDER_ID, "encryption-algorithm": "aes"}


def rsa(padding: str, hash_: str | None = None) -> dict:
    mk = {
        "type": "raw",
        "key": RSA_KEY,
        "provider-id": PROVIDER_ID,
        "encryption-algorithm": "rsa",
        "padding-algorithm": padding,
    }
    if hash_:
        mk["padding-hash"] = hash_
    return mk


# (label, master keys); the first master key generates the data key.
KEY_CONFIGS = [
    ("aes128", [aes("aes-128")]),
    ("aes192", [aes("aes-192")]),
    ("aes256", [aes("aes-256")]),
    ("rsa-pkcs1", [rsa("pkcs1")]),
    ("rsa-oaep-sha1", [rsa("oaep-mgf1", "sha1")]),
    ("rsa-oaep-sha256", [rsa("oaep-mgf1", "sha256")]),
    ("rsa-oaep-sha384", [rsa("oaep-mgf1", "sha384")]),
    ("rsa-oaep-sha512", [rsa("oaep-mgf1", "sha512")]),
]
MULTI_CONFIGS = [
    ("aes256+rsa-oaep-sha256", [aes("aes-256"), rsa("oaep-mgf1", "sha256")]),
    ("rsa-pkcs1+aes128", [rsa("pkcs1"), aes("aes-128")]),
    ("aes192+aes256", [aes("aes-192"), aes("aes-256")]),
]
MAIN_SUITES = [0x0014, 0x0178, 0x0378, 0x0478, 0x0578]
OTHER_SUITES = [0x0046, 0x0078, 0x0114, 0x0146, 0x0214, 0x0346]
FRAMES = [0, 512, 4096, 10240, 1152]  # the SDK wants multiples of 128
PLAINTEXTS = {"empty": 0, "tiny": 10, "small": 10240, "odd": 5003}
PLAINTEXT_ORDER = ["small", "tiny", "odd", "empty"]
CONTEXTS = [
    {},
    {"key1": "val1", "key2": "val2"},
    {"key1": "val1", "unicode_key_ловие": "unicode_value_Предисл"},
    {"key1": "val1", "\u0001\u0002\u0003": ' "D'},
]


def plan() -> list[dict]:
    """The deterministic list of messages to write."""
    tests = []

    def add(label: str, mks: list[dict], suite: int, frame: int, pt: str, ec_index: int) -> None:
        tid = f"py-{suite:04x}-{label}-f{frame}-{pt}-ec{ec_index}"
        tests.append({"id": tid, "master-keys": mks, "suite": suite, "frame": frame, "plaintext": pt, "ec": ec_index})

    for k, (label, mks) in enumerate(KEY_CONFIGS):
        for s, suite in enumerate(MAIN_SUITES):
            add(
                label,
                mks,
                suite,
                FRAMES[(k + s) % len(FRAMES)],
                PLAINTEXT_ORDER[(k + 2 * s) % len(PLAINTEXT_ORDER)],
                (3 * k + s) % len(CONTEXTS),
            )
    for i, suite in enumerate(OTHER_SUITES):
        label, mks = KEY_CONFIGS[(3 * i + 1) % len(KEY_CONFIGS)]
        add(label, mks, suite, FRAMES[(i + 1) % len(FRAMES)], PLAINTEXT_ORDER[i % 4], i % len(CONTEXTS))
    for i, (label, mks) in enumerate(MULTI_CONFIGS):
        for j, suite in enumerate((0x0378, 0x0578)):
            add(label, mks, suite, FRAMES[(i + j + 1) % len(FRAMES)], "small", (i + 2 * j) % len(CONTEXTS))
    return tests


def plaintext_bytes(name: str) -> bytes:
    return random.Random(f"sealbox-interop-{name}").randbytes(PLAINTEXTS[name])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", type=Path, metavar="[KEYS_MANIFEST] OUT_DIR")
    args = ap.parse_args(argv)
    if len(args.paths) == 1:
        keys_path, out = DEFAULT_KEYS, args.paths[0]
    elif len(args.paths) == 2:
        keys_path, out = args.paths
    else:
        ap.error("expected [KEYS_MANIFEST] OUT_DIR")
    logging.disable(logging.CRITICAL)

    try:
        keys = Keys(keys_path)
    except (ManifestError, OSError, ValueError, KeyError) as exc:
        print(f"error: {keys_path}: {exc}", file=sys.stderr)
        return 2
    clients = {
        1: aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT),
        2: aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT),
    }

    (out / "ciphertexts").mkdir(parents=True, exist_ok=True)
    (out / "plaintexts").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(keys_path, out / "keys.json")
    plaintexts = {name: plaintext_bytes(name) for name in PLAINTEXTS}

    manifest_tests = {}
    for t in plan():
        algorithm = Algorithm.get_by_id(t["suite"])
        client = clients[algorithm.message_format_version]
        provider = keys.provider(t["master-keys"])
        plaintext = plaintexts[t["plaintext"]]
        ciphertext, header = client.encrypt(
            source=plaintext,
            key_provider=provider,
            algorithm=algorithm,
            frame_length=t["frame"],
            encryption_context=dict(CONTEXTS[t["ec"]]),
        )
        # self-check: the SDK reads back what it wrote, with the same key set
        decrypted, _ = clients[2].decrypt(source=ciphertext, key_provider=provider)
        if decrypted != plaintext or header.algorithm != algorithm:
            print(f"error: {t['id']}: Python round trip failed", file=sys.stderr)
            return 1
        (out / "ciphertexts" / t["id"]).write_bytes(ciphertext)
        manifest_tests[t["id"]] = {
            "ciphertext": f"file://ciphertexts/{t['id']}",
            "master-keys": t["master-keys"],
            "result": {"output": {"plaintext": f"file://plaintexts/{t['plaintext']}"}},
        }
    for name, data in plaintexts.items():
        (out / "plaintexts" / name).write_bytes(data)
    manifest = {
        "manifest": {"type": "awses-decrypt", "version": 2},
        "client": {"name": "aws/aws-encryption-sdk-python", "version": aws_encryption_sdk.__version__},
        "keys": "file://keys.json",
        "tests": dict(sorted(manifest_tests.items())),
    }
    with open(out / "manifest.json", "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(manifest_tests)} messages to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
