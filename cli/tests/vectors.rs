//! The `sealbox vectors` runner against the committed vector subsets, and its own round trip.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sealbox(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run sealbox");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn summary(stdout: &str) -> (usize, usize, usize) {
    let last = stdout.lines().last().unwrap_or_default();
    let n: Vec<usize> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    assert_eq!(n.len(), 3, "no summary line in {stdout}");
    (n[0], n[1], n[2])
}

#[test]
fn committed_vectors_decrypt() {
    for (manifest, passed, skipped) in [
        ("tests/vectors/net-4.0.1/manifest.json", 99, 33),
        ("tests/vectors/python-4.0.7/manifest.json", 80, 0),
        ("tests/vectors/hierarchy/decrypt/manifest.json", 26, 0),
        (
            "tests/vectors/python-1.3.0-legacy/manifests/ciphertext.manifest",
            90,
            0,
        ),
    ] {
        let (ok, out) = sealbox(&["vectors", "decrypt", manifest]);
        assert!(ok, "{manifest}: {out}");
        assert_eq!(summary(&out), (passed, 0, skipped), "{manifest}");
    }
}

#[test]
fn encrypt_manifest_round_trips_and_negative_tests_fail() {
    let dir = std::env::temp_dir().join(format!("sealbox-vectors-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (ok, out) = sealbox(&[
        "vectors",
        "encrypt",
        "tests/vectors/framework/0003-awses-message-encryption.v2.json",
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert_eq!(summary(&out), (2288, 0, 1012));
    let manifest = dir.join("manifest.json");
    let (ok, out) = sealbox(&["vectors", "decrypt", manifest.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(summary(&out).0, 2288);

    // Turn one test into a negative one: it must pass only because decryption fails.
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let tests = v["tests"].as_object_mut().unwrap();
    let id = tests.keys().next().unwrap().clone();
    tests[&id]["result"] = serde_json::json!({"error": {"error-description": "tampered"}});
    let ct = dir.join("ciphertexts").join(&id);
    let mut bytes = std::fs::read(&ct).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&ct, &bytes).unwrap();
    // And corrupt a second, positive test: it must be reported as a failure.
    let other = tests.keys().nth(1).unwrap().clone();
    let ct2 = dir.join("ciphertexts").join(&other);
    let mut bytes = std::fs::read(&ct2).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&ct2, &bytes).unwrap();
    std::fs::write(&manifest, serde_json::to_vec(&v).unwrap()).unwrap();
    let (ok, out) = sealbox(&["vectors", "decrypt", manifest.to_str().unwrap()]);
    assert!(!ok, "a failing vector must make the exit status non-zero");
    assert_eq!(summary(&out), (2287, 1, 0), "{out}");
    assert!(out.contains(&format!("FAIL {other}")), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `aws-kms-hierarchy` key descriptions over a `static-branch-key`: encrypt a fresh set, decrypt
/// it through v2 master keys and v5 key descriptions, and see it fail under another branch key.
#[test]
fn hierarchy_vectors_round_trip_and_need_the_right_branch_key() {
    let dir = std::env::temp_dir().join(format!("sealbox-hierarchy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (ok, out) = sealbox(&[
        "vectors",
        "encrypt",
        "tests/vectors/hierarchy/encrypt/manifest.json",
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert_eq!(summary(&out), (26, 0, 0));
    let manifest = dir.join("manifest.json");
    let (ok, out) = sealbox(&["vectors", "decrypt", manifest.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(summary(&out), (26, 0, 0));

    // The same messages as awses-decrypt v5 scenarios with a hierarchy key description.
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let mut v5 = serde_json::Map::new();
    for (id, t) in v["tests"].as_object().unwrap() {
        if !id.starts_with("hierarchy-0") {
            continue;
        }
        v5.insert(
            id.clone(),
            serde_json::json!({"decryption-scenario": {
                "type": "positive-esdk",
                "ciphertext": t["ciphertext"],
                "result": t["result"]["output"]["plaintext"],
                "decryptKeyDescription": {"type": "aws-kms-hierarchy", "key": "static-branch-key-1"},
            }}),
        );
    }
    assert_eq!(v5.len(), 22);
    let v5_manifest = dir.join("manifest-v5.json");
    std::fs::write(
        &v5_manifest,
        serde_json::to_vec(&serde_json::json!({
            "manifest": {"type": "awses-decrypt", "version": 5},
            "keys": "file://keys.json",
            "tests": v5,
        }))
        .unwrap(),
    )
    .unwrap();
    let (ok, out) = sealbox(&["vectors", "decrypt", v5_manifest.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(summary(&out), (22, 0, 0));

    // Another branch key under the same ID and version: every hierarchy-only message fails.
    let keys_path = dir.join("keys.json");
    let mut keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&keys_path).unwrap()).unwrap();
    keys["keys"]["static-branch-key-1"]["branchKey"] =
        serde_json::json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    std::fs::write(&keys_path, serde_json::to_vec(&keys).unwrap()).unwrap();
    let (ok, out) = sealbox(&["vectors", "decrypt", v5_manifest.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert_eq!(summary(&out), (0, 22, 0), "{out}");
    assert!(
        out.contains("authentication failed under branch key version"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inspect_prints_the_header_without_a_key() {
    let (ok, out) = sealbox(&[
        "inspect",
        "tests/vectors/net-4.0.1/ciphertexts/0578-ec_len_2-cmm_Default-49d41154-0d7a-4175-9718-1da555f639bd",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("suite: 0x0578"), "{out}");
    assert!(out.contains("version: 2"), "{out}");
    assert!(out.contains("\"key1\": \"val1\""), "{out}");
}
