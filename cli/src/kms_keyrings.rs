//! The asymmetric AWS KMS keyrings of `sealbox encrypt` and `decrypt`: `--kms-rsa-key` (with
//! `--rsa-public-key`), `--kms-ecdh-key` (with `--ecdh-curve` and, for the static scheme,
//! `--ecdh-public-key`) and `--kms-ml-kem-key` (with `--ml-kem-parameter-set` and
//! `--ml-kem-public-key`). The flags live in `crypt.rs`; this builds the keyrings.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use base64::Engine;
use sealbox::{
    Keyring, KmsEcdhKeyring, KmsMlKemKeyring, KmsRsaAlgorithm, KmsRsaKeyring, MlKemParameterSet,
};

/// The flags, borrowed from `crypt::Common`.
pub(crate) struct AsymmetricArgs<'a> {
    pub(crate) rsa_key: Option<&'a str>,
    pub(crate) rsa_public_key: Option<&'a Path>,
    pub(crate) rsa_padding: &'a str,
    pub(crate) ml_kem_key: Option<&'a str>,
    pub(crate) ml_kem_parameter_set: &'a str,
    pub(crate) ml_kem_public_key: Option<&'a Path>,
    pub(crate) ecdh_key: Option<&'a str>,
    pub(crate) ecdh_public_key: Option<&'a Path>,
    pub(crate) ecdh_curve: Option<&'a str>,
    /// `--aws-region`, `--aws-profile`.
    pub(crate) region: Option<&'a str>,
    pub(crate) profile: Option<&'a str>,
}

/// A KMS client for the key `arn`, in the region the ARN names.
fn kms_client(
    rt: &tokio::runtime::Runtime,
    args: &AsymmetricArgs<'_>,
    arn: &str,
) -> aws_sdk_kms::Client {
    let config = rt.block_on(crate::kms_keys::aws_config(args.region, args.profile));
    crate::kms_keys::kms_client(&config, arn)
}

/// The keyrings the flags ask for (none when none of them is given).
pub(crate) fn asymmetric(
    rt: &tokio::runtime::Runtime,
    args: AsymmetricArgs<'_>,
) -> anyhow::Result<Vec<Arc<dyn Keyring>>> {
    let mut keyrings: Vec<Arc<dyn Keyring>> = Vec::new();
    if let Some(arn) = args.rsa_key {
        let algorithm = match args.rsa_padding.to_ascii_lowercase().as_str() {
            "oaep-sha1" => KmsRsaAlgorithm::OaepSha1,
            "oaep-sha256" => KmsRsaAlgorithm::OaepSha256,
            other => bail!(
                "--kms-rsa-key takes --rsa-padding oaep-sha1 or oaep-sha256 (the algorithms of \
                 AWS KMS RSA keys), not {other:?}"
            ),
        };
        // Decrypting needs KMS; encrypting needs the public key only (and no AWS credentials).
        let mut keyring =
            KmsRsaKeyring::new(arn, algorithm)?.with_client(kms_client(rt, &args, arn));
        if let Some(path) = args.rsa_public_key {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            keyring = keyring.with_public_key_pem(&pem)?;
        }
        keyrings.push(Arc::new(keyring));
    }
    if let Some(arn) = args.ml_kem_key {
        let set = match args
            .ml_kem_parameter_set
            .to_ascii_uppercase()
            .trim_start_matches("ML-KEM-")
        {
            "512" => MlKemParameterSet::MlKem512,
            "768" => MlKemParameterSet::MlKem768,
            "1024" => MlKemParameterSet::MlKem1024,
            other => bail!("--ml-kem-parameter-set is 512, 768 or 1024, not {other:?}"),
        };
        let mut keyring = KmsMlKemKeyring::new(kms_client(rt, &args, arn), arn, set)?;
        if let Some(path) = args.ml_kem_public_key {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            keyring = keyring.with_local_encapsulation(&der_or_pem(&bytes)?)?;
        }
        keyrings.push(Arc::new(keyring));
    }
    if let Some(key) = args.ecdh_key {
        let curve: sealbox::EcdhCurve = args
            .ecdh_curve
            .ok_or_else(|| anyhow::anyhow!("--ecdh-curve is required with --kms-ecdh-key"))?
            .parse()?;
        let builder = KmsEcdhKeyring::builder(kms_client(rt, &args, key), curve);
        let builder = match args.ecdh_public_key {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                builder.kms_private_key_to_static_public_key(key, &der_or_pem(&bytes)?)
            }
            None => builder.kms_public_key_discovery(key),
        };
        keyrings.push(Arc::new(rt.block_on(builder.build())?));
    }
    Ok(keyrings)
}

/// DER as it is, or the first PEM block's content.
fn der_or_pem(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    let Some(start) = text.find("-----BEGIN") else {
        return Ok(bytes.to_vec());
    };
    let body: String = text[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .context("the PEM block is not base64")
}
