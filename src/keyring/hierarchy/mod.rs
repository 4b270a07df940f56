//! The AWS KMS Hierarchical keyring: per-message data keys wrapped locally under keys derived from
//! a branch key, which a [`BranchKeyStore`] holds encrypted under KMS.
//!
//! # What is cached, and for how long
//!
//! - **What**: plaintext branch keys (32 bytes each, with their ID, version and custom context),
//!   in memory only, in zeroizing buffers. Encryption uses a branch key's *active* version and
//!   decryption the version named in the message: they are separate entries (so one
//!   encrypt-then-decrypt costs two store reads when cold).
//! - **For how long**: at most the keyring's TTL after the store call that produced the entry
//!   *started*. After that the keyring reads the branch key again, and the store authenticates
//!   it again (the DynamoDB store: one `GetItem` and one KMS `Decrypt`). So the TTL bounds how
//!   long a revoked KMS permission, or a rotation made elsewhere, goes unnoticed. With
//!   [`refresh_ahead`](HierarchicalKeyringBuilder::refresh_ahead), one request re-reads the
//!   branch key in the background shortly before the TTL while the others keep using the entry.
//! - **How many**: a [`BranchKeyCache`] holds at most its capacity (default 1000) and drops the
//!   least recently used entry first, which wipes it.
//! - **Cold keys**: concurrent requests that miss for the same entry make one store call between
//!   them. A failed call is never cached: every request waiting on it gets its error (the
//!   source of the [`KeyringError`](crate::KeyringError) or
//!   [`UnwrapAttempt`](crate::UnwrapAttempt) is an `Arc<KeyStoreError>`), and the next request
//!   calls the store again. A waiter waits as long as the call takes: the DynamoDB store's calls
//!   are bounded by the AWS SDK's timeouts and retries; a store of your own should bound its own.
//!   If the request that made the call is cancelled, a waiter makes it again.
//!
//! # Sharing a cache, and what it means for permissions
//!
//! Keyrings built with the same [`BranchKeyCache`] share an entry if and only if their
//! partition IDs, their stores' logical key store names and the branch key IDs are equal (the
//! specification's SHA-384 cache identifiers). By default each keyring has a random partition ID
//! and shares nothing. Give keyrings the same partition ID only if they may use each other's
//! branch keys: a keyring that finds an entry another keyring loaded uses it **without asking
//! the store or KMS**, so its own KMS permissions are not checked until the entry expires. Each
//! keyring applies its own TTL to the entry's age.
//!
//! # The wire format
//!
//! Exactly the specification's (`aws-kms-hierarchical-keyring.md`): EDK provider ID
//! `aws-kms-hierarchy`, provider info the branch key ID, ciphertext
//! `salt(16) ‖ iv(12) ‖ version(16) ‖ wrapped data key ‖ tag(16)`; the wrapping key comes from
//! the SP 800-108 counter-mode KDF with HMAC-SHA-256; the AAD binds the branch key ID, version
//! and the materials' whole encryption context (with `aws-crypto-public-key` and required
//! entries that the message does not store).

mod cache;
#[cfg(feature = "hierarchy")]
mod dynamodb;
mod keyring;
mod memory;
mod store;
mod wrap;

pub use cache::{BranchKeyCache, BranchKeyCacheStats, DEFAULT_BRANCH_KEY_CACHE_CAPACITY};
#[cfg(feature = "hierarchy")]
pub use dynamodb::{DynamoDbKeyStore, KmsConfiguration};
pub use keyring::{BranchKeyIdSupplier, HierarchicalKeyring, HierarchicalKeyringBuilder};
pub use memory::StaticBranchKeyStore;
pub use store::{BranchKeyMaterials, BranchKeyStore, KeyStoreError};
