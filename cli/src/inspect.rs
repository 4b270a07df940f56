//! `sealbox inspect`: the header of a message, without any key.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sealbox::format::{parse_header, ContentType, HeaderLimits};

pub(crate) fn run(input: &Path) -> anyhow::Result<ExitCode> {
    let limits = HeaderLimits::default();
    // A header is at most `max_header_length` bytes: read no more than that from a file or from
    // standard input (`head -c 256M /dev/zero | sealbox inspect` must not take 256 MB).
    let cap = limits.max_header_length as u64;
    let mut bytes = Vec::new();
    if input.as_os_str() == "-" {
        std::io::stdin().lock().take(cap).read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(input)
            .with_context(|| format!("cannot open {}", input.display()))?
            .take(cap)
            .read_to_end(&mut bytes)?;
    }
    let (h, len) = parse_header(&bytes, &limits).context("not a valid message header")?;
    outln!("version: {}", h.version);
    outln!("suite: {} ({:?})", h.suite, h.suite);
    outln!("message_id: {}", B64.encode(&h.message_id));
    outln!("header_length: {len}");
    match h.content_type {
        ContentType::Framed => outln!("frame_length: {}", h.frame_length),
        ContentType::NonFramed => outln!("frame_length: 0 (non-framed)"),
    }
    outln!("encryption_context:");
    for (k, v) in &h.encryption_context {
        outln!("  {k:?}: {v:?}");
    }
    outln!("encrypted_data_keys: {}", h.encrypted_data_keys.len());
    for (i, edk) in h.encrypted_data_keys.iter().enumerate() {
        let info = &edk.provider_info;
        // Raw AES provider info ends in tag length, IV length and IV: show only the key name.
        let name = if info.len() > 20 && info[info.len() - 20..info.len() - 16] == [0, 0, 0, 128] {
            &info[..info.len() - 20]
        } else {
            &info[..]
        };
        outln!(
            "  [{i}] provider: {:?} key: {:?} ({} bytes wrapped)",
            edk.provider_id,
            String::from_utf8_lossy(name),
            edk.ciphertext.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
