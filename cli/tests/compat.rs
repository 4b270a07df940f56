//! The aws-encryption-cli compatible mode without a KMS: what argparse refuses exits 2, what the
//! reference's cli() refuses exits 1, and nothing is written either way. (Against a KMS, both
//! programs side by side: scripts/cli-compat.)

use std::process::{Command, Output};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn sealbox(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(args)
        .current_dir(dir)
        // No AWS configuration on this machine is read, and nothing is called.
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .expect("run sealbox")
}

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sealbox-compat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("pt"), b"plaintext").unwrap();
    d
}

#[test]
fn usage_errors_exit_2_with_argparse_messages() {
    let d = dir("usage");
    let key = format!("key={ARN}");
    for (args, message) in [
        (
            vec!["-e", "-i", "pt", "-o", "ct", "-w", &key],
            "-S/--suppress-metadata --metadata-output is required",
        ),
        (
            vec!["-e", "-d", "-i", "pt", "-o", "ct", "-S", "-w", &key],
            "not allowed with",
        ),
        (
            vec!["-e", "-i", "pt", "-S", "-w", &key],
            "the following arguments are required: -o/--output",
        ),
        (
            vec!["-e", "-i", "pt", "-i", "pt", "-o", "ct", "-S", "-w", &key],
            "may not be specified more than once",
        ),
        (
            vec![
                "-e",
                "-i",
                "pt",
                "-o",
                "ct",
                "-S",
                "-w",
                &key,
                "discovery=true",
            ],
            "Discovery attributes are supported only on decryption",
        ),
        (
            vec![
                "-e", "-i", "pt", "-o", "ct", "-S", "-w", &key, "-c", "novalue",
            ],
            "key=value",
        ),
        (
            vec![
                "-e",
                "-i",
                "pt",
                "-o",
                "ct",
                "-S",
                "-w",
                &key,
                "--caching",
                "capacity=1",
            ],
            "both \"capacity\" and \"max_age\" are required",
        ),
        (
            vec![
                "-e", "-i", "pt", "-o", "ct", "-S", "-w", &key, "-input", "x",
            ],
            "Did you mean \"--input\"?",
        ),
        (
            vec![
                "-e",
                "-i",
                "pt",
                "-o",
                "ct",
                "-S",
                "-w",
                &key,
                "--algorithm",
                "NOPE",
            ],
            "invalid choice",
        ),
        (
            vec![
                "-d",
                "-i",
                "pt",
                "-o",
                "ct",
                "-S",
                "-w",
                "discovery=true",
                &key,
            ],
            "cannot specify wrapping keys",
        ),
        (
            vec![
                "-d",
                "-i",
                "pt",
                "-o",
                "ct",
                "-S",
                "-w",
                "discovery=true",
                "discovery-account=1",
            ],
            "must also specify discovery-partition",
        ),
    ] {
        let out = sealbox(&args, &d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert!(!d.join("ct").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn refusals_after_parsing_exit_1() {
    let d = dir("refusals");
    let key = format!("key={ARN}");
    for (args, message) in [
        (
            vec!["-e", "-i", "missing", "-o", "ct", "-S", "-w", &key],
            "Invalid source",
        ),
        (
            vec!["-e", "-i", "pt", "-o", "pt", "-S", "-w", &key, "--suffix"],
            "Destination and source cannot be the same",
        ),
        (
            vec!["-e", "-i", "pt", "-o", "nodir/ct", "-S", "-w", &key],
            "immediate parent directory must already exist",
        ),
        (
            vec![
                "-e",
                "-i",
                "pt",
                "-o",
                "-",
                "--metadata-output",
                "-",
                "-w",
                &key,
            ],
            "Metadata output cannot be stdout",
        ),
        (
            vec![
                "-e",
                "-i",
                "pt",
                "-o",
                "ct",
                "-S",
                "-w",
                "provider=raw",
                "key=x",
            ],
            "Requested master key provider not found",
        ),
        (
            vec![
                "-e",
                "-i",
                "pt",
                "-o",
                "ct",
                "-S",
                "-w",
                &key,
                "--frame-length",
                "1000",
            ],
            "multiple of the block size",
        ),
    ] {
        let out = sealbox(&args, &d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert!(!d.join("ct").exists());
    assert_eq!(std::fs::read(d.join("pt")).unwrap(), b"plaintext");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn argument_files_expand_variables_and_skip_comments() {
    let d = dir("argfile");
    // The @file supplies everything but the source, which does not exist: the run gets as far
    // as the reference's source check (exit 1), so the file was read whole.
    std::fs::write(
        d.join("args"),
        "# a comment line\n-o ct -S   # trailing comment\n-w key=$SEALBOX_TEST_KEY\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(["-e", "-i", "missing", "@args"])
        .current_dir(&d)
        .env("SEALBOX_TEST_KEY", ARN)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Invalid source"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
