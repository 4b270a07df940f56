//! What the command line releases and keeps: no output file for a message that fails, nothing
//! released before verification with `--buffer` or a file, bounded reads in `inspect`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn sealbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(args)
        .output()
        .expect("run sealbox")
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("sealbox-safety-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn path(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
