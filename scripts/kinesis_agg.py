#!/usr/bin/env python3
"""The Python side of sealbox-kinesis's interoperability tests (kinesis/tests/): the reference
`aws-kinesis-agg` package aggregates and de-aggregates KPL records, and the reference Python
`aws-encryption-sdk` decrypts every user record.

    kinesis_agg.py decrypt MODE < records.json     # MODE: none, encrypt-then-aggregate,
                                                   #       aggregate-then-encrypt
    kinesis_agg.py aggregate < user-records.json
    kinesis_agg.py deaggregate < aggregated.json

Input and output are JSON on stdin and stdout; binary data is base64.

decrypt: {"key": HEX, "namespace": NS, "key_name": NAME,
          "records": [{"partition_key": PK, "sequence_number": SEQ, "data": B64}, ...]}
      -> {"records": [{"partition_key": PK, "sequence_number": SEQ, "data": B64 plaintext}, ...]}
   one output record per user record; any record that fails to decrypt or de-aggregate fails the
   whole run (exit status 1), since the test expects every one to decrypt.

aggregate: {"records": [{"partition_key": PK, "explicit_hash_key": EHK or null, "data": B64}]}
      -> {"aggregates": [{"partition_key": PK, "explicit_hash_key": EHK, "data": B64}, ...]}
   with aws_kinesis_agg's RecordAggregator and its default size limit.

deaggregate: {"data": B64} -> {"records": [{"partition_key": PK, "data": B64}, ...]}
"""

from __future__ import annotations

import base64
import json
import sys

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKeyProvider
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import iter_deaggregate_records


def provider(namespace: str, key_name: str, key: bytes) -> RawMasterKeyProvider:
    class Static(RawMasterKeyProvider):
        provider_id = namespace

        def _get_raw_key(self, key_id):
            return WrappingKey(
                wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
                wrapping_key=key,
                wrapping_key_type=EncryptionKeyType.SYMMETRIC,
            )

    p = Static()
    p.add_master_key(key_name.encode())
    return p


def lambda_record(pk: str, seq: str, data: bytes) -> dict:
    """A record as aws_kinesis_agg's de-aggregator reads it (the Lambda event's shape)."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": pk,
            "sequenceNumber": seq,
            "approximateArrivalTimestamp": 0,
            "data": base64.b64encode(data).decode(),
        }
    }


def deaggregate(pk: str, seq: str, data: bytes) -> list[tuple[str, bytes]]:
    out = []
    for r in iter_deaggregate_records([lambda_record(pk, seq, data)]):
        raw = r["kinesis"]["data"]
        out.append((r["kinesis"]["partitionKey"], base64.b64decode(raw)))
    return out


def decrypt(mode: str, doc: dict) -> dict:
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    keys = provider(doc["namespace"], doc["key_name"], bytes.fromhex(doc["key"]))

    def dec(ciphertext: bytes) -> bytes:
        plaintext, _header = client.decrypt(source=ciphertext, key_provider=keys)
        return plaintext

    out = []
    for r in doc["records"]:
        pk, seq, data = r["partition_key"], r["sequence_number"], base64.b64decode(r["data"])
        if mode == "none":
            users = [(pk, dec(data))]
        elif mode == "encrypt-then-aggregate":
            users = [(k, dec(d)) for k, d in deaggregate(pk, seq, data)]
        elif mode == "aggregate-then-encrypt":
            users = deaggregate(pk, seq, dec(data))
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        for k, plaintext in users:
            out.append(
                {
                    "partition_key": k,
                    "sequence_number": seq,
                    "data": base64.b64encode(plaintext).decode(),
                }
            )
    return {"records": out}


def aggregate(doc: dict) -> dict:
    agg = RecordAggregator()
    out = []

    def emit(record) -> None:
        pk, ehk, data = record.get_contents()
        out.append(
            {
                "partition_key": pk,
                "explicit_hash_key": ehk,
                "data": base64.b64encode(data).decode(),
            }
        )

    for r in doc["records"]:
        full = agg.add_user_record(
            r["partition_key"], base64.b64decode(r["data"]), r.get("explicit_hash_key")
        )
        if full is not None:
            emit(full)
    last = agg.clear_and_get()
    if last is not None:
        emit(last)
    return {"aggregates": out}


def main() -> None:
    doc = json.load(sys.stdin)
    if sys.argv[1:2] == ["decrypt"] and len(sys.argv) == 3:
        result = decrypt(sys.argv[2], doc)
    elif sys.argv[1:] == ["aggregate"]:
        result = aggregate(doc)
    elif sys.argv[1:] == ["deaggregate"]:
        users = deaggregate("pk", "0", base64.b64decode(doc["data"]))
        result = {
            "records": [
                {"partition_key": k, "data": base64.b64encode(d).decode()} for k, d in users
            ]
        }
    else:
        raise SystemExit(__doc__)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
