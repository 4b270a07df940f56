//! Fixtures shared by the CLI's integration tests.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Run the `sealbox` binary under test with `args`.
pub(crate) fn sealbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(args)
        .output()
        .expect("run sealbox")
}

/// A fresh folder under the system's temporary directory, removed when dropped. `name` and the
/// process ID keep concurrent tests and test binaries apart.
pub(crate) struct Dir(pub(crate) PathBuf);

impl Dir {
    pub(crate) fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("sealbox-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    /// The path of `f` in the folder, as a string for command lines.
    pub(crate) fn path(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
