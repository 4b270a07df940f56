//! The AWS KMS Hierarchical keyring: per-message data keys wrapped locally under keys derived from
//! a branch key, which a [`BranchKeyStore`] holds encrypted under KMS.

#[cfg(feature = "hierarchy")]
mod dynamodb;
mod store;

#[cfg(feature = "hierarchy")]
pub use dynamodb::{DynamoDbKeyStore, KmsConfiguration};
pub use store::{BranchKeyMaterials, BranchKeyStore, KeyStoreError};
