//! The branch-key cache: plaintext branch keys in memory, one entry per cache identifier, with
//! single flight on misses.
//!
//! The caching materials manager has single flight too (`cmm/caching.rs`), but its calls carry
//! seats: a waiter joins a call only if the materials it brings can still serve one more message
//! and its bytes, and the entry is stored already charged for every seat. Branch keys have no
//! usage limits, so here a call in flight is only a watch channel that every miss joins; sharing
//! the CMM's machinery would mean threading its seat accounting through a cache that has none.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use lru::LruCache;
use tokio::sync::watch;
use tokio::time::Instant;

use super::store::{BranchKeyMaterials, KeyStoreError};
use crate::crypto::{sha384, HmacSha256Key};
use crate::error::Error;

/// The capacity of the branch-key cache a hierarchical keyring makes when it is given none: 1000
/// entries, as in the Material Providers Library.
pub const DEFAULT_BRANCH_KEY_CACHE_CAPACITY: usize = 1000;

/// A cache identifier: SHA-384 over the resource (0x02, the hierarchical keyring), the scope, the
/// partition ID, the logical key store name, the branch key ID and, for decryption, the version.
pub(crate) type CacheKey = [u8; 48];

/// Scope 0x01: the active branch key, for encryption.
pub(crate) fn encrypt_key(partition: &[u8], store_name: &str, branch_key_id: &str) -> CacheKey {
    sha384(&[
        &[0x02, 0x00, 0x01, 0x00],
        partition,
        &[0x00],
        store_name.as_bytes(),
        &[0x00],
        branch_key_id.as_bytes(),
    ])
}

/// Scope 0x02: one version of a branch key, for decryption.
pub(crate) fn decrypt_key(
    partition: &[u8],
    store_name: &str,
    branch_key_id: &str,
    version: &str,
) -> CacheKey {
    sha384(&[
        &[0x02, 0x00, 0x02, 0x00],
        partition,
        &[0x00],
        store_name.as_bytes(),
        &[0x00],
        branch_key_id.as_bytes(),
        &[0x00],
        version.as_bytes(),
    ])
}

/// A cache of plaintext branch keys that several [`HierarchicalKeyring`]s may share: a cheap
/// handle (an `Arc` inside) that clones share.
///
/// - It holds at most `capacity` entries, least recently used first out. An entry is the branch
///   key materials and the instant they were read from the store; each keyring decides with its
///   own TTL whether an entry is still good for it.
/// - Keyrings share an entry if and only if their partition ID, their store's logical key store
///   name and the branch key ID (and, for decryption, the version) are equal: the specification's
///   SHA-384 cache identifiers.
/// - Concurrent misses for one identifier make one store call (single flight), whichever of the
///   sharing keyrings they come from. A failed call is not cached: every request that waited on
///   it gets its error, and the next request calls again.
/// - Evicted and replaced entries are dropped at once, and dropping branch key materials wipes
///   the key. Nothing is written to disk.
///
/// [`HierarchicalKeyring`]: crate::HierarchicalKeyring
#[derive(Clone)]
pub struct BranchKeyCache {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: NonZeroUsize,
    /// One std mutex for the entries and one for the calls in flight: each is held only to look
    /// up or insert, never across an await.
    entries: Mutex<LruCache<CacheKey, Entry>>,
    flights: Mutex<HashMap<CacheKey, watch::Receiver<Option<Loaded>>>>,
    counters: Counters,
}

/// A branch key as the cache holds it: the store's materials, and the key derivation's HMAC key
/// made from them once per store read rather than once per message.
pub(crate) struct CachedBranchKey {
    pub(crate) materials: BranchKeyMaterials,
    pub(crate) prf: HmacSha256Key,
}

#[derive(Clone)]
struct Entry {
    materials: Arc<CachedBranchKey>,
    created: Instant,
    /// Set by the first request that starts a refresh ahead of expiry: one refresh per entry.
    refresh_claimed: Arc<AtomicBool>,
}

type Loaded = Result<Entry, Arc<KeyStoreError>>;

/// A store call that fills the cache.
pub(crate) type Load =
    Pin<Box<dyn Future<Output = Result<BranchKeyMaterials, KeyStoreError>> + Send + 'static>>;

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    load_failures: AtomicU64,
    refreshes: AtomicU64,
}

/// Counters of a [`BranchKeyCache`], across every keyring that shares it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BranchKeyCacheStats {
    /// Requests answered from an entry (including those that waited for another's store call).
    pub hits: u64,
    /// Store calls made for a request that found no usable entry.
    pub misses: u64,
    /// Requests that waited for a store call already in flight for the same identifier.
    pub coalesced: u64,
    /// Store calls (misses and refreshes) that failed.
    pub load_failures: u64,
    /// Refreshes ahead of the TTL that were started.
    pub refreshes: u64,
    /// Entries held now.
    pub entries: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps are consistent between statements: a panic elsewhere cannot corrupt them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl BranchKeyCache {
    /// A cache of at most `capacity` branch keys (at least 1).
    pub fn new(capacity: usize) -> Result<Self, Error> {
        let capacity = NonZeroUsize::new(capacity).ok_or_else(|| {
            Error::Config("a branch-key cache needs a capacity of at least 1".into())
        })?;
        Ok(BranchKeyCache {
            inner: Arc::new(Inner {
                capacity,
                entries: Mutex::new(LruCache::new(capacity)),
                flights: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
        })
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.inner.capacity.get()
    }

    /// The counters, summed over every keyring that shares this cache.
    pub fn stats(&self) -> BranchKeyCacheStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BranchKeyCacheStats {
            hits: get(&c.hits),
            misses: get(&c.misses),
            coalesced: get(&c.coalesced),
            load_failures: get(&c.load_failures),
            refreshes: get(&c.refreshes),
            entries: lock(&self.inner.entries).len(),
        }
    }

    /// Drop every entry (and so wipe every cached branch key) now.
    pub fn clear(&self) {
        lock(&self.inner.entries).clear();
    }

    /// The materials for `key`: from an entry no older than `ttl`, or from `load` (one call for
    /// all concurrent misses). With `refresh_after`, a hit on an entry at least that old starts
    /// one `load` in the background while the entry keeps serving.
    pub(crate) async fn get(
        &self,
        key: &CacheKey,
        ttl: Duration,
        refresh_after: Option<Duration>,
        load: impl Fn() -> Load,
    ) -> Result<Arc<CachedBranchKey>, Arc<KeyStoreError>> {
        let inner = &self.inner;
        loop {
            if let Some(entry) = inner.lookup(key, ttl) {
                bump(&inner.counters.hits);
                self.maybe_refresh(key, &entry, refresh_after, &load).await;
                return Ok(entry.materials);
            }
            match inner.join_or_lead(key) {
                Role::Lead(flight) => {
                    // A call that ended between the lookup and taking the lead may have stored
                    // a fresh entry.
                    if let Some(entry) = inner.lookup(key, ttl) {
                        flight.finish(Ok(entry.clone()));
                        bump(&inner.counters.hits);
                        return Ok(entry.materials);
                    }
                    bump(&inner.counters.misses);
                    return Inner::load(flight, load()).await.map(|e| e.materials);
                }
                Role::Wait(mut rx) => {
                    bump(&inner.counters.coalesced);
                    // Clone the outcome out at once: the watch guard must not live across an
                    // await.
                    let outcome = rx
                        .wait_for(Option::is_some)
                        .await
                        .ok()
                        .and_then(|r| (*r).clone());
                    match outcome {
                        Some(Ok(entry)) => {
                            bump(&inner.counters.hits);
                            return Ok(entry.materials);
                        }
                        Some(Err(e)) => return Err(e),
                        // The leader was cancelled: back to the cache, where one waiter leads.
                        None => continue,
                    }
                }
            }
        }
    }

    async fn maybe_refresh(
        &self,
        key: &CacheKey,
        entry: &Entry,
        refresh_after: Option<Duration>,
        load: &impl Fn() -> Load,
    ) {
        let Some(after) = refresh_after else { return };
        if Instant::now().saturating_duration_since(entry.created) < after
            || entry.refresh_claimed.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let Some(flight) = self.inner.try_lead(key) else {
            return;
        };
        bump(&self.inner.counters.refreshes);
        let refresh = Inner::load(flight, load());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(refresh);
            }
            // No runtime to run it in the background: this request does it.
            Err(_) => {
                let _ = refresh.await;
            }
        }
    }
}

impl fmt::Debug for BranchKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BranchKeyCache")
            .field("capacity", &self.inner.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

enum Role {
    Lead(Flight),
    Wait(watch::Receiver<Option<Loaded>>),
}

/// The right to call the store for one identifier. Dropped unfinished (the request was
/// cancelled), it withdraws the call and closes the channel: the waiters look again.
struct Flight {
    inner: Arc<Inner>,
    key: CacheKey,
    tx: Option<watch::Sender<Option<Loaded>>>,
}

impl Flight {
    fn finish(mut self, outcome: Loaded) {
        self.withdraw();
        if let Some(tx) = self.tx.take() {
            tx.send_replace(Some(outcome));
        }
    }

    /// There is at most one call in flight per identifier (a new one is made only when none is),
    /// and only its own `Flight` withdraws it, once.
    fn withdraw(&self) {
        lock(&self.inner.flights).remove(&self.key);
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if self.tx.is_some() {
            self.withdraw();
        }
    }
}

impl Inner {
    fn lookup(&self, key: &CacheKey, ttl: Duration) -> Option<Entry> {
        let mut entries = lock(&self.entries);
        let entry = entries.get(key)?;
        (Instant::now().saturating_duration_since(entry.created) <= ttl).then(|| entry.clone())
    }

    fn join_or_lead(self: &Arc<Self>, key: &CacheKey) -> Role {
        let mut flights = lock(&self.flights);
        if let Some(rx) = flights.get(key) {
            return Role::Wait(rx.clone());
        }
        Role::Lead(self.lead(&mut flights, key))
    }

    fn try_lead(self: &Arc<Self>, key: &CacheKey) -> Option<Flight> {
        let mut flights = lock(&self.flights);
        if flights.contains_key(key) {
            return None;
        }
        Some(self.lead(&mut flights, key))
    }

    fn lead(
        self: &Arc<Self>,
        flights: &mut HashMap<CacheKey, watch::Receiver<Option<Loaded>>>,
        key: &CacheKey,
    ) -> Flight {
        let (tx, rx) = watch::channel(None);
        flights.insert(*key, rx);
        Flight {
            inner: Arc::clone(self),
            key: *key,
            tx: Some(tx),
        }
    }

    /// Make the store call of `flight`; store and hand out what it returns, or hand out its error.
    async fn load(flight: Flight, load: Load) -> Loaded {
        // The entry's age counts from before the call: the store's answer (KMS's permission
        // check) is no fresher than the moment it was asked.
        let created = Instant::now();
        let inner = Arc::clone(&flight.inner);
        let outcome = match load.await {
            Ok(materials) => {
                let entry = Entry {
                    materials: Arc::new(CachedBranchKey {
                        prf: HmacSha256Key::new(materials.key()),
                        materials,
                    }),
                    created,
                    refresh_claimed: Arc::new(AtomicBool::new(false)),
                };
                // Stored before the flight is withdrawn: a newcomer sees one or the other.
                lock(&inner.entries).put(flight.key, entry.clone());
                Ok(entry)
            }
            Err(e) => {
                bump(&inner.counters.load_failures);
                tracing::debug!(error = %e, "branch key store call failed; not cached");
                Err(Arc::new(e))
            }
        };
        flight.finish(outcome.clone());
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent of this code: Python's hashlib,
    /// `hashlib.sha384(b"\x02\x00\x01\x00" + b"part" + b"\x00" + b"store" + b"\x00" + b"bk").hexdigest()`.
    #[test]
    fn encrypt_cache_id_matches_python() {
        let id = encrypt_key(b"part", "store", "bk");
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "d875beab28fc131687a8f11c8d7fc1692fb53d4ce32038bb11e7ab6a13551dfd\
             0394f57b76f3ec154c6125a52ee0923c"
        );
        assert_ne!(
            decrypt_key(b"part", "store", "bk", "v"),
            decrypt_key(b"part", "store", "bk", "w")
        );
        // The NUL separators keep fields apart.
        assert_ne!(encrypt_key(b"pa", "rtstore", "bk"), id);
    }

    fn materials() -> BranchKeyMaterials {
        BranchKeyMaterials::new(
            "bk",
            "e9ce18a3-edb5-4272-9f86-1cacb7997ff6",
            Default::default(),
            zeroize::Zeroizing::new([1u8; 32]),
        )
    }

    /// A load that counts its calls and takes `delay`.
    fn counting_load(calls: &Arc<AtomicU64>, delay: Duration) -> impl Fn() -> Load {
        let calls = Arc::clone(calls);
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok(materials())
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_leader_hands_over_to_a_waiter() {
        let cache = BranchKeyCache::new(4).unwrap();
        let key = encrypt_key(b"p", "s", "bk");
        let ttl = Duration::from_secs(60);
        let calls = Arc::new(AtomicU64::new(0));
        let load = counting_load(&calls, Duration::from_secs(1));
        // The leader gives up half way through its call; the waiter then makes its own.
        let leader = cache.get(&key, ttl, None, &load);
        let waiter = cache.get(&key, ttl, None, &load);
        let cancelled = tokio::time::timeout(Duration::from_millis(500), leader);
        let (cancelled, waited) = tokio::join!(cancelled, waiter);
        assert!(cancelled.is_err(), "the leader was cancelled");
        assert_eq!(waited.unwrap().materials.branch_key_id(), "bk");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(lock(&cache.inner.flights).is_empty());
        // And the entry it stored serves the next request.
        cache.get(&key, ttl, None, &load).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let stats = cache.stats();
        assert_eq!((stats.misses, stats.coalesced, stats.entries), (2, 1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_is_good_for_each_keyring_by_its_own_ttl() {
        let cache = BranchKeyCache::new(4).unwrap();
        let key = encrypt_key(b"p", "s", "bk");
        let calls = Arc::new(AtomicU64::new(0));
        let load = counting_load(&calls, Duration::ZERO);
        cache
            .get(&key, Duration::from_secs(10), None, &load)
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(30)).await;
        // Still good for a keyring with a TTL of a minute, expired for one with ten seconds.
        cache
            .get(&key, Duration::from_secs(60), None, &load)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        cache
            .get(&key, Duration::from_secs(10), None, &load)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn zero_capacity_is_refused() {
        assert!(BranchKeyCache::new(0).is_err());
        assert_eq!(BranchKeyCache::new(3).unwrap().capacity(), 3);
    }
}
