//! The hierarchical keyring itself: picks the branch key, gets it through the cache, wraps and
//! unwraps.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::cache::{
    decrypt_key, encrypt_key, BranchKeyCache, CachedBranchKey, DEFAULT_BRANCH_KEY_CACHE_CAPACITY,
};
use super::store::{BranchKeyStore, KeyStoreError};
use super::wrap::{self, OpenError, PROVIDER_ID};
use crate::error::{BoxError, Error, KeyringError, UnwrapError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::keyring::{Keyring, Skip};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// Chooses the branch key of each message from its encryption context: one branch key per
/// tenant, for example. Async, so that it may look the tenant up.
///
/// On encrypt it sees the materials' whole context (with `aws-crypto-public-key` on signing
/// suites); on decrypt, the message's context plus any reproduced one.
#[async_trait]
pub trait BranchKeyIdSupplier: Send + Sync + fmt::Debug {
    /// The branch key ID for a message with this encryption context.
    async fn branch_key_id(
        &self,
        encryption_context: &EncryptionContext,
    ) -> Result<String, BoxError>;
}

#[async_trait]
impl<S: BranchKeyIdSupplier + ?Sized> BranchKeyIdSupplier for Arc<S> {
    async fn branch_key_id(
        &self,
        encryption_context: &EncryptionContext,
    ) -> Result<String, BoxError> {
        (**self).branch_key_id(encryption_context).await
    }
}

#[derive(Clone, Debug)]
enum BranchKeyId {
    Fixed(String),
    Supplier(Arc<dyn BranchKeyIdSupplier>),
}

/// The AWS KMS Hierarchical keyring: wraps each message's data key locally, with AES-256-GCM under
/// a key derived from a branch key, which it reads from a [`BranchKeyStore`] once per TTL and
/// keeps in a [`BranchKeyCache`]. Byte-compatible with the hierarchical keyring of the AWS
/// Encryption SDKs that use the Material Providers Library (Java, .NET, Python, Go, Rust).
///
/// Build it with [`HierarchicalKeyring::builder`]; the module documentation of
/// [`BranchKeyCache`] and the guide `docs/hierarchical.md` say what is cached and for how long.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use sealbox::{BranchKeyMaterials, Client, DefaultCmm, EncryptionContext, HierarchicalKeyring,
///     StaticBranchKeyStore};
/// use zeroize::Zeroizing;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let store = StaticBranchKeyStore::new("my-key-store");
/// store.insert(BranchKeyMaterials::new(
///     "tenant-a",
///     "e9ce18a3-edb5-4272-9f86-1cacb7997ff6",
///     BTreeMap::new(),
///     Zeroizing::new([7u8; 32]),
/// ))?;
/// let keyring = HierarchicalKeyring::builder(Arc::new(store))
///     .branch_key_id("tenant-a")
///     .ttl(Duration::from_secs(600))
///     .build()?;
/// let cmm = DefaultCmm::new(keyring);
/// let client = Client::new();
/// let message = client.encrypt(&cmm, b"hello", &EncryptionContext::new()).await?;
/// assert_eq!(client.decrypt(&cmm, &message).await?.plaintext, b"hello");
/// # Ok::<(), sealbox::Error>(())
/// # })?;
/// # Ok::<(), sealbox::Error>(())
/// ```
#[derive(Clone)]
pub struct HierarchicalKeyring {
    store: Arc<dyn BranchKeyStore>,
    branch_key_id: BranchKeyId,
    ttl: Duration,
    refresh_after: Option<Duration>,
    cache: BranchKeyCache,
    partition: Vec<u8>,
}

impl fmt::Debug for HierarchicalKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HierarchicalKeyring")
            .field("store", &self.store)
            .field("branch_key_id", &self.branch_key_id)
            .field("ttl", &self.ttl)
            .field("refresh_after", &self.refresh_after)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Builds a [`HierarchicalKeyring`]. A branch key ID or a supplier, and the TTL, are required.
pub struct HierarchicalKeyringBuilder {
    store: Arc<dyn BranchKeyStore>,
    branch_key_id: Option<String>,
    supplier: Option<Arc<dyn BranchKeyIdSupplier>>,
    ttl: Option<Duration>,
    capacity: Option<usize>,
    cache: Option<BranchKeyCache>,
    partition_id: Option<String>,
    refresh_ahead: Option<Duration>,
}

impl fmt::Debug for HierarchicalKeyringBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HierarchicalKeyringBuilder")
            .field("store", &self.store)
            .field("branch_key_id", &self.branch_key_id)
            .field("supplier", &self.supplier)
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("partition_id", &self.partition_id)
            .field("refresh_ahead", &self.refresh_ahead)
            .finish_non_exhaustive()
    }
}

impl HierarchicalKeyringBuilder {
    /// Use this branch key for every message.
    pub fn branch_key_id(mut self, branch_key_id: impl Into<String>) -> Self {
        self.branch_key_id = Some(branch_key_id.into());
        self
    }

    /// Choose each message's branch key with `supplier` (instead of one fixed ID).
    pub fn branch_key_id_supplier(mut self, supplier: Arc<dyn BranchKeyIdSupplier>) -> Self {
        self.supplier = Some(supplier);
        self
    }

    /// How long a branch key read from the store may be used before it is read (and so
    /// authenticated by KMS) again. Required, more than zero. It bounds how long a revoked KMS
    /// permission, or a rotation made by another process, goes unnoticed.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The capacity of the keyring's own cache (default
    /// [`DEFAULT_BRANCH_KEY_CACHE_CAPACITY`]). Not with [`cache`](Self::cache).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Use `cache`, which other keyrings may share, instead of a cache of the keyring's own.
    pub fn cache(mut self, cache: BranchKeyCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The partition ID: keyrings that share a cache share entries only if their partition IDs
    /// are equal (default: a fresh random UUID for each keyring, so that nothing is shared).
    pub fn partition_id(mut self, partition_id: impl Into<String>) -> Self {
        self.partition_id = Some(partition_id.into());
        self
    }

    /// Refresh branch keys ahead of the TTL: the first request that uses an entry within `grace`
    /// of the TTL reads the branch key again in the background while every request keeps using
    /// the entry. More than zero and shorter than the TTL.
    pub fn refresh_ahead(mut self, grace: Duration) -> Self {
        self.refresh_ahead = Some(grace);
        self
    }

    /// Check the configuration and build the keyring.
    pub fn build(self) -> Result<HierarchicalKeyring, Error> {
        let branch_key_id = match (self.branch_key_id, self.supplier) {
            (Some(id), None) if !id.is_empty() => BranchKeyId::Fixed(id),
            (Some(_), None) => {
                return Err(Error::Config("the branch key ID must not be empty".into()))
            }
            (None, Some(s)) => BranchKeyId::Supplier(s),
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "give a hierarchical keyring a branch key ID or a supplier, not both".into(),
                ))
            }
            (None, None) => {
                return Err(Error::Config(
                    "a hierarchical keyring needs a branch key ID or a branch key ID supplier"
                        .into(),
                ))
            }
        };
        let ttl = self
            .ttl
            .ok_or_else(|| Error::Config("a hierarchical keyring needs a TTL".into()))?;
        if ttl.is_zero() {
            return Err(Error::Config("the TTL must be more than zero".into()));
        }
        let refresh_after = match self.refresh_ahead {
            None => None,
            Some(grace) if grace.is_zero() || grace >= ttl => {
                return Err(Error::Config(format!(
                    "the refresh-ahead grace period ({grace:?}) must be more than zero and \
                     shorter than the TTL ({ttl:?})"
                )))
            }
            Some(grace) => Some(ttl - grace),
        };
        let cache =
            match (self.cache, self.capacity) {
                (Some(_), Some(_)) => return Err(Error::Config(
                    "a cache capacity applies to the keyring's own cache: not with a shared cache"
                        .into(),
                )),
                (Some(cache), None) => cache,
                (None, capacity) => {
                    BranchKeyCache::new(capacity.unwrap_or(DEFAULT_BRANCH_KEY_CACHE_CAPACITY))?
                }
            };
        let partition = match self.partition_id {
            Some(p) => p.into_bytes(),
            None => wrap::random_uuid().to_vec(),
        };
        Ok(HierarchicalKeyring {
            store: self.store,
            branch_key_id,
            ttl,
            refresh_after,
            cache,
            partition,
        })
    }
}

/// A store error shared by every request that waited on the same store call: the source of the
/// [`KeyringError`] or [`UnwrapAttempt`](crate::UnwrapAttempt) is an `Arc<KeyStoreError>`.
fn store_error(e: Arc<KeyStoreError>) -> BoxError {
    Box::new(e)
}

impl HierarchicalKeyring {
    /// A builder for a keyring that reads branch keys from `store`.
    pub fn builder(store: Arc<dyn BranchKeyStore>) -> HierarchicalKeyringBuilder {
        HierarchicalKeyringBuilder {
            store,
            branch_key_id: None,
            supplier: None,
            ttl: None,
            capacity: None,
            cache: None,
            partition_id: None,
            refresh_ahead: None,
        }
    }

    /// The branch-key cache (possibly shared with other keyrings).
    pub fn cache(&self) -> &BranchKeyCache {
        &self.cache
    }

    /// The TTL of cached branch keys, for this keyring.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    async fn branch_key_id(
        &self,
        encryption_context: &EncryptionContext,
    ) -> Result<Cow<'_, str>, String> {
        match &self.branch_key_id {
            BranchKeyId::Fixed(id) => Ok(Cow::Borrowed(id)),
            BranchKeyId::Supplier(s) => match s.branch_key_id(encryption_context).await {
                Ok(id) if id.is_empty() => {
                    Err("the branch key ID supplier returned an empty ID".into())
                }
                Ok(id) => Ok(Cow::Owned(id)),
                Err(e) => Err(format!("the branch key ID supplier failed: {e}")),
            },
        }
    }

    /// The active branch key of `branch_key_id`, from the cache or the store.
    async fn active(
        &self,
        branch_key_id: &str,
    ) -> Result<Arc<CachedBranchKey>, Arc<KeyStoreError>> {
        let key = encrypt_key(
            &self.partition,
            self.store.logical_key_store_name(),
            branch_key_id,
        );
        let load = || {
            let store = Arc::clone(&self.store);
            let id = branch_key_id.to_owned();
            Box::pin(async move { store.get_active_branch_key(&id).await }) as _
        };
        self.cache
            .get(&key, self.ttl, self.refresh_after, load)
            .await
    }

    /// Version `version` of `branch_key_id`, from the cache or the store.
    async fn version(
        &self,
        branch_key_id: &str,
        version: &str,
    ) -> Result<Arc<CachedBranchKey>, Arc<KeyStoreError>> {
        let key = decrypt_key(
            &self.partition,
            self.store.logical_key_store_name(),
            branch_key_id,
            version,
        );
        let load = || {
            let store = Arc::clone(&self.store);
            let id = branch_key_id.to_owned();
            let version = version.to_owned();
            Box::pin(async move { store.get_branch_key_version(&id, &version).await }) as _
        };
        self.cache
            .get(&key, self.ttl, self.refresh_after, load)
            .await
    }
}

fn label(branch_key_id: &str) -> String {
    format!("{PROVIDER_ID} {branch_key_id}")
}

#[async_trait]
impl Keyring for HierarchicalKeyring {
    async fn wrap_data_key(
        &self,
        _suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        let branch_key_id = self
            .branch_key_id(encryption_context)
            .await
            .map_err(|m| KeyringError::new(PROVIDER_ID, m))?;
        let branch_key_id: &str = &branch_key_id;
        // Errors only: the label is not made for every message.
        let fail = |message: String| KeyringError::new(label(branch_key_id), message);
        let cached = self.active(branch_key_id).await.map_err(|e| {
            fail("cannot get the active branch key".into()).with_source(store_error(e))
        })?;
        let materials = &cached.materials;
        if materials.branch_key_id() != branch_key_id {
            return Err(fail(format!(
                "the key store returned branch key {:?} for {branch_key_id:?}",
                materials.branch_key_id()
            )));
        }
        let version = wrap::uuid_bytes(materials.version()).ok_or_else(|| {
            fail(format!(
                "the key store returned version {:?}, which is not a UUID",
                materials.version()
            ))
        })?;
        let edk = wrap::wrap(
            branch_key_id,
            &version,
            &cached.prf,
            encryption_context,
            data_key,
        )
        .map_err(|e| fail(e.to_string()))?;
        Ok(vec![edk])
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        let mut errors = UnwrapError::default();
        let branch_key_id = match self.branch_key_id(encryption_context).await {
            Ok(id) => id,
            Err(m) => {
                errors.push(0, PROVIDER_ID, m);
                return Err(errors);
            }
        };
        let branch_key_id: &str = &branch_key_id;
        let mut push = |i: usize, error: BoxError| errors.push(i, &label(branch_key_id), error);
        for (i, edk) in edks.iter().enumerate() {
            if edk.provider_id != PROVIDER_ID {
                push(
                    i,
                    Box::new(Skip::Provider {
                        found: edk.provider_id.clone(),
                        expected: PROVIDER_ID.to_owned(),
                    }),
                );
                continue;
            }
            if edk.provider_info != branch_key_id.as_bytes() {
                push(
                    i,
                    Box::new(Skip::Other(format!(
                        "provider info {:?} is not the branch key ID {branch_key_id:?}",
                        String::from_utf8_lossy(&edk.provider_info)
                    ))),
                );
                continue;
            }
            let parsed = match wrap::parse(&edk.ciphertext, suite.data_key_len()) {
                Ok(p) => p,
                Err(m) => {
                    push(i, m.into());
                    continue;
                }
            };
            let version = wrap::uuid_string(&parsed.version);
            let cached = match self.version(branch_key_id, &version).await {
                Ok(m) => m,
                Err(e) => {
                    push(i, store_error(e));
                    continue;
                }
            };
            let materials = &cached.materials;
            if materials.branch_key_id() != branch_key_id
                || wrap::uuid_bytes(materials.version()) != Some(parsed.version)
            {
                push(
                    i,
                    format!(
                        "the key store returned branch key {:?} version {:?} for {branch_key_id:?} \
                         version {version}",
                        materials.branch_key_id(),
                        materials.version()
                    )
                    .into(),
                );
                continue;
            }
            match wrap::unwrap(&parsed, branch_key_id, &cached.prf, encryption_context) {
                Ok(key) => return Ok(key),
                Err(OpenError::Setup(e)) => push(i, e.to_string().into()),
                Err(OpenError::Auth) => push(
                    i,
                    format!(
                        "authentication failed under branch key version {version}: wrong \
                         encryption context, or the EDK was tampered with"
                    )
                    .into(),
                ),
            }
        }
        Err(errors)
    }
}
