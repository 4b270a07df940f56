//! Materials managers (CMMs): they turn a request into encryption or decryption materials,
//! usually by asking a keyring. The caching materials manager sits here too and is the only
//! place where keyrings and the cache meet.

mod caching;
mod default;
mod required_ec;

pub use caching::{CachingCmm, CachingCmmBuilder, CachingStats, DEFAULT_CACHE_CAPACITY};
pub use default::DefaultCmm;
pub use required_ec::RequiredEncryptionContextCmm;

use async_trait::async_trait;

use crate::error::{ContextError, Error};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// The context key that carries a signing suite's public key.
pub const PUBLIC_KEY_CONTEXT_KEY: &str = "aws-crypto-public-key";
/// Context keys with this prefix are reserved for the library.
pub const RESERVED_CONTEXT_PREFIX: &str = "aws-crypto-";

/// What the client asks for when it encrypts a message.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EncryptionRequest {
    /// The caller's encryption context.
    pub encryption_context: EncryptionContext,
    /// The suite the caller asked for, if any.
    pub suite: Option<AlgorithmSuite>,
    /// The client's commitment policy.
    pub commitment_policy: CommitmentPolicy,
    /// The exact plaintext length, when known (one-shot encrypt always knows it).
    pub plaintext_length: Option<u64>,
    /// An upper bound on the plaintext length, when only that is known (streaming).
    pub max_plaintext_length: Option<u64>,
}

impl EncryptionRequest {
    /// A request with no suite and no length information.
    pub fn new(encryption_context: EncryptionContext, commitment_policy: CommitmentPolicy) -> Self {
        EncryptionRequest {
            encryption_context,
            suite: None,
            commitment_policy,
            plaintext_length: None,
            max_plaintext_length: None,
        }
    }
}

/// What the client asks for when it decrypts a message.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DecryptionRequest {
    /// The message's suite.
    pub suite: AlgorithmSuite,
    /// The client's commitment policy.
    pub commitment_policy: CommitmentPolicy,
    /// The message's encrypted data keys.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// The encryption context stored in the message header.
    pub encryption_context: EncryptionContext,
    /// The context the caller supplied on decrypt, if any: it must agree with the stored one, and
    /// supplies the required entries that are not stored.
    pub reproduced_encryption_context: Option<EncryptionContext>,
}

impl DecryptionRequest {
    /// A request for a message's materials.
    pub fn new(
        suite: AlgorithmSuite,
        commitment_policy: CommitmentPolicy,
        encrypted_data_keys: Vec<EncryptedDataKey>,
        encryption_context: EncryptionContext,
    ) -> Self {
        DecryptionRequest {
            suite,
            commitment_policy,
            encrypted_data_keys,
            encryption_context,
            reproduced_encryption_context: None,
        }
    }
}

/// A cryptographic materials manager. Implement it to change how materials are chosen (caching,
/// required context, policy); wrap [`DefaultCmm`] to reuse the standard behaviour.
#[async_trait]
pub trait MaterialsManager: Send + Sync + std::fmt::Debug {
    /// Materials to encrypt one message.
    async fn get_encryption_materials(
        &self,
        request: &EncryptionRequest,
    ) -> Result<EncryptionMaterials, Error>;

    /// Materials to decrypt one message.
    async fn decrypt_materials(
        &self,
        request: &DecryptionRequest,
    ) -> Result<DecryptionMaterials, Error>;
}

#[async_trait]
impl<M: MaterialsManager + ?Sized> MaterialsManager for std::sync::Arc<M> {
    async fn get_encryption_materials(
        &self,
        request: &EncryptionRequest,
    ) -> Result<EncryptionMaterials, Error> {
        (**self).get_encryption_materials(request).await
    }

    async fn decrypt_materials(
        &self,
        request: &DecryptionRequest,
    ) -> Result<DecryptionMaterials, Error> {
        (**self).decrypt_materials(request).await
    }
}

/// Reject caller-supplied context keys in the reserved namespace.
pub(crate) fn check_no_reserved_keys(ec: &EncryptionContext) -> Result<(), Error> {
    match ec.keys().find(|k| k.starts_with(RESERVED_CONTEXT_PREFIX)) {
        Some(k) => Err(Error::EncryptionContext(ContextError::ReservedKey(
            k.clone(),
        ))),
        None => Ok(()),
    }
}
