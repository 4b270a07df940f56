#!/usr/bin/env python3
"""Streaming interop between sealbox and the Python aws-encryption-sdk (its `stream` API).

Usage: interop_stream.py SEALBOX_BINARY WORKDIR

Both directions, with a raw AES-256 key, a multi-megabyte plaintext, several suites and frame
lengths: Python stream-encrypts and `sealbox decrypt` stream-decrypts, then `sealbox encrypt`
stream-encrypts and Python stream-decrypts. Prints one line per case and `N passed, N failed`.
"""
import os
import subprocess
import sys

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import (
    Algorithm,
    CommitmentPolicy,
    EncryptionKeyType,
    WrappingAlgorithm,
)
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey

NAMESPACE, NAME = "interop-ns", "interop-key"
CASES = [  # (suite, frame length, plaintext bytes)
    ("0578", 4096, 5 * 1024 * 1024 + 17),
    ("0478", 65536, 3 * 1024 * 1024),
    ("0378", 1024, 1024 * 1024 + 1),
    ("0178", 4096, 2 * 1024 * 1024),
]


def master_key(key: bytes) -> RawMasterKey:
    return RawMasterKey(
        provider_id=NAMESPACE,
        key_id=NAME.encode(),
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=key,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )


def main() -> int:
    sealbox, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    key = os.urandom(32)
    key_file = os.path.join(work, "key.bin")
    with open(key_file, "wb") as f:
        f.write(key)
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )
    mk = master_key(key)
    sealbox_key = ["--aes-key-file", key_file, "--key-namespace", NAMESPACE, "--key-name", NAME]
    passed = failed = 0
    for suite, frame, size in CASES:
        plaintext = os.urandom(size)
        pt_path = os.path.join(work, f"pt-{suite}")
        with open(pt_path, "wb") as f:
            f.write(plaintext)
        policy = [] if suite in ("0478", "0578") else ["--policy", "require-encrypt-allow-decrypt"]
        # Python writes, sealbox reads.
        py_ct = os.path.join(work, f"py-{suite}.msg")
        encrypt_policy = (
            CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
            if suite in ("0478", "0578")
            else CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
        )
        enc_client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=encrypt_policy)
        with open(pt_path, "rb") as src, open(py_ct, "wb") as dst:
            with enc_client.stream(
                mode="e",
                source=src,
                key_provider=mk,
                algorithm=Algorithm.get_by_id(int(suite, 16)),
                frame_length=frame,
                encryption_context={"direction": "python-to-sealbox"},
            ) as enc:
                for chunk in enc:
                    dst.write(chunk)
        out = subprocess.run(
            [sealbox, "decrypt", "-i", py_ct, "--quiet", *policy, *sealbox_key],
            capture_output=True,
        )
        ok = out.returncode == 0 and out.stdout == plaintext
        print(f"{'ok  ' if ok else 'FAIL'} python stream encrypt -> sealbox decrypt, suite {suite}, frame {frame}, {size} bytes"
              + ("" if ok else f": {out.stderr.decode(errors='replace')}"))
        passed, failed = passed + ok, failed + (not ok)

        # sealbox writes, Python reads.
        sb_ct = os.path.join(work, f"sb-{suite}.msg")
        enc_policy = [] if suite in ("0478", "0578") else ["--policy", "forbid"]
        subprocess.run(
            [sealbox, "encrypt", "-i", pt_path, "-o", sb_ct, "--quiet", "--suite", suite,
             "--frame-length", str(frame), "-c", "direction=sealbox-to-python", *enc_policy, *sealbox_key],
            check=True,
        )
        result = bytearray()
        try:
            with open(sb_ct, "rb") as src:
                with client.stream(mode="d", source=src, key_provider=mk) as dec:
                    for chunk in dec:
                        result.extend(chunk)
                    ok = bytes(result) == plaintext and dec.header.encryption_context.get("direction") == "sealbox-to-python"
        except Exception as e:  # noqa: BLE001 - report any SDK failure as a failed case
            print(f"  python error: {e!r}")
            ok = False
        print(f"{'ok  ' if ok else 'FAIL'} sealbox stream encrypt -> python stream decrypt, suite {suite}, frame {frame}, {size} bytes")
        passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
