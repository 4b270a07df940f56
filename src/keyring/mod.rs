//! Keyrings: the master keys that wrap and unwrap data keys.
//!
//! A keyring is small on purpose (compare age's `Recipient` and `Identity`): wrap a data key,
//! unwrap one of a message's encrypted data keys. Keyrings know nothing of caching.

pub(crate) mod ecdh;
pub(crate) mod hierarchy;
#[cfg(feature = "kms")]
pub(crate) mod kms;
mod multi;
mod raw_aes;
mod raw_rsa;

pub use ecdh::{RawEcdhKeyring, RawEcdhKeyringBuilder, RawEcdhScheme};
pub use multi::MultiKeyring;
pub use raw_aes::RawAesKeyring;
pub use raw_rsa::RawRsaKeyring;

use async_trait::async_trait;

use crate::error::{KeyringError, UnwrapError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// A master-key provider. Implement it to plug in your own key management.
///
/// The trait is object-safe (`Arc<dyn Keyring>`), `Send + Sync`, and async: a keyring that calls a
/// remote service awaits it and never blocks the runtime.
#[async_trait]
pub trait Keyring: Send + Sync + std::fmt::Debug {
    /// Make a fresh data key for `suite` and wrap it. The default draws random bytes and calls
    /// [`wrap_data_key`](Self::wrap_data_key); a keyring whose service generates keys (KMS
    /// `GenerateDataKey`) overrides it.
    async fn generate_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
    ) -> Result<(DataKey, Vec<EncryptedDataKey>), KeyringError> {
        let key = DataKey::generate(suite.data_key_len());
        let edks = self.wrap_data_key(suite, encryption_context, &key).await?;
        Ok((key, edks))
    }

    /// Wrap an existing data key under this keyring's master key(s).
    async fn wrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError>;

    /// Unwrap the first of `edks` this keyring can. On failure, the error records for every EDK
    /// it looked at why it could not use it (not this keyring's, wrong key, service error ...).
    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError>;
}

#[async_trait]
impl<K: Keyring + ?Sized> Keyring for std::sync::Arc<K> {
    async fn generate_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
    ) -> Result<(DataKey, Vec<EncryptedDataKey>), KeyringError> {
        (**self).generate_data_key(suite, encryption_context).await
    }

    async fn wrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        (**self)
            .wrap_data_key(suite, encryption_context, data_key)
            .await
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        (**self)
            .unwrap_data_key(suite, encryption_context, edks)
            .await
    }
}

/// Why an EDK is not this keyring's, for the per-EDK error report.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Skip {
    #[error("provider ID {found:?} is not {expected:?}")]
    Provider { found: String, expected: String },
    #[error("key name {found:?} is not {expected:?}")]
    KeyName { found: String, expected: String },
    #[error("{0}")]
    Other(String),
}
