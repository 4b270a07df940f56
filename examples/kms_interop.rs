//! sealbox's side of the KMS interop test with the Python AWS Encryption SDK
//! (`scripts/interop_kms.py` is the other side; `scripts/test` runs both against a local KMS).
//!
//! ```text
//! kms_interop encrypt DIR --key-arn ARN [--count N]   # write DIR/NNN.ct and DIR/NNN.pt
//! kms_interop decrypt DIR --key-arn ARN               # decrypt every DIR/*.ct, compare with .pt
//! ```
//!
//! Messages carry the encryption context `{"purpose": "sealbox-kms-interop", "index": "NNN"}`.
//! Decrypt reads each message twice: with the strict KMS keyring for the ARN, and with a
//! discovery keyring filtered to the key's account. The client comes from the standard AWS
//! configuration (`AWS_ENDPOINT_URL` points it at the local KMS). Prints `N passed, N failed`
//! and exits 1 if anything failed.

use std::path::{Path, PathBuf};

use sealbox::{
    AlgorithmSuite, Client, CommitmentPolicy, DefaultCmm, DiscoveryFilter, EncryptionContext,
    KmsDiscoveryKeyring, KmsKeyring,
};

const PURPOSE: &str = "sealbox-kms-interop";

fn usage() -> Box<dyn std::error::Error> {
    "usage: kms_interop (encrypt DIR --key-arn ARN [--count N] | decrypt DIR --key-arn ARN)".into()
}

fn context(index: &str) -> EncryptionContext {
    let mut ec = EncryptionContext::new();
    ec.insert("purpose".into(), PURPOSE.into());
    ec.insert("index".into(), index.into());
    ec
}

/// Plaintexts of varied sizes: empty, one byte, a frame edge, several frames.
fn plaintext(i: usize) -> Vec<u8> {
    let len = [0usize, 1, 4095, 4096, 4097, 10_000, 100][i % 7] + i;
    (0..len).map(|b| (b * 31 + i) as u8).collect()
}

async fn encrypt(
    dir: &Path,
    kms: aws_sdk_kms::Client,
    arn: &str,
    count: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let cmm = DefaultCmm::new(KmsKeyring::new(kms, arn)?);
    // Alternate the default (signing) suite and the committing suite without signatures.
    let suites = [
        AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384,
        AlgorithmSuite::Aes256GcmHkdfSha512Commit,
    ];
    for i in 0..count {
        let client = Client::builder()
            .commitment_policy(CommitmentPolicy::RequireEncryptRequireDecrypt)
            .algorithm_suite(suites[i % suites.len()])
            .frame_length(if i % 3 == 0 { 4096 } else { 1024 })
            .build()?;
        let index = format!("{i:03}");
        let pt = plaintext(i);
        let message = client.encrypt(&cmm, &pt, &context(&index)).await?;
        std::fs::write(dir.join(format!("{index}.ct")), message)?;
        std::fs::write(dir.join(format!("{index}.pt")), pt)?;
    }
    println!("wrote {count} messages to {}", dir.display());
    Ok(())
}

async fn decrypt(
    dir: &Path,
    kms: aws_sdk_kms::Client,
    arn: &str,
) -> Result<bool, Box<dyn std::error::Error>> {
    let account = arn.split(':').nth(4).ok_or("the key ARN has no account")?;
    let strict = DefaultCmm::new(KmsKeyring::new(kms.clone(), arn)?);
    let discovery = DefaultCmm::new(
        KmsDiscoveryKeyring::new(kms)
            .with_discovery_filter(DiscoveryFilter::new("aws", [account])?),
    );
    let client = Client::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "ct"));
    files.sort();
    let (mut passed, mut failed) = (0usize, 0usize);
    for ct_path in &files {
        let index = ct_path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let message = std::fs::read(ct_path)?;
        let expected = std::fs::read(ct_path.with_extension("pt"))?;
        let mut ok = true;
        for (name, cmm) in [("strict", &strict), ("discovery", &discovery)] {
            match client.decrypt(cmm, &message).await {
                Ok(out) => {
                    let ec_ok = out.encryption_context.get("purpose").map(String::as_str)
                        == Some(PURPOSE)
                        && out.encryption_context.get("index").map(String::as_str) == Some(index);
                    if out.plaintext != expected || !ec_ok {
                        println!("FAIL {index} ({name}): plaintext or encryption context differs");
                        ok = false;
                    }
                }
                Err(e) => {
                    println!("FAIL {index} ({name}): {e}");
                    ok = false;
                }
            }
        }
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    if files.is_empty() {
        println!("FAIL: no .ct files in {}", dir.display());
        failed += 1;
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, dir) = match args.as_slice() {
        [mode, dir, ..] => (mode.as_str(), PathBuf::from(dir)),
        _ => return Err(usage()),
    };
    let (mut arn, mut count) = (None, 20usize);
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        match (flag.as_str(), rest.next()) {
            ("--key-arn", Some(v)) => arn = Some(v.clone()),
            ("--count", Some(v)) => count = v.parse()?,
            _ => return Err(usage()),
        }
    }
    let arn = arn.ok_or_else(usage)?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let kms = aws_sdk_kms::Client::new(&config);
    match mode {
        "encrypt" => encrypt(&dir, kms, &arn, count).await,
        "decrypt" => {
            if decrypt(&dir, kms, &arn).await? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        _ => Err(usage()),
    }
}
