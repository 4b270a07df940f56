//! `sealbox vectors`: the test-vector runners of `sealbox-testvectors`, with a summary line and
//! an exit status.

use std::path::Path;
use std::process::ExitCode;

use sealbox_testvectors::Report;

/// `sealbox vectors decrypt MANIFEST`.
pub(crate) async fn decrypt(manifest: &Path) -> anyhow::Result<ExitCode> {
    Ok(finish(
        &sealbox_testvectors::decrypt_manifest(manifest).await?,
    ))
}

/// `sealbox vectors encrypt MANIFEST OUTDIR`.
pub(crate) async fn encrypt(manifest: &Path, outdir: &Path) -> anyhow::Result<ExitCode> {
    Ok(finish(
        &sealbox_testvectors::encrypt_manifest(manifest, outdir).await?,
    ))
}

/// Print each failure and the `N passed, N failed, N skipped` line that `scripts/` reads; exit
/// with 1 if any test failed.
fn finish(report: &Report) -> ExitCode {
    for (id, error) in &report.failed {
        outln!("FAIL {id}: {error}");
    }
    outln!("{report}");
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
