//! `sealbox keystore` and the branch key options of `encrypt`: exit codes and messages that need
//! no server (scripts/interop-hierarchy runs the commands against a local one, with the Python
//! SDK on the other side).

use std::net::TcpListener;
use std::process::{Command, Output};

const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/b3537ef1-d8dc-4780-9f5a-55776cbb2f7f";

/// sealbox with an AWS configuration that reaches nothing but `endpoint`.
fn sealbox(endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/sealbox-no-aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/sealbox-no-aws-credentials",
        )
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("run sealbox")
}

/// A loopback endpoint where nothing listens.
fn closed_endpoint() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("http://127.0.0.1:{port}")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn usage_errors_exit_2() {
    let e = closed_endpoint();
    // A chosen branch key ID without a custom context, as in the other SDKs.
    let out = sealbox(
        &e,
        &[
            "keystore",
            "create-key",
            "--key-store",
            "table",
            "--key-store-kms-key",
            ARN,
            "--branch-key-id",
            "tenant",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("custom encryption context"),
        "{}",
        stderr(&out)
    );
    // An alias is not a key ARN.
    let out = sealbox(
        &e,
        &[
            "keystore",
            "create",
            "--key-store",
            "table",
            "--key-store-kms-key",
            "alias/x",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("key ARN"), "{}", stderr(&out));
    // Missing options.
    let out = sealbox(&e, &["keystore", "version-key", "--key-store", "table"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = sealbox(
        &e,
        &["encrypt", "--branch-key-id", "tenant", "-i", "/dev/null"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--key-store"), "{}", stderr(&out));
    let out = sealbox(&e, &["decrypt", "--key-store", "table", "-i", "/dev/null"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn an_unreachable_store_is_a_failure_exit_1_naming_the_call() {
    let e = closed_endpoint();
    let out = sealbox(
        &e,
        &[
            "keystore",
            "version-key",
            "--key-store",
            "table",
            "--key-store-kms-key",
            ARN,
            "--branch-key-id",
            "tenant",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("\"tenant\"") && err.contains("DynamoDB GetItem failed"),
        "{err}"
    );
    let out = sealbox(
        &e,
        &[
            "encrypt",
            "--branch-key-id",
            "tenant",
            "--key-store",
            "table",
            "--key-store-kms-key",
            ARN,
            "-i",
            "/dev/null",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("DynamoDB GetItem failed"),
        "{}",
        stderr(&out)
    );
}
