//! # sealbox
//!
//! Client-side envelope encryption in the [AWS Encryption SDK] message format, with data-key
//! caching.
//!
//! A fresh data key encrypts each message; a master key (a keyring) wraps the data key, and the
//! wrapped key travels in the message header. sealbox reads and writes the ESDK format byte for
//! byte (versions 1 and 2, all eleven algorithm suites), so messages move freely between sealbox
//! and the Java, Python, C, JavaScript, .NET, Go and Rust SDKs.
//!
//! ```
//! use sealbox::{Client, DefaultCmm, EncryptionContext, RawAesKeyring};
//! use zeroize::Zeroizing;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let keyring = RawAesKeyring::new("my-namespace", "my-key", Zeroizing::new(vec![7u8; 32]))?;
//! let cmm = DefaultCmm::new(keyring);
//! let client = Client::new();
//!
//! let mut context = EncryptionContext::new();
//! context.insert("purpose".into(), "example".into());
//!
//! let message = client.encrypt(&cmm, b"hello", &context).await?;
//! let decrypted = client.decrypt(&cmm, &message).await?;
//! assert_eq!(decrypted.plaintext, b"hello");
//! assert_eq!(decrypted.encryption_context["purpose"], "example");
//! # Ok::<(), sealbox::Error>(())
//! # })?;
//! # Ok::<(), sealbox::Error>(())
//! ```
//!
//! [AWS Encryption SDK]: https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::unwrap_used)]

mod cache;
mod client;
mod cmm;
mod crypto;
mod engine;
mod error;
// The wire format, for `fuzz/` and `sealbox inspect`: public so that they can reach it, hidden
// and outside semver, so that the parser's shape can change with no major release.
#[doc(hidden)]
pub mod format;
mod keyring;
#[cfg(feature = "kinesis")]
#[cfg_attr(docsrs, doc(cfg(feature = "kinesis")))]
pub mod kinesis;
mod materials;
mod stream;
mod suite;

// One path per public item: everything users name is re-exported here from a private module
// (`kinesis`, an integration on its way to a crate of its own, is the one public module).
/// The attribute [`Keyring`], [`MaterialsManager`] and [`MaterialsCache`] implementations are
/// written with, re-exported so that implementing them needs no dependency of your own.
pub use async_trait::async_trait;
pub use cache::{
    CacheHit, CacheId, CacheStats, EntryLimits, Evictions, LruMaterialsCache, MaterialsCache,
    Usage, MAX_BYTES_LIMIT, MAX_MESSAGES_LIMIT,
};
pub use client::{
    Client, ClientBuilder, DecryptOptions, Decrypted, MessageInfo, DEFAULT_FRAME_LENGTH,
    DEFAULT_STREAM_MAX_FRAME_LENGTH,
};
pub use cmm::{
    CachingCmm, CachingCmmBuilder, CachingStats, DecryptionRequest, DefaultCmm, EncryptionRequest,
    MaterialsManager, RequiredEncryptionContextCmm, DEFAULT_CACHE_CAPACITY, PUBLIC_KEY_CONTEXT_KEY,
    RESERVED_CONTEXT_PREFIX,
};
pub use crypto::{crypto_backend, RsaPadding, SigningKey, VerifyingKey};
pub use error::{
    BadContext, BoxError, ConfigError, ContextError, Error, KeyringError, Limit, Malformed,
    UnwrapAttempt, UnwrapError,
};
pub use format::{EncryptedDataKey, EncryptionContext, MessageHeader};
pub use keyring::hierarchy::{
    BranchKeyCache, BranchKeyCacheStats, BranchKeyIdSupplier, BranchKeyMaterials, BranchKeyStore,
    HierarchicalKeyring, HierarchicalKeyringBuilder, KeyStoreError, StaticBranchKeyStore,
    DEFAULT_BRANCH_KEY_CACHE_CAPACITY,
};
#[cfg(feature = "kms")]
#[cfg_attr(docsrs, doc(cfg(feature = "kms")))]
pub use keyring::kms::{
    DiscoveryFilter, KmsClientSupplier, KmsDiscoveryKeyring, KmsKeyring, KmsMrkDiscoveryKeyring,
    KmsMrkKeyring, RegionalClients, PROVIDER_ID as KMS_PROVIDER_ID,
};
pub use keyring::{Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring};
pub use materials::{DataKey, DecryptionMaterials, EncryptionMaterials};
pub use stream::{
    DecryptingReader, EncryptingWriter, MessageEncryptor, PendingMessage, PlaintextLength,
};
pub use suite::{AlgorithmSuite, CommitmentPolicy, Kdf, SignatureAlgorithm};

/// The README's Rust examples, compiled (and run, where not `no_run`) as doctests, so that the
/// README stays true to the API.
#[cfg(all(doctest, feature = "kms", feature = "kinesis"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
