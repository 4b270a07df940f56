//! The caching materials manager: reuses data keys within security thresholds, so that a busy
//! service makes a handful of master-key calls instead of one per message.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::RngCore;
use tokio::time::Instant;

mod flight;

use flight::{Flight, Handed, Joinable, Outcome, Role};

use super::DefaultCmm;
use super::{check_no_reserved_keys, DecryptionRequest, EncryptionRequest, MaterialsManager};
use crate::cache::{
    decryption_id, encryption_id, partition_hash, CacheHit, CacheId, CacheStats, EntryLimits,
    LruMaterialsCache, MaterialsCache, Usage, MAX_BYTES_LIMIT, MAX_MESSAGES_LIMIT,
};
use crate::error::{Error, KeyringError, UnwrapError};
use crate::keyring::Keyring;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::suite::CommitmentPolicy;

/// The capacity of the cache that [`CachingCmmBuilder::build`] creates when none is given.
pub const DEFAULT_CACHE_CAPACITY: usize = 1000;

/// A materials manager that caches the materials of the manager beneath it.
///
/// Encryption materials are reused for up to `max_messages` messages and `max_bytes` plaintext
/// bytes; encryption and decryption materials alike for at most `max_age` after they were
/// obtained. Only suites with a key derivation function are cached: every message derives its
/// own key from the cached data key and its message ID.
///
/// # Semantics
/// - **Cache IDs** follow the ESDK's SHA-512 formula ([`CacheId`]) over the partition, the
///   requested suite and the caller's encryption context (encrypt) or the header's suite, EDKs
///   and context (decrypt). Two additions keep the cache from serving materials a direct call
///   would not have produced: a decrypt that supplies a reproduced context is keyed on that
///   context too (it adds required entries and is checked against the stored ones), and an
///   encrypt that requests no suite under a non-default commitment policy is keyed on the
///   policy (which then picks the suite). Requests without either use the legacy ID exactly.
/// - **Byte accounting**: a request is charged one message and its exact plaintext length, or,
///   when only a bound is known ([`EncryptionRequest::max_plaintext_length`], as streaming
///   sends), the bound. A request with neither **bypasses the cache**: it is neither read nor
///   written, and it is counted in [`CachingStats::bypassed_unknown_length`]. A request larger
///   than `max_bytes` bypasses the cache too, rather than wasting a fresh entry. Usage equal to
///   a limit is allowed; over it is not. The length is never passed to the manager beneath.
/// - **Single flight, as far as the limits allow**: concurrent misses for one cache ID share one
///   call to the manager beneath, as many as its materials may serve: each waiter takes a seat
///   (one message and its bytes) on the call in flight, and gets a copy of the materials when
///   it returns; the cache entry is stored already charged for every seat. A miss that finds
///   the call's seats all taken (with `max_messages` 10, the eleventh concurrent miss) makes
///   a call of its own, which the following misses join. So concurrent misses never make more
///   calls than their messages need, and a cache with small limits is never slower than no
///   cache: with `max_messages` 1 every miss calls at once, as it would without a cache. Decrypt
///   misses have no message limit: they all share one call. If the call fails, the error is not
///   cached: the caller that made it gets it, and every caller waiting on it gets an error of
///   the same kind and message (with sources flattened to text). The next request after that
///   makes a new call. If the calling request is cancelled, one of the waiters takes over. A
///   waiter waits as long as the call takes: put a timeout around the operation if the manager
///   beneath can hang.
/// - **Refresh ahead** (optional): within the grace period before `max_age`, the first request
///   that hits an entry starts fetching fresh materials in the background (a `tokio::spawn` on
///   the current runtime; without a runtime, that request fetches them before returning) while
///   everyone keeps using the current entry. `max_age` stays a hard limit. A failed refresh is
///   not retried for that entry; when it expires, requests miss as usual.
///
/// ```
/// use std::time::Duration;
/// use sealbox::{CachingCmm, Client, EncryptionContext, RawAesKeyring};
/// use zeroize::Zeroizing;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let keyring = RawAesKeyring::new("ns", "key", Zeroizing::new(vec![7u8; 32]))?;
/// let cmm = CachingCmm::builder_with_keyring(keyring)
///     .max_age(Duration::from_secs(300))
///     .max_messages(1000)
///     .build()?;
/// let client = Client::new();
/// for _ in 0..10 {
///     let message = client.encrypt(&cmm, b"hello", &EncryptionContext::new()).await?;
///     client.decrypt(&cmm, &message).await?;
/// }
/// let stats = cmm.stats();
/// assert_eq!(stats.underlying_calls, 2); // one data key generated, one unwrapped
/// # Ok::<(), sealbox::Error>(())
/// # })?;
/// # Ok::<(), sealbox::Error>(())
/// ```
#[derive(Clone)]
pub struct CachingCmm {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Arc<dyn MaterialsManager>,
    cache: Arc<dyn MaterialsCache>,
    partition: String,
    partition_hash: [u8; 64],
    limits: EntryLimits,
    /// The call in flight that misses may join, by cache ID. A std mutex: it is held only to
    /// look up, join or insert, never across an await.
    flights: Mutex<HashMap<CacheId, Joinable>>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    underlying_calls: AtomicU64,
    coalesced: AtomicU64,
    bypassed_unknown_length: AtomicU64,
    bypassed_too_large: AtomicU64,
    bypassed_uncacheable_suite: AtomicU64,
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Counters of a [`CachingCmm`]. Every request counts once as a hit, a miss or a bypass (or
/// fails).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CachingStats {
    /// Requests served from the cache, including those that first waited for another's call.
    pub hits: u64,
    /// Requests served by a call to the manager beneath made for them.
    pub misses: u64,
    /// Calls to the manager beneath: misses, bypasses and refreshes, failed ones included.
    pub underlying_calls: u64,
    /// Requests that waited for a call made for another request with the same cache ID.
    pub coalesced: u64,
    /// Encrypt requests that bypassed the cache because they gave no plaintext length or bound.
    pub bypassed_unknown_length: u64,
    /// Encrypt requests that bypassed the cache because their length exceeds `max_bytes`.
    pub bypassed_too_large: u64,
    /// Requests that bypassed the cache because their suite has no key derivation.
    pub bypassed_uncacheable_suite: u64,
    /// Refreshes ahead of expiry that were started.
    pub refreshes: u64,
    /// Refreshes ahead of expiry that failed.
    pub refresh_failures: u64,
    /// The counters of the cache, which it may share with other managers.
    pub cache: CacheStats,
}

impl CachingStats {
    /// Requests that bypassed the cache, for any reason.
    pub fn bypasses(&self) -> u64 {
        self.bypassed_unknown_length + self.bypassed_too_large + self.bypassed_uncacheable_suite
    }
}

/// Builds a [`CachingCmm`]. `max_age` is required; everything else has a default.
pub struct CachingCmmBuilder {
    inner: Arc<dyn MaterialsManager>,
    cache: Option<Arc<dyn MaterialsCache>>,
    partition: Option<String>,
    max_age: Option<Duration>,
    max_messages: u64,
    max_bytes: u64,
    refresh_ahead: Option<Duration>,
}

impl fmt::Debug for CachingCmmBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingCmmBuilder")
            .field("inner", &self.inner)
            .field("partition", &self.partition)
            .field("max_age", &self.max_age)
            .field("max_messages", &self.max_messages)
            .field("max_bytes", &self.max_bytes)
            .field("refresh_ahead", &self.refresh_ahead)
            .finish_non_exhaustive()
    }
}

impl CachingCmmBuilder {
    /// The cache to use, which other caching managers may share (default: a new
    /// [`LruMaterialsCache`] of [`DEFAULT_CACHE_CAPACITY`] entries for this manager alone).
    /// Pass an `Arc` to keep a typed handle on it (an `Arc<LruMaterialsCache>` for its `len`,
    /// `clear` and `capacity`, or an `Arc<dyn MaterialsCache>`).
    pub fn cache(mut self, cache: impl MaterialsCache + 'static) -> Self {
        self.cache = Some(Arc::new(cache));
        self
    }

    /// The partition: managers that share a cache see each other's entries only if they have the
    /// same partition (default: a random one for each manager).
    pub fn partition(mut self, partition: impl Into<String>) -> Self {
        self.partition = Some(partition.into());
        self
    }

    /// The most time materials are used after they were obtained. Required; more than zero.
    /// This bounds, among other things, how long a revoked master-key permission goes unnoticed.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The most messages one data key encrypts: 1 to 2^32 (the default).
    pub fn max_messages(mut self, max_messages: u64) -> Self {
        self.max_messages = max_messages;
        self
    }

    /// The most plaintext bytes one data key encrypts: 1 to 2^63 - 1 (the default). (Zero would
    /// let only empty messages use the cache, so it is refused rather than silently bypassing.)
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Refresh entries ahead of expiry: within `grace` before `max_age`, one request starts
    /// fetching fresh materials while all keep using the current ones. Must be shorter than
    /// `max_age` (otherwise every entry would refresh at once) and more than zero.
    pub fn refresh_ahead(mut self, grace: Duration) -> Self {
        self.refresh_ahead = Some(grace);
        self
    }

    /// Check the configuration and build the manager.
    pub fn build(self) -> Result<CachingCmm, Error> {
        let max_age = self
            .max_age
            .ok_or_else(|| Error::invalid("max_age", "a caching materials manager needs one"))?;
        if max_age.is_zero() {
            return Err(Error::invalid("max_age", "must be more than zero"));
        }
        // Far beyond any sensible age, and keeps `obtained_at + max_age` representable.
        if max_age > Duration::from_secs(100 * 365 * 24 * 3600) {
            return Err(Error::invalid(
                "max_age",
                format!("{max_age:?} is longer than a hundred years"),
            ));
        }
        if !(1..=MAX_MESSAGES_LIMIT).contains(&self.max_messages) {
            return Err(Error::invalid(
                "max_messages",
                format!("must be between 1 and 2^32, not {}", self.max_messages),
            ));
        }
        if !(1..=MAX_BYTES_LIMIT).contains(&self.max_bytes) {
            return Err(Error::invalid(
                "max_bytes",
                format!("must be between 1 and 2^63 - 1, not {}", self.max_bytes),
            ));
        }
        if let Some(grace) = self.refresh_ahead {
            if grace.is_zero() || grace >= max_age {
                return Err(Error::invalid(
                    "refresh_ahead",
                    format!(
                        "the grace period ({grace:?}) must be more than zero and shorter than \
                         the maximum age ({max_age:?})"
                    ),
                ));
            }
        }
        let cache = match self.cache {
            Some(cache) => cache,
            None => Arc::new(LruMaterialsCache::new(DEFAULT_CACHE_CAPACITY)?),
        };
        let partition = self.partition.unwrap_or_else(random_partition);
        let mut limits = EntryLimits::new(max_age);
        limits.max_messages = self.max_messages;
        limits.max_bytes = self.max_bytes;
        limits.refresh_ahead = self.refresh_ahead;
        Ok(CachingCmm {
            shared: Arc::new(Shared {
                inner: self.inner,
                cache,
                partition_hash: partition_hash(&partition),
                partition,
                limits,
                flights: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
        })
    }
}

/// A random version-4 UUID, the form other ESDKs use for default partitions.
fn random_partition() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

impl CachingCmm {
    /// A builder for a caching manager in front of `inner`, which may be any materials manager
    /// (including an `Arc<dyn MaterialsManager>`).
    pub fn builder(inner: impl MaterialsManager + 'static) -> CachingCmmBuilder {
        CachingCmmBuilder {
            inner: Arc::new(inner),
            cache: None,
            partition: None,
            max_age: None,
            max_messages: MAX_MESSAGES_LIMIT,
            max_bytes: MAX_BYTES_LIMIT,
            refresh_ahead: None,
        }
    }

    /// A builder for a caching manager in front of a [`DefaultCmm`] over `keyring`.
    pub fn builder_with_keyring(keyring: impl Keyring + 'static) -> CachingCmmBuilder {
        Self::builder(DefaultCmm::new(keyring))
    }

    /// The partition of this manager's entries.
    pub fn partition(&self) -> &str {
        &self.shared.partition
    }

    /// The thresholds applied to every entry.
    pub fn limits(&self) -> &EntryLimits {
        &self.shared.limits
    }

    /// The cache, possibly shared with other managers.
    pub fn cache(&self) -> &Arc<dyn MaterialsCache> {
        &self.shared.cache
    }

    /// This manager's counters, and its cache's.
    pub fn stats(&self) -> CachingStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CachingStats {
            hits: get(&c.hits),
            misses: get(&c.misses),
            underlying_calls: get(&c.underlying_calls),
            coalesced: get(&c.coalesced),
            bypassed_unknown_length: get(&c.bypassed_unknown_length),
            bypassed_too_large: get(&c.bypassed_too_large),
            bypassed_uncacheable_suite: get(&c.bypassed_uncacheable_suite),
            refreshes: get(&c.refreshes),
            refresh_failures: get(&c.refresh_failures),
            cache: self.shared.cache.stats(),
        }
    }
}

impl fmt::Debug for CachingCmm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingCmm")
            .field("inner", &self.shared.inner)
            .field("cache", &self.shared.cache)
            .field("partition", &self.shared.partition)
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What differs between encrypt and decrypt; the caching logic is written once over it. An op
/// borrows the caller's request, so that a hit copies nothing but the materials.
trait Op: Send + Sync {
    type Materials: Send + 'static;
    /// The same op owning its request, for a refresh that outlives the caller.
    type Owned: Op<Materials = Self::Materials> + 'static;
    fn to_owned_op(&self) -> Self::Owned;
    fn id(&self) -> &CacheId;
    /// What this request uses of an entry, if entries of its kind have usage limits.
    fn charge(&self) -> Option<Usage>;
    fn lookup(&self, s: &Shared, now: Instant) -> Option<CacheHit<Self::Materials>>;
    /// Store fresh materials, already used as much as `usage` says.
    fn store(&self, s: &Shared, m: &Self::Materials, usage: Usage, obtained_at: Instant);
    fn cacheable(m: &Self::Materials) -> bool;
    fn hand(m: &Self::Materials) -> Handed;
    fn take(handed: &Handed) -> Option<Self::Materials>;
    fn fetch<'a>(
        &'a self,
        inner: &'a dyn MaterialsManager,
    ) -> BoxFuture<'a, Result<Self::Materials, Error>>;
}

struct EncryptOp<'r> {
    id: CacheId,
    request: Cow<'r, EncryptionRequest>,
    charge: Usage,
}

impl Op for EncryptOp<'_> {
    type Materials = EncryptionMaterials;
    type Owned = EncryptOp<'static>;
    fn to_owned_op(&self) -> EncryptOp<'static> {
        EncryptOp {
            id: self.id,
            request: Cow::Owned(self.request.as_ref().clone()),
            charge: self.charge,
        }
    }
    fn id(&self) -> &CacheId {
        &self.id
    }
    fn charge(&self) -> Option<Usage> {
        Some(self.charge)
    }
    fn lookup(&self, s: &Shared, now: Instant) -> Option<CacheHit<EncryptionMaterials>> {
        s.cache
            .get_encryption(&self.id, self.charge, &s.limits, now)
    }
    fn store(&self, s: &Shared, m: &EncryptionMaterials, usage: Usage, obtained_at: Instant) {
        s.cache
            .put_encryption(self.id, m.clone(), usage, &s.limits, obtained_at);
    }
    fn cacheable(m: &EncryptionMaterials) -> bool {
        m.suite.is_cacheable()
    }
    fn hand(m: &EncryptionMaterials) -> Handed {
        Handed::Encrypt(Arc::new(m.clone()))
    }
    fn take(handed: &Handed) -> Option<EncryptionMaterials> {
        match handed {
            Handed::Encrypt(m) => Some(m.as_ref().clone()),
            Handed::Decrypt(_) => None,
        }
    }
    fn fetch<'a>(
        &'a self,
        inner: &'a dyn MaterialsManager,
    ) -> BoxFuture<'a, Result<EncryptionMaterials, Error>> {
        // The manager beneath never sees the length: what it returns must not depend on it,
        // since the materials serve messages of other lengths.
        let mut request = self.request.as_ref().clone();
        request.plaintext_length = None;
        request.max_plaintext_length = None;
        Box::pin(async move { inner.get_encryption_materials(&request).await })
    }
}

struct DecryptOp<'r> {
    id: CacheId,
    request: Cow<'r, DecryptionRequest>,
}

impl Op for DecryptOp<'_> {
    type Materials = DecryptionMaterials;
    type Owned = DecryptOp<'static>;
    fn to_owned_op(&self) -> DecryptOp<'static> {
        DecryptOp {
            id: self.id,
            request: Cow::Owned(self.request.as_ref().clone()),
        }
    }
    fn id(&self) -> &CacheId {
        &self.id
    }
    fn charge(&self) -> Option<Usage> {
        None
    }
    fn lookup(&self, s: &Shared, now: Instant) -> Option<CacheHit<DecryptionMaterials>> {
        s.cache.get_decryption(&self.id, &s.limits, now)
    }
    fn store(&self, s: &Shared, m: &DecryptionMaterials, _usage: Usage, obtained_at: Instant) {
        s.cache
            .put_decryption(self.id, m.clone(), &s.limits, obtained_at);
    }
    fn cacheable(m: &DecryptionMaterials) -> bool {
        m.suite.is_cacheable()
    }
    fn hand(m: &DecryptionMaterials) -> Handed {
        Handed::Decrypt(Arc::new(m.clone()))
    }
    fn take(handed: &Handed) -> Option<DecryptionMaterials> {
        match handed {
            Handed::Decrypt(m) => Some(m.as_ref().clone()),
            Handed::Encrypt(_) => None,
        }
    }
    fn fetch<'a>(
        &'a self,
        inner: &'a dyn MaterialsManager,
    ) -> BoxFuture<'a, Result<DecryptionMaterials, Error>> {
        inner.decrypt_materials(&self.request)
    }
}

impl Shared {
    async fn call<O: Op>(&self, op: &O) -> Result<O::Materials, Error> {
        bump(&self.counters.underlying_calls);
        op.fetch(self.inner.as_ref()).await
    }

    async fn bypass<O: Op>(
        &self,
        op: &O,
        counter: &AtomicU64,
        why: &str,
    ) -> Result<O::Materials, Error> {
        bump(counter);
        tracing::debug!(reason = why, "materials cache bypassed");
        self.call(op).await
    }

    /// The cached path: look up; on a miss, make or wait for the one call for this ID.
    async fn get<O: Op>(self: &Arc<Self>, op: O) -> Result<O::Materials, Error> {
        let id = *op.id();
        loop {
            if let Some(hit) = op.lookup(self, Instant::now()) {
                return Ok(self.hit(&op, hit).await);
            }
            match self.join_or_lead(&id, op.charge()) {
                Role::Lead(flight) => {
                    // A call that ended between our lookup and taking the lead may have stored
                    // fresh materials: look once more before calling.
                    if let Some(hit) = op.lookup(self, Instant::now()) {
                        flight.finish(Outcome::LookAgain);
                        return Ok(self.hit(&op, hit).await);
                    }
                    bump(&self.counters.misses);
                    tracing::debug!(cache_id = %id, "materials cache miss: calling the underlying manager");
                    // The age counts from before the call: the manager's answer (a permission
                    // check, say) is no fresher than the moment it was asked.
                    let obtained_at = Instant::now();
                    return match self.call(&op).await {
                        Ok(m) if O::cacheable(&m) => {
                            self.store_and_hand(&op, &m, flight, obtained_at);
                            Ok(m)
                        }
                        Ok(m) => {
                            flight.finish(Outcome::NotCacheable);
                            Ok(m)
                        }
                        Err(e) => {
                            tracing::debug!(cache_id = %id, error = %e, "underlying manager failed; not cached");
                            flight.finish(Outcome::Failed(Arc::new(replicate(&e))));
                            Err(e)
                        }
                    };
                }
                Role::Wait(mut rx) => {
                    bump(&self.counters.coalesced);
                    tracing::debug!(cache_id = %id, "materials cache miss: waiting for the call in flight");
                    // Clone the outcome out at once: the watch guard must not live across an
                    // await.
                    let outcome = rx
                        .wait_for(Option::is_some)
                        .await
                        .ok()
                        .and_then(|r| (*r).clone());
                    match outcome {
                        Some(Outcome::Ready(handed, obtained_at)) => {
                            // A call that took longer than `max_age` brings materials already
                            // too old for a request that joined it: like an expired entry, they
                            // are not served, and the waiter goes back to the cache (and calls,
                            // or joins a newer call).
                            let age = Instant::now().saturating_duration_since(obtained_at);
                            if age > self.limits.max_age {
                                continue;
                            }
                            if let Some(m) = O::take(&handed) {
                                bump(&self.counters.hits);
                                return Ok(m);
                            }
                            continue;
                        }
                        // No call after all, or an abandoned one: back to the cache.
                        Some(Outcome::LookAgain) | None => continue,
                        Some(Outcome::NotCacheable) => {
                            bump(&self.counters.misses);
                            return self.call(&op).await;
                        }
                        Some(Outcome::Failed(e)) => return Err(replicate(&e)),
                    }
                }
            }
        }
    }

    /// Store fresh materials charged for every seat taken on `flight`, and hand a copy to each
    /// waiter.
    fn store_and_hand<O: Op>(
        &self,
        op: &O,
        m: &O::Materials,
        flight: Flight,
        obtained_at: Instant,
    ) {
        let usage = flight.close();
        op.store(self, m, usage, obtained_at);
        if flight.has_waiters() {
            flight.send(Outcome::Ready(O::hand(m), obtained_at));
        } else {
            flight.send(Outcome::LookAgain);
        }
    }

    async fn hit<O: Op>(self: &Arc<Self>, op: &O, hit: CacheHit<O::Materials>) -> O::Materials {
        bump(&self.counters.hits);
        tracing::debug!(cache_id = %op.id(), "materials cache hit");
        if hit.refresh {
            if let Some(flight) = self.try_lead(op.id()) {
                let refresh = Arc::clone(self).refresh(op.to_owned_op(), flight);
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(refresh);
                    }
                    // No runtime to run it in the background: this request does it.
                    Err(_) => refresh.await,
                }
            }
        }
        hit.materials
    }

    async fn refresh<O: Op + 'static>(self: Arc<Self>, op: O, flight: Flight) {
        bump(&self.counters.refreshes);
        tracing::debug!(cache_id = %op.id(), "refreshing materials ahead of expiry");
        let obtained_at = Instant::now();
        match self.call(&op).await {
            Ok(m) if O::cacheable(&m) => self.store_and_hand(&op, &m, flight, obtained_at),
            Ok(_) => flight.finish(Outcome::NotCacheable),
            Err(e) => {
                bump(&self.counters.refresh_failures);
                tracing::debug!(cache_id = %op.id(), error = %e, "refresh ahead of expiry failed");
                flight.finish(Outcome::Failed(Arc::new(replicate(&e))));
            }
        }
    }
}

/// A copy of `e` for a request that waited on the call that failed: the same variant and the
/// same message, with source errors (which cannot be cloned) flattened into text.
fn replicate(e: &Error) -> Error {
    let text = |s: &dyn std::error::Error| -> crate::error::BoxError { s.to_string().into() };
    match e {
        Error::PolicyViolation {
            policy,
            suite,
            operation,
        } => Error::PolicyViolation {
            policy: *policy,
            suite: *suite,
            operation,
        },
        Error::TooManyEncryptedDataKeys { count, max } => Error::TooManyEncryptedDataKeys {
            count: *count,
            max: *max,
        },
        Error::LimitExceeded(l) => Error::LimitExceeded(l.clone()),
        Error::EncryptionContext(c) => Error::EncryptionContext(c.clone()),
        Error::Config(c) => Error::Config(c.clone()),
        Error::Malformed(m) => Error::Malformed(m.clone()),
        Error::UnsupportedSuite(id) => Error::UnsupportedSuite(*id),
        Error::NoDataKey(u) => {
            let mut copy = UnwrapError::default();
            for a in &u.attempts {
                copy.push(a.edk_index, &a.keyring, text(a.error.as_ref()));
            }
            Error::NoDataKey(copy)
        }
        Error::Keyring(k) => {
            let full = k.to_string();
            let prefix = format!("keyring {}: ", k.keyring());
            let message = full.strip_prefix(&prefix).unwrap_or(&full).to_owned();
            Error::Keyring(KeyringError::new(k.keyring(), message))
        }
        Error::Materials { message, source } => Error::Materials {
            message: message.clone(),
            source: source.as_deref().map(|s| text(s)),
        },
        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        other => Error::materials(other.to_string(), None),
    }
}

#[async_trait]
impl MaterialsManager for CachingCmm {
    async fn get_encryption_materials(
        &self,
        request: &EncryptionRequest,
    ) -> Result<EncryptionMaterials, Error> {
        let s = &self.shared;
        // The checks the manager beneath would make, made here too so that a hit cannot skip
        // them.
        check_no_reserved_keys(&request.encryption_context)?;
        let policy = request.commitment_policy;
        if let Some(suite) = request.suite {
            if !policy.allows_encrypt(suite) {
                return Err(Error::PolicyViolation {
                    policy,
                    suite,
                    operation: "encrypt",
                });
            }
        }
        let policy_tag = match (request.suite, policy) {
            (Some(_), _) | (None, CommitmentPolicy::RequireEncryptRequireDecrypt) => None,
            (None, CommitmentPolicy::ForbidEncryptAllowDecrypt) => Some(1),
            (None, CommitmentPolicy::RequireEncryptAllowDecrypt) => Some(2),
        };
        let id = encryption_id(
            &s.partition_hash,
            request.suite,
            policy_tag,
            &request.encryption_context,
        )?;
        let op = EncryptOp {
            id,
            request: Cow::Borrowed(request),
            charge: Usage::default(),
        };
        if request.suite.is_some_and(|suite| !suite.is_cacheable()) {
            return s
                .bypass(
                    &op,
                    &s.counters.bypassed_uncacheable_suite,
                    "suite without key derivation",
                )
                .await;
        }
        let Some(bytes) = request.plaintext_length.or(request.max_plaintext_length) else {
            return s
                .bypass(
                    &op,
                    &s.counters.bypassed_unknown_length,
                    "unknown plaintext length",
                )
                .await;
        };
        if bytes > s.limits.max_bytes {
            return s
                .bypass(
                    &op,
                    &s.counters.bypassed_too_large,
                    "plaintext longer than the byte limit",
                )
                .await;
        }
        s.get(EncryptOp {
            charge: Usage { messages: 1, bytes },
            ..op
        })
        .await
    }

    async fn decrypt_materials(
        &self,
        request: &DecryptionRequest,
    ) -> Result<DecryptionMaterials, Error> {
        let s = &self.shared;
        let suite = request.suite;
        if !request.commitment_policy.allows_decrypt(suite) {
            return Err(Error::PolicyViolation {
                policy: request.commitment_policy,
                suite,
                operation: "decrypt",
            });
        }
        let id = decryption_id(
            &s.partition_hash,
            suite,
            &request.encrypted_data_keys,
            &request.encryption_context,
            request.reproduced_encryption_context.as_ref(),
        )?;
        let op = DecryptOp {
            id,
            request: Cow::Borrowed(request),
        };
        if !suite.is_cacheable() {
            return s
                .bypass(
                    &op,
                    &s.counters.bypassed_uncacheable_suite,
                    "suite without key derivation",
                )
                .await;
        }
        s.get(op).await
    }
}
