#!/usr/bin/env python3
"""Regenerate tests/vectors/ from the full vector sets in ../shared/vectors.

Usage: scripts/make-vector-subset.py [--src DIR] [--dest DIR] [--python-max-tests N] [--legacy-max-tests N]

The output is deterministic: inputs are read in sorted order, selection is a greedy covering with
fixed tie-breaking (no randomness), and JSON is written with sorted test IDs.

What it writes under DEST (default: <repo>/tests/vectors):
  net-4.0.1/            the whole .NET 4.0.1 set, copied as is
  python-4.0.7/         a covering subset of the Python 4.0.7 awses-decrypt v2 set
  python-1.3.0-legacy/  a covering subset of the legacy Python 1.3.0 set (same layout)
  python-kats/          the three known-answer JSON files
  framework/            the awses-encrypt v2 manifest and its keys manifest
  framework-keys.v3.json  a copy of framework/0002-keys.v3.json (input of scripts/interop_encrypt.py)
  README.md             provenance and coverage summary
Only Python 3 standard library is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Sequence

REPO = Path(__file__).resolve().parent.parent
NON_FRAMED = 0


# --------------------------------------------------------------------------- message header parsing


class Header:
    """The fields of an ESDK message header body that the selection uses."""

    def __init__(self, data: bytes) -> None:
        self.version = data[0]
        if self.version == 1:
            if data[1] != 0x80:
                raise ValueError("v1 message with bad type byte")
            self.suite = struct.unpack_from(">H", data, 2)[0]
            off = 4 + 16
        elif self.version == 2:
            self.suite = struct.unpack_from(">H", data, 1)[0]
            off = 3 + 32
        else:
            raise ValueError(f"unknown message version {self.version}")
        (aad_len,) = struct.unpack_from(">H", data, off)
        off += 2
        self.ec_keys: list[str] = []
        if aad_len:
            aad = data[off : off + aad_len]
            (count,) = struct.unpack_from(">H", aad, 0)
            p = 2
            for _ in range(count):
                (kl,) = struct.unpack_from(">H", aad, p)
                key = aad[p + 2 : p + 2 + kl]
                p += 2 + kl
                (vl,) = struct.unpack_from(">H", aad, p)
                p += 2 + vl
                self.ec_keys.append(key.decode("utf-8"))
        off += aad_len
        (edk_count,) = struct.unpack_from(">H", data, off)
        off += 2
        self.edks: list[tuple[str, bytes]] = []
        for _ in range(edk_count):
            fields = []
            for _ in range(3):
                (n,) = struct.unpack_from(">H", data, off)
                fields.append(data[off + 2 : off + 2 + n])
                off += 2 + n
            self.edks.append((fields[0].decode("utf-8"), fields[1]))
        self.content_type = data[off]
        off += 1
        if self.version == 1:
            off += 4 + 1  # reserved, IV length
        (self.frame_length,) = struct.unpack_from(">I", data, off)
        if (self.content_type == 1) != (self.frame_length == 0):
            raise ValueError("content type and frame length disagree")

    @property
    def suite_hex(self) -> str:
        return f"{self.suite:04X}"

    @property
    def ec_kind(self) -> str:
        """A label for the caller-supplied encryption context (aws-crypto-* entries ignored)."""
        keys = sorted(k for k in self.ec_keys if not k.startswith("aws-crypto-"))
        if not keys:
            return "empty"
        if any(not k.isascii() for k in keys):
            return "unicode"
        if any(not k.isprintable() for k in keys):
            return "control-chars"
        return "ascii"


def read_header(path: Path) -> Header:
    with open(path, "rb") as f:
        return Header(f.read(4096))


# --------------------------------------------------------------------------- greedy covering


def greedy_cover(
    candidates: Sequence[Any],
    features: Callable[[Any], Iterable[tuple[int, Hashable]]],
    cap: int,
) -> list[Any]:
    """Pick candidates greedily, each time the one that adds the most weight of features not yet
    covered; ties go to the earliest candidate. `features(c)` yields (weight, feature) pairs.
    Stops when nothing new can be covered or `cap` candidates are picked. Deterministic."""
    feats = [dict((f, w) for w, f in features(c)) for c in candidates]
    covered: set[Hashable] = set()
    chosen: list[int] = []
    remaining = set(range(len(candidates)))
    while len(chosen) < cap:
        best, best_gain = -1, 0
        for i in sorted(remaining):
            gain = sum(w for f, w in feats[i].items() if f not in covered)
            if gain > best_gain:
                best, best_gain = i, gain
        if best < 0:
            break
        chosen.append(best)
        remaining.discard(best)
        covered.update(feats[best])
    return [candidates[i] for i in sorted(chosen)]


# --------------------------------------------------------------------------- file helpers


def copy_file(src: Path, dst: Path) -> None:
    """Copy contents only: the sources are read-only and the copies must stay writable."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def uri_to_relpath(uri: str, manifest_dir: Path, set_root: Path) -> str:
    """`file://x/y` (relative to the manifest) -> path relative to the set root, which must contain it."""
    if not uri.startswith("file://"):
        raise ValueError(f"unsupported URI {uri!r}")
    target = (manifest_dir / uri[len("file://") :]).resolve()
    rel = target.relative_to(set_root.resolve())
    return rel.as_posix()


def walk_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in walk_files(root))


def mk_label(mks: list[dict]) -> str:
    """Master-key combination by type / key / padding algorithm / padding hash (order kept)."""
    parts = []
    for mk in mks:
        if mk.get("type") == "raw":
            bits = [mk.get("key", "?")]
            if mk.get("encryption-algorithm") == "rsa":
                bits.append(mk.get("padding-algorithm", "?"))
                if "padding-hash" in mk:
                    bits.append(mk["padding-hash"])
            parts.append("raw:" + "/".join(bits))
        else:
            parts.append(f"{mk.get('type')}:{mk.get('key')}")
    return " + ".join(parts)


# --------------------------------------------------------------------------- the sets


def copy_whole_set(src: Path, dst: Path) -> dict:
    for p in walk_files(src):
        copy_file(p, dst / p.relative_to(src))
    # check that every file:// reference of the manifest resolves inside the copy
    manifest = json.loads((dst / "manifest.json").read_text(encoding="utf-8"))
    refs = [manifest["keys"]]
    for test in manifest["tests"].values():
        refs.append(test["ciphertext"])
        out = test.get("result", {}).get("output", {})
        if "plaintext" in out:
            refs.append(out["plaintext"])
    for ref in refs:
        rel = uri_to_relpath(ref, dst, dst)
        if not (dst / rel).is_file():
            raise SystemExit(f"{dst}: manifest references missing file {ref}")
    return {"tests": len(manifest["tests"])}


def subset_awses_decrypt(src: Path, dst: Path, cap: int) -> dict:
    """Subset an awses-decrypt (v1..v4) manifest set by greedy covering of
    suite x master-key combination x frame length (pairwise), plus encryption-context kinds."""
    manifest_path = src / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    cands = []
    for tid in sorted(manifest["tests"]):
        test = manifest["tests"][tid]
        ct_rel = uri_to_relpath(test["ciphertext"], src, src)
        hdr = read_header(src / ct_rel)
        mk = mk_label(test.get("master-keys", []))
        cands.append(
            {
                "id": tid,
                "suite": hdr.suite_hex,
                "mk": mk,
                "frame": hdr.frame_length,
                "ec": hdr.ec_kind,
                "version": hdr.version,
            }
        )

    def feats(c: dict) -> Iterable[tuple[int, Hashable]]:
        s, m, f, e = c["suite"], c["mk"], c["frame"], c["ec"]
        yield 1000, ("suite", s)
        yield 1000, ("mk", m)
        yield 1000, ("frame", f)
        yield 30, ("suite*frame", s, f)
        yield 30, ("suite*mk", s, m)
        yield 30, ("mk*frame", m, f)
        yield 1, ("suite*ec", s, e)
        yield 1, ("mk*ec", m, e)
        yield 1, ("frame*ec", f, e)

    chosen = greedy_cover(cands, feats, cap)

    out_tests = {}
    files: set[str] = set()
    for c in chosen:
        test = json.loads(json.dumps(manifest["tests"][c["id"]]))
        rel = uri_to_relpath(test["ciphertext"], src, src)
        files.add(rel)
        test["ciphertext"] = "file://" + rel
        out = test.get("result", {}).get("output", {})
        if "plaintext" in out:
            rel = uri_to_relpath(out["plaintext"], src, src)
            files.add(rel)
            out["plaintext"] = "file://" + rel
        if "plaintext" in test:  # awses-decrypt v1
            rel = uri_to_relpath(test["plaintext"], src, src)
            files.add(rel)
            test["plaintext"] = "file://" + rel
        out_tests[c["id"]] = test
    keys_rel = uri_to_relpath(manifest["keys"], src, src)
    files.add(keys_rel)
    for rel in sorted(files):
        copy_file(src / rel, dst / rel)
    new_manifest = {k: v for k, v in manifest.items() if k != "tests"}
    new_manifest["keys"] = "file://" + keys_rel
    new_manifest["tests"] = out_tests
    write_json(dst / "manifest.json", new_manifest)

    def pairs(a: str, b: str) -> tuple[int, int]:
        have = {(c[a], c[b]) for c in chosen}
        full = {(c[a], c[b]) for c in cands}
        return len(have), len(full)

    return {
        "tests": len(chosen),
        "of": len(cands),
        "suites": len({c["suite"] for c in chosen}),
        "mks": len({c["mk"] for c in chosen}),
        "frames": sorted({c["frame"] for c in chosen}),
        "suite*frame": pairs("suite", "frame"),
        "suite*mk": pairs("suite", "mk"),
        "mk*frame": pairs("mk", "frame"),
        "suite*ec": pairs("suite", "ec"),
        "triples": (
            len({(c["suite"], c["mk"], c["frame"]) for c in chosen}),
            len({(c["suite"], c["mk"], c["frame"]) for c in cands}),
        ),
    }


def legacy_edk_label(hdr: Header) -> str:
    """EDKs in message order as provider:key-name (Raw AES key names lose their 20-byte suffix)."""
    parts = []
    for provider, info in hdr.edks:
        name = info[:-20] if info.startswith(b"AES") and len(info) > 20 else info
        parts.append(f"{provider}:{name.decode('utf-8', 'replace')}")
    return " + ".join(parts)


def subset_legacy(src: Path, dst: Path, cap: int) -> dict:
    """Subset the legacy ciphertext manifest: every algorithm x manifest master-key combination x
    framed/non-framed, then as many extra dimensions (wrapping-key size, EDK order, frame size,
    encryption-context kind) as fit under the cap."""
    manifest_rel = "manifests/ciphertext.manifest"
    manifest = json.loads((src / manifest_rel).read_text(encoding="utf-8"))
    cands = []
    for idx, tc in enumerate(manifest["test_cases"]):
        hdr = read_header(src / tc["ciphertext"]["filename"])
        if f"{hdr.suite:04x}" != tc["algorithm"].lower():
            raise SystemExit(f"{tc['ciphertext']['filename']}: header suite {hdr.suite_hex} != {tc['algorithm']}")
        mks = "; ".join(json.dumps(mk, sort_keys=True) for mk in tc["master_keys"])
        cands.append(
            {
                "idx": idx,
                "file": tc["ciphertext"]["filename"],
                "alg": tc["algorithm"].upper(),
                "mk": mks,
                "edks": legacy_edk_label(hdr),
                "wrap": "|".join(sorted({lbl.split(":", 1)[1] for lbl in legacy_edk_label(hdr).split(" + ")})),
                "framed": hdr.content_type == 2,
                "frame": hdr.frame_length,
                "ec": hdr.ec_kind,
            }
        )
    cands.sort(key=lambda c: (c["alg"], c["mk"], c["frame"], c["file"]))

    def feats(c: dict) -> Iterable[tuple[int, Hashable]]:
        a = c["alg"]
        yield 10000, ("alg*mk*framed", a, c["mk"], c["framed"])
        yield 10, ("alg*frame", a, c["frame"])
        yield 10, ("wrap*framed", c["wrap"], c["framed"])
        yield 10, ("edks", c["edks"])
        yield 3, ("alg*wrap", a, c["wrap"])
        yield 1, ("alg*ec", a, c["ec"])
        yield 1, ("mk*frame", c["mk"], c["frame"])

    chosen = greedy_cover(cands, feats, cap)
    chosen.sort(key=lambda c: c["idx"])
    files = {manifest_rel}
    cases = []
    for c in chosen:
        tc = manifest["test_cases"][c["idx"]]
        cases.append(tc)
        files.add(tc["ciphertext"]["filename"])
        files.add(tc["plaintext"]["filename"])
    for rel in sorted(files - {manifest_rel}):
        copy_file(src / rel, dst / rel)
    new_manifest = dict(manifest)
    new_manifest["test_cases"] = cases
    write_json(dst / manifest_rel, new_manifest)
    triples = {(c["alg"], c["mk"], c["framed"]) for c in cands}
    return {
        "tests": len(chosen),
        "of": len(cands),
        "alg*mk*framed": (len({(c["alg"], c["mk"], c["framed"]) for c in chosen}), len(triples)),
        "alg*frame": (
            len({(c["alg"], c["frame"]) for c in chosen}),
            len({(c["alg"], c["frame"]) for c in cands}),
        ),
        "alg*wrap": (
            len({(c["alg"], c["wrap"]) for c in chosen}),
            len({(c["alg"], c["wrap"]) for c in cands}),
        ),
        "edk layouts": (len({c["edks"] for c in chosen}), len({c["edks"] for c in cands})),
    }


# --------------------------------------------------------------------------- README


def fmt_pair(p: tuple[int, int]) -> str:
    return f"{p[0]}/{p[1]}"


def readme(stats: dict) -> str:
    net, py, leg = stats["net"], stats["python"], stats["legacy"]
    return f"""# Test vectors (committed subset)

Generated by `scripts/make-vector-subset.py` from the full sets in `../shared/vectors`
(see `../shared/vectors/README.md` for the manifest formats). Do not edit by hand: change the script
and rerun it (`python3 scripts/make-vector-subset.py`); the output is deterministic.
All `file://` paths in the manifests are relative to the manifest, so each folder runs on its own.
`cargo test` runs every raw-key test of these manifests through the library (`tests/vectors.rs`);
`scripts/vectors` runs them through each release build of the CLI.

| folder | source | content |
|---|---|---|
| `net-4.0.1/` | `net-4.0.1/` (.NET ESDK 4.0.1, awses-decrypt v4 + keys v3) | the whole set: {net["tests"]} tests (the `aws-kms` ones are skipped) |
| `python-4.0.7/` | `python-4.0.7/` (Python ESDK 4.0.7, awses-decrypt v2 + keys v3) | {py["tests"]} of {py["of"]} tests, chosen greedily to cover all {py["suites"]} suites, all {py["mks"]} master-key combinations and frame lengths {py["frames"]}; pairs covered: suite×frame {fmt_pair(py["suite*frame"])}, master-key×frame {fmt_pair(py["mk*frame"])}, suite×master-key {fmt_pair(py["suite*mk"])}, suite×encryption-context kind {fmt_pair(py["suite*ec"])} |
| `python-1.3.0-legacy/` | `python-1.3.0-legacy/` (Python ESDK 1.3.0, legacy ciphertext manifest) | {leg["tests"]} of {leg["of"]} tests: every algorithm × master-key combination × framed/non-framed ({fmt_pair(leg["alg*mk*framed"])}), algorithm×frame length {fmt_pair(leg["alg*frame"])}, algorithm×wrapping key {fmt_pair(leg["alg*wrap"])}, EDK layouts {fmt_pair(leg["edk layouts"])} |
| `python-kats/` | `python-kats/` | the three known-answer files, copied as is |
| `framework/` | `framework/` | the awses-encrypt v2 manifest and its keys manifest (input of `sealbox vectors encrypt`) |
| `framework-keys.v3.json` | `framework/0002-keys.v3.json` | keys for `scripts/interop_encrypt.py` |

The size cap is the reason the Python 4.0.7 subset does not hold every suite × master-key × frame
triple ({py["triples"][0]} of {py["triples"][1]}); `scripts/vectors` also runs the full sets when
`../shared/vectors` exists. Raise the cap with `--python-max-tests N` / `--legacy-max-tests N`.
"""


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=REPO.parent / "shared" / "vectors")
    ap.add_argument("--dest", type=Path, default=REPO / "tests" / "vectors")
    ap.add_argument("--python-max-tests", type=int, default=80)
    ap.add_argument("--legacy-max-tests", type=int, default=100)
    args = ap.parse_args(argv)
    src: Path = args.src.resolve()
    dest: Path = args.dest.resolve()
    if not (src / "python-4.0.7" / "manifest.json").is_file():
        print(f"error: {src} does not look like the shared vectors folder", file=sys.stderr)
        return 2

    managed = ["net-4.0.1", "python-4.0.7", "python-1.3.0-legacy", "python-kats", "framework"]
    for name in managed:
        if (dest / name).exists():
            shutil.rmtree(dest / name)
    dest.mkdir(parents=True, exist_ok=True)

    stats = {}
    stats["net"] = copy_whole_set(src / "net-4.0.1", dest / "net-4.0.1")
    stats["python"] = subset_awses_decrypt(src / "python-4.0.7", dest / "python-4.0.7", args.python_max_tests)
    stats["legacy"] = subset_legacy(src / "python-1.3.0-legacy", dest / "python-1.3.0-legacy", args.legacy_max_tests)
    for name in sorted(os.listdir(src / "python-kats")):
        copy_file(src / "python-kats" / name, dest / "python-kats" / name)
    for name in ("0002-keys.v3.json", "0003-awses-message-encryption.v2.json"):
        copy_file(src / "framework" / name, dest / "framework" / name)
    copy_file(src / "framework" / "0002-keys.v3.json", dest / "framework-keys.v3.json")
    (dest / "README.md").write_text(readme(stats), encoding="utf-8")

    for name in managed:
        print(f"{name:22s} {dir_bytes(dest / name) / 1e6:6.2f} MB")
    for key in ("python", "legacy"):
        print(key, json.dumps(stats[key]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
