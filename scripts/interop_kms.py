#!/usr/bin/env python3
"""KMS interop with the real Python AWS Encryption SDK (aws-encryption-sdk 4.x), against a local KMS.

Usage:
    interop_kms.py create-key [--multi-region] [--region R] [--alias alias/NAME]
                                                         print the ARN of a new symmetric key
    interop_kms.py encrypt DIR --key-arn ARN [--count N]  write DIR/NNN.ct and DIR/NNN.pt
    interop_kms.py decrypt DIR --key-arn ARN              decrypt every DIR/*.ct, compare with .pt

The KMS endpoint is AWS_ENDPOINT_URL, which must be a loopback URL (moto_server started by
scripts/kms): this script refuses to talk to anything else. Credentials and region come from the
usual environment variables (scripts/kms sets dummy ones).

The Python side uses StrictAwsKmsMasterKeyProvider (and, on decrypt, also
DiscoveryAwsKmsMasterKeyProvider with a discovery filter on the key's account). Messages carry the
encryption context {"purpose": "sealbox-kms-interop", "index": "NNN"}, the same as
`examples/kms_interop.rs` writes and checks. Decrypt prints `N passed, N failed` and exits 1 if
anything failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import boto3
import botocore.session

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from aws_encryption_sdk.key_providers.kms import DiscoveryFilter

PURPOSE = "sealbox-kms-interop"


def require_loopback_endpoint() -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    host = urlparse(endpoint).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"AWS_ENDPOINT_URL must point at a local KMS on the loopback interface, not {endpoint!r}")
    return endpoint


def plaintext(i: int) -> bytes:
    length = [0, 1, 4095, 4096, 4097, 10_000, 100][i % 7] + i
    return bytes((b * 31 + i) % 256 for b in range(length))


def context(index: str) -> dict:
    return {"purpose": PURPOSE, "index": index}


def create_key(multi_region: bool, region: str | None, alias: str | None) -> None:
    endpoint = require_loopback_endpoint()
    kms = boto3.client("kms", endpoint_url=endpoint, region_name=region)
    meta = kms.create_key(Description="sealbox interop", MultiRegion=multi_region)["KeyMetadata"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    print(meta["Arn"])


def encrypt(directory: Path, arn: str, count: int) -> None:
    require_loopback_endpoint()
    directory.mkdir(parents=True, exist_ok=True)
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[arn], botocore_session=botocore.session.Session()
    )
    suites = [
        Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    ]
    for i in range(count):
        index = f"{i:03}"
        pt = plaintext(i)
        ct, _header = client.encrypt(
            source=pt,
            key_provider=provider,
            encryption_context=context(index),
            algorithm=suites[i % len(suites)],
            frame_length=4096 if i % 3 == 0 else 1024,
        )
        (directory / f"{index}.ct").write_bytes(ct)
        (directory / f"{index}.pt").write_bytes(pt)
    print(f"wrote {count} messages to {directory}")


def decrypt(directory: Path, arn: str) -> int:
    require_loopback_endpoint()
    account = arn.split(":")[4]
    partition = arn.split(":")[1]
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    session = botocore.session.Session()
    providers = {
        "strict": aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn], botocore_session=session),
        "discovery": aws_encryption_sdk.DiscoveryAwsKmsMasterKeyProvider(
            discovery_filter=DiscoveryFilter(account_ids=[account], partition=partition),
            botocore_session=session,
        ),
    }
    passed = failed = 0
    files = sorted(directory.glob("*.ct"))
    for ct_path in files:
        index = ct_path.stem
        expected = ct_path.with_suffix(".pt").read_bytes()
        ok = True
        for name, provider in providers.items():
            try:
                pt, header = client.decrypt(source=ct_path.read_bytes(), key_provider=provider)
            except Exception as e:  # noqa: BLE001 - report every failure and go on
                print(f"FAIL {index} ({name}): {type(e).__name__}: {e}")
                ok = False
                continue
            ec = header.encryption_context
            if pt != expected or ec.get("purpose") != PURPOSE or ec.get("index") != index:
                print(f"FAIL {index} ({name}): plaintext or encryption context differs")
                ok = False
        if ok:
            passed += 1
        else:
            failed += 1
    if not files:
        print(f"FAIL: no .ct files in {directory}")
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("create-key")
    p.add_argument("--multi-region", action="store_true")
    p.add_argument("--region", help="default: the configured region")
    p.add_argument("--alias", help="an alias to create for the key, alias/NAME")
    for name in ("encrypt", "decrypt"):
        p = sub.add_parser(name)
        p.add_argument("dir", type=Path)
        p.add_argument("--key-arn", required=True)
        if name == "encrypt":
            p.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    if args.command == "create-key":
        create_key(args.multi_region, args.region, args.alias)
        return 0
    if args.command == "encrypt":
        encrypt(args.dir, args.key_arn, args.count)
        return 0
    return decrypt(args.dir, args.key_arn)


if __name__ == "__main__":
    sys.exit(main())
