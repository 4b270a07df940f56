//! KMS keyrings from key identifiers: several keys (the first generates the data key), a region
//! and profile, and discovery with an account filter. Used by `--kms-key`/`--discovery` and by
//! the compatible mode's `-w key=... region=... profile=... discovery=...`.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use sealbox::{DiscoveryFilter, Keyring, KmsMrkDiscoveryKeyring, KmsMrkKeyring};

/// One group of KMS keys that share a region and a profile.
#[derive(Clone, Debug, Default)]
pub(crate) struct KmsSpec {
    /// Key ARNs, key IDs, alias names or alias ARNs.
    pub(crate) keys: Vec<String>,
    /// The region of keys that are not ARNs, and of discovery (default: the AWS configuration's).
    pub(crate) region: Option<String>,
    /// A named profile of the AWS configuration files.
    pub(crate) profile: Option<String>,
    /// Decrypt with whatever key a message names (no `keys` then).
    pub(crate) discovery: bool,
    /// With discovery: only keys of these accounts of `partition`.
    pub(crate) accounts: Vec<String>,
    pub(crate) partition: Option<String>,
}

/// The standard AWS configuration (environment, configuration files, `AWS_ENDPOINT_URL`), with
/// `profile` read from the files and `region` over whatever region they name. Every AWS client
/// of a command comes from here.
///
/// A profile named on the command line supplies the credentials even when the environment holds
/// some (`AWS_ACCESS_KEY_ID` in a CI job, an `aws-vault exec` shell), as `aws --profile` and
/// botocore (behind aws-encryption-cli's `profile=`) do: otherwise the environment's account
/// would answer, and a key named by alias could be another account's key of that name.
pub(crate) async fn aws_config(
    region: Option<&str>,
    profile: Option<&str>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = profile {
        loader = loader.profile_name(p).credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(p)
                .build(),
        );
    }
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_owned()));
    }
    loader.load().await
}

/// A KMS client for `key`: in the region its ARN names (a key ARN or an alias ARN), else in the
/// configuration's.
pub(crate) fn kms_client(config: &aws_config::SdkConfig, key: &str) -> aws_sdk_kms::Client {
    let mut b = aws_sdk_kms::config::Builder::from(config);
    if let Some(r) = arn_region(key) {
        b = b.region(aws_sdk_kms::config::Region::new(r.to_owned()));
    }
    aws_sdk_kms::Client::from_conf(b.build())
}

/// The region of a KMS ARN (`arn:PARTITION:kms:REGION:ACCOUNT:...`).
fn arn_region(id: &str) -> Option<&str> {
    let mut parts = id.splitn(6, ':');
    (parts.next()? == "arn").then_some(())?;
    parts.next()?;
    (parts.next()? == "kms").then_some(())?;
    parts.next().filter(|r| !r.is_empty())
}

fn is_key_arn(id: &str) -> bool {
    arn_region(id).is_some() && id.split(':').nth(5).is_some_and(|r| r.starts_with("key/"))
}

/// The keyrings `specs` describe, in order: one per key, one per discovery group.
pub(crate) fn keyrings(
    rt: &tokio::runtime::Handle,
    specs: &[KmsSpec],
) -> anyhow::Result<Vec<Arc<dyn Keyring>>> {
    let mut out: Vec<Arc<dyn Keyring>> = Vec::new();
    for spec in specs {
        let config = rt.block_on(aws_config(spec.region.as_deref(), spec.profile.as_deref()));
        if spec.discovery {
            let client = aws_sdk_kms::Client::new(&config);
            let mut k = KmsMrkDiscoveryKeyring::new(client)?;
            if let Some(partition) = &spec.partition {
                k = k.with_discovery_filter(DiscoveryFilter::new(partition, spec.accounts.iter())?);
            }
            out.push(Arc::new(k));
            continue;
        }
        for id in &spec.keys {
            let arn = if is_key_arn(id) {
                id.clone()
            } else {
                // A key ID or an alias: KMS says which key ARN it stands for, which is what the
                // encrypted data key records and what decryption matches.
                let client = kms_client(&config, id);
                let described = rt
                    .block_on(client.describe_key().key_id(id).send())
                    .map_err(|e| {
                        // KMS's own words when it answered; the whole chain (a connection
                        // error, say) when it did not.
                        use aws_sdk_kms::error::ProvideErrorMetadata;
                        match (e.code(), e.message()) {
                            (Some(code), Some(message)) => anyhow!("{code}: {message}"),
                            _ => anyhow!("{}", aws_sdk_kms::error::DisplayErrorContext(e)),
                        }
                    })
                    .with_context(|| format!("cannot resolve KMS key {id:?}"))?;
                described
                    .key_metadata()
                    .and_then(|m| m.arn())
                    .ok_or_else(|| anyhow!("KMS DescribeKey returned no ARN for {id:?}"))?
                    .to_owned()
            };
            let client = kms_client(&config, &arn);
            out.push(Arc::new(KmsMrkKeyring::new(client, &arn)?));
        }
        if spec.keys.is_empty() {
            bail!("a KMS key group without keys or discovery");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_other_identifiers() {
        let arn = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(arn_region(arn), Some("us-west-2"));
        assert!(is_key_arn(arn));
        assert!(!is_key_arn(
            "arn:aws:kms:us-west-2:111122223333:alias/backup"
        ));
        assert_eq!(arn_region("alias/backup"), None);
        assert!(!is_key_arn("1234abcd-12ab-34cd-56ef-1234567890ab"));
    }
}
