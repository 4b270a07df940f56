//! What the command line releases and keeps: no output file for a message that fails, nothing
//! released before verification with `--buffer` or a file, bounded reads in `inspect`.

use std::io::Write;
use std::process::{Command, Stdio};

mod common;
use common::{sealbox, Dir};

/// `sealbox inspect` on an endless standard input reads at most the header limit (1 MiB), fails,
/// and leaves the rest unread.
#[test]
fn inspect_reads_at_most_the_header_limit_from_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .arg("inspect")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sealbox inspect");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // 64 MiB of zeros, as `head -c 64M /dev/zero | sealbox inspect` would send: count what
        // the reader accepted before it went away.
        let chunk = vec![0u8; 1 << 16];
        let mut sent = 0usize;
        for _ in 0..1024 {
            match stdin.write_all(&chunk) {
                Ok(()) => sent += chunk.len(),
                Err(_) => break,
            }
        }
        sent
    });
    let out = child.wait_with_output().unwrap();
    let sent = writer.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 1 MiB read, plus what the pipe holds (64 KiB on Linux) and one chunk in flight.
    assert!(
        sent <= (1 << 20) + (1 << 18),
        "inspect accepted {sent} bytes of stdin"
    );
}

/// The names in folder `dir`.
fn names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Nothing named `prefix...` and no partial file is left in `d`.
fn assert_nothing_left(d: &Dir, prefix: &str) {
    let names = names(&d.0);
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with(prefix) || n.contains("partial")),
        "{names:?}"
    );
}

fn write_key(d: &Dir) -> String {
    std::fs::write(d.path("key"), [5u8; 32]).unwrap();
    d.path("key")
}

/// A signed message of 100-byte frames whose signature (its last byte) is flipped: every frame
/// verifies, only the end fails.
fn bad_signature_message(d: &Dir, key: &str) -> String {
    let plaintext: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(d.path("pt"), &plaintext).unwrap();
    let out = sealbox(&[
        "encrypt",
        "-i",
        &d.path("pt"),
        "-o",
        &d.path("ct"),
        "--aes-key-file",
        key,
        "--frame-length",
        "100",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ct = std::fs::read(d.path("ct")).unwrap();
    let last = ct.len() - 1;
    ct[last] ^= 1;
    std::fs::write(d.path("bad"), &ct).unwrap();
    d.path("bad")
}

/// With --buffer, standard output receives nothing of a message whose signature fails; without
/// it the verified frames are released, and standard error says they are not authenticated.
#[test]
fn buffer_releases_nothing_before_the_signature_verified() {
    let d = Dir::new("buffer");
    let key = write_key(&d);
    let bad = bad_signature_message(&d, &key);
    let out = sealbox(&["decrypt", "-i", &bad, "--aes-key-file", &key, "--buffer"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "--buffer released {} bytes",
        out.stdout.len()
    );
    let out = sealbox(&["decrypt", "-i", &bad, "--aes-key-file", &key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !out.stdout.is_empty(),
        "streaming released nothing: the message is not multi-frame"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOT authenticated"));
}

/// A failed decryption to a file leaves no file: not the destination, not a partial one, and an
/// older file of that name keeps its contents.
#[test]
fn failed_decrypt_leaves_no_output_file() {
    let d = Dir::new("nofile");
    let key = write_key(&d);
    let bad = bad_signature_message(&d, &key);
    std::fs::write(d.path("old"), b"keep me").unwrap();
    for dest in ["new", "old"] {
        let out = sealbox(&[
            "decrypt",
            "-i",
            &bad,
            "-o",
            &d.path(dest),
            "--aes-key-file",
            &key,
        ]);
        assert_eq!(out.status.code(), Some(1));
    }
    assert_eq!(std::fs::read(d.path("old")).unwrap(), b"keep me");
    assert_nothing_left(&d, "new");
}

/// A failed encryption leaves nothing either: no destination, no partial file, and an older file
/// of that name keeps its contents.
#[test]
fn failed_encrypt_leaves_no_output_file() {
    let d = Dir::new("noenc");
    let key = write_key(&d);
    // Base64 that breaks after 64 KiB: the failure comes while the output is being written.
    let mut bad = "QUJD".repeat(1 << 14);
    bad.push_str("!!!!");
    std::fs::write(d.path("in.b64"), bad).unwrap();
    std::fs::write(d.path("old"), b"keep me").unwrap();
    for dest in ["new", "old"] {
        let out = sealbox(&[
            "encrypt",
            "-i",
            &d.path("in.b64"),
            "-o",
            &d.path(dest),
            "--aes-key-file",
            &key,
            "--base64-input",
        ]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(std::fs::read(d.path("old")).unwrap(), b"keep me");
    assert_nothing_left(&d, "new");
    // The same input, valid, encrypts and decrypts.
    std::fs::write(d.path("ok.b64"), "QUJD".repeat(1 << 14)).unwrap();
    let out = sealbox(&[
        "encrypt",
        "-i",
        &d.path("ok.b64"),
        "-o",
        &d.path("new"),
        "--aes-key-file",
        &key,
        "--base64-input",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sealbox(&["decrypt", "-i", &d.path("new"), "--aes-key-file", &key]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, "ABC".repeat(1 << 14).as_bytes());
}

/// When the finished file cannot be renamed into place (a folder holds its name), the
/// temporary file, which holds plaintext on decryption, is removed too.
#[test]
fn failed_rename_leaves_no_partial_file() {
    let d = Dir::new("rename");
    let key = write_key(&d);
    std::fs::write(d.path("pt"), b"some plaintext").unwrap();
    let out = sealbox(&[
        "encrypt",
        "-i",
        &d.path("pt"),
        "-o",
        &d.path("ct"),
        "--aes-key-file",
        &key,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(d.0.join("plain").join("ct.decrypted")).unwrap();
    let out = sealbox(&[
        "decrypt",
        "-i",
        &d.path("ct"),
        "-o",
        &d.path("plain"),
        "--aes-key-file",
        &key,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot rename"));
    assert_eq!(names(&d.0.join("plain")), ["ct.decrypted"]);
}

/// In a directory run, the file that fails leaves nothing, the others decrypt, the exit is 1.
#[test]
fn directory_run_with_one_bad_file() {
    let d = Dir::new("tree");
    let key = write_key(&d);
    let src = d.path("src");
    std::fs::create_dir_all(format!("{src}/sub")).unwrap();
    std::fs::write(format!("{src}/a"), b"alpha").unwrap();
    std::fs::write(format!("{src}/sub/b"), b"beta").unwrap();
    std::fs::create_dir(d.path("enc")).unwrap();
    let out = sealbox(&[
        "encrypt",
        "-r",
        "-i",
        &src,
        "-o",
        &d.path("enc"),
        "--aes-key-file",
        &key,
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b = format!("{}/sub/b.encrypted", d.path("enc"));
    let mut ct = std::fs::read(&b).unwrap();
    let last = ct.len() - 1;
    ct[last] ^= 1;
    std::fs::write(&b, ct).unwrap();
    std::fs::create_dir(d.path("dec")).unwrap();
    let out = sealbox(&[
        "decrypt",
        "-r",
        "-i",
        &d.path("enc"),
        "-o",
        &d.path("dec"),
        "--aes-key-file",
        &key,
        "--jobs",
        "1",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read(format!("{}/a.encrypted.decrypted", d.path("dec"))).unwrap(),
        b"alpha"
    );
    let sub: Vec<_> = std::fs::read_dir(format!("{}/sub", d.path("dec")))
        .map(|r| r.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(sub.is_empty(), "left behind: {sub:?}");
}

/// `--help` of decrypt, in both modes, says what standard output holds when a message fails.
#[test]
fn help_states_the_stdout_caveat() {
    for args in [&["decrypt", "--help"][..], &["-d", "--help"][..]] {
        let out = sealbox(args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("NOT authenticated"), "{args:?}: {text}");
    }
}
