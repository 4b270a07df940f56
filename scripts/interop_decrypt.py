#!/usr/bin/env python3
"""Decrypt an awses-decrypt manifest with the real Python AWS Encryption SDK (aws-encryption-sdk 4.x).

Usage: interop_decrypt.py [-v] [-j JOBS] DIR_OR_MANIFEST

DIR_OR_MANIFEST is a directory holding `manifest.json` (or the manifest file itself) in the
awses-decrypt layout (versions 1 to 4):

    {"manifest": {"type": "awses-decrypt", "version": 2}, "keys": "file://keys.json",
     "tests": {ID: {"ciphertext": "file://ciphertexts/ID", "master-keys": [MK, ...],
                    "result": {"output": {"plaintext": "file://plaintexts/NAME"}}}}}

with a keys manifest (v1 to v3). Every test whose master keys are all `"type": "raw"` is decrypted
through the SDK's own raw master keys (RawMasterKey + WrappingKey, no MPL needed), trying any of the
listed keys, and the plaintext is compared with the expected file. Tests that expect an error pass
if decryption fails. Other tests (aws-kms keys, the RequiredEncryptionContext CMM) are skipped.

Prints one line per failure, then `N passed, N failed` (followed by `, N skipped` when some tests
were skipped) and exits 1 if anything failed, 2 on a usage or manifest error.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
import time
from pathlib import Path

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.base import MasterKeyProvider, MasterKeyProviderConfig
from aws_encryption_sdk.key_providers.raw import RawMasterKey

RSA_PADDINGS = {
    ("pkcs1", None): WrappingAlgorithm.RSA_PKCS1,
    ("pkcs1", "sha1"): WrappingAlgorithm.RSA_PKCS1,
    ("oaep-mgf1", "sha1"): WrappingAlgorithm.RSA_OAEP_SHA1_MGF1,
    ("oaep-mgf1", "sha256"): WrappingAlgorithm.RSA_OAEP_SHA256_MGF1,
    ("oaep-mgf1", "sha384"): WrappingAlgorithm.RSA_OAEP_SHA384_MGF1,
    ("oaep-mgf1", "sha512"): WrappingAlgorithm.RSA_OAEP_SHA512_MGF1,
}
AES_WRAPPING = {
    128: WrappingAlgorithm.AES_128_GCM_IV12_TAG16_NO_PADDING,
    192: WrappingAlgorithm.AES_192_GCM_IV12_TAG16_NO_PADDING,
    256: WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
}
KEY_TYPES = {
    "symmetric": EncryptionKeyType.SYMMETRIC,
    "private": EncryptionKeyType.PRIVATE,
    "public": EncryptionKeyType.PUBLIC,
}


class ManifestError(Exception):
    """The manifest or keys file is malformed or uses something this script does not support."""


class SkipTest(Exception):
    """The test needs something other than raw keys."""


class MultiMasterKeyProvider(MasterKeyProvider):
    """A plain container of master keys: on decrypt, any member may decrypt; on encrypt, the first
    member generates the data key and every member wraps it."""

    provider_id = "sealbox-interop-multi"
    _config_class = MasterKeyProviderConfig
    vend_masterkey_on_decrypt = False

    def _new_master_key(self, key_id: bytes):  # pragma: no cover - never vended
        from aws_encryption_sdk.exceptions import InvalidKeyIdError

        raise InvalidKeyIdError(f"no master key {key_id!r} in this provider")


def resolve_uri(uri: str, base: Path) -> Path:
    if not isinstance(uri, str) or not uri.startswith("file://"):
        raise ManifestError(f"unsupported URI {uri!r}")
    return base / uri[len("file://") :]


class Keys:
    """A keys manifest (v1..v3) and a cache of the SDK objects built from it."""

    def __init__(self, path: Path) -> None:
        doc = json.loads(path.read_text(encoding="utf-8"))
        meta = doc.get("manifest", {})
        if meta.get("type") != "keys":
            raise ManifestError(f"{path}: not a keys manifest: {meta}")
        self.version = int(meta.get("version", 0))
        self.keys: dict[str, dict] = doc["keys"]
        self._wrapping: dict[tuple, WrappingKey] = {}
        self._providers: dict[str, MultiMasterKeyProvider] = {}

    def material(self, name: str) -> tuple[dict, bytes]:
        key = self.keys.get(name)
        if key is None:
            raise ManifestError(f"unknown key {name!r}")
        material = key.get("material")
        if isinstance(material, list):  # keys manifest v1/v2
            material = key.get("line-separator", "").join(material)
        if not isinstance(material, str):
            raise ManifestError(f"key {name!r} has no material")
        encoding = key.get("encoding")
        if encoding == "base64":
            return key, base64.b64decode(material)
        if encoding == "pem":
            return key, material.encode("ascii")
        raise ManifestError(f"key {name!r}: unsupported encoding {encoding!r}")

    def key_id(self, name: str) -> str:
        """The key name written in messages: `key-id` (required by keys v3), else the entry name."""
        return self.keys[name].get("key-id", name)

    def wrapping_key(self, mk: dict) -> WrappingKey:
        name = mk.get("key")
        key, raw = self.material(name)
        alg = mk.get("encryption-algorithm", key.get("algorithm"))
        if alg == "aes":
            bits = int(key.get("bits") or len(raw) * 8)
            if len(raw) * 8 != bits or bits not in AES_WRAPPING:
                raise ManifestError(f"key {name!r}: bad AES key length")
            wrapping_alg = AES_WRAPPING[bits]
        elif alg == "rsa":
            pad = (mk.get("padding-algorithm"), mk.get("padding-hash"))
            if pad not in RSA_PADDINGS:
                raise ManifestError(f"key {name!r}: unsupported RSA padding {pad}")
            wrapping_alg = RSA_PADDINGS[pad]
        else:
            raise ManifestError(f"key {name!r}: unsupported encryption algorithm {alg!r}")
        key_type = KEY_TYPES.get(key.get("type"))
        if key_type is None:
            raise ManifestError(f"key {name!r}: unsupported key type {key.get('type')!r}")
        cache_key = (name, wrapping_alg.name)
        if cache_key not in self._wrapping:
            self._wrapping[cache_key] = WrappingKey(
                wrapping_algorithm=wrapping_alg, wrapping_key=raw, wrapping_key_type=key_type
            )
        return self._wrapping[cache_key]

    def master_key(self, mk: dict) -> RawMasterKey:
        if mk.get("type") != "raw":
            raise SkipTest(f"master key type {mk.get('type')!r}")
        return RawMasterKey(
            key_id=self.key_id(mk["key"]),
            provider_id=mk["provider-id"],
            wrapping_key=self.wrapping_key(mk),
        )

    def provider(self, mks: list[dict]) -> MultiMasterKeyProvider:
        """One provider per distinct list of master keys, built once and reused."""
        if not mks:
            raise ManifestError("test without master keys")
        for mk in mks:
            if mk.get("type") != "raw":
                raise SkipTest(f"master key type {mk.get('type')!r}")
        cache_key = json.dumps(mks, sort_keys=True)
        provider = self._providers.get(cache_key)
        if provider is None:
            provider = MultiMasterKeyProvider()
            for mk in mks:
                provider.add_master_key_provider(self.master_key(mk))
            self._providers[cache_key] = provider
        return provider


class Runner:
    def __init__(self, manifest_path: Path, verbose: bool = False) -> None:
        self.manifest_path = manifest_path
        self.base = manifest_path.parent
        doc = json.loads(manifest_path.read_text(encoding="utf-8"))
        meta = doc.get("manifest", {})
        if meta.get("type") != "awses-decrypt":
            raise ManifestError(f"{manifest_path}: not an awses-decrypt manifest: {meta}")
        self.version = int(meta.get("version", 0))
        if self.version not in (1, 2, 3, 4):
            raise ManifestError(f"{manifest_path}: awses-decrypt version {self.version} is not supported")
        self.tests: dict[str, dict] = doc["tests"]
        self.keys = Keys(resolve_uri(doc["keys"], self.base))
        self.client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
        )
        self.verbose = verbose
        self._plaintexts: dict[Path, bytes] = {}

    def expected(self, test: dict) -> bytes | None:
        """The expected plaintext, or None if the test expects an error."""
        if self.version == 1:
            uri = test["plaintext"]
        else:
            result = test.get("result", {})
            if "error" in result:
                return None
            uri = result.get("output", {}).get("plaintext")
            if uri is None:
                raise ManifestError("test has neither result.output.plaintext nor result.error")
        path = resolve_uri(uri, self.base)
        if path not in self._plaintexts:
            self._plaintexts[path] = path.read_bytes()
        return self._plaintexts[path]

    def decrypt(self, test: dict, ciphertext: bytes) -> bytes:
        mks = test.get("master-keys", [])
        try:
            return self.decrypt_with(test, ciphertext, mks)
        except Exception:  # pylint: disable=broad-except
            if len(mks) < 2:
                raise
        # Several master keys mean any one of them may decrypt. The framework's RSA scenarios wrap
        # the data key under the same key name with PKCS#1 v1.5 and with OAEP; OpenSSL >= 3.2 answers
        # a PKCS#1 v1.5 decryption of the OAEP-wrapped key with a pseudo-random "key" (implicit
        # rejection) instead of an error, and the SDK then fails on the header tag instead of moving
        # on to the next EDK. So try each master key on its own, OAEP first, before giving up.
        ordered = sorted(mks, key=lambda mk: mk.get("padding-algorithm") == "pkcs1")
        last: Exception | None = None
        for mk in ordered:
            try:
                return self.decrypt_with(test, ciphertext, [mk])
            except Exception as exc:  # pylint: disable=broad-except
                last = exc
        assert last is not None
        raise last

    def decrypt_with(self, test: dict, ciphertext: bytes, mks: list[dict]) -> bytes:
        provider = self.keys.provider(mks)
        if test.get("decryption-method") == "streaming-unsigned-only":
            with self.client.stream(mode="decrypt-unsigned", source=ciphertext, key_provider=provider) as dec:
                plaintext = dec.read()
                header = dec.header
        else:
            plaintext, header = self.client.decrypt(source=ciphertext, key_provider=provider)
        # awses-decrypt v4: the caller reproduces an encryption context. With the Default CMM every
        # reproduced entry must be in the header with the same value (checked here, since the
        # native SDK only validates it through MPL CMMs).
        reproduced = test.get("encryption-context") or {}
        for key, value in reproduced.items():
            if header.encryption_context.get(key) != value:
                raise ValueError(f"reproduced encryption context entry {key!r} does not match the header")
        return plaintext

    def run_one(self, tid: str) -> tuple[str, str]:
        """Returns (status, message): status is 'pass', 'fail' or 'skip'."""
        test = self.tests[tid]
        try:
            cmm = test.get("cmm", "Default")
            if cmm != "Default":
                raise SkipTest(f"cmm {cmm!r} needs the MPL")
            for mk in test.get("master-keys", []):
                if mk.get("type") != "raw":
                    raise SkipTest(f"master key type {mk.get('type')!r}")
            expected = self.expected(test)
            ciphertext = resolve_uri(test["ciphertext"], self.base).read_bytes()
            self.keys.provider(test.get("master-keys", []))  # manifest errors are not decrypt errors
        except SkipTest as exc:
            return "skip", str(exc)
        except (ManifestError, KeyError, OSError, ValueError) as exc:
            return "fail", f"bad test: {type(exc).__name__}: {exc}"
        try:
            plaintext = self.decrypt(test, ciphertext)
        except Exception as exc:  # pylint: disable=broad-except
            if expected is None:
                return "pass", f"failed as expected: {type(exc).__name__}: {exc}"
            return "fail", f"decrypt failed: {type(exc).__name__}: {exc}"
        if expected is None:
            return "fail", "decrypted, but the manifest expects an error: " + str(
                test["result"]["error"].get("error-description", "")
            )
        if plaintext != expected:
            return "fail", f"plaintext mismatch ({len(plaintext)} bytes, expected {len(expected)})"
        return "pass", ""


_RUNNER: Runner | None = None


def _worker_init(manifest_path: str, verbose: bool) -> None:
    global _RUNNER  # pylint: disable=global-statement
    logging.disable(logging.CRITICAL)
    _RUNNER = Runner(Path(manifest_path), verbose)


def _worker_run(tid: str) -> tuple[str, str, str]:
    assert _RUNNER is not None
    return (tid, *_RUNNER.run_one(tid))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path, help="directory containing manifest.json, or the manifest itself")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("-v", "--verbose", action="store_true", help="also print passes and skips")
    args = ap.parse_args(argv)
    logging.disable(logging.CRITICAL)

    manifest_path = args.path / "manifest.json" if args.path.is_dir() else args.path
    try:
        runner = Runner(manifest_path, args.verbose)
    except (ManifestError, OSError, ValueError, KeyError) as exc:
        print(f"error: {manifest_path}: {exc}", file=sys.stderr)
        return 2

    tids = sorted(runner.tests)
    start = time.monotonic()
    if args.jobs > 1:
        import multiprocessing

        with multiprocessing.Pool(args.jobs, _worker_init, (str(manifest_path), args.verbose)) as pool:
            results = list(pool.imap(_worker_run, tids, chunksize=16))
    else:
        results = [(tid, *runner.run_one(tid)) for tid in tids]

    counts = {"pass": 0, "fail": 0, "skip": 0}
    for tid, status, message in results:
        counts[status] += 1
        if status == "fail":
            print(f"FAIL {tid}: {message}", flush=True)
        elif args.verbose:
            print(f"{status.upper()} {tid}{': ' + message if message else ''}", flush=True)
    if args.verbose:
        print(f"({time.monotonic() - start:.1f}s)", file=sys.stderr)
    summary = f"{counts['pass']} passed, {counts['fail']} failed"
    if counts["skip"]:
        summary += f", {counts['skip']} skipped"
    print(summary)
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
