//! The branch key store: where a hierarchical keyring gets its branch keys.
//!
//! A small trait, so that users can keep branch keys elsewhere than DynamoDB. An implementation
//! returns only *authenticated* plaintext branch keys: the DynamoDB store has KMS check each item's
//! encryption context, so an item with any attribute changed is refused.

use std::collections::BTreeMap;

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::error::BoxError;

/// A plaintext branch key (or beacon key) and what identifies it. The key lives in zeroizing
/// memory; `Debug` never prints it.
#[derive(Clone)]
pub struct BranchKeyMaterials {
    branch_key_id: String,
    version: String,
    encryption_context: BTreeMap<String, String>,
    key: Zeroizing<[u8; 32]>,
}

impl BranchKeyMaterials {
    /// Branch key materials from their parts. `version` is the version's UUID in its 36-character
    /// form (for a beacon key, the empty string); `encryption_context` is the custom context given
    /// when the branch key was created, without the store's `aws-crypto-ec:` prefix.
    pub fn new(
        branch_key_id: impl Into<String>,
        version: impl Into<String>,
        encryption_context: BTreeMap<String, String>,
        key: Zeroizing<[u8; 32]>,
    ) -> Self {
        BranchKeyMaterials {
            branch_key_id: branch_key_id.into(),
            version: version.into(),
            encryption_context,
            key,
        }
    }

    /// The branch key ID.
    pub fn branch_key_id(&self) -> &str {
        &self.branch_key_id
    }

    /// The version, a UUID in its 36-character form.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The custom encryption context the branch key was created with.
    pub fn encryption_context(&self) -> &BTreeMap<String, String> {
        &self.encryption_context
    }

    /// The 32 key bytes.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }
}

impl std::fmt::Debug for BranchKeyMaterials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BranchKeyMaterials")
            .field("branch_key_id", &self.branch_key_id)
            .field("version", &self.version)
            .field("encryption_context", &self.encryption_context)
            .field("key", &"<32 bytes redacted>")
            .finish()
    }
}

/// Why a branch key store could not return a branch key. Names the branch key, and what failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// No such branch key (or version) in the store.
    #[error("branch key {branch_key_id:?}{}: not found", version_suffix(.version))]
    NotFound {
        /// The branch key ID asked for.
        branch_key_id: String,
        /// The version asked for, if one was.
        version: Option<String>,
    },
    /// The stored item is not a valid branch key item, or it did not authenticate (an attribute
    /// was changed, the wrong KMS key or logical key store name).
    #[error("branch key {branch_key_id:?}: {reason}")]
    Invalid {
        /// The branch key ID.
        branch_key_id: String,
        /// What is wrong with the item.
        reason: String,
        /// The underlying error (for example KMS's refusal), if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The storage or KMS call failed (throttled after retries, access denied, network ...).
    #[error("branch key {branch_key_id:?}: {operation} failed")]
    Service {
        /// The branch key ID.
        branch_key_id: String,
        /// The operation that failed, for example `DynamoDB GetItem` or `KMS Decrypt`.
        operation: &'static str,
        /// The service's error.
        #[source]
        source: BoxError,
    },
    /// A write lost to another: the branch key already exists (create), or its active version
    /// changed between the read and the write (a concurrent rotation). Nothing was written.
    #[error("branch key {branch_key_id:?}: {reason}")]
    Conflict {
        /// The branch key ID.
        branch_key_id: String,
        /// What was in the way.
        reason: String,
    },
    /// The key store's table itself: it could not be described or created, or its key schema
    /// is not a key store's.
    #[error("key store table {table:?}: {reason}")]
    Table {
        /// The physical table name.
        table: String,
        /// What is wrong.
        reason: String,
        /// The underlying error (the DynamoDB call's), if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The store cannot do this as configured (for example creating a key on a discovery store).
    #[error("key store: {0}")]
    Config(String),
}

fn version_suffix(version: &Option<String>) -> String {
    version
        .as_ref()
        .map(|v| format!(" version {v}"))
        .unwrap_or_default()
}

/// Storage of branch keys, as the hierarchical keyring reads them.
///
/// Async and object-safe (`Arc<dyn BranchKeyStore>`), like [`Keyring`](crate::Keyring).
#[async_trait]
pub trait BranchKeyStore: Send + Sync + std::fmt::Debug {
    /// The logical key store name: part of the branch-key cache identifiers, so that keyrings
    /// sharing a cache share entries only for the same store.
    fn logical_key_store_name(&self) -> &str;

    /// The active version of a branch key (what encryption uses).
    async fn get_active_branch_key(
        &self,
        branch_key_id: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError>;

    /// One version of a branch key (what decryption uses, from the version in the message).
    async fn get_branch_key_version(
        &self,
        branch_key_id: &str,
        version: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError>;

    /// The beacon key of a branch key (searchable encryption; unused by message encryption).
    async fn get_beacon_key(
        &self,
        branch_key_id: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError>;
}
