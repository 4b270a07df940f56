//! # sealbox
//!
//! Client-side envelope encryption in the [AWS Encryption SDK] (ESDK) message format, with
//! data-key caching.
//!
//! A fresh data key encrypts each message; a master key (a *keyring*) wraps the data key, and the
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
//! # Where to start
//!
//! * [`Client`] encrypts and decrypts: one-shot ([`Client::encrypt`], [`Client::decrypt`]), into
//!   a buffer of the caller's, in place, or as a stream ([`Client::encryptor`],
//!   [`PendingMessage`]). Its builder sets the commitment policy, the frame length, the suite and
//!   the limits that bound hostile input.
//! * A **keyring** wraps and unwraps data keys: [`RawAesKeyring`], [`RawRsaKeyring`],
//!   [`RawEcdhKeyring`] (ECDH on P-256, P-384, P-521),
//!   [`MultiKeyring`], and the AWS KMS keyrings (feature `kms`). Implement [`Keyring`] (an
//!   `async_trait` trait) to plug in your own key management.
//! * A **materials manager** stands between the client and the keyring: [`DefaultCmm`],
//!   [`RequiredEncryptionContextCmm`], and [`CachingCmm`], which reuses data keys within the
//!   thresholds you set (messages, bytes, age) so that a busy service makes a handful of
//!   master-key calls instead of one per message; concurrent misses share one call.
//! * [`Error`] says which check failed; a decrypt that no keyring could serve lists, per
//!   encrypted data key, which keyring tried and why ([`UnwrapError`]).
//!
//! Every call that may reach a keyring is `async`. The repository's `docs/` holds the guides
//! (caching and its thresholds, KMS in a service, streaming, the command line) and `SECURITY.md`
//! the threat model and the audit of every secret.
//!
//! # Crate features
//!
//! * `aws-lc` (default): the cryptography (AES-GCM, HKDF, ECDSA, RSA, randomness) comes from
//!   [aws-lc-rs], which the AWS SDK's TLS already compiles. Needs a C compiler.
//! * `kms` (default): the AWS KMS keyrings (`KmsKeyring`, `KmsMrkKeyring`,
//!   `KmsDiscoveryKeyring`, `KmsMrkDiscoveryKeyring`, and on asymmetric KMS keys `KmsRsaKeyring`,
//!   `KmsEcdhKeyring` and the post-quantum `KmsMlKemKeyring`), on `aws-sdk-kms`.
//! * `rustcrypto`: the pure-Rust backend (RustCrypto's `aes-gcm`, `hkdf`, `p256`, `p384`, `rsa`):
//!   no C compiler, builds for WebAssembly. It is used only without `aws-lc`, so select it with
//!   `default-features = false, features = ["rustcrypto"]` (add `"kms"` to keep the KMS
//!   keyrings).
//! * `fips`: aws-lc's FIPS module (implies `aws-lc`; building it needs CMake and Go).
//! * `hierarchy`: `DynamoDbKeyStore`, the Hierarchical keyring's branch key store, on
//!   `aws-sdk-dynamodb` (implies `kms`). The keyring itself ([`HierarchicalKeyring`]) needs no
//!   feature.
//!
//! Encrypted Amazon Kinesis records (an encrypting producer with KPL-style buffering and
//! aggregation, and a decrypting consumer) are the crate `sealbox-kinesis`, in the repository's
//! `kinesis/` folder, so that this crate carries no Kinesis dependency.
//!
//! One of `aws-lc` and `rustcrypto` must be enabled. Both backends pass the same tests, test
//! vectors and interoperability runs; [`crypto_backend`] says which one a build uses.
//!
//! # Streaming
//!
//! Encryption and decryption stream with memory bounded by the frame length.
//!
//! Both directions come in two flavours over the same state machines: `std::io` ([`Read`] and
//! [`Write`](std::io::Write)) and tokio ([`AsyncRead`](tokio::io::AsyncRead) and
//! [`AsyncWrite`](tokio::io::AsyncWrite)).
//!
//! Getting materials is asynchronous (a keyring may call a service), reading and writing bytes is
//! not necessarily, so a stream is set up in steps that keep the two apart:
//!
//! * **Encrypt:** [`Client::encryptor`] gets the materials and prepares the header (async); the
//!   returned [`MessageEncryptor`] wraps a `Write` or an `AsyncWrite`
//!   ([`MessageEncryptor::into_writer`]). Call [`EncryptingWriter::finish`] (or shut the async
//!   writer down) to write the final frame and the signature.
//! * **Decrypt:** [`PendingMessage::read`] (blocking I/O) or [`PendingMessage::read_async`] reads the
//!   header; [`PendingMessage::decrypt`] gets the materials and authenticates the header (async);
//!   the [`DecryptingReader`] it returns is a `Read` or an `AsyncRead` of the plaintext.
//!
//! A caller without an async runtime drives the one async step with a runtime of its own, e.g.
//! `tokio::runtime::Builder::new_current_thread().build()?.block_on(pending.decrypt(..))`, and
//! does the I/O on its own thread. Never do that from inside async code: there, `.await` it.
//!
//! ## What is released, and when
//! Nothing before the header tag verifies. Each frame after its tag verifies. For signed suites the
//! final frame is withheld until the signature verifies. Until the reader has returned end of
//! stream (`Ok(0)`), everything it released is **unauthenticated as a whole**: a truncated or
//! tampered stream ends in an error, and a caller that must never act on such data should use
//! [`DecryptOptions::unsigned_only`] with unsigned suites, or buffer until the end.
//!
//! [`Read`]: std::io::Read
//!
//! # Security notes
//!
//! Data keys, derived keys and private keys live in zeroizing types, and `Debug` never prints
//! one. Decryption releases nothing before the check that covers it, and every length a message
//! claims is checked against the input and the client's limits before anything is allocated or
//! any key is unwrapped. The crate has no `unsafe` code.
//!
//! [AWS Encryption SDK]: https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/
//! [aws-lc-rs]: https://docs.rs/aws-lc-rs
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
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
mod materials;
mod stream;
mod suite;

// One path per public item: everything users name is re-exported here from a private module.
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
#[cfg(feature = "kms")]
#[cfg_attr(docsrs, doc(cfg(feature = "kms")))]
pub use crypto::MlKemParameterSet;
pub use crypto::{crypto_backend, EcdhCurve, RsaPadding, SigningKey, VerifyingKey};
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
#[cfg(feature = "hierarchy")]
#[cfg_attr(docsrs, doc(cfg(feature = "hierarchy")))]
pub use keyring::hierarchy::{DynamoDbKeyStore, KmsConfiguration};
#[cfg(feature = "kms")]
#[cfg_attr(docsrs, doc(cfg(feature = "kms")))]
pub use keyring::kms::{
    DiscoveryFilter, KmsClientSupplier, KmsDiscoveryKeyring, KmsEcdhKeyring, KmsEcdhKeyringBuilder,
    KmsKeyring, KmsMlKemKeyring, KmsMrkDiscoveryKeyring, KmsMrkKeyring, KmsRsaAlgorithm,
    KmsRsaKeyring, RegionalClients, ML_KEM_PROVIDER_ID as KMS_ML_KEM_PROVIDER_ID,
    PROVIDER_ID as KMS_PROVIDER_ID, RSA_PROVIDER_ID as KMS_RSA_PROVIDER_ID,
};
pub use keyring::{
    Keyring, MultiKeyring, RawAesKeyring, RawEcdhKeyring, RawEcdhKeyringBuilder, RawEcdhScheme,
    RawRsaKeyring,
};
pub use materials::{DataKey, DecryptionMaterials, EncryptionMaterials};
pub use stream::{
    DecryptingReader, EncryptingWriter, MessageEncryptor, PendingMessage, PlaintextLength,
};
pub use suite::{AlgorithmSuite, CommitmentPolicy, Kdf, SignatureAlgorithm};

/// The Rust examples of the README and of the guides in `docs/`, compiled (and run, where not
/// `no_run`) as doctests, so that they stay true to the API.
#[cfg(all(doctest, feature = "kms"))]
#[doc = include_str!("../README.md")]
#[doc = include_str!("../docs/caching.md")]
#[doc = include_str!("../docs/kms.md")]
#[doc = include_str!("../docs/streaming.md")]
#[doc = include_str!("../docs/keyrings.md")]
pub struct ReadmeDoctests;
