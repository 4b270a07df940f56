//! `sealbox bench --quick`: every figure runs and prints one well-formed JSON object per line.
//! No performance is asserted: the figures of a test run mean nothing.

use std::process::Command;

const NAMES: [&str; 8] = [
    "bulk_encrypt",
    "bulk_decrypt",
    "small_cached_encrypt",
    "small_cached_decrypt",
    "sign_encrypt",
    "verify_decrypt",
    "hierarchy_encrypt",
    "hierarchy_decrypt",
];

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run sealbox bench")
}

#[test]
fn quick_bench_prints_every_figure_as_json() {
    let backend = sealbox::crypto_backend();
    let out = bench(&["--quick", "--backend", backend]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if backend != "rustcrypto" && !cfg!(feature = "aws-lc") {
        // The library was built on aws-lc without the CLI's feature, which brings the aws-lc
        // baselines: the bench must say so rather than compare against the wrong backend.
        assert!(!out.status.success());
        assert!(stderr.contains("--features aws-lc"), "{stderr}");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, NAMES);
    for line in &lines {
        let obj = line.as_object().unwrap();
        for field in ["name", "value", "unit", "baseline", "ratio"] {
            assert!(obj.contains_key(field), "{field} missing in {line}");
        }
        assert!(line["value"].as_f64().unwrap() > 0.0, "{line}");
        assert_eq!(line["backend"], backend);
        let unit = line["unit"].as_str().unwrap();
        if line["name"].as_str().unwrap().starts_with("small_") {
            assert!(
                line["baseline"].is_null() && line["ratio"].is_null(),
                "{line}"
            );
            assert_eq!(unit, "messages/s");
        } else {
            let (value, baseline) = (
                line["value"].as_f64().unwrap(),
                line["baseline"].as_f64().unwrap(),
            );
            let ratio = line["ratio"].as_f64().unwrap();
            assert!(baseline > 0.0, "{line}");
            assert!(
                (ratio - value / baseline).abs() < 0.01 * ratio.max(1.0),
                "{line}"
            );
            assert!(unit == "MB/s" || unit == "messages/s", "{line}");
        }
    }
}

#[test]
fn a_backend_the_binary_lacks_is_a_clear_error() {
    let other = if sealbox::crypto_backend() == "rustcrypto" {
        "aws-lc"
    } else {
        "rustcrypto"
    };
    let out = bench(&["--quick", "--backend", other]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("not {other}")), "{stderr}");
    assert!(out.stdout.is_empty());
}
