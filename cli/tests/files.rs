//! `sealbox encrypt|decrypt` on many files: directory trees and suffixes, metadata records,
//! overwrite protection, base64, and one cache shared by a whole run.

use std::path::Path;
use std::process::{Command, Output};

fn sealbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(args)
        .output()
        .expect("run sealbox")
}

fn ok(args: &[&str]) -> Output {
    let out = sealbox(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn setup(name: &str) -> (std::path::PathBuf, String) {
    let d = std::env::temp_dir().join(format!("sealbox-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for (rel, len) in [("src/a", 10usize), ("src/x/b", 5000), ("src/x/y/c", 0)] {
        let p = d.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, vec![len as u8; len]).unwrap();
    }
    std::fs::create_dir_all(d.join("enc")).unwrap();
    std::fs::create_dir_all(d.join("dec")).unwrap();
    std::fs::write(d.join("key"), [9u8; 32]).unwrap();
    let key = d.join("key").to_string_lossy().into_owned();
    (d, key)
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn trees_round_trip_with_suffixes_and_metadata() {
    let (d, key) = setup("tree");
    let meta = d.join("meta.jsonl");
    ok(&[
        "encrypt",
        "-r",
        "-i",
        &s(&d.join("src")),
        "-o",
        &s(&d.join("enc")),
        "--aes-key-file",
        &key,
        "-c",
        "k=v",
        "--metadata-output",
        &s(&meta),
        "--quiet",
    ]);
    for rel in ["a.encrypted", "x/b.encrypted", "x/y/c.encrypted"] {
        assert!(d.join("enc").join(rel).is_file(), "{rel}");
    }
    ok(&[
        "decrypt",
        "-r",
        "-i",
        &s(&d.join("enc")),
        "-o",
        &s(&d.join("dec")),
        "--aes-key-file",
        &key,
        "--suffix",
        "",
        "-c",
        "k=v",
        "--metadata-output",
        &s(&meta),
        "--quiet",
    ]);
    for (rel, len) in [
        ("a.encrypted", 10usize),
        ("x/b.encrypted", 5000),
        ("x/y/c.encrypted", 0),
    ] {
        assert_eq!(
            std::fs::read(d.join("dec").join(rel)).unwrap(),
            vec![len as u8; len],
            "{rel}"
        );
    }
    // Six records: three encrypt, three decrypt, each with the fields aws-encryption-cli writes.
    let text = std::fs::read_to_string(&meta).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 6);
    for r in &records {
        let mode = r["mode"].as_str().unwrap();
        assert!(mode == "encrypt" || mode == "decrypt", "{r}");
        assert!(
            r["input"].as_str().unwrap().starts_with('/'),
            "absolute paths: {r}"
        );
        assert_eq!(r["header"]["encryption_context"]["k"], "v");
        assert_eq!(
            r["header"]["algorithm"],
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
        );
        assert_eq!(r["header"]["version"], "2.0");
        assert_eq!(r.get("header_auth").is_some(), mode == "decrypt", "{r}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn no_overwrite_keeps_files_and_base64_round_trips() {
    let (d, key) = setup("overwrite");
    let (a, ct) = (s(&d.join("src/a")), s(&d.join("ct")));
    std::fs::write(&ct, b"existing").unwrap();
    ok(&[
        "encrypt",
        "-i",
        &a,
        "-o",
        &ct,
        "--aes-key-file",
        &key,
        "--no-overwrite",
    ]);
    assert_eq!(std::fs::read(&ct).unwrap(), b"existing");
    ok(&[
        "encrypt",
        "-i",
        &a,
        "-o",
        &ct,
        "--aes-key-file",
        &key,
        "--base64-output",
    ]);
    let text = std::fs::read(&ct).unwrap();
    assert!(
        text.iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b)),
        "not base64"
    );
    let out = ok(&[
        "decrypt",
        "-i",
        &ct,
        "--aes-key-file",
        &key,
        "--base64-input",
    ]);
    assert_eq!(out.stdout, vec![10u8; 10]);
    let _ = std::fs::remove_dir_all(&d);
}

/// The distinct wrapped data keys among the metadata records of `meta`.
fn distinct_data_keys(meta: &Path) -> usize {
    let text = std::fs::read_to_string(meta).unwrap();
    text.lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            r["header"]["encrypted_data_keys"][0]["encrypted_data_key"].to_string()
        })
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

#[test]
fn many_files_with_the_cache_and_a_summary() {
    let (d, key) = setup("cache");
    let src = d.join("many");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..50 {
        std::fs::write(src.join(format!("f{i}")), format!("file {i}")).unwrap();
    }
    let run = |out: &str, meta: &str, cache: bool| {
        std::fs::create_dir_all(d.join(out)).unwrap();
        let (src, out, meta) = (s(&src), s(&d.join(out)), s(&d.join(meta)));
        let mut args = vec![
            "encrypt",
            "-r",
            "-i",
            &src,
            "-o",
            &out,
            "--aes-key-file",
            &key,
            "--jobs",
            "4",
            "--metadata-output",
            &meta,
        ];
        if cache {
            args.extend(["--cache-capacity", "10", "--cache-max-age", "60"]);
        }
        String::from_utf8_lossy(&ok(&args).stderr).into_owned()
    };
    let err = run("cached", "cached.jsonl", true);
    assert!(err.contains("encrypt 50 of 50 files"), "{err}");
    // One data key for all 50 files with the cache; a fresh one for each without.
    assert_eq!(distinct_data_keys(&d.join("cached.jsonl")), 1);
    run("fresh", "fresh.jsonl", false);
    assert_eq!(distinct_data_keys(&d.join("fresh.jsonl")), 50);
    let _ = std::fs::remove_dir_all(&d);
}

/// Two sources that name one destination (`-i 'src/*/b'`): as one file after the other, the
/// later replaces the earlier's output (with a warning), and with --no-overwrite the first stays.
#[test]
fn two_sources_with_one_destination() {
    let (d, key) = setup("same-dest");
    std::fs::create_dir_all(d.join("src/w")).unwrap();
    std::fs::write(d.join("src/w/b"), b"first in glob order").unwrap();
    std::fs::write(d.join("src/x/b"), b"second in glob order").unwrap();
    let glob = s(&d.join("src/*/b"));
    for (extra, expected) in [
        (None, &b"second in glob order"[..]),
        (Some("--no-overwrite"), &b"first in glob order"[..]),
    ] {
        let out_dir = d.join(if extra.is_some() {
            "enc-keep"
        } else {
            "enc-replace"
        });
        std::fs::create_dir_all(&out_dir).unwrap();
        let mut args = vec!["encrypt", "-i", &glob, "-o"];
        let out_s = s(&out_dir);
        args.push(&out_s);
        args.extend(["--aes-key-file", &key]);
        args.extend(extra);
        let out = ok(&args);
        let warned = String::from_utf8_lossy(&out.stderr);
        assert!(
            warned.contains("replaces the output") || warned.contains("no overwrite"),
            "{warned}"
        );
        let names: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
        assert_eq!(names.len(), 1);
        let out = ok(&[
            "decrypt",
            "-i",
            &s(&out_dir.join("b.encrypted")),
            "--aes-key-file",
            &key,
        ]);
        assert_eq!(out.stdout, expected);
    }
    std::fs::remove_dir_all(&d).unwrap();
}
