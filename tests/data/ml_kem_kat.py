#!/usr/bin/env python3
"""The expected values of the AWS KMS ML-KEM keyring's known-answer test
(`src/keyring/kms/ml_kem.rs`, `known_answers_step_by_step`), computed independently of sealbox:
Python's hmac/hashlib for SP 800-108 counter mode with HMAC-SHA-384, and `cryptography`'s AESGCM
for the data key wrap, from the definitions of the ESDK specification's
`aws-kms-ml-kem-keyring.md`. Run with the venv's Python (scripts/requirements.txt)."""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

shared_secret = bytes(range(32))
salt = bytes(range(0x40, 0x60))
arn = b"arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
data_key = bytes(range(0xA0, 0xC0))
kem_ciphertext = bytes((i * 7) & 0xFF for i in range(1088))  # ML-KEM-768's length


def serialize(ec):  # the message format's encryption context serialization
    out = struct.pack(">H", len(ec))
    for k in sorted(ec):
        kb, vb = k.encode(), ec[k].encode()
        out += struct.pack(">H", len(kb)) + kb + struct.pack(">H", len(vb)) + vb
    return out


for name, ec in [("context", {"purpose": "kat", "tenant": "a"}), ("empty context", {})]:
    fields = [b"AWS-KMS-ML-KEM-KEY-DERIVATION", b"ML-KEM-768", b"HMAC_SHA384", arn, b"\x01",
              serialize(ec) if ec else b""]
    fixed_info = b"".join(struct.pack(">H", len(f)) + f for f in fields)
    block = hmac.new(shared_secret, (1).to_bytes(4, "big") + fixed_info + b"\x00" + salt
                     + (256).to_bytes(4, "big"), hashlib.sha384).digest()
    wrapping_key = block[:32]
    sealed = AESGCM(wrapping_key).encrypt(b"\x00" * 12, data_key, fixed_info)
    print(f"{name}:")
    print("  fixed info  ", fixed_info.hex())
    print("  wrapping key", wrapping_key.hex())
    print("  edk after the KEM ciphertext", (salt + sealed).hex())
