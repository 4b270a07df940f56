//! Materials caches: where a [`CachingCmm`](crate::CachingCmm) keeps encryption and decryption
//! materials between messages.
//!
//! A cache is a map from a 64-byte [`CacheId`] to materials plus the bookkeeping that the
//! security thresholds need: when the materials were obtained and, for encryption entries, how
//! many messages and bytes they have protected. The cache knows nothing of keyrings or materials
//! managers; the caching materials manager computes the IDs, chooses the thresholds and decides
//! when to call the manager beneath it.
//!
//! The trait is synchronous on purpose: every operation is a short critical section over
//! in-memory state, and the usage charge must be atomic with the lookup. An implementation must
//! therefore never block for long (no I/O), and it must never write plaintext data keys to disk.
//! [`LruMaterialsCache`] is the default implementation.

mod lru;

pub use self::lru::LruMaterialsCache;

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha512};
use tokio::time::Instant;

use crate::error::Error;
use crate::format::{serialize_encryption_context, EncryptedDataKey, EncryptionContext};
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::suite::AlgorithmSuite;

/// The most messages one cached data key may encrypt, and the default: 2^32, as in every ESDK.
pub const MAX_MESSAGES_LIMIT: u64 = 1 << 32;
/// The most bytes one cached data key may encrypt, and the default: 2^63 - 1, as in every ESDK.
pub const MAX_BYTES_LIMIT: u64 = i64::MAX as u64;

/// The identifier of a cache entry: a SHA-512 digest of the partition and the request.
///
/// IDs are process-local and never written to a message. `Debug` and `Display` show the first
/// eight bytes in hex, which is enough to follow an entry through the logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheId([u8; 64]);

impl CacheId {
    /// An ID from its 64 bytes.
    pub const fn from_bytes(bytes: [u8; 64]) -> Self {
        CacheId(bytes)
    }

    /// The 64 bytes of the ID.
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// The ID of encryption materials, by the legacy ESDK formula that the Python, Java, C and
    /// JavaScript caching CMMs share:
    ///
    /// ```text
    /// no suite:   SHA512( SHA512(partition) || 0x00 || SHA512(serialize(ec)) )
    /// suite:      SHA512( SHA512(partition) || 0x01 || suite_id || SHA512(serialize(ec)) )
    /// ```
    ///
    /// `encryption_context` is the caller's context, before a materials manager adds the
    /// signing key; the plaintext length is deliberately not part of the ID.
    ///
    /// ```
    /// use sealbox::CacheId;
    /// use sealbox::EncryptionContext;
    /// let a = CacheId::for_encryption("partition", None, &EncryptionContext::new())?;
    /// let b = CacheId::for_encryption("other", None, &EncryptionContext::new())?;
    /// assert_ne!(a, b);
    /// # Ok::<(), sealbox::Error>(())
    /// ```
    pub fn for_encryption(
        partition: &str,
        suite: Option<AlgorithmSuite>,
        encryption_context: &EncryptionContext,
    ) -> Result<Self, Error> {
        encryption_id(&partition_hash(partition), suite, None, encryption_context)
    }

    /// The ID of decryption materials, by the legacy ESDK formula:
    ///
    /// ```text
    /// SHA512( SHA512(partition) || suite_id
    ///         || concat(sorted(SHA512(serialize(edk)) for each edk))
    ///         || 64 zero bytes || SHA512(serialize(ec)) )
    /// ```
    ///
    /// `encryption_context` is the context stored in the message header (which includes
    /// `aws-crypto-public-key` for signing suites).
    pub fn for_decryption(
        partition: &str,
        suite: AlgorithmSuite,
        encrypted_data_keys: &[EncryptedDataKey],
        encryption_context: &EncryptionContext,
    ) -> Result<Self, Error> {
        decryption_id(
            &partition_hash(partition),
            suite,
            encrypted_data_keys,
            encryption_context,
            None,
        )
    }
}

impl fmt::Display for CacheId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CacheId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheId({self}..)")
    }
}

pub(crate) fn partition_hash(partition: &str) -> [u8; 64] {
    Sha512::digest(partition.as_bytes()).into()
}

/// The encryption ID. `policy_tag` is sealbox's one extension of the legacy formula: when no
/// suite is requested, the commitment policy decides which suite the manager beneath picks, so
/// callers with different policies must not share an entry. The tag takes the place of the
/// "suite requested" flag (0x02, then one byte), which keeps the ID distinct from both legacy
/// forms; `None` gives the legacy bytes exactly.
pub(crate) fn encryption_id(
    partition_hash: &[u8; 64],
    suite: Option<AlgorithmSuite>,
    policy_tag: Option<u8>,
    encryption_context: &EncryptionContext,
) -> Result<CacheId, Error> {
    let ec_hash = Sha512::digest(serialize_encryption_context(encryption_context)?);
    let mut h = Sha512::new();
    h.update(partition_hash);
    match (suite, policy_tag) {
        (Some(suite), _) => {
            h.update([0x01]);
            h.update(suite.id().to_be_bytes());
        }
        (None, Some(tag)) => h.update([0x02, tag]),
        (None, None) => h.update([0x00]),
    }
    h.update(ec_hash);
    Ok(CacheId(h.finalize().into()))
}

/// The decryption ID. `reproduced` is sealbox's extension of the legacy formula: a context
/// supplied on decrypt changes the materials (it adds required entries and must agree with the
/// stored ones), so it is appended as `0x01 || SHA512(serialize(reproduced))`. The legacy
/// preimage is 2 + 64k bytes long, so the extended one (3 + 64k) can never equal another legacy
/// preimage; `None` gives the legacy bytes exactly.
pub(crate) fn decryption_id(
    partition_hash: &[u8; 64],
    suite: AlgorithmSuite,
    encrypted_data_keys: &[EncryptedDataKey],
    encryption_context: &EncryptionContext,
    reproduced: Option<&EncryptionContext>,
) -> Result<CacheId, Error> {
    let mut edk_hashes = Vec::with_capacity(encrypted_data_keys.len());
    let mut buf = Vec::new();
    for edk in encrypted_data_keys {
        buf.clear();
        edk.serialize_into(&mut buf)?;
        edk_hashes.push(<[u8; 64]>::from(Sha512::digest(&buf)));
    }
    edk_hashes.sort_unstable();
    let mut h = Sha512::new();
    h.update(partition_hash);
    h.update(suite.id().to_be_bytes());
    for eh in &edk_hashes {
        h.update(eh);
    }
    h.update([0u8; 64]);
    h.update(Sha512::digest(serialize_encryption_context(
        encryption_context,
    )?));
    if let Some(reproduced) = reproduced {
        h.update([0x01]);
        h.update(Sha512::digest(serialize_encryption_context(reproduced)?));
    }
    Ok(CacheId(h.finalize().into()))
}

/// What one message costs an encryption entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Messages encrypted (1 per request).
    pub messages: u64,
    /// Plaintext bytes encrypted: the exact length, or the bound the caller declared.
    pub bytes: u64,
}

/// The thresholds of a cache entry, checked on every lookup. Usage *equal* to a limit is
/// allowed; over it is not (the ESDK's rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryLimits {
    /// The most time since the materials were obtained. A hard limit: no entry is served after.
    pub max_age: Duration,
    /// The most messages an encryption entry may encrypt.
    pub max_messages: u64,
    /// The most plaintext bytes an encryption entry may encrypt.
    pub max_bytes: u64,
    /// The grace period before `max_age` within which the first lookup that hits an entry is
    /// told to refresh it ([`CacheHit::refresh`]), once per entry: the builder's
    /// [`refresh_ahead`](crate::CachingCmmBuilder::refresh_ahead). `None`: no refresh ahead.
    pub refresh_ahead: Option<Duration>,
}

impl EntryLimits {
    /// Limits with `max_age`, the default message and byte limits, and no refresh ahead.
    pub fn new(max_age: Duration) -> Self {
        EntryLimits {
            max_age,
            max_messages: MAX_MESSAGES_LIMIT,
            max_bytes: MAX_BYTES_LIMIT,
            refresh_ahead: None,
        }
    }

    /// The age from which an entry is due for a refresh ahead of expiry, if refresh ahead is on.
    pub fn refresh_after(&self) -> Option<Duration> {
        self.refresh_ahead
            .map(|grace| self.max_age.saturating_sub(grace))
    }
}

/// Materials found in a cache.
#[derive(Clone, Debug)]
pub struct CacheHit<M> {
    /// A copy of the cached materials (their data key is zeroized when dropped).
    pub materials: M,
    /// Whether this caller is the one that should fetch fresh materials ahead of expiry: the
    /// entry has reached [`EntryLimits::refresh_after`], and no earlier lookup was told so.
    pub refresh: bool,
}

/// Why entries left a cache before anyone removed them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evictions {
    /// Entries older than their maximum age.
    pub age: u64,
    /// Encryption entries that reached their message limit, or would have gone over it.
    pub messages: u64,
    /// Encryption entries that would have gone over their byte limit.
    pub bytes: u64,
    /// Least recently used entries pushed out to make room.
    pub capacity: u64,
}

impl Evictions {
    /// All evictions, whatever the reason.
    pub fn total(&self) -> u64 {
        self.age + self.messages + self.bytes + self.capacity
    }
}

/// Counters of a cache, over every materials manager that shares it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Entries held now.
    pub entries: usize,
    /// Lookups that returned materials.
    pub hits: u64,
    /// Lookups that did not (absent, expired or exhausted entries).
    pub misses: u64,
    /// Entries stored.
    pub puts: u64,
    /// Entries evicted, by reason.
    pub evictions: Evictions,
}

/// A store of materials for [`CachingCmm`](crate::CachingCmm). Implement it to substitute your
/// own cache; [`LruMaterialsCache`] is the default.
///
/// The caching materials manager relies on these guarantees:
/// - [`get_encryption`](Self::get_encryption) charges and checks in one atomic step, so that no
///   entry ever serves more messages or bytes than its limits, whatever the concurrency;
/// - no entry is returned once older than `limits.max_age`;
/// - evicted entries are dropped (which zeroizes their data keys), and nothing is written to disk.
pub trait MaterialsCache: Send + Sync + fmt::Debug {
    /// Look up encryption materials and charge `charge` to the entry, atomically. Returns them
    /// only if the entry exists, is no older than `limits.max_age`, and its usage after the
    /// charge is within `limits`; an entry that would go over is evicted and the lookup misses.
    fn get_encryption(
        &self,
        id: &CacheId,
        charge: Usage,
        limits: &EntryLimits,
        now: Instant,
    ) -> Option<CacheHit<EncryptionMaterials>>;

    /// Store encryption materials obtained at `obtained_at`, with `usage` already charged (the
    /// request that fetched them, or nothing for a refresh). Replaces any entry with that ID.
    fn put_encryption(
        &self,
        id: CacheId,
        materials: EncryptionMaterials,
        usage: Usage,
        limits: &EntryLimits,
        obtained_at: Instant,
    );

    /// Look up decryption materials no older than `limits.max_age`.
    fn get_decryption(
        &self,
        id: &CacheId,
        limits: &EntryLimits,
        now: Instant,
    ) -> Option<CacheHit<DecryptionMaterials>>;

    /// Store decryption materials obtained at `obtained_at`. Replaces any entry with that ID.
    fn put_decryption(
        &self,
        id: CacheId,
        materials: DecryptionMaterials,
        limits: &EntryLimits,
        obtained_at: Instant,
    );

    /// The cache's counters. The default reports nothing.
    fn stats(&self) -> CacheStats {
        CacheStats::default()
    }
}

/// A shared cache is a cache: an `Arc<LruMaterialsCache>` (or an `Arc<dyn MaterialsCache>`) can be
/// handed to several managers while the caller keeps its typed handle.
impl<C: MaterialsCache + ?Sized> MaterialsCache for std::sync::Arc<C> {
    fn get_encryption(
        &self,
        id: &CacheId,
        charge: Usage,
        limits: &EntryLimits,
        now: Instant,
    ) -> Option<CacheHit<EncryptionMaterials>> {
        (**self).get_encryption(id, charge, limits, now)
    }

    fn put_encryption(
        &self,
        id: CacheId,
        materials: EncryptionMaterials,
        usage: Usage,
        limits: &EntryLimits,
        obtained_at: Instant,
    ) {
        (**self).put_encryption(id, materials, usage, limits, obtained_at)
    }

    fn get_decryption(
        &self,
        id: &CacheId,
        limits: &EntryLimits,
        now: Instant,
    ) -> Option<CacheHit<DecryptionMaterials>> {
        (**self).get_decryption(id, limits, now)
    }

    fn put_decryption(
        &self,
        id: CacheId,
        materials: DecryptionMaterials,
        limits: &EntryLimits,
        obtained_at: Instant,
    ) {
        (**self).put_decryption(id, materials, limits, obtained_at)
    }

    fn stats(&self) -> CacheStats {
        (**self).stats()
    }
}
