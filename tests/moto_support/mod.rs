//! A local `moto_server` for the tests that talk to AWS services (`tests/kms.rs`,
//! `kinesis/tests/`), on a free loopback port.
//!
//! The server comes from `SEALBOX_MOTO_SERVER` or `.venv/bin/moto_server` (run `scripts/test`
//! once to create the venv). Without one the tests fail: they never pass by skipping.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A moto endpoint, and the server behind it when this process started one.
pub(crate) struct LocalMoto {
    pub(crate) endpoint: String,
    /// The watchdog shell that runs moto_server. Its stdin is ours: when the test process ends,
    /// however it ends, the pipe closes and the watchdog stops the server (the tests keep this
    /// in a static, and statics are never dropped, so a Drop impl alone would leak it).
    _server: Option<(Child, ChildStdin)>,
}

const WATCHDOG: &str = r#"
"$0" -H 127.0.0.1 -p "$1" & server=$!
read -r _ignored || true
kill "$server" 2>/dev/null
wait "$server" 2>/dev/null
"#;

/// The endpoint in the environment variable `endpoint_var` when it is set (scripts/test may share
/// one server between steps); otherwise a moto_server started here. `service` names what the
/// tests need, for the message when there is no moto_server.
pub(crate) fn start(endpoint_var: &str, service: &str) -> LocalMoto {
    if let Ok(endpoint) = std::env::var(endpoint_var) {
        return LocalMoto {
            endpoint,
            _server: None,
        };
    }
    let moto = std::env::var_os("SEALBOX_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // The repository's venv: this crate's folder, or the workspace root above a member
            // crate (sealbox-kinesis shares this file).
            let here = Path::new(env!("CARGO_MANIFEST_DIR"));
            let own = here.join(".venv/bin/moto_server");
            match here.parent() {
                Some(root) if !own.exists() => root.join(".venv/bin/moto_server"),
                _ => own,
            }
        });
    assert!(
        moto.exists(),
        "no local {service} for these tests: {} does not exist. Run scripts/test once (it \
         creates .venv with moto[server]), or set SEALBOX_MOTO_SERVER to a moto_server binary, \
         or {endpoint_var} to a running endpoint",
        moto.display()
    );
    let mut last_log = String::new();
    // A free port can be taken between our probe and moto's bind: try a few.
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log_path = std::env::temp_dir().join(format!("sealbox-moto-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("moto log file");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(&moto)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start moto_server");
        let stdin = child.stdin.take().expect("piped stdin");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return LocalMoto {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    _server: Some((child, stdin)),
                };
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
        last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
    }
    panic!("moto_server did not start on 127.0.0.1:\n{last_log}");
}
