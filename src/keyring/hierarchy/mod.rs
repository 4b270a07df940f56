//! The AWS KMS Hierarchical keyring: per-message data keys wrapped locally under keys derived from
//! a branch key, which a [`BranchKeyStore`] holds encrypted under KMS.

mod store;

pub use store::{BranchKeyMaterials, BranchKeyStore, KeyStoreError};
