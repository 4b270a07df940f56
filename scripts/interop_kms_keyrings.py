"""AWS KMS RSA and AWS KMS ECDH keyring interop: sealbox and the Python ESDK 4.0.7 + MPL 1.11.3.

Usage: interop_kms_keyrings.py SEALBOX_BIN WORKDIR [--no-local-ml-kem]

Needs a KMS endpoint in the standard AWS configuration that can do what these keyrings ask of
KMS: scripts/interop-kms-keyrings points AWS_ENDPOINT_URL at the KMS stand-in of
tests/kms_standin/ (which STANDS IN FOR AWS KMS: real RSA Decrypt, DeriveSharedSecret and
GetPublicKey over keys it holds) in front of moto_server, on 127.0.0.1. Both sides use the same
keys:

- KMS RSA, for RSAES_OAEP_SHA_1 and RSAES_OAEP_SHA_256 on an RSA_2048 and an RSA_3072 key:
  Python encrypts with the public key and sealbox decrypts with KMS Decrypt (`--kms-rsa-key`),
  and sealbox encrypts (`--rsa-public-key`, suite 0478) and Python decrypts;
- KMS ECDH, on P-256, P-384 and P-521 with two KMS keys A and B: Python encrypts A to B
  (KmsPrivateKeyToStaticPublicKey) and sealbox decrypts with A's static keyring, B's (from the
  other side) and B's discovery keyring; sealbox encrypts A to B and Python decrypts the same
  three ways; a message for B is refused by discovery with a third key C, on both sides;
- KMS ML-KEM, which the Python library does not have: sealbox's CLI alone, for ML-KEM-512, 768
  and 1024, encapsulating with KMS and locally (`--ml-kem-public-key`), decrypting with KMS
  Decapsulate (the stand-in's ML-KEM, kyber-py, is another implementation than sealbox's aws-lc).

Prints one line per check and ends with counts by keyring and direction, then
"N passed, M failed"; exits 1 if any failed.
"""

import argparse
import logging
import os
import subprocess
import sys

import aws_encryption_sdk
import boto3
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CreateAwsKmsEcdhKeyringInput,
    CreateAwsKmsRsaKeyringInput,
    KmsEcdhStaticConfigurationsKmsPrivateKeyToStaticPublicKey,
    KmsEcdhStaticConfigurationsKmsPublicKeyDiscovery,
    KmsPrivateKeyToStaticPublicKeyInput,
    KmsPublicKeyDiscoveryInput,
)
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from cryptography.hazmat.primitives import serialization

from interop_run import Run, expect_failure

# The refusals checked below make the ESDK log "Error on closing" with a traceback: expected.
logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)

MPL = AwsCryptographicMaterialProviders(MaterialProvidersConfig())
CLIENT = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)
KMS = boto3.client("kms")
CONTEXT = {"purpose": "kms keyring interop", "tenant": "t-1"}
PLAINTEXT = bytes(range(256)) * 3 + b"kms keyrings"
# The KMS RSA keyring takes only suites without a signature.
UNSIGNED = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY

RSA_ALGORITHMS = [("RSAES_OAEP_SHA_1", "oaep-sha1"), ("RSAES_OAEP_SHA_256", "oaep-sha256")]
# sealbox curve, KMS key spec (also the MPL curve spec)
CURVES = [("p256", "ECC_NIST_P256"), ("p384", "ECC_NIST_P384"), ("p521", "ECC_NIST_P521")]


def create_key(spec, usage, workdir):
    """A stand-in key: its ARN, and its public key as DER and as PEM files."""
    arn = KMS.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["Arn"]
    der = KMS.get_public_key(KeyId=arn)["PublicKey"]
    if spec.startswith("ML_KEM"):  # cryptography reads no ML-KEM-512 key; sealbox takes DER
        pem = b""
    else:
        pem = serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    name = arn.rsplit("/", 1)[1]
    paths = {}
    for ext, data in [("der", der), ("pem", pem)]:
        paths[ext] = os.path.join(workdir, f"{name}.{ext}")
        with open(paths[ext], "wb") as f:
            f.write(data)
    return arn, der, pem, paths


def rsa_keyring(arn, algorithm, public_pem=None):
    return MPL.create_aws_kms_rsa_keyring(
        CreateAwsKmsRsaKeyringInput(
            kms_key_id=arn,
            encryption_algorithm=algorithm,
            public_key=public_pem,
            kms_client=KMS,
        )
    )


def ecdh_keyring(spec, ours, theirs_der=None):
    if theirs_der is None:
        scheme = KmsEcdhStaticConfigurationsKmsPublicKeyDiscovery(
            KmsPublicKeyDiscoveryInput(recipient_kms_identifier=ours)
        )
    else:
        scheme = KmsEcdhStaticConfigurationsKmsPrivateKeyToStaticPublicKey(
            KmsPrivateKeyToStaticPublicKeyInput(
                sender_kms_identifier=ours, recipient_public_key=theirs_der
            )
        )
    return MPL.create_aws_kms_ecdh_keyring(
        CreateAwsKmsEcdhKeyringInput(key_agreement_scheme=scheme, curve_spec=spec, kms_client=KMS)
    )


def py_encrypt(keyring, algorithm=None):
    kwargs = {"algorithm": algorithm} if algorithm else {}
    ct, _ = CLIENT.encrypt(source=PLAINTEXT, keyring=keyring, encryption_context=CONTEXT, **kwargs)
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

    def _run(self, op, data, flags):
        self.n += 1
        src = os.path.join(self.workdir, f"in-{self.n}")
        dst = os.path.join(self.workdir, f"out-{self.n}")
        with open(src, "wb") as f:
            f.write(data)
        p = subprocess.run(
            [self.binary, op, "--quiet", "-i", src, "-o", dst, *flags],
            capture_output=True,
            text=True,
        )
        if p.returncode != 0:
            raise RuntimeError(f"sealbox {op} failed: {p.stderr.strip()}")
        with open(dst, "rb") as f:
            return f.read()

    def encrypt(self, flags):
        context = [a for k, v in CONTEXT.items() for a in ("-c", f"{k}={v}")]
        return self._run("encrypt", PLAINTEXT, [*flags, *context])

    def decrypt(self, ciphertext, flags):
        return self._run("decrypt", ciphertext, flags)


def expect_plaintext(pt):
    assert pt == PLAINTEXT, "plaintext differs"


def rsa_checks(run, sb, workdir):
    for spec in ["RSA_2048", "RSA_3072"]:
        arn, _, pem, paths = create_key(spec, "ENCRYPT_DECRYPT", workdir)
        for kms_name, flag in RSA_ALGORITHMS:
            tag = f"KMS RSA {spec} {kms_name}"
            sealbox_flags = ["--kms-rsa-key", arn, "--rsa-padding", flag]

            def py_to_sb():
                ct = py_encrypt(rsa_keyring(arn, kms_name, public_pem=pem), UNSIGNED)
                expect_plaintext(sb.decrypt(ct, sealbox_flags))

            def sb_to_py():
                ct = sb.encrypt([*sealbox_flags, "--rsa-public-key", paths["pem"], "--suite", "0478"])
                expect_plaintext(py_decrypt(rsa_keyring(arn, kms_name), ct))

            run.check(f"{tag}: Python encrypts, sealbox decrypts", "KMS RSA Python -> sealbox", py_to_sb)
            run.check(f"{tag}: sealbox encrypts, Python decrypts", "KMS RSA sealbox -> Python", sb_to_py)


def ecdh_checks(run, sb, workdir):
    for curve, spec in CURVES:
        a, a_der, _, a_paths = create_key(spec, "KEY_AGREEMENT", workdir)
        b, b_der, _, b_paths = create_key(spec, "KEY_AGREEMENT", workdir)
        c, _, _, _ = create_key(spec, "KEY_AGREEMENT", workdir)
        tag = f"KMS ECDH {curve}"
        base = ["--ecdh-curve", curve]
        sealbox_readers = {
            "A static": [*base, "--kms-ecdh-key", a, "--ecdh-public-key", b_paths["der"]],
            "B static": [*base, "--kms-ecdh-key", b, "--ecdh-public-key", a_paths["der"]],
            "B discovery": [*base, "--kms-ecdh-key", b],
        }
        python_readers = {
            "A static": lambda: ecdh_keyring(spec, a, b_der),
            "B static": lambda: ecdh_keyring(spec, b, a_der),
            "B discovery": lambda: ecdh_keyring(spec, b),
        }
        from_python = py_encrypt(ecdh_keyring(spec, a, b_der))
        from_sealbox = {}

        def sb_encrypt():
            from_sealbox["ct"] = sb.encrypt(sealbox_readers["A static"])

        run.check(f"{tag}: sealbox encrypts A to B (static)", "KMS ECDH sealbox encrypts", sb_encrypt)
        for who, flags in sealbox_readers.items():
            run.check(
                f"{tag}: Python A->B, sealbox decrypts as {who}",
                "KMS ECDH Python -> sealbox",
                lambda flags=flags: expect_plaintext(sb.decrypt(from_python, flags)),
            )
        for who, keyring in python_readers.items():
            run.check(
                f"{tag}: sealbox A->B, Python decrypts as {who}",
                "KMS ECDH sealbox -> Python",
                lambda keyring=keyring: expect_plaintext(py_decrypt(keyring(), from_sealbox["ct"])),
            )
        run.check(
            f"{tag}: sealbox refuses a message for B with C's discovery keyring",
            "KMS ECDH refusals",
            lambda: expect_failure(lambda: sb.decrypt(from_python, [*base, "--kms-ecdh-key", c])),
        )
        run.check(
            f"{tag}: Python refuses a message for B with C's discovery keyring",
            "KMS ECDH refusals",
            lambda: expect_failure(lambda: py_decrypt(ecdh_keyring(spec, c), from_sealbox["ct"])),
        )


def expect_refusal(fn, words):
    try:
        fn()
    except Exception as e:  # noqa: BLE001: the message is what is checked
        assert words in str(e), f"refused, but not saying {words!r}: {e}"
        return
    raise AssertionError(f"expected a refusal saying {words!r}")


def ml_kem_checks(run, sb, workdir, local_encapsulation):
    for bits in ["512", "768", "1024"]:
        arn, _, _, paths = create_key(f"ML_KEM_{bits}", "ENCAPSULATE_DECAPSULATE", workdir)
        flags = ["--kms-ml-kem-key", arn, "--ml-kem-parameter-set", bits]
        local = ["--ml-kem-public-key", paths["der"]]
        if not local_encapsulation:
            # The rustcrypto backend has no ML-KEM: local encapsulation must say so.
            run.check(
                f"KMS ML-KEM-{bits}: sealbox refuses local encapsulation on this backend",
                "KMS ML-KEM sealbox CLI (no other implementation)",
                lambda flags=flags, local=local: expect_refusal(
                    lambda: sb.encrypt([*flags, *local]), "needs the aws-lc backend"
                ),
            )
        sources = [("KMS", [])] + ([("local", local)] if local_encapsulation else [])
        for source, extra in sources:
            run.check(
                f"KMS ML-KEM-{bits}: sealbox encrypts ({source} encapsulation) and decrypts",
                "KMS ML-KEM sealbox CLI (no other implementation)",
                lambda flags=flags, extra=extra: expect_plaintext(
                    sb.decrypt(sb.encrypt([*flags, *extra]), flags)
                ),
            )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sealbox")
    ap.add_argument("workdir")
    ap.add_argument(
        "--no-local-ml-kem",
        action="store_true",
        help="the CLI's backend has no ML-KEM (rustcrypto): check that local encapsulation says so",
    )
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint.startswith("http://127.0.0.1:"):
        sys.exit(f"AWS_ENDPOINT_URL must be the loopback KMS stand-in, not {endpoint!r}")
    sb = Sealbox(args.sealbox, args.workdir)
    run = Run()
    rsa_checks(run, sb, args.workdir)
    ecdh_checks(run, sb, args.workdir)
    ml_kem_checks(run, sb, args.workdir, local_encapsulation=not args.no_local_ml_kem)
    print("by keyring and direction:")
    for tally, n in sorted(run.by.items()):
        print(f"  {tally}: {n}")
    print(f"{run.passed} passed, {run.failed} failed")
    sys.exit(1 if run.failed else 0)


if __name__ == "__main__":
    main()
