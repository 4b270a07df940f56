//! `sealbox encrypt`, `decrypt` and `inspect` on files: round trip, wrong keys, tampering.

use std::path::Path;
use std::process::Output;

mod common;
use common::{sealbox, Dir};

/// Run sealbox and fail the test, with its stderr, unless it succeeds.
fn sealbox_ok(args: &[&str]) -> Output {
    let out = sealbox(args);
    assert!(
        out.status.success(),
        "sealbox {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn aes_round_trip_context_and_tampering() {
    let d = Dir::new("aes");
    std::fs::write(d.path("key"), [7u8; 32]).unwrap();
    let plaintext: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    std::fs::write(d.path("pt"), &plaintext).unwrap();
    sealbox_ok(&[
        "encrypt",
        "-i",
        &d.path("pt"),
        "-o",
        &d.path("ct"),
        "--aes-key-file",
        &d.path("key"),
        "-c",
        "tenant=acme",
        "--suite",
        "0478",
        "--frame-length",
        "1000",
    ]);
    let inspect = sealbox(&["inspect", &d.path("ct")]);
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        text.contains("suite: 0x0478") && text.contains("frame_length: 1000"),
        "{text}"
    );
    assert!(text.contains("\"tenant\": \"acme\""), "{text}");

    sealbox_ok(&[
        "decrypt",
        "-i",
        &d.path("ct"),
        "-o",
        &d.path("out"),
        "--aes-key-file",
        &d.path("key"),
        "-c",
        "tenant=acme",
    ]);
    assert_eq!(std::fs::read(d.path("out")).unwrap(), plaintext);

    // A context that disagrees with the message fails.
    let out = sealbox(&[
        "decrypt",
        "-i",
        &d.path("ct"),
        "-o",
        &d.path("bad"),
        "--aes-key-file",
        &d.path("key"),
        "-c",
        "tenant=evil",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!Path::new(&d.path("bad")).exists());

    // A tampered message fails, exits 1, and leaves no output file behind.
    let mut ct = std::fs::read(d.path("ct")).unwrap();
    let n = ct.len() - 50;
    ct[n] ^= 1;
    std::fs::write(d.path("tampered"), &ct).unwrap();
    let out = sealbox(&[
        "decrypt",
        "-i",
        &d.path("tampered"),
        "-o",
        &d.path("t.out"),
        "--aes-key-file",
        &d.path("key"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tampered"));
    assert!(std::fs::read_dir(&d.0).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("t.out")));

    // The wrong key name says which keyring tried which key.
    let out = sealbox(&[
        "decrypt",
        "-i",
        &d.path("ct"),
        "--aes-key-file",
        &d.path("key"),
        "--key-name",
        "other",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("key name \"key\" is not \"other\""));
}

#[test]
fn rsa_public_encrypts_private_decrypts_and_unsigned_only() {
    let d = Dir::new("rsa");
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/rsa-2048-private.pem"
    ))
    .unwrap();
    std::fs::write(d.path("rsa.pem"), &pem).unwrap();
    std::fs::write(d.path("pt"), b"hello rsa").unwrap();
    sealbox_ok(&[
        "encrypt",
        "-i",
        &d.path("pt"),
        "-o",
        &d.path("ct"),
        "--rsa-key",
        &d.path("rsa.pem"),
        "--rsa-padding",
        "oaep-sha512",
    ]);
    let out = sealbox_ok(&[
        "decrypt",
        "-i",
        &d.path("ct"),
        "--rsa-key",
        &d.path("rsa.pem"),
        "--rsa-padding",
        "oaep-sha512",
    ]);
    assert_eq!(out.stdout, b"hello rsa");
    // The default suite signs, so unsigned-only refuses it.
    let out = sealbox(&[
        "decrypt",
        "-i",
        &d.path("ct"),
        "--rsa-key",
        &d.path("rsa.pem"),
        "--rsa-padding",
        "oaep-sha512",
        "--unsigned-only",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_usage_is_a_clear_error() {
    let out = sealbox(&[
        "encrypt",
        "-i",
        "/nonexistent/file",
        "--aes-key-file",
        "/nonexistent/key",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/key"));
    let d = Dir::new("short");
    std::fs::write(d.path("key"), [1u8; 10]).unwrap();
    let out = sealbox(&["encrypt", "--aes-key-file", &d.path("key")]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("16, 24 or 32 bytes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn decrypt_limits_are_flags() {
    let d = Dir::new("limits");
    std::fs::write(d.path("key"), [3u8; 32]).unwrap();
    std::fs::write(d.path("pt"), [9u8; 5000]).unwrap();
    let out = sealbox(&[
        "encrypt",
        "-i",
        &d.path("pt"),
        "-o",
        &d.path("ct"),
        "--aes-key-file",
        &d.path("key"),
        "--frame-length",
        "1000",
    ]);
    assert!(out.status.success());
    let decrypt = |extra: &[&str]| {
        let (ct, key) = (d.path("ct"), d.path("key"));
        let mut args = vec!["decrypt", "-i", &ct, "--aes-key-file", &key];
        args.extend_from_slice(extra);
        let out = sealbox(&args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(decrypt(&[]).0);
    let (ok, err) = decrypt(&["--max-frame-length", "999"]);
    assert!(
        !ok && err.contains("frame length 1000 exceeds the maximum 999"),
        "{err}"
    );
    let (ok, err) = decrypt(&["--max-header-length", "50"]);
    assert!(
        !ok && err.contains("header longer than the maximum of 50"),
        "{err}"
    );
    assert!(decrypt(&["--max-encrypted-data-keys", "1"]).0);
}
