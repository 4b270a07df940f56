//! AWS KMS keyrings (cargo feature `kms`, on by default).
//!
//! A KMS keyring wraps data keys with a KMS key: the encrypted data key's provider ID is
//! `aws-kms`, its provider info is the key ARN that KMS reports, and its ciphertext is the KMS
//! `CiphertextBlob`. This is the layout of every AWS Encryption SDK, so messages move freely
//! between sealbox and the other SDKs.
//!
//! | keyring | encrypts | decrypts |
//! | --- | --- | --- |
//! | [`KmsKeyring`] | with its key ARN | only EDKs of exactly that ARN |
//! | [`KmsMrkKeyring`] | with its key ARN | EDKs of that key or of any replica of it |
//! | [`KmsDiscoveryKeyring`] | no | any KMS EDK it has a client for, optionally filtered |
//! | [`KmsMrkDiscoveryKeyring`] | no | any KMS EDK, multi-Region keys through the local replica |
//! | [`KmsRsaKeyring`] | locally, with the RSA public key | KMS `Decrypt` of its RSA key |
//! | [`KmsEcdhKeyring`] | KMS `DeriveSharedSecret` with a peer's public key | the same, or (discovery) from any sender |
//! | [`KmsMlKemKeyring`] | KMS `Encapsulate`, or locally with the public key | KMS `Decapsulate` |
//!
//! Every call is an ordinary `aws_sdk_kms` future: nothing blocks the runtime. Keyrings take an
//! [`aws_sdk_kms::Client`] that you build the usual way (`aws_config::load_defaults`), so the
//! SDK's credentials, retry, timeout and endpoint configuration all apply. A failed KMS call keeps
//! the SDK error as the [`source`](std::error::Error::source) of the [`KeyringError`] (or of
//! the per-EDK [`UnwrapAttempt`](crate::UnwrapAttempt)), so callers can tell throttling from
//! access denied by downcasting to `aws_sdk_kms::error::SdkError<_>`.

mod client;
mod discovery;
mod ecdh;
mod ml_kem;
mod rsa;
mod strict;

pub use client::{KmsClientSupplier, RegionalClients};
pub use discovery::{DiscoveryFilter, KmsDiscoveryKeyring, KmsMrkDiscoveryKeyring};
pub use ecdh::{KmsEcdhKeyring, KmsEcdhKeyringBuilder};
pub use ml_kem::{KmsMlKemKeyring, ML_KEM_PROVIDER_ID};
pub use rsa::{KmsRsaAlgorithm, KmsRsaKeyring, RSA_PROVIDER_ID};
pub use strict::{KmsKeyring, KmsMrkKeyring};

use std::collections::HashMap;
use std::fmt;

use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use zeroize::Zeroizing;

use super::Skip;
use crate::error::{Error, KeyringError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// The provider ID of encrypted data keys that a KMS keyring wraps.
pub const PROVIDER_ID: &str = "aws-kms";

/// A parsed KMS ARN, `arn:PARTITION:kms:REGION:ACCOUNT:key/ID` or `…:alias/NAME`.
///
/// Parsing follows the ESDK specification ("AWS KMS Key ARN"): six `:`-separated parts, none
/// empty, service `kms`, and a resource `TYPE/ID` of type `key` or `alias`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KmsArn {
    pub(crate) partition: String,
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) resource_type: String,
    pub(crate) resource_id: String,
}

impl KmsArn {
    /// Parse `s`, or say why it is not a KMS ARN.
    pub(crate) fn parse(s: &str) -> Result<KmsArn, String> {
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return Err(format!(
                "{s:?} is not an ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID)"
            ));
        }
        let [_, partition, service, region, account, resource] = parts[..] else {
            unreachable!("six parts checked above")
        };
        if service != "kms" {
            return Err(format!("{s:?} is not a KMS ARN (service {service:?})"));
        }
        if partition.is_empty() || region.is_empty() || account.is_empty() {
            return Err(format!(
                "{s:?} is not a valid KMS ARN: partition, region and account must not be empty"
            ));
        }
        let Some((resource_type, resource_id)) = resource.split_once('/') else {
            return Err(format!(
                "{s:?} is not a valid KMS ARN: the resource must be key/ID or alias/NAME"
            ));
        };
        if !matches!(resource_type, "key" | "alias") || resource_id.is_empty() {
            return Err(format!(
                "{s:?} is not a valid KMS ARN: the resource must be key/ID or alias/NAME"
            ));
        }
        Ok(KmsArn {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
        })
    }

    /// Parse `s` and require resource type `key`: the only kind of ARN KMS puts in a response,
    /// and so the only kind an encrypted data key can carry.
    pub(crate) fn parse_key(s: &str) -> Result<KmsArn, String> {
        let arn = KmsArn::parse(s)?;
        if arn.resource_type != "key" {
            return Err(format!(
                "{s:?} is an alias ARN; a key ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID) is needed"
            ));
        }
        Ok(arn)
    }

    /// A multi-Region key: a key (not alias) whose ID starts with `mrk-`.
    pub(crate) fn is_mrk(&self) -> bool {
        self.resource_type == "key" && self.resource_id.starts_with("mrk-")
    }

    /// The same ARN in another region: how the MRK discovery keyring reaches the local replica.
    pub(crate) fn in_region(&self, region: &str) -> KmsArn {
        KmsArn {
            region: region.to_owned(),
            ..self.clone()
        }
    }
}

impl fmt::Display for KmsArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:kms:{}:{}:{}/{}",
            self.partition, self.region, self.account, self.resource_type, self.resource_id
        )
    }
}

/// ESDK spec "AWS KMS MRK Match for Decrypt": two key ARNs match if they are equal, or if both
/// are multi-Region keys that differ only in region (replicas share key material).
pub(crate) fn mrk_match(a: &KmsArn, b: &KmsArn) -> bool {
    if a == b {
        return true;
    }
    a.is_mrk()
        && b.is_mrk()
        && a.partition == b.partition
        && a.account == b.account
        && a.resource_type == b.resource_type
        && a.resource_id == b.resource_id
}

/// The key ARN an EDK names, if it is a KMS EDK at all; otherwise why the keyring skips it.
fn edk_arn(edk: &EncryptedDataKey) -> Result<(&str, KmsArn), Skip> {
    if edk.provider_id != PROVIDER_ID {
        return Err(Skip::Provider {
            found: edk.provider_id.clone(),
            expected: PROVIDER_ID.to_owned(),
        });
    }
    let s = std::str::from_utf8(&edk.provider_info)
        .map_err(|_| Skip::Other("KMS provider info is not UTF-8".into()))?;
    let arn = KmsArn::parse_key(s).map_err(Skip::Other)?;
    Ok((s, arn))
}

/// Reject a configured key ID that is not a key ARN, saying why an ARN is needed.
fn require_key_arn(keyring: &str, key_id: &str) -> Result<KmsArn, Error> {
    KmsArn::parse_key(key_id).map_err(|why| {
        Error::invalid(
            "KMS key ID",
            format!(
                "{keyring}: {why}. This keyring needs the full key ARN, because on decrypt it \
             recognizes its encrypted data keys by the key ARN that KMS recorded in them; \
             a key ID or alias would never match. To decrypt without naming the key, use \
             KmsDiscoveryKeyring"
            ),
        )
    })
}

/// The encryption context as KMS wants it: a map, or nothing when empty (KMS treats both alike).
fn kms_context(ec: &EncryptionContext) -> Option<HashMap<String, String>> {
    (!ec.is_empty()).then(|| ec.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn grant_tokens(tokens: &[String]) -> Option<Vec<String>> {
    (!tokens.is_empty()).then(|| tokens.to_vec())
}

/// A keyring error for a failed KMS call, with the SDK error as the source, and a message that
/// names the KMS error code (ThrottlingException, AccessDeniedException, ...) when there is one.
fn call_failed<E>(label: &str, operation: &str, key: &str, err: SdkError<E>) -> KeyringError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    let what = match (err.code(), err.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_owned(),
        // No service error: a timeout, a connection failure, a credentials problem. The SDK's
        // own top-level message ("dispatch failure") says little, so show its whole chain.
        _ => DisplayErrorContext(&err).to_string(),
    };
    KeyringError::new(label, format!("KMS {operation} with {key} failed ({what})")).with_source(err)
}

/// Check what KMS returned for a data key: it must come from a key ARN (the ARN goes into the
/// message, and decrypting keyrings match on it) and be exactly the suite's KDF input length.
fn check_response(
    suite: AlgorithmSuite,
    key_id: Option<&str>,
    plaintext: Option<Blob>,
) -> Result<(String, Option<DataKey>), String> {
    let key_id = key_id.ok_or("KMS response has no KeyId")?;
    KmsArn::parse_key(key_id).map_err(|why| format!("KMS response KeyId: {why}"))?;
    let key = match plaintext {
        None => None,
        Some(blob) => {
            // The SDK hands the plaintext over in a plain Vec; move it into a zeroizing buffer
            // at once (the SDK's own transient copies are beyond our reach).
            let bytes = Zeroizing::new(blob.into_inner());
            if bytes.len() != suite.data_key_len() {
                return Err(format!(
                    "KMS returned a {}-byte data key; suite {suite} needs {}",
                    bytes.len(),
                    suite.data_key_len()
                ));
            }
            Some(DataKey::new(bytes))
        }
    };
    Ok((key_id.to_owned(), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-west-2:658956600833:key/b3537ef1-d8dc-4780-9f5a-55776cbb2f7f";
    const MRK_W2: &str =
        "arn:aws:kms:us-west-2:658956600833:key/mrk-80bd8ecdcd4342aebd84b7dc9da498a7";
    const MRK_E1: &str =
        "arn:aws:kms:us-east-1:658956600833:key/mrk-80bd8ecdcd4342aebd84b7dc9da498a7";

    fn arn(s: &str) -> KmsArn {
        KmsArn::parse(s).expect("valid ARN")
    }

    #[test]
    fn parses_key_and_alias_arns() {
        let a = arn(KEY);
        assert_eq!(a.partition, "aws");
        assert_eq!(a.region, "us-west-2");
        assert_eq!(a.account, "658956600833");
        assert_eq!(a.resource_type, "key");
        assert_eq!(a.resource_id, "b3537ef1-d8dc-4780-9f5a-55776cbb2f7f");
        assert_eq!(a.to_string(), KEY);
        let alias = arn("arn:aws-cn:kms:cn-north-1:111122223333:alias/my/app");
        assert_eq!(alias.resource_type, "alias");
        assert_eq!(alias.resource_id, "my/app");
        assert!(KmsArn::parse_key("arn:aws:kms:us-east-1:1:alias/x")
            .unwrap_err()
            .contains("alias ARN"));
    }

    #[test]
    fn rejects_what_is_not_a_kms_arn() {
        for bad in [
            "",
            "b3537ef1-d8dc-4780-9f5a-55776cbb2f7f",
            "alias/my-key",
            "mrk-80bd8ecdcd4342aebd84b7dc9da498a7",
            "arn:aws:kms:us-west-2:658956600833",
            "arn:aws:s3:us-west-2:658956600833:key/x",
            "arn::kms:us-west-2:658956600833:key/x",
            "arn:aws:kms::658956600833:key/x",
            "arn:aws:kms:us-west-2::key/x",
            "arn:aws:kms:us-west-2:658956600833:key",
            "arn:aws:kms:us-west-2:658956600833:key/",
            "arn:aws:kms:us-west-2:658956600833:grant/x",
            "urn:aws:kms:us-west-2:658956600833:key/x",
        ] {
            assert!(KmsArn::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_key_id_is_rejected_with_a_message_that_asks_for_an_arn() {
        let err = require_key_arn("aws-kms", "alias/my-key").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("is not an ARN"), "{msg}");
        assert!(msg.contains("needs the full key ARN"), "{msg}");
    }

    #[test]
    fn mrk_identification() {
        assert!(arn(MRK_W2).is_mrk());
        assert!(!arn(KEY).is_mrk());
        assert!(!arn("arn:aws:kms:us-west-2:658956600833:alias/mrk-1").is_mrk());
    }

    #[test]
    fn mrk_match_ignores_only_the_region_of_multi_region_keys() {
        assert!(mrk_match(&arn(MRK_W2), &arn(MRK_E1)));
        assert!(mrk_match(&arn(KEY), &arn(KEY)));
        // A single-Region key in another region is another key.
        let key_e1 = KEY.replace("us-west-2", "us-east-1");
        assert!(!mrk_match(&arn(KEY), &arn(&key_e1)));
        // Account, partition and ID still count.
        assert!(!mrk_match(
            &arn(MRK_W2),
            &arn(&MRK_E1.replace("658956600833", "111122223333"))
        ));
        assert!(!mrk_match(
            &arn(MRK_W2),
            &arn(&MRK_E1.replace("arn:aws:", "arn:aws-cn:"))
        ));
        assert!(!mrk_match(
            &arn(MRK_W2),
            &arn(&MRK_E1.replace("mrk-80", "mrk-81"))
        ));
        assert_eq!(arn(MRK_W2).in_region("us-east-1"), arn(MRK_E1));
    }

    #[test]
    fn edk_filtering() {
        let edk = |id: &str, info: &[u8]| EncryptedDataKey {
            provider_id: id.into(),
            provider_info: info.to_vec(),
            ciphertext: vec![1],
        };
        assert!(matches!(
            edk_arn(&edk("raw", KEY.as_bytes())),
            Err(Skip::Provider { .. })
        ));
        assert!(edk_arn(&edk("aws-kms", b"\xff")).is_err());
        assert!(edk_arn(&edk("aws-kms", b"alias/x")).is_err());
        assert!(edk_arn(&edk("aws-kms", b"arn:aws:kms:us-east-1:1:alias/x")).is_err());
        let ours = edk("aws-kms", KEY.as_bytes());
        let (s, a) = edk_arn(&ours).expect("KMS EDK");
        assert_eq!((s, a), (KEY, arn(KEY)));
    }

    #[test]
    fn response_checks() {
        let suite = AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384;
        let ok = check_response(
            suite,
            Some(KEY),
            Some(Blob::new(vec![0; suite.data_key_len()])),
        );
        assert!(ok.is_ok());
        assert!(check_response(suite, None, None).is_err());
        assert!(check_response(suite, Some("alias/x"), None).is_err());
        let short = check_response(suite, Some(KEY), Some(Blob::new(vec![0; 5])));
        assert!(short.unwrap_err().contains("5-byte"));
    }
}
