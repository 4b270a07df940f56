//! The KMS stand-in (`kms_standin.py` beside this file) for the tests of the asymmetric KMS
//! keyrings: a loopback proxy in front of moto_server that STANDS IN FOR AWS KMS where moto
//! cannot: `Decrypt` with real RSA keys, `DeriveSharedSecret`, `Encapsulate`, `Decapsulate`, and
//! `GetPublicKey` and `CreateKey` for those keys. Everything else goes to moto.
//!
//! The proxy runs on the venv's Python (`.venv/bin/python`, or `SEALBOX_PYTHON`; run
//! `scripts/test` once to create the venv). Without it the tests fail: they never pass by
//! skipping. `SEALBOX_KMS_STANDIN_ENDPOINT` points the tests at a running stand-in instead.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// A running stand-in and its endpoint.
pub(crate) struct KmsStandin {
    pub(crate) endpoint: String,
    /// The watchdog shell that runs the proxy: when this process ends and the pipe closes, the
    /// watchdog stops the proxy (the tests keep this in a static, which is never dropped).
    _proxy: Option<(Child, ChildStdin)>,
}

const WATCHDOG: &str = r#"
"$0" "$1" "$2" & proxy=$!
read -r _ignored || true
kill "$proxy" 2>/dev/null
wait "$proxy" 2>/dev/null
"#;

/// A stand-in in front of the moto endpoint `upstream` (`http://127.0.0.1:PORT`).
pub(crate) fn start(upstream: &str) -> KmsStandin {
    if let Ok(endpoint) = std::env::var("SEALBOX_KMS_STANDIN_ENDPOINT") {
        return KmsStandin {
            endpoint,
            _proxy: None,
        };
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("SEALBOX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(
        python.exists(),
        "no Python for the KMS stand-in: {} does not exist. Run scripts/test once (it creates \
         .venv with moto, cryptography and kyber-py), or set SEALBOX_PYTHON",
        python.display()
    );
    let script = root.join("tests/kms_standin/kms_standin.py");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg(&python)
        .arg(&script)
        .arg(upstream)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the KMS stand-in");
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the stand-in's first line");
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the KMS stand-in did not start: {line:?}"))
        .to_owned();
    KmsStandin {
        endpoint,
        _proxy: Some((child, stdin)),
    }
}
