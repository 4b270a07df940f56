#!/usr/bin/env python3
"""aws-encryption-cli command lines through both programs: the reference (aws-encryption-sdk-cli
4.3.0) and `sealbox` in its compatible mode, against a local KMS (moto_server).

Usage: cli_compat.py REFERENCE SEALBOX WORKDIR

Environment: AWS_ENDPOINT_URL (a loopback URL: anything else is refused), KMS_KEY_ARN, dummy
credentials and region (scripts/cli-compat sets them all).

Each case is one command line, run by each program in a fresh copy of the same fixtures. Compared:
exit codes; the files each leaves (names, and bytes where the output is plaintext); files each
encrypted, decrypted by the other and compared with their source; metadata records field by field
(on encrypt, the fields that are random per message are compared by presence); standard output.
A case may declare a difference that sealbox keeps on purpose (docs/cli.md, "Differences"): it is
then checked to be exactly that difference. Prints `N passed, N failed`; exits 1 if any failed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import boto3

REF, SEALBOX, WORK = sys.argv[1], sys.argv[2], Path(sys.argv[3])
ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "")
if urlparse(ENDPOINT).hostname not in ("127.0.0.1", "localhost", "::1"):
    sys.exit(f"AWS_ENDPOINT_URL must be a loopback URL, not {ENDPOINT!r}")
K = os.environ["KMS_KEY_ARN"]
kms = boto3.client("kms")
K2 = kms.create_key(Description="sealbox cli-compat second key")["KeyMetadata"]["Arn"]
ALIAS = "alias/sealbox-cli-compat"
kms.create_alias(AliasName=ALIAS, TargetKeyId=K)
ACCOUNT = K.split(":")[4]
ALLOW = ["--commitment-policy", "require-encrypt-allow-decrypt"]


def rand(n: int, seed: int) -> bytes:
    return bytes((i * 131 + seed * 17 + (i >> 7)) % 256 for i in range(n))


def run(prog: str, args: list[str], cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([prog, *args], cwd=cwd, input=stdin, capture_output=True, timeout=120)


# ---- fixtures, made once: plaintexts, a tree, and ciphertexts written by the reference ----
FIX = WORK / "fixtures"
shutil.rmtree(WORK, ignore_errors=True)
FIX.mkdir(parents=True)
(FIX / "pt").write_bytes(rand(10_240, 1))
(FIX / "small.txt").write_bytes(b"hello world\n")
for rel, data in {
    "src/a.txt": rand(100, 2),
    "src/b.txt": rand(5000, 3),
    "src/sub/c.bin": rand(0, 4),
    "src/sub/deeper/d.txt": rand(4000, 5),
    "src/.hidden": rand(10, 6),
}.items():
    (FIX / rel).parent.mkdir(parents=True, exist_ok=True)
    (FIX / rel).write_bytes(data)
(FIX / "out").mkdir()
# Exactly two 4096-byte frames: ESDK-Python 3.x refuses a final frame of full length.
(FIX / "exact").write_bytes(rand(8192, 7))
# An earlier metadata record, which appending keeps and --overwrite-metadata drops.
(FIX / "meta").write_text('{"earlier": "record"}\n')
(FIX / "args.txt").write_text("# wrapping key from the environment\n-w key=$KMS_KEY_ARN  # trailing comment\n")


def ref_fixture(args: list[str]) -> None:
    r = run(REF, args, FIX)
    if r.returncode != 0:
        sys.exit(f"fixture {args}: {r.stderr.decode(errors='replace')}")


ref_fixture(["-e", "-i", "pt", "-o", "ct", "-S", "-w", f"key={K}", "-c", "a=b", "c=d", "--frame-length", "1024"])
ref_fixture(["-e", "-i", "pt", "-o", "ct_unsigned", "-S", "-w", f"key={K}", "--algorithm", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"])
ref_fixture(["-e", "-i", "pt", "-o", "ct2keys", "-S", "-w", f"key={K}", f"key={K2}"])
ref_fixture(["-e", "-i", "pt", "-o", "ct_v1", "-S", "-w", f"key={K}", "--algorithm",
             "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", "--commitment-policy", "forbid-encrypt-allow-decrypt"])
(FIX / "ctdir").mkdir()
ref_fixture(["-e", "-i", "src", "-o", "ctdir", "-r", "-S", "-w", f"key={K}"])
(FIX / "ct.b64").write_bytes(base64.b64encode((FIX / "ct").read_bytes()))
tampered = bytearray((FIX / "ct").read_bytes())
tampered[-200] ^= 1
(FIX / "tampered").write_bytes(bytes(tampered))
FIXTURE_FILES = {p.relative_to(FIX).as_posix(): p.read_bytes() for p in FIX.rglob("*") if p.is_file()}


class Case:
    def __init__(self, args, *, stdin=b"", enc=None, expect=None, note=""):
        self.args = args
        self.stdin = stdin
        # Encrypt cases: (output, source, base64) triples to decrypt with the other program;
        # "-" as output is standard output.
        self.enc = enc or []
        # A kept difference: (reference exit, sealbox exit), explained in `note`.
        self.expect = expect
        self.note = note


def tree_pairs(src: str, out: str, suffix: str, hidden: bool = True):
    pairs = []
    for rel in FIXTURE_FILES:
        if rel.startswith(src + "/") and (hidden or "/." not in "/" + rel):
            pairs.append((out + rel[len(src):] + suffix, rel, False))
    return pairs


E = ["-e"]
D = ["-d"]
W = ["-w", f"key={K}"]
CASES = [
    # encrypt: files, stdin and stdout, metadata, options (integration tests and README)
    Case(E + ["-i", "pt", "-o", "ct1", "-S"] + W, enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "--encryption-context", "a=b", "c=d", "-S"] + W, enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "-c", "a=b", "c=d", "a=x", "--metadata-output", "meta"] + W, enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "--metadata-output", "-"] + W, enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "--metadata-output", "meta", "--overwrite-metadata"] + W, enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "exact", "-o", "ct1", "-S"] + W, enc=[("ct1", "exact", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "--caching", "capacity=10", "max_age=60.0"] + W, enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "--caching", "capacity=10", "max_age=60", "max_messages_encrypted=5",
              "max_bytes_encrypted=100000"] + W, enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "--encode"] + W, enc=[("ct1", "pt", True)]),
    Case(E + ["-i", "ct.b64", "-o", "ct1", "-S", "--decode"] + W, enc=[("ct1", "ct", False)]),
    Case(E + ["-i", "-", "-o", "ct1", "-S"] + W, stdin=FIXTURE_FILES["pt"], enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "-", "-o", "-", "-S"] + W, stdin=FIXTURE_FILES["small.txt"], enc=[("-", "small.txt", False)]),
    Case(E + ["-i", "small.txt", "-o", "-", "-S", "-b"] + W, enc=[("-", "small.txt", False)]),
    Case(E + ["-i", "pt", "-o", "out", "-S"] + W, enc=[("out/pt.encrypted", "pt", False)]),
    Case(E + ["-i", "src", "-o", "out", "-r", "-S"] + W, enc=tree_pairs("src", "out", ".encrypted")),
    Case(E + ["-i", "src", "-o", "out", "-R", "--suffix", ".enc", "--metadata-output", "meta"] + W,
         enc=tree_pairs("src", "out", ".enc")),
    Case(E + ["-i", "src", "-o", "out", "--recursive", "--suffix", "-S"] + W, enc=tree_pairs("src", "out", "")),
    Case(E + ["-i", "src/*.txt", "-o", "out", "-S"] + W,
         enc=[("out/a.txt.encrypted", "src/a.txt", False), ("out/b.txt.encrypted", "src/b.txt", False)]),
    Case(E + ["-i", "src", "-o", "out", "-S"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "--metadata-output", "meta", "--algorithm", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"] + W,
         enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "--metadata-output", "meta", "--algorithm",
              "AES_128_GCM_IV12_TAG16_HKDF_SHA256", "--commitment-policy", "forbid-encrypt-allow-decrypt"] + W,
         enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "--metadata-output", "meta", "--frame-length", "3968"] + W, enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "--metadata-output", "meta", "--frame-length", "1000"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "--metadata-output", "meta", "-w", f"key={K}", f"key={K2}"], enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "--metadata-output", "meta", "-w", f"key={K}", "-w", f"key={K2}"], enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "-w", "provider=aws-kms", f"key={K}", "region=us-east-1"], enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "--metadata-output", "meta", "-w", f"key={ALIAS}"], enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "@args.txt"], enc=[("ct1", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct", "-S", "--no-overwrite"] + W),
    Case(E + ["-i", "pt", "-o", "ct", "-S"] + W, enc=[("ct", "pt", False)]),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "-v", "-q", "--max-encrypted-data-keys", "2"] + W, enc=[("ct1", "pt", False)]),
    # encrypt refusals: usage errors (2) and failures (1)
    Case(E + ["-i", "pt", "-o", "ct1"] + W),
    Case(E + ["-i", "pt", "-S"] + W),
    Case(E + ["-d", "-i", "pt", "-o", "ct1", "-S"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "-w", f"key={K}", "discovery=true"]),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "-w", "provider=aws-kms"]),
    Case(E + ["-i", "missing", "-o", "ct1", "-S"] + W),
    Case(E + ["-i", "pt", "-o", "pt", "-S", "--suffix"] + W),
    Case(E + ["-i", "pt", "-o", "nodir/ct1", "-S"] + W),
    Case(E + ["-i", "src", "-o", "ct1", "-r", "-S"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "--caching", "capacity=10"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "--caching", "capacity=10", "max_age=1", "ttl=3"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "-c", "novalue"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "--frame-length", "abc"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "--algorithm", "NOPE"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "-input", "x"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "-i", "pt"] + W),
    Case(E + ["-i", "-", "-o", "out", "-S"] + W, stdin=b"x"),
    Case(E + ["-i", "pt", "-o", "-", "--metadata-output", "-"] + W),
    Case(E + ["-i", "src", "-o", "out", "--metadata-output", "src/meta", "-r"] + W),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "-w", "provider=raw", "key=x"]),
    Case(E + ["-i", "pt", "-o", "ct1", "-S", "--algorithm", "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384"] + W),
    # decrypt, all of the reference's ciphertexts
    Case(D + ["-i", "ct", "-o", "pt1", "-S"] + W),
    Case(D + ["-i", "ct", "-o", "pt1", "--metadata-output", "meta"] + W),
    Case(D + ["-i", "ct", "-o", "-", "-S"] + W),
    Case(D + ["-i", "ct", "-o", "-", "--metadata-output", "meta", "-b"] + W),
    Case(D + ["-i", "-", "-o", "-", "-S"] + W, stdin=FIXTURE_FILES["ct"]),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "-w", "discovery=true"]),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "-w", "discovery=true", "discovery-partition=aws", f"discovery-account={ACCOUNT}"]),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "-w", "discovery=true", "discovery-partition=aws", "discovery-account=111122223333"]),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "-c", "a=b", "c"] + W),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "-c", "a", "c=d"] + W),
    Case(D + ["-i", "ct", "-o", "pt1", "--metadata-output", "meta", "-c", "a=VALUE_NOT_FOUND"] + W, expect=(0, 1),
         note="a skipped decryption exits 1: the output the script asked for does not exist"),
    Case(D + ["-i", "ct", "-o", "pt1", "--metadata-output", "meta", "-c", "KEY_NOT_FOUND"] + W, expect=(0, 1),
         note="a skipped decryption exits 1: the output the script asked for does not exist"),
    Case(["--decrypt-unsigned", "-i", "ct", "-o", "pt1", "-S"] + W),
    Case(["--decrypt-unsigned", "-i", "ct_unsigned", "-o", "pt1", "--metadata-output", "meta"] + W),
    Case(D + ["-i", "ctdir", "-o", "out", "-r", "--metadata-output", "meta"] + W),
    Case(D + ["-i", "ctdir", "-o", "out", "-r", "-S", "--suffix", ".plain"] + W),
    Case(D + ["-i", "ct.b64", "-o", "pt1", "-S", "--decode"] + W),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "--encode"] + W),
    Case(D + ["-i", "ct_v1", "-o", "pt1", "--metadata-output", "meta"] + ALLOW + W),
    Case(D + ["-i", "ct_v1", "-o", "pt1", "-S"] + W),
    Case(D + ["-i", "ct2keys", "-o", "pt1", "--metadata-output", "meta", "-w", f"key={K2}"]),
    Case(D + ["-i", "ct2keys", "-o", "pt1", "-S", "--max-encrypted-data-keys", "1"] + W),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "--max-encrypted-data-keys", "1", "--caching", "capacity=10", "max_age=60.0"] + W),
    Case(D + ["-i", "tampered", "-o", "pt1", "-S"] + W),
    Case(D + ["-i", "pt", "-o", "pt1", "-S"] + W),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "--max-length", "100"] + W),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "-w", f"key={K2}"]),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "-w", "discovery=false"]),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "-w", "discovery=true", f"key={K}"]),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "-w", "discovery=true", "discovery-account=1"]),
    Case(D + ["-i", "ct", "-o", "pt1", "-S", "-w", "discovery=maybe"]),
]

# Fields of an encryption's record that are random per message: compared by presence.
RANDOM_HEADER = {"message_id", "commitment_key"}


def normalize(rec: dict, workdir: Path, encrypt: bool) -> dict:
    rec = json.loads(json.dumps(rec))
    for k in ("input", "output"):
        if isinstance(rec.get(k), str):
            rec[k] = rec[k].replace(str(workdir), "$W")
    h = rec.get("header")
    if encrypt and h:
        for k in RANDOM_HEADER:
            h[k] = h.get(k) is not None
        for edk in h.get("encrypted_data_keys", []):
            edk["encrypted_data_key"] = len(base64.b64decode(edk["encrypted_data_key"])) > 0
        ec = h.get("encryption_context", {})
        if "aws-crypto-public-key" in ec:
            ec["aws-crypto-public-key"] = len(ec["aws-crypto-public-key"])
    for k in ("missing_encryption_context_keys", "missing_encryption_context_pairs"):
        if k in rec:
            rec[k] = sorted(rec[k])
    return rec


def records(text: bytes, workdir: Path, encrypt: bool) -> list:
    recs = [normalize(json.loads(line), workdir, encrypt) for line in text.decode().splitlines() if line.strip()]
    return sorted(recs, key=lambda r: json.dumps(r, sort_keys=True))


def files(workdir: Path) -> dict:
    return {p.relative_to(workdir).as_posix(): p.read_bytes() for p in workdir.rglob("*") if p.is_file()}


def cross_decrypt(prog: str, workdir: Path, pairs, stdout: bytes, tag: str) -> dict:
    """Decrypt the ciphertexts of `pairs` (output, source, base64) that `workdir` holds with
    `prog`, one run per base64 setting over a directory of copies; returns output -> plaintext."""
    got = {}
    for b64 in (False, True):
        chosen = [(i, out) for i, (out, _, b) in enumerate(pairs) if b == b64]
        if not chosen:
            continue
        cdir = workdir.parent / f"cross-{tag}-{int(b64)}"
        pdir = workdir.parent / f"plain-{tag}-{int(b64)}"
        cdir.mkdir()
        pdir.mkdir()
        for i, out in chosen:
            data = stdout if out == "-" else (workdir / out).read_bytes() if (workdir / out).is_file() else None
            if data is not None:
                (cdir / f"m{i}").write_bytes(data)
        args = ["-d", "-i", str(cdir), "-o", str(pdir), "-r", "-S", "-w", f"key={K}", "--suffix"] + ALLOW
        run(prog, args + (["--decode"] if b64 else []), workdir)
        for i, out in chosen:
            f = pdir / f"m{i}"
            got[out] = f.read_bytes() if f.is_file() else None
    return got


def check(i: int, case: Case) -> list[str]:
    problems = []
    encrypt = case.args[0] == "-e"
    results = {}
    for name, prog in (("reference", REF), ("sealbox", SEALBOX)):
        wd = WORK / f"case-{i:02d}" / name
        shutil.copytree(FIX, wd)
        r = run(prog, case.args, wd, case.stdin)
        results[name] = (wd, r)
    (rwd, rr), (swd, sr) = results["reference"], results["sealbox"]
    codes = (rr.returncode, sr.returncode)
    if case.expect is not None:
        if codes != case.expect:
            problems.append(f"exit codes {codes}, expected the kept difference {case.expect}")
    elif codes[0] != codes[1]:
        problems.append(f"exit codes differ: reference {codes[0]}, sealbox {codes[1]}")
    # The files each left: same names; same bytes unless they are this run's ciphertexts.
    rf, sf = files(rwd), files(swd)
    if set(rf) != set(sf):
        problems.append(f"files differ: only reference {sorted(set(rf) - set(sf))}, only sealbox {sorted(set(sf) - set(rf))}")
    ciphertexts = {out for out, _, _ in case.enc}
    for name in set(rf) & set(sf):
        if name in ciphertexts or name == "meta":
            continue
        if rf[name] != sf[name]:
            problems.append(f"{name}: contents differ")
    # Metadata, from the file or standard output.
    meta_to_stdout = "--metadata-output" in case.args and case.args[case.args.index("--metadata-output") + 1] == "-"
    rm = rf.get("meta", b"") + (rr.stdout if meta_to_stdout else b"")
    sm = sf.get("meta", b"") + (sr.stdout if meta_to_stdout else b"")
    try:
        a, b = records(rm, rwd, encrypt), records(sm, swd, encrypt)
        if a != b:
            for x, y in zip(a, b):
                for k in sorted(set(x) | set(y)):
                    if x.get(k) != y.get(k):
                        problems.append(f"metadata field {k}: reference {x.get(k)!r}, sealbox {y.get(k)!r}")
            if len(a) != len(b):
                problems.append(f"metadata records: reference {len(a)}, sealbox {len(b)}")
    except (ValueError, UnicodeDecodeError) as e:
        problems.append(f"metadata is not JSON lines: {e}")
    # Standard output, when it is the data.
    if "-o" in case.args and case.args[case.args.index("-o") + 1] == "-" and not encrypt and not meta_to_stdout:
        if rr.stdout != sr.stdout:
            problems.append(f"standard output differs ({len(rr.stdout)} and {len(sr.stdout)} bytes)")
    # Each program's ciphertexts, decrypted by the other.
    if case.enc:
        by_ref = cross_decrypt(SEALBOX, rwd, case.enc, rr.stdout, "ref")
        by_sb = cross_decrypt(REF, swd, case.enc, sr.stdout, "sb")
        for out, source, _ in case.enc:
            want = FIXTURE_FILES[source]
            if by_ref.get(out) != want:
                problems.append(f"{out} by the reference does not decrypt to {source} with sealbox")
            if by_sb.get(out) != want:
                problems.append(f"{out} by sealbox does not decrypt to {source} with the reference")
    if problems:
        for name, (_, r) in results.items():
            problems.append(f"{name} stderr: {r.stderr.decode(errors='replace').strip()[-400:]}")
    return problems


passed = failed = 0
start = time.time()
# Two at a time: the reference spends most of its time starting Python, on one core.
with ThreadPoolExecutor(max_workers=2) as pool:
    outcomes = list(pool.map(lambda ic: check(*ic), enumerate(CASES)))
for i, (case, problems) in enumerate(zip(CASES, outcomes)):
    line = " ".join(case.args).replace(K, "$K").replace(K2, "$K2")
    if problems:
        failed += 1
        print(f"FAIL {i:02d}: {line}")
        for p in problems:
            print(f"    {p}")
    else:
        passed += 1
        print(f"ok   {i:02d}: {line}" + (f"   [kept difference: {case.note}]" if case.note else ""))
print(f"{len(CASES)} command lines in {time.time() - start:.0f} s")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
