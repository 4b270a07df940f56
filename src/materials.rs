//! Encryption and decryption materials: what a materials manager hands the client.

use zeroize::Zeroizing;

use crate::crypto::{random_bytes, SigningKey, VerifyingKey};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::suite::AlgorithmSuite;

/// A plaintext data key. It lives on the heap in a zeroizing buffer from the moment it exists and
/// is wiped when dropped; `Debug` prints only its length.
#[derive(Clone)]
pub struct DataKey(Zeroizing<Vec<u8>>);

/// Constant-time in the key bytes (the length is not secret).
impl PartialEq for DataKey {
    fn eq(&self, other: &Self) -> bool {
        crate::crypto::ct_eq(&self.0, &other.0)
    }
}

impl Eq for DataKey {}

impl DataKey {
    /// Take ownership of key bytes already held in a zeroizing buffer.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        DataKey(bytes)
    }

    /// Copy key bytes into a new data key. The caller is responsible for its own copy.
    pub fn from_slice(bytes: &[u8]) -> Self {
        DataKey(Zeroizing::new(bytes.to_vec()))
    }

    /// A fresh random key of `len` bytes.
    pub fn generate(len: usize) -> Self {
        let mut key = Zeroizing::new(vec![0u8; len]);
        random_bytes(&mut key);
        DataKey(key)
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key is empty (never, for a valid key).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey(<{} bytes redacted>)", self.0.len())
    }
}

/// Everything the client needs to encrypt one message.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EncryptionMaterials {
    /// The algorithm suite.
    pub suite: AlgorithmSuite,
    /// The full encryption context, including `aws-crypto-public-key` for signing suites.
    pub encryption_context: EncryptionContext,
    /// The plaintext data key.
    pub data_key: DataKey,
    /// The data key wrapped by each master key.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// The signing key, for signing suites.
    pub signing_key: Option<SigningKey>,
    /// Context keys that are authenticated but not stored in the message.
    pub required_encryption_context_keys: Vec<String>,
}

impl EncryptionMaterials {
    /// Materials with no signing key and no required context keys.
    pub fn new(
        suite: AlgorithmSuite,
        encryption_context: EncryptionContext,
        data_key: DataKey,
        encrypted_data_keys: Vec<EncryptedDataKey>,
    ) -> Self {
        EncryptionMaterials {
            suite,
            encryption_context,
            data_key,
            encrypted_data_keys,
            signing_key: None,
            required_encryption_context_keys: Vec::new(),
        }
    }
}

/// Everything the client needs to decrypt one message.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DecryptionMaterials {
    /// The algorithm suite, from the header.
    pub suite: AlgorithmSuite,
    /// The full encryption context: the stored one plus any reproduced required entries.
    pub encryption_context: EncryptionContext,
    /// The plaintext data key.
    pub data_key: DataKey,
    /// The verification key, for signing suites.
    pub verifying_key: Option<VerifyingKey>,
    /// Context keys that are authenticated but not stored in the message.
    pub required_encryption_context_keys: Vec<String>,
}

impl DecryptionMaterials {
    /// Materials with no verification key and no required context keys.
    pub fn new(
        suite: AlgorithmSuite,
        encryption_context: EncryptionContext,
        data_key: DataKey,
    ) -> Self {
        DecryptionMaterials {
            suite,
            encryption_context,
            data_key,
            verifying_key: None,
            required_encryption_context_keys: Vec::new(),
        }
    }
}
