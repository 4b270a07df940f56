"""Hierarchical keyring interop: sealbox and the Python ESDK 4.0.7 + MPL 1.11.3 on one key store.

Usage: interop_hierarchy.py SEALBOX_BIN WORKDIR [--example-bin HIERARCHICAL_EXAMPLE]

Needs a DynamoDB + KMS endpoint in the standard AWS configuration (scripts/interop-hierarchy
starts moto_server on 127.0.0.1 and sets AWS_ENDPOINT_URL, the region and dummy credentials).
Both sides share one table and one KMS key:

- branch keys created by Python are used by sealbox, and sealbox's (`sealbox keystore
  create-key`) by Python;
- messages encrypted by each side are decrypted by the other, before and after a rotation by
  either side (Python `version_key`, `sealbox keystore version-key`), and the new messages carry
  the new version;
- two tenants through a branch key ID supplier (Python's, and sealbox's in
  examples/hierarchical.rs when --example-bin is given);
- an item with a rewritten `create-time` is refused by both, and accepted again once restored.

Prints one line per check and ends with "N passed, M failed"; exits 1 if any failed.
"""

import argparse
import os
import subprocess
import sys
import traceback
import uuid

import aws_encryption_sdk
import boto3
from aws_cryptographic_material_providers.keystore import KeyStore
from aws_cryptographic_material_providers.keystore.config import KeyStoreConfig
from aws_cryptographic_material_providers.keystore.models import (
    CreateKeyInput,
    CreateKeyStoreInput,
    GetActiveBranchKeyInput,
    KMSConfigurationKmsKeyArn,
    VersionKeyInput,
)
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CacheTypeDefault,
    CreateAwsKmsHierarchicalKeyringInput,
    DefaultCache,
    GetBranchKeyIdInput,
    GetBranchKeyIdOutput,
)
from aws_cryptographic_material_providers.mpl.references import IBranchKeyIdSupplier
from aws_encryption_sdk.identifiers import CommitmentPolicy

PROVIDER_ID = "aws-kms-hierarchy"


class Run:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            traceback.print_exc(limit=3, file=sys.stdout)
        else:
            self.passed += 1
            print(f"ok   {name}")


class TenantSupplier(IBranchKeyIdSupplier):
    """The branch key of a message is the one of its `tenant` context entry."""

    def __init__(self, keys):
        self.keys = keys

    def get_branch_key_id(self, param: GetBranchKeyIdInput) -> GetBranchKeyIdOutput:
        return GetBranchKeyIdOutput(branch_key_id=self.keys[param.encryption_context["tenant"]])


class Interop:
    def __init__(self, sealbox, workdir, example):
        self.sealbox = sealbox
        self.workdir = workdir
        self.example = example
        os.makedirs(workdir, exist_ok=True)
        self.ddb = boto3.client("dynamodb")
        self.kms = boto3.client("kms")
        self.table = f"sealbox-interop-{uuid.uuid4().hex[:12]}"
        self.arn = self.kms.create_key()["KeyMetadata"]["Arn"]
        self.store = self.key_store(self.table)
        self.mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
        self.esdk = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        self.n = 0

    def key_store(self, logical_name):
        return KeyStore(
            config=KeyStoreConfig(
                ddb_client=self.ddb,
                ddb_table_name=self.table,
                logical_key_store_name=logical_name,
                kms_client=self.kms,
                kms_configuration=KMSConfigurationKmsKeyArn(self.arn),
            )
        )

    # -- Python side

    def keyring(self, branch_key_id=None, supplier=None):
        """A fresh keyring (its own cache), so that every use reads the store."""
        return self.mpl.create_aws_kms_hierarchical_keyring(
            input=CreateAwsKmsHierarchicalKeyringInput(
                key_store=self.store,
                branch_key_id=branch_key_id,
                branch_key_id_supplier=supplier,
                ttl_seconds=600,
                cache=CacheTypeDefault(DefaultCache(entry_capacity=100)),
            )
        )

    def py_encrypt(self, plaintext, context, **keyring):
        ct, _ = self.esdk.encrypt(
            source=plaintext, keyring=self.keyring(**keyring), encryption_context=context
        )
        return ct

    def py_decrypt(self, message, **keyring):
        pt, header = self.esdk.decrypt(source=message, keyring=self.keyring(**keyring))
        return pt, header

    def active_version(self, branch_key_id):
        out = self.store.get_active_branch_key(
            input=GetActiveBranchKeyInput(branch_key_identifier=branch_key_id)
        )
        return out.branch_key_materials

    # -- sealbox side

    def path(self, name):
        self.n += 1
        return os.path.join(self.workdir, f"{self.n:03d}-{name}")

    def sealbox_run(self, *args, expect_ok=True):
        proc = subprocess.run(
            [self.sealbox, *args], capture_output=True, text=True, check=False
        )
        if expect_ok and proc.returncode != 0:
            raise RuntimeError(
                f"sealbox {' '.join(args[:2])} exited {proc.returncode}: {proc.stderr.strip()}"
            )
        return proc

    def store_flags(self, logical_name=None):
        flags = ["--key-store", self.table, "--key-store-kms-key", self.arn]
        if logical_name is not None:
            flags += ["--logical-key-store-name", logical_name]
        return flags

    def sealbox_last_line(self, *args):
        out = self.sealbox_run(*args).stdout.strip().splitlines()
        if not out:
            raise RuntimeError(f"sealbox {' '.join(args[:2])} printed nothing")
        return out[-1]

    def sb_encrypt(self, plaintext, context, branch_key_id, expect_ok=True):
        src, dst = self.path("plain"), self.path("sealbox.msg")
        with open(src, "wb") as f:
            f.write(plaintext)
        ctx = [a for k, v in context.items() for a in ("-c", f"{k}={v}")]
        proc = self.sealbox_run(
            "encrypt", "--quiet", "--branch-key-id", branch_key_id, *self.store_flags(),
            *ctx, "-i", src, "-o", dst, expect_ok=expect_ok,
        )
        if not expect_ok:
            return proc
        with open(dst, "rb") as f:
            return f.read()

    def sb_decrypt(self, message, branch_key_id, logical_name=None, expect_ok=True):
        src, dst = self.path("python.msg"), self.path("out")
        with open(src, "wb") as f:
            f.write(message)
        proc = self.sealbox_run(
            "decrypt", "--quiet", "--branch-key-id", branch_key_id,
            *self.store_flags(logical_name), "-i", src, "-o", dst, expect_ok=expect_ok,
        )
        if not expect_ok:
            return proc
        with open(dst, "rb") as f:
            return f.read()

    # -- DynamoDB

    def get_item(self, branch_key_id, sort_key):
        return self.ddb.get_item(
            TableName=self.table,
            Key={"branch-key-id": {"S": branch_key_id}, "type": {"S": sort_key}},
            ConsistentRead=True,
        )["Item"]

    def put_item(self, item):
        self.ddb.put_item(TableName=self.table, Item=item)


def edk_versions(header):
    """The branch key versions named by a message's hierarchical EDKs."""
    versions = []
    for edk in header.encrypted_data_keys:
        if edk.key_provider.provider_id == PROVIDER_ID:
            versions.append(str(uuid.UUID(bytes=bytes(edk.encrypted_data_key[28:44]))))
    return versions


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sealbox")
    parser.add_argument("workdir")
    parser.add_argument("--example-bin")
    args = parser.parse_args()
    run = Run()
    it = Interop(args.sealbox, args.workdir, args.example_bin)
    keys = {}
    messages = []  # (description, message, branch key id, plaintext)

    # -- the key store and the branch keys, created by both sides

    def create_store():
        it.store.create_key_store(input=CreateKeyStoreInput())
        table_arn = it.sealbox_last_line("keystore", "create", *it.store_flags())
        expect(table_arn.endswith(f":table/{it.table}"), f"sealbox printed {table_arn!r}")

    run.check("Python creates the key store; sealbox keystore create validates it", create_store)

    def python_keys():
        keys["py"] = it.store.create_key(input=CreateKeyInput()).branch_key_identifier
        keys["py-tenant"] = it.store.create_key(
            input=CreateKeyInput(
                branch_key_identifier="py-tenant", encryption_context={"tenant": "py"}
            )
        ).branch_key_identifier

    run.check("Python creates two branch keys", python_keys)

    def sealbox_keys():
        keys["sb"] = it.sealbox_last_line("keystore", "create-key", *it.store_flags())
        uuid.UUID(keys["sb"])
        keys["sb-tenant"] = it.sealbox_last_line(
            "keystore", "create-key", *it.store_flags(), "--branch-key-id", "sb-tenant",
            "-c", "tenant=sb",
        )
        expect(keys["sb-tenant"] == "sb-tenant", f"printed {keys['sb-tenant']!r}")

    run.check("sealbox keystore create-key creates two branch keys", sealbox_keys)

    def python_reads_sealbox_keys():
        for name, ec in (("sb", {}), ("sb-tenant", {"tenant": "sb"})):
            m = it.active_version(keys[name])
            expect(len(m.branch_key) == 32, "32-byte branch key")
            expect(m.encryption_context == ec, f"{name}: context {m.encryption_context}")
            uuid.UUID(m.branch_key_version)

    run.check("Python reads sealbox's branch keys (GetActiveBranchKey)", python_reads_sealbox_keys)

    # -- messages both ways, on keys from both sides

    def both_ways(label):
        for owner in ("py", "sb"):
            bk = keys[owner]
            want = it.active_version(bk).branch_key_version

            def py_to_sb(owner=owner, bk=bk, want=want):
                pt = os.urandom(3000)
                ct = it.py_encrypt(pt, {"purpose": "interop", "n": str(it.n)}, branch_key_id=bk)
                _, header = it.py_decrypt(ct, branch_key_id=bk)
                expect(edk_versions(header) == [want], f"EDK versions {edk_versions(header)}")
                expect(it.sb_decrypt(ct, bk) == pt, "plaintext differs")
                messages.append((f"Python, {label}, key {owner}", ct, bk, pt))

            def sb_to_py(owner=owner, bk=bk, want=want):
                pt = os.urandom(3000)
                ct = it.sb_encrypt(pt, {"purpose": "interop"}, bk)
                got, header = it.py_decrypt(ct, branch_key_id=bk)
                expect(got == pt, "plaintext differs")
                expect(edk_versions(header) == [want], f"EDK versions {edk_versions(header)} != {want}")
                messages.append((f"sealbox, {label}, key {owner}", ct, bk, pt))

            run.check(f"{label}: Python encrypts, sealbox decrypts (key created by {owner})", py_to_sb)
            run.check(f"{label}: sealbox encrypts, Python decrypts (key created by {owner})", sb_to_py)

    def all_old_messages_decrypt(label):
        def check():
            for what, ct, bk, pt in list(messages):
                expect(it.py_decrypt(ct, branch_key_id=bk)[0] == pt, f"Python: {what}")
                expect(it.sb_decrypt(ct, bk) == pt, f"sealbox: {what}")

        run.check(f"{label}: every earlier message still decrypts on both sides", check)

    both_ways("before rotation")

    def python_rotates_sealbox_key():
        before = it.active_version(keys["sb"]).branch_key_version
        it.store.version_key(input=VersionKeyInput(branch_key_identifier=keys["sb"]))
        after = it.active_version(keys["sb"]).branch_key_version
        expect(after != before, "version unchanged")

    run.check("Python rotates sealbox's branch key", python_rotates_sealbox_key)

    def sealbox_rotates_python_key():
        before = it.active_version(keys["py"]).branch_key_version
        printed = it.sealbox_last_line(
            "keystore", "version-key", *it.store_flags(), "--branch-key-id", keys["py"]
        )
        after = it.active_version(keys["py"]).branch_key_version
        expect(after != before, "version unchanged")
        expect(printed == after, f"sealbox printed {printed!r}, the active version is {after!r}")

    run.check("sealbox keystore version-key rotates Python's branch key", sealbox_rotates_python_key)

    both_ways("after rotation")
    all_old_messages_decrypt("after rotation")

    # -- two tenants through suppliers

    def python_supplier():
        supplier = TenantSupplier({"py": keys["py-tenant"], "sb": keys["sb-tenant"]})
        for tenant in ("py", "sb"):
            pt = f"for tenant {tenant}".encode() * 50
            ct = it.py_encrypt(pt, {"tenant": tenant}, supplier=supplier)
            bk = keys[f"{tenant}-tenant"]
            expect(it.sb_decrypt(ct, bk) == pt, f"tenant {tenant}")
            # The other tenant's branch key does not open it.
            other = keys["sb-tenant" if tenant == "py" else "py-tenant"]
            proc = it.sb_decrypt(ct, other, expect_ok=False)
            expect(proc.returncode == 1, f"decrypt with the other tenant's key exited {proc.returncode}")

    run.check("two tenants: Python's supplier encrypts, sealbox decrypts each", python_supplier)

    if it.example:
        def sealbox_supplier():
            out = os.path.join(it.workdir, "tenants")
            proc = subprocess.run(
                [it.example, "--table", it.table, "--kms-key", it.arn, "--write-messages", out,
                 "--tenant", f"py={keys['py-tenant']}", "--tenant", f"sb={keys['sb-tenant']}"],
                capture_output=True, text=True, check=False,
            )
            expect(proc.returncode == 0, f"example exited {proc.returncode}: {proc.stderr.strip()}")
            supplier = TenantSupplier({"py": keys["py-tenant"], "sb": keys["sb-tenant"]})
            for tenant in ("py", "sb"):
                with open(os.path.join(out, f"{tenant}.msg"), "rb") as f:
                    ct = f.read()
                with open(os.path.join(out, f"{tenant}.txt"), "rb") as f:
                    pt = f.read()
                got, header = it.py_decrypt(ct, supplier=supplier)
                expect(got == pt, f"tenant {tenant}")
                expect(header.encryption_context.get("tenant") == tenant, "context")

        run.check("two tenants: sealbox's supplier (examples/hierarchical.rs) encrypts, Python decrypts",
                  sealbox_supplier)

    # -- a tampered item is refused by both

    def tampered():
        bk = keys["sb-tenant"]
        original = it.get_item(bk, "branch:ACTIVE")
        changed = dict(original)
        changed["create-time"] = {"S": "2001-01-01T00:00:00.000000Z"}
        it.put_item(changed)
        try:
            proc = it.sb_encrypt(b"x", {"tenant": "sb"}, bk, expect_ok=False)
            expect(proc.returncode == 1, f"sealbox encrypt exited {proc.returncode}")
            expect(bk in proc.stderr, f"sealbox's error does not name the branch key: {proc.stderr}")
            try:
                it.py_encrypt(b"x", {"tenant": "sb"}, branch_key_id=bk)
            except Exception:  # noqa: BLE001 - the MPL raises its own error types
                pass
            else:
                raise AssertionError("Python encrypted under a tampered item")
        finally:
            it.put_item(original)
        # Restored: both accept it again.
        ct = it.sb_encrypt(b"restored", {"tenant": "sb"}, bk)
        expect(it.py_decrypt(ct, branch_key_id=bk)[0] == b"restored", "after restoring")

    run.check("a rewritten create-time is refused by both sides", tampered)

    def wrong_logical_name():
        ct = it.py_encrypt(b"bound", {}, branch_key_id=keys["py"])
        proc = it.sb_decrypt(ct, keys["py"], logical_name="another-name", expect_ok=False)
        expect(proc.returncode == 1, f"sealbox decrypt exited {proc.returncode}")

    run.check("sealbox refuses the key store under another logical name", wrong_logical_name)

    print(f"{run.passed} passed, {run.failed} failed")
    sys.exit(1 if run.failed else 0)


if __name__ == "__main__":
    main()
