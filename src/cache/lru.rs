//! The default materials cache: in memory, least recently used, bounded by an entry count.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ::lru::LruCache;
use tokio::time::Instant;

use super::{CacheHit, CacheId, CacheStats, EntryLimits, MaterialsCache, Usage};
use crate::error::Error;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};

/// An in-memory LRU cache of materials, safe to share across threads and tasks
/// (`Arc<LruMaterialsCache>`).
///
/// - It holds at most `capacity` entries; storing one more evicts the least recently used.
/// - Every operation first drops all entries past their maximum age, so expired data keys do not
///   linger in memory until they happen to be looked up. [`prune_expired`](Self::prune_expired)
///   does the same on demand, for caches that go quiet.
/// - Evicted entries are dropped at once, and dropping materials zeroizes their data and signing
///   keys. Nothing is ever written to disk.
/// - One mutex guards the map: lookups are short and never await, so contention stays low, and
///   it is what makes each usage charge atomic with its lookup.
///
/// ```
/// use std::sync::Arc;
/// use sealbox::{LruMaterialsCache, MaterialsCache};
///
/// let cache = Arc::new(LruMaterialsCache::new(1000)?);
/// assert_eq!(cache.stats().entries, 0);
/// # Ok::<(), sealbox::Error>(())
/// ```
pub struct LruMaterialsCache {
    inner: Mutex<Inner>,
}

struct Inner {
    entries: LruCache<CacheId, Entry>,
    /// Entries by expiry time, so that pruning finds every expired entry without a scan. The
    /// sequence number keeps keys unique when two entries expire at the same instant.
    expiries: BTreeMap<(Instant, u64), CacheId>,
    next_seq: u64,
    stats: CacheStats,
}

struct Entry {
    materials: Materials,
    obtained_at: Instant,
    expires_at: Instant,
    seq: u64,
    refresh_claimed: bool,
}

enum Materials {
    Encrypt {
        materials: EncryptionMaterials,
        usage: Usage,
    },
    Decrypt(DecryptionMaterials),
}

#[derive(Clone, Copy, Debug)]
enum Reason {
    Age,
    Messages,
    Bytes,
    Capacity,
}

impl LruMaterialsCache {
    /// A cache that holds at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Result<Self, Error> {
        let capacity = NonZeroUsize::new(capacity)
            .ok_or_else(|| Error::invalid("materials cache capacity", "must be at least 1"))?;
        Ok(LruMaterialsCache {
            inner: Mutex::new(Inner {
                entries: LruCache::new(capacity),
                expiries: BTreeMap::new(),
                next_seq: 0,
                stats: CacheStats::default(),
            }),
        })
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.lock().entries.cap().get()
    }

    /// The number of entries held now (expired ones included until the next operation).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cache's counters (the same as [`MaterialsCache::stats`], without the trait in scope).
    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    /// Drop every entry past its maximum age now, rather than at the next operation.
    pub fn prune_expired(&self) {
        self.lock().prune(Instant::now());
    }

    /// Drop every entry, for example after revoking a master key's permissions. Entries
    /// removed this way are not counted as evictions.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.expiries.clear();
        inner.stats.entries = 0;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held cannot leave an entry over its limits: charges are
        // written only after every check passed. So the state is still sound.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for LruMaterialsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        // Counters only: entries hold data keys.
        f.debug_struct("LruMaterialsCache")
            .field("capacity", &inner.entries.cap())
            .field("stats", &inner.stats)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn prune(&mut self, now: Instant) {
        while let Some((&(expires_at, _), &id)) = self.expiries.first_key_value() {
            // Age equal to the maximum is still allowed.
            if expires_at >= now {
                break;
            }
            self.evict(&id, Reason::Age);
        }
    }

    fn evict(&mut self, id: &CacheId, reason: Reason) {
        if let Some(entry) = self.entries.pop(id) {
            self.expiries.remove(&(entry.expires_at, entry.seq));
            let e = &mut self.stats.evictions;
            match reason {
                Reason::Age => e.age += 1,
                Reason::Messages => e.messages += 1,
                Reason::Bytes => e.bytes += 1,
                Reason::Capacity => e.capacity += 1,
            }
            self.stats.entries = self.entries.len();
            tracing::debug!(cache_id = %id, ?reason, "materials cache entry evicted");
            // `entry` drops here, zeroizing its keys.
        }
    }

    fn put(
        &mut self,
        id: CacheId,
        materials: Materials,
        limits: &EntryLimits,
        obtained_at: Instant,
    ) {
        let now = Instant::now();
        self.prune(now);
        let Some(expires_at) = obtained_at.checked_add(limits.max_age) else {
            // A maximum age past the end of time: the builder refuses such ages, so this cache
            // simply does not store what it could not expire.
            return;
        };
        if expires_at < now {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(old) = self.entries.pop(&id) {
            self.expiries.remove(&(old.expires_at, old.seq));
        }
        if self.entries.len() == self.entries.cap().get() {
            if let Some((&lru_id, _)) = self.entries.peek_lru() {
                self.evict(&lru_id, Reason::Capacity);
            }
        }
        self.entries.put(
            id,
            Entry {
                materials,
                obtained_at,
                expires_at,
                seq,
                refresh_claimed: false,
            },
        );
        self.expiries.insert((expires_at, seq), id);
        self.stats.puts += 1;
        self.stats.entries = self.entries.len();
        tracing::debug!(cache_id = %id, "materials cache entry stored");
    }

    /// The common part of both lookups: the entry if it is of the right kind and young enough,
    /// and whether this caller should refresh it.
    fn live_entry(
        &mut self,
        id: &CacheId,
        limits: &EntryLimits,
        now: Instant,
        encrypt: bool,
    ) -> Option<bool> {
        self.prune(now);
        let entry = self.entries.get_mut(id)?;
        if encrypt != matches!(entry.materials, Materials::Encrypt { .. }) {
            return None;
        }
        let age = now.saturating_duration_since(entry.obtained_at);
        if age > limits.max_age {
            // Younger than its own expiry but older than this caller's maximum age: a cache
            // shared by managers with different limits honours the strictest.
            self.evict(id, Reason::Age);
            return None;
        }
        Some(match limits.refresh_after() {
            Some(after) if age >= after && !entry.refresh_claimed => {
                entry.refresh_claimed = true;
                true
            }
            _ => false,
        })
    }

    fn miss<M>(&mut self) -> Option<CacheHit<M>> {
        self.stats.misses += 1;
        None
    }
}

impl MaterialsCache for LruMaterialsCache {
    fn get_encryption(
        &self,
        id: &CacheId,
        charge: Usage,
        limits: &EntryLimits,
        now: Instant,
    ) -> Option<CacheHit<EncryptionMaterials>> {
        let mut inner = self.lock();
        let Some(refresh) = inner.live_entry(id, limits, now, true) else {
            return inner.miss();
        };
        let Some(Entry {
            materials: Materials::Encrypt { materials, usage },
            ..
        }) = inner.entries.peek_mut(id)
        else {
            return inner.miss();
        };
        let messages = usage.messages.checked_add(charge.messages);
        let bytes = usage.bytes.checked_add(charge.bytes);
        let over = match (messages, bytes) {
            (Some(m), _) if m > limits.max_messages => Some(Reason::Messages),
            (None, _) => Some(Reason::Messages),
            (_, Some(b)) if b > limits.max_bytes => Some(Reason::Bytes),
            (_, None) => Some(Reason::Bytes),
            _ => None,
        };
        if let Some(reason) = over {
            // Evict rather than keep it for smaller requests: the miss that follows replaces it
            // anyway, and its key leaves memory sooner.
            inner.evict(id, reason);
            return inner.miss();
        }
        usage.messages += charge.messages;
        usage.bytes += charge.bytes;
        let exhausted = usage.messages >= limits.max_messages;
        let materials = materials.clone();
        if exhausted {
            // No request can use it again (each costs a message): drop its key now.
            inner.evict(id, Reason::Messages);
        }
        inner.stats.hits += 1;
        Some(CacheHit { materials, refresh })
    }

    fn put_encryption(
        &self,
        id: CacheId,
        materials: EncryptionMaterials,
        usage: Usage,
        limits: &EntryLimits,
        obtained_at: Instant,
    ) {
        // Defence in depth: a suite without key derivation must never encrypt twice with one key.
        if !materials.suite.is_cacheable()
            || usage.messages >= limits.max_messages
            || usage.bytes > limits.max_bytes
        {
            return;
        }
        self.lock().put(
            id,
            Materials::Encrypt { materials, usage },
            limits,
            obtained_at,
        );
    }

    fn get_decryption(
        &self,
        id: &CacheId,
        limits: &EntryLimits,
        now: Instant,
    ) -> Option<CacheHit<DecryptionMaterials>> {
        let mut inner = self.lock();
        let Some(refresh) = inner.live_entry(id, limits, now, false) else {
            return inner.miss();
        };
        let Some(Entry {
            materials: Materials::Decrypt(materials),
            ..
        }) = inner.entries.peek(id)
        else {
            return inner.miss();
        };
        let materials = materials.clone();
        inner.stats.hits += 1;
        Some(CacheHit { materials, refresh })
    }

    fn put_decryption(
        &self,
        id: CacheId,
        materials: DecryptionMaterials,
        limits: &EntryLimits,
        obtained_at: Instant,
    ) {
        if !materials.suite.is_cacheable() {
            return;
        }
        self.lock()
            .put(id, Materials::Decrypt(materials), limits, obtained_at);
    }

    fn stats(&self) -> CacheStats {
        LruMaterialsCache::stats(self)
    }
}
