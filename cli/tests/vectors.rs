//! `sealbox vectors`: its summary line and exit status; `sealbox inspect`.

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

/// `N passed, N failed, N skipped`, maybe followed by ` (N need AWS KMS)`.
fn summary(stdout: &str) -> (usize, usize, usize) {
    let last = stdout.lines().last().unwrap_or_default();
    let counts = last.split(" (").next().unwrap_or_default();
    let n: Vec<usize> = counts
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    assert_eq!(n.len(), 3, "no summary line in {stdout}");
    (n[0], n[1], n[2])
}

/// `sealbox vectors decrypt` runs every test of a manifest (the runner itself is checked by the
/// library's `tests/vectors.rs`) and prints the summary line `scripts/` reads.
#[test]
fn vectors_decrypt_prints_a_summary_of_every_test() {
    let manifest = "tests/vectors/net-4.0.1/manifest.json";
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join(manifest)).unwrap()).unwrap();
    let tests = v["tests"].as_object().unwrap().len();
    let (ok, out) = sealbox(&["vectors", "decrypt", manifest]);
    assert!(ok, "{out}");
    let (passed, failed, skipped) = summary(&out);
    assert!(passed > 0, "{out}");
    assert_eq!((passed + skipped, failed), (tests, 0), "{out}");
}

/// A test that does not give what its manifest expects is printed as FAIL and makes the exit
/// status non-zero.
#[test]
fn a_failing_vector_fails_the_command() {
    let base = repo().join("tests/vectors/net-4.0.1");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base.join("manifest.json")).unwrap()).unwrap();
    // Every path absolute, so that the manifest runs from elsewhere.
    let absolute = |uri: &serde_json::Value| {
        let rel = uri.as_str().unwrap().trim_start_matches("file://");
        serde_json::json!(format!("file://{}", base.join(rel).display()))
    };
    v["keys"] = absolute(&v["keys"]);
    let tests = v["tests"].as_object_mut().unwrap();
    for t in tests.values_mut() {
        t["ciphertext"] = absolute(&t["ciphertext"]);
        if let Some(p) = t["result"]["output"].get("plaintext").cloned() {
            t["result"]["output"]["plaintext"] = absolute(&p);
        }
    }
    // A raw-key test that decrypts, now expected to fail.
    let id = tests
        .iter()
        .find(|(_, t)| t["master-keys"][0]["type"] == "raw" && t["result"].get("output").is_some())
        .map(|(id, _)| id.clone())
        .unwrap();
    tests[&id]["result"] = serde_json::json!({"error": {"error-description": "expected"}});
    let dir = std::env::temp_dir().join(format!("sealbox-cli-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, serde_json::to_vec(&v).unwrap()).unwrap();
    let (ok, out) = sealbox(&["vectors", "decrypt", manifest.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        !ok,
        "a failing vector must make the exit status non-zero: {out}"
    );
    assert_eq!(summary(&out).1, 1, "{out}");
    assert!(out.contains(&format!("FAIL {id}: ")), "{out}");
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
