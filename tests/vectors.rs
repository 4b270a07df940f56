//! The committed ESDK test vectors (`tests/vectors/`), so that `cargo test` alone covers them:
//! every raw-key test of the .NET 4.0.1, Python 4.0.7 and Python 1.3.0 manifests decrypts as the
//! manifest says, and every raw-key, framed test of the framework's encrypt manifest encrypts and
//! decrypts again. The expected counts come from the manifests, counted here apart from the
//! runner (`sealbox-testvectors`, which `sealbox vectors` also runs), and every test the runner
//! skips is one that needs a key it does not build (AWS KMS).
//!
//! Debug builds run this in well under a minute; `scripts/test` runs it with `--release`.

use std::path::{Path, PathBuf};

use sealbox_testvectors::{decrypt_manifest, encrypt_manifest, Report};
use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether a list of master-key descriptions names at least one key, and only raw ones.
fn raw_only(master_keys: &Value) -> bool {
    master_keys.as_array().is_some_and(|mks| {
        !mks.is_empty() && mks.iter().all(|mk| mk["type"].as_str() == Some("raw"))
    })
}

/// (tests that need only raw keys, all tests) of an awses-decrypt (v2 to v4) or awses-encrypt
/// manifest.
fn raw_tests(manifest: &Value) -> (usize, usize) {
    let tests = manifest["tests"].as_object().expect("a tests object");
    let raw = tests
        .values()
        .filter(|t| raw_only(&t["master-keys"]))
        .count();
    (raw, tests.len())
}

/// The report, with every failure in the panic message.
fn assert_no_failures(report: &Report, what: &str) {
    assert!(
        report.ok(),
        "{what}: {report}\n{}",
        report
            .failed
            .iter()
            .map(|(id, e)| format!("FAIL {id}: {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Every raw-key test passes; the rest (and only the rest) are skipped.
async fn decrypts_every_raw_key_test(relative: &str) {
    let path = vectors().join(relative);
    let (raw, all) = raw_tests(&read_json(&path));
    assert!(raw > 0, "{relative}: no raw-key tests");
    let report = decrypt_manifest(&path).await.expect(relative);
    assert_no_failures(&report, relative);
    assert_eq!(report.passed, raw, "{relative}: {report}");
    assert_eq!(report.skipped, all - raw, "{relative}: {report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dotnet_4_0_1_vectors_decrypt() {
    decrypts_every_raw_key_test("net-4.0.1/manifest.json").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_4_0_7_vectors_decrypt() {
    decrypts_every_raw_key_test("python-4.0.7/manifest.json").await;
}

/// The legacy manifest has only raw keys: every test case passes.
#[tokio::test(flavor = "multi_thread")]
async fn python_1_3_0_legacy_vectors_decrypt() {
    let path = vectors().join("python-1.3.0-legacy/manifests/ciphertext.manifest");
    let cases = read_json(&path)["test_cases"]
        .as_array()
        .expect("test_cases")
        .len();
    assert!(cases > 0);
    let report = decrypt_manifest(&path).await.unwrap();
    assert_no_failures(&report, "legacy manifest");
    assert_eq!((report.passed, report.skipped), (cases, 0), "{report}");
}

/// A fresh directory under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sealbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every raw-key, framed test of the framework's encrypt manifest is written, and what was
/// written decrypts (the set `scripts/interop` hands to the Python ESDK). A negative test passes
/// only because decryption fails, and a tampered positive test is reported as a failure.
#[tokio::test(flavor = "multi_thread")]
async fn framework_encrypt_vectors_round_trip() {
    let manifest = vectors().join("framework/0003-awses-message-encryption.v2.json");
    let v = read_json(&manifest);
    let tests = v["tests"].as_object().expect("tests");
    let written = tests
        .values()
        .filter(|t| raw_only(&t["master-keys"]) && t["frame-size"].as_u64() != Some(0))
        .count();
    assert!(written > 0);

    let dir = TempDir::new("vectors");
    let report = encrypt_manifest(&manifest, &dir.0).await.unwrap();
    assert_no_failures(&report, "encrypt");
    assert_eq!(report.passed, written, "{report}");
    assert_eq!(report.skipped, tests.len() - written, "{report}");

    let decrypt = dir.0.join("manifest.json");
    let out = read_json(&decrypt);
    assert_eq!(raw_tests(&out), (written, written));
    let report = decrypt_manifest(&decrypt).await.unwrap();
    assert_no_failures(&report, "decrypt what was written");
    assert_eq!((report.passed, report.skipped), (written, 0), "{report}");

    // One test becomes a negative one over a tampered message; a second, positive one is
    // tampered with too.
    let mut out = out;
    let ids: Vec<String> = out["tests"].as_object().unwrap().keys().cloned().collect();
    let (negative, broken) = (&ids[0], &ids[1]);
    out["tests"][negative]["result"] =
        serde_json::json!({"error": {"error-description": "tampered"}});
    for (id, at) in [(negative, None), (broken, Some(10))] {
        let path = dir.0.join("ciphertexts").join(id);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = at.unwrap_or(bytes.len() - 1);
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
    }
    std::fs::write(&decrypt, serde_json::to_vec(&out).unwrap()).unwrap();
    let report = decrypt_manifest(&decrypt).await.unwrap();
    assert_eq!(report.passed, written - 1, "{report}");
    let failed: Vec<&str> = report.failed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(failed, [broken.as_str()], "{report}");
}

/// A manifest the runner cannot read is an error, not an empty pass.
#[tokio::test]
async fn an_unknown_manifest_is_an_error() {
    let dir = TempDir::new("vectors-bad");
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("manifest.json");
    std::fs::write(
        &path,
        r#"{"manifest": {"type": "awses-decrypt", "version": 99}}"#,
    )
    .unwrap();
    assert!(decrypt_manifest(&path).await.is_err());
    assert!(decrypt_manifest(&dir.0.join("absent.json")).await.is_err());
}

/// The Hierarchical keyring's vectors (written by sealbox with the MPL's `static-branch-key-1`,
/// `aws-kms-hierarchy` key descriptions, answered by a static branch key store): every test
/// decrypts, none is skipped.
#[tokio::test(flavor = "multi_thread")]
async fn hierarchy_vectors_decrypt() {
    let relative = "hierarchy/decrypt/manifest.json";
    let path = vectors().join(relative);
    let all = read_json(&path)["tests"]
        .as_object()
        .expect("a tests object")
        .len();
    assert!(all > 0, "{relative}: no tests");
    let report = decrypt_manifest(&path).await.expect(relative);
    assert_no_failures(&report, relative);
    assert_eq!(
        (report.passed, report.skipped),
        (all, 0),
        "{relative}: {report}"
    );
}

/// sealbox writes raw ECDH vectors from an awses-encrypt manifest (static and ephemeral senders on
/// every curve, the keys of `raw-ecdh/keys.json`), and reads them back: the ephemeral tests by
/// discovery, as the written decrypt manifest says.
#[tokio::test(flavor = "multi_thread")]
async fn raw_ecdh_encrypt_vectors_round_trip() {
    let dir = TempDir::new("ecdh-encrypt");
    std::fs::create_dir_all(&dir.0).unwrap();
    let keys = vectors().join("raw-ecdh/keys.json");
    let mut tests = serde_json::Map::new();
    for curve in ["ecc-256", "ecc-384", "ecc-521"] {
        for (schema, role) in [("static", "sender"), ("ephemeral", "recipient")] {
            tests.insert(
                format!("{curve}-{schema}"),
                serde_json::json!({
                    "plaintext": "small",
                    "algorithm": "0578",
                    "frame-size": 512,
                    "encryption-context": {"purpose": "vectors"},
                    "master-keys": [{"type": "raw-ecdh", "ecc-curve": curve, "schema": schema, role: curve}],
                }),
            );
        }
    }
    let manifest = serde_json::json!({
        "manifest": {"type": "awses-encrypt", "version": 2},
        "keys": format!("file://{}", keys.display()),
        "plaintexts": {"small": 1000},
        "tests": tests,
    });
    let path = dir.0.join("encrypt.json");
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let out = dir.0.join("out");
    let report = encrypt_manifest(&path, &out).await.unwrap();
    assert_no_failures(&report, "encrypt");
    assert_eq!((report.passed, report.skipped), (6, 0), "{report}");
    let written = read_json(&out.join("manifest.json"));
    let schemas: Vec<&str> = written["tests"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["master-keys"][0]["schema"].as_str().unwrap())
        .collect();
    assert_eq!(schemas.iter().filter(|s| **s == "discovery").count(), 3);
    let report = decrypt_manifest(&out.join("manifest.json")).await.unwrap();
    assert_no_failures(&report, "decrypt what was written");
    assert_eq!((report.passed, report.skipped), (6, 0), "{report}");
}

/// The raw ECDH set (`raw-ecdh/`, written by the Python ESDK 4.0.7 + MPL 1.11.3 through
/// `scripts/interop_ecdh.py --write-vectors`): all three curves, static and ephemeral senders,
/// read with the static keyring from either side and by discovery; every test passes, the
/// negative ones (a message for another recipient) because decryption fails.
#[tokio::test(flavor = "multi_thread")]
async fn raw_ecdh_vectors_decrypt() {
    let relative = "raw-ecdh/manifest.json";
    let path = vectors().join(relative);
    let manifest = read_json(&path);
    let tests = manifest["tests"].as_object().expect("a tests object");
    let negative = tests
        .values()
        .filter(|t| t["type"] == "negative-decrypt")
        .count();
    assert_eq!((tests.len(), negative), (18, 3), "{relative}");
    for curve in ["ecc-256", "ecc-384", "ecc-521"] {
        for schema in ["static", "discovery"] {
            assert!(tests.values().any(|t| {
                let kd = &t["decryptKeyDescription"];
                kd["ecc-curve"] == curve && kd["schema"] == schema
            }));
        }
    }
    let report = decrypt_manifest(&path).await.expect(relative);
    assert_no_failures(&report, relative);
    assert_eq!(
        (report.passed, report.skipped),
        (tests.len(), 0),
        "{relative}: {report}"
    );
}

/// Key descriptions of the asymmetric KMS keyrings (RSA, ECDH, ML-KEM) are read, and their tests
/// reported as needing AWS KMS, not as failures of the manifest; a malformed one still fails.
#[tokio::test(flavor = "multi_thread")]
async fn asymmetric_kms_descriptions_are_reported_as_needing_aws() {
    let dir = TempDir::new("kms-asymmetric");
    std::fs::create_dir_all(&dir.0).unwrap();
    let arn = |id: &str| format!("arn:aws:kms:us-west-2:658956600833:key/{id}");
    let keys = serde_json::json!({
        "manifest": {"type": "keys", "version": 3},
        "keys": {
            "kms-rsa": {"type": "aws-kms-rsa", "key-id": arn("rsa"), "encrypt": true, "decrypt": true},
            "kms-ecdh": {"type": "aws-kms-ecdh", "algorithm": "ecdh", "key-id": arn("ecdh")},
            "kms-ml-kem": {"type": "aws-kms-ml-kem", "key-id": arn("mlkem")},
        },
    });
    std::fs::write(dir.0.join("keys.json"), serde_json::to_vec(&keys).unwrap()).unwrap();
    let test = |kd: serde_json::Value| {
        serde_json::json!({
            "decryption-scenario": {
                "type": "positive-esdk",
                "ciphertext": "file://ciphertexts/x",
                "result": "file://plaintexts/x",
                "decryptKeyDescription": kd,
            }
        })
    };
    let manifest = serde_json::json!({
        "manifest": {"type": "awses-decrypt", "version": 5},
        "keys": "file://keys.json",
        "tests": {
            "rsa": test(serde_json::json!({"type": "aws-kms-rsa", "key": "kms-rsa", "encryption-algorithm": "RSAES_OAEP_SHA_256"})),
            "ecdh": test(serde_json::json!({"type": "aws-kms-ecdh", "sender": "kms-ecdh", "recipient": "kms-ecdh", "ecc-curve": "ECC_NIST_P256", "schema": "kms-public-key-discovery"})),
            "ml-kem": test(serde_json::json!({"type": "aws-kms-ml-kem", "key": "kms-ml-kem"})),
            "multi": test(serde_json::json!({"type": "multi-keyring", "generator": {"type": "aws-kms-rsa", "key": "kms-rsa", "encryption-algorithm": "RSAES_OAEP_SHA_1"}})),
            "rsa-without-algorithm": test(serde_json::json!({"type": "aws-kms-rsa", "key": "kms-rsa"})),
        },
    });
    let path = dir.0.join("manifest.json");
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let report = decrypt_manifest(&path).await.unwrap();
    assert_eq!(
        (report.passed, report.skipped, report.need_aws),
        (0, 4, 4),
        "{report}"
    );
    assert!(report.to_string().ends_with("(4 need AWS KMS)"), "{report}");
    assert_eq!(report.failed.len(), 1, "{report}");
    assert_eq!(report.failed[0].0, "rsa-without-algorithm");
    assert!(
        report.failed[0].1.contains("RSAES_OAEP_SHA_256"),
        "{:?}",
        report.failed
    );
}
