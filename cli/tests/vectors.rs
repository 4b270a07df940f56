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
