//! The discovery KMS keyrings: decrypt with whatever key an encrypted data key names.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;

use super::client::KmsClientSupplier;
use super::{call_failed, check_response, edk_arn, grant_tokens, kms_context, KmsArn};
use crate::error::{Error, KeyringError, UnwrapError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::keyring::{Keyring, Skip};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// Limits a discovery keyring to the KMS keys of some AWS accounts in one partition.
///
/// Without a filter a discovery keyring asks KMS to decrypt with any key a message names, which
/// an attacker who can write messages chooses; a filter keeps those calls to accounts you trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryFilter {
    partition: String,
    accounts: BTreeSet<String>,
}

impl DiscoveryFilter {
    /// Accept only keys of `accounts` in `partition` (`aws`, `aws-cn`, `aws-us-gov`, ...).
    ///
    /// ```
    /// use sealbox::DiscoveryFilter;
    ///
    /// let filter = DiscoveryFilter::new("aws", ["111122223333"])?;
    /// # Ok::<(), sealbox::Error>(())
    /// ```
    pub fn new<I, S>(partition: &str, accounts: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let accounts: BTreeSet<String> = accounts.into_iter().map(Into::into).collect();
        if partition.is_empty() || accounts.is_empty() || accounts.iter().any(String::is_empty) {
            return Err(Error::invalid(
                "discovery filter",
                "needs a partition and at least one account, none empty",
            ));
        }
        Ok(DiscoveryFilter {
            partition: partition.to_owned(),
            accounts,
        })
    }

    fn check(&self, arn: &KmsArn) -> Result<(), Skip> {
        if arn.partition != self.partition {
            return Err(Skip::Other(format!(
                "partition {} is not the discovery filter's {}",
                arn.partition, self.partition
            )));
        }
        if !self.accounts.contains(&arn.account) {
            return Err(Skip::Other(format!(
                "account {} is not in the discovery filter",
                arn.account
            )));
        }
        Ok(())
    }
}

/// Settings both discovery keyrings share.
#[derive(Default)]
struct Common {
    filter: Option<DiscoveryFilter>,
    grant_tokens: Vec<String>,
}

impl Common {
    fn debug(&self, d: &mut std::fmt::DebugStruct<'_, '_>) {
        d.field("filter", &self.filter)
            .field("grant_tokens", &self.grant_tokens.len());
    }

    /// Decrypt `edk` with `key_id` through `client`, and check that KMS used that key.
    async fn decrypt(
        &self,
        label: &str,
        client: &Client,
        key_id: &str,
        suite: AlgorithmSuite,
        ec: &EncryptionContext,
        edk: &EncryptedDataKey,
    ) -> Result<DataKey, crate::BoxError> {
        let mut out = client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(edk.ciphertext.clone()))
            .set_encryption_context(kms_context(ec))
            .set_grant_tokens(grant_tokens(&self.grant_tokens))
            .send()
            .await
            .map_err(|e| call_failed(label, "Decrypt", key_id, e))?;
        match check_response(suite, out.key_id.as_deref(), out.plaintext.take())? {
            (answered, _) if answered != key_id => {
                Err(format!("KMS Decrypt answered for key {answered}, not {key_id}").into())
            }
            (_, Some(key)) => Ok(key),
            (_, None) => Err("KMS Decrypt response has no Plaintext".into()),
        }
    }

    /// Try the EDKs in order until one decrypts: each that names a KMS key the filter allows,
    /// with the client and key ID that `route` picks for it (or the reason it gives to skip it,
    /// without a call). Every EDK tried or skipped leaves its reason in the error.
    async fn unwrap_first(
        &self,
        label: &str,
        suite: AlgorithmSuite,
        ec: &EncryptionContext,
        edks: &[EncryptedDataKey],
        route: impl Fn(&str, &KmsArn) -> Result<(Client, String), String>,
    ) -> Result<DataKey, UnwrapError> {
        let mut errors = UnwrapError::default();
        for (i, edk) in edks.iter().enumerate() {
            let (key_id, arn) = match edk_arn(edk) {
                Ok(found) => found,
                Err(skip) => {
                    errors.push(i, label, skip);
                    continue;
                }
            };
            if let Some(Err(skip)) = self.filter.as_ref().map(|f| f.check(&arn)) {
                errors.push(i, label, skip);
                continue;
            }
            let (client, key_id) = match route(key_id, &arn) {
                Ok(routed) => routed,
                Err(why) => {
                    errors.push(i, label, why);
                    continue;
                }
            };
            match self.decrypt(label, &client, &key_id, suite, ec, edk).await {
                Ok(key) => return Ok(key),
                Err(e) => errors.push(i, label, e),
            }
        }
        Err(errors)
    }
}

fn cannot_encrypt(label: &str) -> KeyringError {
    KeyringError::new(
        label,
        "a discovery keyring only decrypts; encrypt with KmsKeyring or KmsMrkKeyring",
    )
}

/// The KMS discovery keyring: decrypts any KMS encrypted data key with the key its ARN names,
/// optionally only keys of trusted accounts ([`DiscoveryFilter`]). It cannot encrypt.
///
/// KMS decrypts only in the key's region, so the keyring asks a [`KmsClientSupplier`] for a
/// client per region: an [`aws_sdk_kms::Client`] covers its own region, [`RegionalClients`]
/// any region.
///
/// ```no_run
/// # async fn f() -> Result<(), sealbox::Error> {
/// use sealbox::{DiscoveryFilter, KmsDiscoveryKeyring};
///
/// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let keyring = KmsDiscoveryKeyring::new(aws_sdk_kms::Client::new(&config))
///     .with_discovery_filter(DiscoveryFilter::new("aws", ["111122223333"])?);
/// # Ok(()) }
/// ```
///
/// [`RegionalClients`]: super::RegionalClients
pub struct KmsDiscoveryKeyring {
    clients: Arc<dyn KmsClientSupplier>,
    common: Common,
}

impl std::fmt::Debug for KmsDiscoveryKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("KmsDiscoveryKeyring");
        d.field("clients", &self.clients);
        self.common.debug(&mut d);
        d.finish()
    }
}

const DISCOVERY: &str = "aws-kms-discovery";

impl KmsDiscoveryKeyring {
    /// A discovery keyring that gets its KMS clients from `clients`.
    pub fn new(clients: impl KmsClientSupplier + 'static) -> Self {
        KmsDiscoveryKeyring {
            clients: Arc::new(clients),
            common: Common::default(),
        }
    }

    /// Decrypt only with keys of the filter's accounts and partition.
    pub fn with_discovery_filter(mut self, filter: DiscoveryFilter) -> Self {
        self.common.filter = Some(filter);
        self
    }

    /// Send these grant tokens with every KMS call.
    pub fn with_grant_tokens<I, S>(mut self, tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.common.grant_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }
}

#[async_trait]
impl Keyring for KmsDiscoveryKeyring {
    async fn generate_data_key(
        &self,
        _suite: AlgorithmSuite,
        _encryption_context: &EncryptionContext,
    ) -> Result<(DataKey, Vec<EncryptedDataKey>), KeyringError> {
        Err(cannot_encrypt(DISCOVERY))
    }

    async fn wrap_data_key(
        &self,
        _suite: AlgorithmSuite,
        _encryption_context: &EncryptionContext,
        _data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        Err(cannot_encrypt(DISCOVERY))
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        self.common
            .unwrap_first(DISCOVERY, suite, encryption_context, edks, |key_id, arn| {
                let client = self.clients.client_for_region(&arn.region)?;
                Ok((client, key_id.to_owned()))
            })
            .await
    }
}

/// The multi-Region-key-aware KMS discovery keyring: decrypts in the region of its client.
///
/// An encrypted data key of a multi-Region key (`mrk-…`) is decrypted with that key's replica in
/// the client's region, wherever the message was written; a single-Region key must be in the
/// client's region (other EDKs are skipped without a call). It cannot encrypt.
///
/// ```no_run
/// # async fn f() -> Result<(), sealbox::Error> {
/// use sealbox::{DiscoveryFilter, KmsMrkDiscoveryKeyring};
///
/// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let keyring = KmsMrkDiscoveryKeyring::new(aws_sdk_kms::Client::new(&config))?
///     .with_discovery_filter(DiscoveryFilter::new("aws", ["111122223333"])?);
/// # Ok(()) }
/// ```
pub struct KmsMrkDiscoveryKeyring {
    client: Client,
    region: String,
    label: String,
    common: Common,
}

impl std::fmt::Debug for KmsMrkDiscoveryKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("KmsMrkDiscoveryKeyring");
        d.field("region", &self.region);
        self.common.debug(&mut d);
        d.finish()
    }
}

impl KmsMrkDiscoveryKeyring {
    /// A keyring that decrypts through `client`, in the region `client` is configured for (an
    /// error if it has none).
    pub fn new(client: Client) -> Result<Self, Error> {
        let region = client
            .config()
            .region()
            .ok_or_else(|| {
                Error::invalid(
                    "KMS client",
                    "the MRK discovery keyring decrypts in its client's region, and the KMS \
                     client has no region configured",
                )
            })?
            .to_string();
        Ok(KmsMrkDiscoveryKeyring {
            label: format!("aws-kms-mrk-discovery {region}"),
            client,
            region,
            common: Common::default(),
        })
    }

    /// Decrypt only with keys of the filter's accounts and partition.
    pub fn with_discovery_filter(mut self, filter: DiscoveryFilter) -> Self {
        self.common.filter = Some(filter);
        self
    }

    /// Send these grant tokens with every KMS call.
    pub fn with_grant_tokens<I, S>(mut self, tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.common.grant_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }
}

#[async_trait]
impl Keyring for KmsMrkDiscoveryKeyring {
    async fn generate_data_key(
        &self,
        _suite: AlgorithmSuite,
        _encryption_context: &EncryptionContext,
    ) -> Result<(DataKey, Vec<EncryptedDataKey>), KeyringError> {
        Err(cannot_encrypt(&self.label))
    }

    async fn wrap_data_key(
        &self,
        _suite: AlgorithmSuite,
        _encryption_context: &EncryptionContext,
        _data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        Err(cannot_encrypt(&self.label))
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        let route = |_: &str, arn: &KmsArn| {
            let key_id = if arn.is_mrk() {
                arn.in_region(&self.region).to_string()
            } else if arn.region == self.region {
                arn.to_string()
            } else {
                return Err(format!(
                    "single-Region key {arn} is not in this keyring's region {}",
                    self.region
                ));
            };
            Ok((self.client.clone(), key_id))
        };
        self.common
            .unwrap_first(&self.label, suite, encryption_context, edks, route)
            .await
    }
}
