"""Raw ECDH keyring interop: sealbox and the Python ESDK 4.0.7 + MPL 1.11.3, offline.

Usage: interop_ecdh.py SEALBOX_BIN WORKDIR [--write-vectors DIR]

For each curve (P-256, P-384, P-521) it makes two key pairs, the sender's A and the recipient's
B (and a third, C, for the negative checks), and checks all three key-agreement schemes both
ways:

- Python encrypts (static: A's private key and B's public key; ephemeral: B's public key) and
  sealbox decrypts with the static keyring from either side (A+B, or B's private key with A's
  public key) and by public-key discovery (B's private key);
- sealbox encrypts (`--ecdh-private-key`/`--ecdh-public-key`, static and ephemeral) and Python
  decrypts the same three ways;
- a message for B is refused by discovery with C's key, on both sides.

Discovery only decrypts and ephemeral only encrypts, as the specification says. Prints one line
per check and ends with a count by scheme and curve, then "N passed, M failed"; exits 1 if any
failed.

With --write-vectors DIR it also writes, from Python's messages, an awses-decrypt v5 manifest
with `raw-ecdh` key descriptions and its keys manifest (`ecc-private` keys): the offline vectors
committed under tests/vectors/raw-ecdh/ (plaintexts are fixed bytes, so only the keys and the
ciphertexts change when it is rerun).
"""

import argparse
import base64
import json
import logging
import os
import subprocess
import sys

import aws_encryption_sdk
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CreateRawEcdhKeyringInput,
    EphemeralPrivateKeyToStaticPublicKeyInput,
    PublicKeyDiscoveryInput,
    RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey,
    RawEcdhStaticConfigurationsPublicKeyDiscovery,
    RawEcdhStaticConfigurationsRawPrivateKeyToStaticPublicKey,
    RawPrivateKeyToStaticPublicKeyInput,
)
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from interop_run import Run, expect_failure

# sealbox name, cryptography curve, MPL curve spec, test-vector name
CURVES = [
    ("p256", ec.SECP256R1(), "ECC_NIST_P256", "ecc-256"),
    ("p384", ec.SECP384R1(), "ECC_NIST_P384", "ecc-384"),
    ("p521", ec.SECP521R1(), "ECC_NIST_P521", "ecc-521"),
]
CONTEXT = {"purpose": "ecdh interop", "tenant": "t-1"}
PLAINTEXT = bytes(range(256)) * 3 + b"raw ecdh"

# The refusals checked below make the ESDK log "Error on closing" with a traceback: expected.
logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)

MPL = AwsCryptographicMaterialProviders(MaterialProvidersConfig())
CLIENT = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
)


class KeyPair:
    def __init__(self, curve, workdir, name):
        key = ec.generate_private_key(curve)
        self.private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.private_path = os.path.join(workdir, f"{name}-private.pem")
        self.public_path = os.path.join(workdir, f"{name}-public.der")
        with open(self.private_path, "wb") as f:
            f.write(self.private)
        with open(self.public_path, "wb") as f:
            f.write(self.public)


def py_keyring(spec, scheme, private=None, public=None):
    if scheme == "static":
        config = RawEcdhStaticConfigurationsRawPrivateKeyToStaticPublicKey(
            RawPrivateKeyToStaticPublicKeyInput(
                sender_static_private_key=private, recipient_public_key=public
            )
        )
    elif scheme == "ephemeral":
        config = RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey(
            EphemeralPrivateKeyToStaticPublicKeyInput(recipient_public_key=public)
        )
    else:
        config = RawEcdhStaticConfigurationsPublicKeyDiscovery(
            PublicKeyDiscoveryInput(recipient_static_private_key=private)
        )
    return MPL.create_raw_ecdh_keyring(
        CreateRawEcdhKeyringInput(key_agreement_scheme=config, curve_spec=spec)
    )


def py_encrypt(keyring, algorithm=None):
    kwargs = {"algorithm": algorithm} if algorithm else {}
    ct, _ = CLIENT.encrypt(
        source=PLAINTEXT, keyring=keyring, encryption_context=CONTEXT, **kwargs
    )
    return ct


def py_decrypt(keyring, ciphertext):
    pt, header = CLIENT.decrypt(source=ciphertext, keyring=keyring)
    for k, v in CONTEXT.items():
        assert header.encryption_context.get(k) == v, "encryption context lost"
    return pt


class Sealbox:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.n = 0

    def _run(self, op, data, curve, private=None, public=None, extra=()):
        self.n += 1
        src = os.path.join(self.workdir, f"in-{self.n}")
        dst = os.path.join(self.workdir, f"out-{self.n}")
        with open(src, "wb") as f:
            f.write(data)
        cmd = [self.binary, op, "--quiet", "-i", src, "-o", dst, "--ecdh-curve", curve]
        if private:
            cmd += ["--ecdh-private-key", private]
        if public:
            cmd += ["--ecdh-public-key", public]
        cmd += list(extra)
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"sealbox {op} failed: {p.stderr.strip()}")
        with open(dst, "rb") as f:
            return f.read()

    def encrypt(self, curve, private=None, public=None, suite=None):
        extra = [a for k, v in CONTEXT.items() for a in ("-c", f"{k}={v}")]
        if suite:
            extra += ["--suite", suite]
        return self._run("encrypt", PLAINTEXT, curve, private, public, extra)

    def decrypt(self, ciphertext, curve, private=None, public=None):
        return self._run(
            "decrypt", ciphertext, curve, private, public, ["--policy", "require-encrypt-allow-decrypt"]
        )


def expect_plaintext(pt):
    assert pt == PLAINTEXT, "plaintext differs"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sealbox")
    ap.add_argument("workdir")
    ap.add_argument("--write-vectors", metavar="DIR")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    sb = Sealbox(args.sealbox, args.workdir)
    run = Run()
    vectors = Vectors(args.write_vectors) if args.write_vectors else None

    for name, curve, spec, vname in CURVES:
        a = KeyPair(curve, args.workdir, f"{name}-a")
        b = KeyPair(curve, args.workdir, f"{name}-b")
        c = KeyPair(curve, args.workdir, f"{name}-c")
        py_static = py_keyring(spec, "static", a.private, b.public)
        py_recipient_static = py_keyring(spec, "static", b.private, a.public)
        py_discovery = py_keyring(spec, "discovery", b.private)
        py_ephemeral = py_keyring(spec, "ephemeral", public=b.public)
        py_wrong = py_keyring(spec, "discovery", c.private)

        # Python encrypts, sealbox decrypts.
        ct_static = py_encrypt(py_static)
        ct_ephemeral = py_encrypt(py_ephemeral)
        ct_static_unsigned = py_encrypt(
            py_static, Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
        )
        run.check(f"{name} python static -> sealbox static", (name, "static -> static"),
                  lambda: expect_plaintext(sb.decrypt(ct_static, name, a.private_path, b.public_path)))
        run.check(f"{name} python static (0478) -> sealbox static", (name, "static -> static"),
                  lambda: expect_plaintext(sb.decrypt(ct_static_unsigned, name, a.private_path, b.public_path)))
        run.check(f"{name} python static -> sealbox static, recipient's keys", (name, "static -> static"),
                  lambda: expect_plaintext(sb.decrypt(ct_static, name, b.private_path, a.public_path)))
        run.check(f"{name} python static -> sealbox discovery", (name, "static -> discovery"),
                  lambda: expect_plaintext(sb.decrypt(ct_static, name, b.private_path)))
        run.check(f"{name} python ephemeral -> sealbox discovery", (name, "ephemeral -> discovery"),
                  lambda: expect_plaintext(sb.decrypt(ct_ephemeral, name, b.private_path)))
        run.check(f"{name} python ephemeral -> sealbox discovery, another key refused", (name, "negative"),
                  lambda: expect_failure(lambda: sb.decrypt(ct_ephemeral, name, c.private_path)))

        # sealbox encrypts, Python decrypts.
        sb_static = sb.encrypt(name, a.private_path, b.public_path)
        sb_ephemeral = sb.encrypt(name, public=b.public_path)
        sb_static_unsigned = sb.encrypt(name, a.private_path, b.public_path, suite="0478")
        run.check(f"{name} sealbox static -> python static", (name, "static -> static"),
                  lambda: expect_plaintext(py_decrypt(py_static, sb_static)))
        run.check(f"{name} sealbox static (0478) -> python static", (name, "static -> static"),
                  lambda: expect_plaintext(py_decrypt(py_static, sb_static_unsigned)))
        run.check(f"{name} sealbox static -> python static, recipient's keys", (name, "static -> static"),
                  lambda: expect_plaintext(py_decrypt(py_recipient_static, sb_static)))
        run.check(f"{name} sealbox static -> python discovery", (name, "static -> discovery"),
                  lambda: expect_plaintext(py_decrypt(py_discovery, sb_static)))
        run.check(f"{name} sealbox ephemeral -> python discovery", (name, "ephemeral -> discovery"),
                  lambda: expect_plaintext(py_decrypt(py_discovery, sb_ephemeral)))
        run.check(f"{name} sealbox ephemeral -> python discovery, another key refused", (name, "negative"),
                  lambda: expect_failure(lambda: py_decrypt(py_wrong, sb_ephemeral)))

        if vectors:
            vectors.add_curve(vname, a, b, c)
            vectors.add(f"{vname}-static-static", ct_static, vname, "static", "sender", vname)
            vectors.add(f"{vname}-static-0478-static", ct_static_unsigned, vname, "static", "sender", vname)
            vectors.add(f"{vname}-static-recipient-static", ct_static, vname, "static", "sender", f"{vname}-recipient")
            vectors.add(f"{vname}-static-discovery", ct_static, vname, "discovery", "recipient", vname)
            vectors.add(f"{vname}-ephemeral-discovery", ct_ephemeral, vname, "discovery", "recipient", vname)
            vectors.add(f"{vname}-ephemeral-discovery-other-key", ct_ephemeral, vname, "discovery",
                        "recipient", f"{vname}-other", error="a message for another recipient")

    if vectors:
        vectors.write()
    print("by curve and scheme (encrypt -> decrypt):")
    for (curve, what), n in sorted(run.by.items()):
        print(f"  {curve} {what}: {n}")
    print(f"{run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


class Vectors:
    """An awses-decrypt v5 manifest of Python's messages, with `raw-ecdh` key descriptions."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.keys = {}
        self.tests = {}
        os.makedirs(os.path.join(outdir, "ciphertexts"), exist_ok=True)
        os.makedirs(os.path.join(outdir, "plaintexts"), exist_ok=True)
        with open(os.path.join(outdir, "plaintexts", "small"), "wb") as f:
            f.write(PLAINTEXT)

    def add_curve(self, vname, a, b, c):
        def key(sender, recipient, sender_public, recipient_public):
            return {
                "encrypt": True,
                "decrypt": True,
                "algorithm": "ecdh",
                "type": "ecc-private",
                "bits": int(vname.split("-")[1]),
                "encoding": "pem",
                "sender-material": sender.decode(),
                "recipient-material": recipient.decode(),
                "public-key-encoding": "base64-der",
                "sender-material-public-key": base64.b64encode(sender_public).decode(),
                "recipient-material-public-key": base64.b64encode(recipient_public).decode(),
                "key-id": vname,
            }

        self.keys[vname] = key(a.private, b.private, a.public, b.public)
        # The same pair seen from the recipient: B's private key, A's public key.
        self.keys[f"{vname}-recipient"] = key(b.private, a.private, b.public, a.public)
        # A recipient the messages are not for.
        self.keys[f"{vname}-other"] = key(a.private, c.private, a.public, c.public)

    def add(self, test_id, ciphertext, vname, schema, role, key, error=None):
        with open(os.path.join(self.outdir, "ciphertexts", test_id), "wb") as f:
            f.write(ciphertext)
        description = {"type": "raw-ecdh", "ecc-curve": vname, "schema": schema, role: key}
        test = {
            "type": "negative-decrypt" if error else "positive-decrypt",
            "ciphertext": f"file://ciphertexts/{test_id}",
            "decryptKeyDescription": description,
            "description": f"Python ESDK 4.0.7 + MPL 1.11.3, {test_id}",
        }
        if error:
            test["errorDescription"] = error
        else:
            test["result"] = "file://plaintexts/small"
        self.tests[test_id] = test

    def write(self):
        keys = {"manifest": {"type": "keys", "version": 3}, "keys": self.keys}
        manifest = {
            "manifest": {"type": "awses-decrypt", "version": 5},
            "client": {"name": "aws-encryption-sdk-python", "version": "4.0.7"},
            "keys": "file://keys.json",
            "tests": self.tests,
        }
        for name, doc in [("keys.json", keys), ("manifest.json", manifest)]:
            with open(os.path.join(self.outdir, name), "w") as f:
                json.dump(doc, f, indent=2, sort_keys=True)
                f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
