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
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![warn(clippy::unwrap_used)]

pub mod cache;
mod client;
pub mod cmm;
mod codec;
mod crypto;
mod error;
pub mod format;
pub mod keyring;
#[cfg(feature = "kinesis")]
pub mod kinesis;
mod materials;
pub mod stream;
mod suite;

pub use cache::{LruMaterialsCache, MaterialsCache};
pub use client::{
    Client, ClientBuilder, Decrypted, MessageInfo, DEFAULT_FRAME_LENGTH,
    DEFAULT_STREAM_MAX_FRAME_LENGTH,
};
pub use cmm::{
    CachingCmm, CachingCmmBuilder, CachingStats, DefaultCmm, MaterialsManager,
    RequiredEncryptionContextCmm,
};
pub use crypto::{crypto_backend, RsaPadding, SigningKey, VerifyingKey};
pub use error::{BoxError, Error, KeyringError, UnwrapAttempt, UnwrapError};
pub use format::{EncryptedDataKey, EncryptionContext, MessageHeader};
pub use keyring::hierarchy::{
    BranchKeyCache, BranchKeyCacheStats, BranchKeyIdSupplier, BranchKeyMaterials, BranchKeyStore,
    HierarchicalKeyring, HierarchicalKeyringBuilder, KeyStoreError, StaticBranchKeyStore,
    DEFAULT_BRANCH_KEY_CACHE_CAPACITY,
};
#[cfg(feature = "hierarchy")]
#[cfg_attr(docsrs, doc(cfg(feature = "hierarchy")))]
pub use keyring::hierarchy::{DynamoDbKeyStore, KmsConfiguration};
#[cfg(feature = "kms")]
pub use keyring::kms::{
    DiscoveryFilter, KmsClientSupplier, KmsDiscoveryKeyring, KmsKeyring, KmsMrkDiscoveryKeyring,
    KmsMrkKeyring, RegionalClients,
};
pub use keyring::{Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring};
pub use materials::{DataKey, DecryptionMaterials, EncryptionMaterials};
pub use stream::{
    DecryptOptions, DecryptingReader, EncryptingWriter, PendingMessage, PlaintextLength,
};
pub use suite::{AlgorithmSuite, CommitmentPolicy, Kdf, SignatureAlgorithm};

/// The README's Rust examples, compiled (and run, where not `no_run`) as doctests, so that the
/// README stays true to the API.
#[cfg(all(doctest, feature = "kms", feature = "kinesis"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
