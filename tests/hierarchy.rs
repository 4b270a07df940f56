//! The AWS KMS Hierarchical keyring: the known-answer message from the Python SDK, round trips,
//! hostile EDKs, suppliers, single flight, failures and the TTL, shared caches, composition.

use std::collections::BTreeMap;
use std::sync::Arc;

use sealbox::{
    BranchKeyMaterials, Client, DefaultCmm, EncryptionContext, HierarchicalKeyring,
    StaticBranchKeyStore,
};
use zeroize::Zeroizing;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The known-answer message's branch key: `(key, id, version)`.
fn kat_branch_key() -> BranchKeyMaterials {
    let line = std::fs::read_to_string("tests/vectors/hierarchy-kat/branch_key.txt").unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.len(), 3, "branch_key.txt: key id version");
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&hex(parts[0]));
    BranchKeyMaterials::new(parts[1], parts[2], BTreeMap::new(), key)
}

#[tokio::test]
async fn python_known_answer_message_decrypts() {
    let materials = kat_branch_key();
    let id = materials.branch_key_id().to_owned();
    let store = StaticBranchKeyStore::new("KeyStoreDdbTable");
    store.insert(materials).unwrap();
    let keyring = HierarchicalKeyring::builder(Arc::new(store))
        .branch_key_id(id)
        .ttl(std::time::Duration::from_secs(600))
        .build()
        .unwrap();
    let message = std::fs::read("tests/vectors/hierarchy-kat/message.bin").unwrap();
    let decrypted = Client::new()
        .decrypt(&DefaultCmm::new(keyring), &message)
        .await
        .unwrap();
    assert_eq!(decrypted.plaintext, b"hello hierarchical");
    assert_eq!(decrypted.header.suite.id(), 0x0578);
    let mut expected = EncryptionContext::new();
    expected.insert("tenant".into(), "acme".into());
    expected.insert("purpose".into(), "moto test".into());
    for (k, v) in &expected {
        assert_eq!(decrypted.encryption_context.get(k), Some(v));
    }
    // The signing suite's public key is the only other entry: it is part of the AAD.
    assert_eq!(decrypted.encryption_context.len(), 3);
    assert!(decrypted
        .encryption_context
        .contains_key("aws-crypto-public-key"));
}

// ---------------------------------------------------------------------------------------------
// Fixtures

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sealbox::format::{parse_header, HeaderLimits};
use sealbox::{
    AlgorithmSuite, BoxError, BranchKeyCache, BranchKeyIdSupplier, BranchKeyStore, CachingCmm,
    CommitmentPolicy, DataKey, EncryptedDataKey, Error, KeyStoreError, Keyring, MultiKeyring,
    RawAesKeyring, RequiredEncryptionContextCmm, UnwrapError,
};

const V1: &str = "e9ce18a3-edb5-4272-9f86-1cacb7997ff6";
const V2: &str = "0dc8570a-1b2c-4d3e-8f90-a1b2c3d4e5f6";
const TTL: Duration = Duration::from_secs(600);

fn branch_key(id: &str, version: &str, byte: u8) -> BranchKeyMaterials {
    BranchKeyMaterials::new(id, version, BTreeMap::new(), Zeroizing::new([byte; 32]))
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A store that counts its calls, can be slowed down and can be made to refuse (as KMS does
/// without permission).
#[derive(Debug)]
struct CountingStore {
    inner: StaticBranchKeyStore,
    active_calls: AtomicUsize,
    version_calls: AtomicUsize,
    delay: Duration,
    deny: AtomicBool,
}

impl CountingStore {
    fn new(name: &str, delay: Duration) -> Arc<Self> {
        let inner = StaticBranchKeyStore::new(name);
        inner.insert(branch_key("bk-a", V1, 1)).unwrap();
        inner.insert(branch_key("bk-b", V1, 2)).unwrap();
        Arc::new(CountingStore {
            inner,
            active_calls: AtomicUsize::new(0),
            version_calls: AtomicUsize::new(0),
            delay,
            deny: AtomicBool::new(false),
        })
    }

    fn calls(&self) -> (usize, usize) {
        (
            self.active_calls.load(Ordering::SeqCst),
            self.version_calls.load(Ordering::SeqCst),
        )
    }

    async fn pause_or_refuse(&self, id: &str) -> Result<(), KeyStoreError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.deny.load(Ordering::SeqCst) {
            return Err(KeyStoreError::Service {
                branch_key_id: id.to_owned(),
                operation: "KMS Decrypt",
                source: "AccessDeniedException: not authorized to perform kms:Decrypt".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl BranchKeyStore for CountingStore {
    fn logical_key_store_name(&self) -> &str {
        self.inner.logical_key_store_name()
    }

    async fn get_active_branch_key(&self, id: &str) -> Result<BranchKeyMaterials, KeyStoreError> {
        self.active_calls.fetch_add(1, Ordering::SeqCst);
        self.pause_or_refuse(id).await?;
        self.inner.get_active_branch_key(id).await
    }

    async fn get_branch_key_version(
        &self,
        id: &str,
        version: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        self.version_calls.fetch_add(1, Ordering::SeqCst);
        self.pause_or_refuse(id).await?;
        self.inner.get_branch_key_version(id, version).await
    }

    async fn get_beacon_key(&self, id: &str) -> Result<BranchKeyMaterials, KeyStoreError> {
        self.inner.get_beacon_key(id).await
    }
}

fn keyring(store: Arc<dyn BranchKeyStore>, id: &str) -> HierarchicalKeyring {
    HierarchicalKeyring::builder(store)
        .branch_key_id(id)
        .ttl(TTL)
        .build()
        .unwrap()
}

fn client_for(suite: AlgorithmSuite) -> Client {
    let policy = if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    };
    Client::builder()
        .commitment_policy(policy)
        .algorithm_suite(suite)
        .build()
        .unwrap()
}

/// The attempt errors of an unwrap failure, as text.
fn reasons(e: &UnwrapError) -> Vec<String> {
    e.attempts.iter().map(|a| a.error.to_string()).collect()
}

/// The key store error behind a keyring's error, if any.
fn store_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a KeyStoreError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(k) = err.downcast_ref::<Arc<KeyStoreError>>() {
            return Some(k.as_ref());
        }
        if let Some(k) = err.downcast_ref::<KeyStoreError>() {
            return Some(k);
        }
        cur = err.source();
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[tokio::test]
async fn every_suite_round_trips_with_the_expected_edk() {
    let store = CountingStore::new("store", Duration::ZERO);
    let cmm = DefaultCmm::new(keyring(store.clone(), "bk-a"));
    let ec = ctx(&[("tenant", "a"), ("ключ", "значение")]);
    for suite in AlgorithmSuite::ALL {
        let client = client_for(suite);
        let pt: Vec<u8> = (0..5000).map(|i| (i * 7) as u8).collect();
        let msg = client.encrypt(&cmm, &pt, &ec).await.unwrap();
        let out = client.decrypt(&cmm, &msg).await.unwrap();
        assert_eq!(out.plaintext, pt, "suite {suite}");
        let edks = &out.header.encrypted_data_keys;
        assert_eq!(edks.len(), 1);
        assert_eq!(edks[0].provider_id, "aws-kms-hierarchy");
        assert_eq!(edks[0].provider_info, b"bk-a");
        assert_eq!(
            edks[0].ciphertext.len(),
            60 + suite.data_key_len(),
            "{suite}"
        );
        assert_eq!(
            &edks[0].ciphertext[28..44],
            &[
                0xe9, 0xce, 0x18, 0xa3, 0xed, 0xb5, 0x42, 0x72, 0x9f, 0x86, 0x1c, 0xac, 0xb7, 0x99,
                0x7f, 0xf6
            ]
        );
    }
    // One read of the active key and one of the version, for all eleven suites.
    assert_eq!(store.calls(), (1, 1));
}

#[tokio::test]
async fn an_empty_context_and_a_required_context_authenticate() {
    let store = CountingStore::new("store", Duration::ZERO);
    let kr = Arc::new(keyring(store.clone(), "bk-a"));
    let client = Client::new();
    // Empty context: the AAD ends with the version (an empty context adds zero bytes).
    let cmm = DefaultCmm::from_arc(kr.clone());
    let msg = client
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(client.decrypt(&cmm, &msg).await.unwrap().plaintext, b"x");

    // Required context: "tenant" is not stored, but the keyring's AAD covers it.
    let req = RequiredEncryptionContextCmm::new(
        Arc::new(DefaultCmm::from_arc(kr.clone())),
        vec!["tenant".into()],
    )
    .unwrap();
    let ec = ctx(&[("tenant", "a"), ("stored", "yes")]);
    let msg = client.encrypt(&req, b"secret", &ec).await.unwrap();
    let (header, _) = parse_header(&msg, &HeaderLimits::default()).unwrap();
    assert!(!header.encryption_context.contains_key("tenant"));
    let good = client
        .decrypt_with_context(&req, &msg, &ctx(&[("tenant", "a")]))
        .await
        .unwrap();
    assert_eq!(good.plaintext, b"secret");
    // The EDK alone, unwrapped with the stored context only, does not authenticate.
    let stored_only = header.encryption_context.clone();
    let err = kr
        .unwrap_data_key(header.suite, &stored_only, &header.encrypted_data_keys)
        .await
        .unwrap_err();
    assert!(reasons(&err)[0].contains("authentication failed"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Hostile EDKs

const SUITE: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512Commit;

async fn one_edk() -> (
    HierarchicalKeyring,
    EncryptionContext,
    DataKey,
    EncryptedDataKey,
) {
    let store = CountingStore::new("store", Duration::ZERO);
    let kr = keyring(store, "bk-a");
    let ec = ctx(&[("tenant", "a")]);
    let (dk, mut edks) = kr.generate_data_key(SUITE, &ec).await.unwrap();
    assert_eq!(edks.len(), 1);
    (kr, ec, dk, edks.remove(0))
}

/// Unwrap `edk` and return the one attempt's reason.
async fn refusal(
    kr: &HierarchicalKeyring,
    ec: &EncryptionContext,
    edk: EncryptedDataKey,
) -> String {
    let err = kr.unwrap_data_key(SUITE, ec, &[edk]).await.unwrap_err();
    assert_eq!(err.attempts.len(), 1, "{err}");
    assert_eq!(err.attempts[0].edk_index, 0);
    assert_eq!(err.attempts[0].keyring, "aws-kms-hierarchy bk-a");
    reasons(&err).remove(0)
}

#[tokio::test]
async fn hostile_edks_fail_with_a_precise_reason() {
    let (kr, ec, dk, edk) = one_edk().await;
    assert_eq!(
        kr.unwrap_data_key(SUITE, &ec, std::slice::from_ref(&edk))
            .await
            .unwrap(),
        dk
    );

    let mut short = edk.clone();
    short.ciphertext.pop();
    assert!(refusal(&kr, &ec, short)
        .await
        .starts_with("EDK ciphertext is 91 bytes, expected 92"));
    let mut long = edk.clone();
    long.ciphertext.push(0);
    assert!(refusal(&kr, &ec, long)
        .await
        .starts_with("EDK ciphertext is 93 bytes, expected 92"));
    let mut empty = edk.clone();
    empty.ciphertext.clear();
    assert!(refusal(&kr, &ec, empty)
        .await
        .starts_with("EDK ciphertext is 0 bytes"));
    // A 128-bit suite's data key is 16 bytes: this 92-byte EDK is the wrong length for it.
    let err = kr
        .unwrap_data_key(
            AlgorithmSuite::Aes128GcmHkdfSha256,
            &ec,
            std::slice::from_ref(&edk),
        )
        .await
        .unwrap_err();
    assert!(
        reasons(&err)[0].starts_with("EDK ciphertext is 92 bytes, expected 76"),
        "{err}"
    );

    let mut other_id = edk.clone();
    other_id.provider_info = b"bk-b".to_vec();
    assert_eq!(
        refusal(&kr, &ec, other_id).await,
        r#"provider info "bk-b" is not the branch key ID "bk-a""#
    );
    let mut not_utf8 = edk.clone();
    not_utf8.provider_info = vec![0xff, 0xfe];
    assert!(refusal(&kr, &ec, not_utf8)
        .await
        .contains("is not the branch key ID"));
    let mut other_provider = edk.clone();
    other_provider.provider_id = "aws-kms".into();
    assert_eq!(
        refusal(&kr, &ec, other_provider).await,
        r#"provider ID "aws-kms" is not "aws-kms-hierarchy""#
    );

    // A version the store does not have: the store's NotFound, naming the version.
    let mut unknown = edk.clone();
    unknown.ciphertext[28..44].copy_from_slice(&[0x11; 16]);
    let err = kr
        .unwrap_data_key(SUITE, &ec, &[unknown])
        .await
        .unwrap_err();
    let source = store_error(err.attempts[0].error.as_ref()).expect("a key store error");
    match source {
        KeyStoreError::NotFound {
            branch_key_id,
            version,
        } => {
            assert_eq!(branch_key_id, "bk-a");
            assert_eq!(
                version.as_deref(),
                Some("11111111-1111-1111-1111-111111111111")
            );
        }
        other => panic!("expected NotFound, got {other:?}"),
    }

    // Every byte of salt, IV, wrapped key and tag is authenticated.
    for (what, at) in [
        ("salt", 0),
        ("salt", 15),
        ("iv", 16),
        ("iv", 27),
        ("key", 44),
        ("key", 75),
        ("tag", 76),
        ("tag", 91),
    ] {
        let mut tampered = edk.clone();
        tampered.ciphertext[at] ^= 0x01;
        let reason = refusal(&kr, &ec, tampered).await;
        assert!(
            reason.starts_with(&format!(
                "authentication failed under branch key version {V1}"
            )),
            "{what} byte {at}: {reason}"
        );
    }
    // Another context does not authenticate either.
    assert!(refusal(&kr, &ctx(&[("tenant", "b")]), edk.clone())
        .await
        .starts_with("authentication failed"));

    // A bad EDK before a good one: the good one is used; nothing at all is a clean error.
    let mut bad = edk.clone();
    bad.ciphertext[50] ^= 0x80;
    assert_eq!(
        kr.unwrap_data_key(SUITE, &ec, &[bad, edk]).await.unwrap(),
        dk
    );
    let none = kr.unwrap_data_key(SUITE, &ec, &[]).await.unwrap_err();
    assert!(none.attempts.is_empty());
}

/// A store that answers with a version string of its choosing: not a UUID, or not the one asked.
#[derive(Debug)]
struct LyingStore(&'static str);

#[async_trait]
impl BranchKeyStore for LyingStore {
    fn logical_key_store_name(&self) -> &str {
        "liar"
    }
    async fn get_active_branch_key(&self, id: &str) -> Result<BranchKeyMaterials, KeyStoreError> {
        Ok(branch_key(id, self.0, 3))
    }
    async fn get_branch_key_version(
        &self,
        id: &str,
        _version: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        Ok(branch_key(id, self.0, 3))
    }
    async fn get_beacon_key(&self, id: &str) -> Result<BranchKeyMaterials, KeyStoreError> {
        Ok(branch_key(id, "", 4))
    }
}

#[tokio::test]
async fn a_store_version_that_is_not_a_uuid_or_not_the_one_asked_is_refused() {
    let kr = keyring(Arc::new(LyingStore("version-1")), "bk");
    let err = kr
        .generate_data_key(SUITE, &EncryptionContext::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"the key store returned version "version-1", which is not a UUID"#),
        "{err}"
    );
    let (_, _, _, edk) = one_edk().await;
    let mut edk = edk;
    edk.provider_info = b"bk".to_vec();
    let kr = keyring(Arc::new(LyingStore(V2)), "bk");
    let err = kr
        .unwrap_data_key(SUITE, &ctx(&[("tenant", "a")]), &[edk])
        .await
        .unwrap_err();
    assert!(
        reasons(&err)[0].contains(&format!("version \"{V2}\" for \"bk\" version {V1}")),
        "{err}"
    );
}

#[test]
fn builder_refuses_bad_configurations() {
    let store: Arc<dyn BranchKeyStore> = CountingStore::new("s", Duration::ZERO);
    let b = || HierarchicalKeyring::builder(store.clone());
    let config_err = |r: Result<HierarchicalKeyring, Error>| match r {
        Err(Error::Config(m)) => m,
        other => panic!("expected a configuration error, got {other:?}"),
    };
    assert!(config_err(b().ttl(TTL).build()).contains("branch key ID"));
    assert!(config_err(b().branch_key_id("x").build()).contains("TTL"));
    assert!(config_err(b().branch_key_id("x").ttl(Duration::ZERO).build()).contains("TTL"));
    assert!(config_err(b().branch_key_id("").ttl(TTL).build()).contains("empty"));
    assert!(config_err(
        b().branch_key_id("x")
            .branch_key_id_supplier(Arc::new(Tenants))
            .ttl(TTL)
            .build()
    )
    .contains("not both"));
    assert!(
        config_err(b().branch_key_id("x").ttl(TTL).cache_capacity(0).build()).contains("capacity")
    );
    assert!(config_err(
        b().branch_key_id("x")
            .ttl(TTL)
            .cache_capacity(5)
            .cache(BranchKeyCache::new(5).unwrap())
            .build()
    )
    .contains("shared cache"));
    assert!(
        config_err(b().branch_key_id("x").ttl(TTL).refresh_ahead(TTL).build()).contains("grace")
    );
    assert!(config_err(
        b().branch_key_id("x")
            .ttl(TTL)
            .refresh_ahead(Duration::ZERO)
            .build()
    )
    .contains("grace"));
    let store = StaticBranchKeyStore::new("s");
    assert!(store.insert(branch_key("x", "not-a-uuid", 1)).is_err());
}

#[test]
fn debug_never_prints_a_branch_key() {
    let m = BranchKeyMaterials::new("id", V1, BTreeMap::new(), Zeroizing::new([0xAB; 32]));
    let kr = keyring(CountingStore::new("s", Duration::ZERO), "bk-a");
    for text in [format!("{m:?}"), format!("{kr:?}")] {
        assert!(!text.to_lowercase().contains("abab"), "{text}");
        assert!(!text.contains("171, 171"), "{text}");
    }
    assert!(format!("{m:?}").contains("redacted"));
}

// ---------------------------------------------------------------------------------------------
// Suppliers

/// One branch key per tenant: `bk-<tenant>`.
#[derive(Debug)]
struct Tenants;

#[async_trait]
impl BranchKeyIdSupplier for Tenants {
    async fn branch_key_id(&self, ec: &EncryptionContext) -> Result<String, BoxError> {
        match ec.get("tenant") {
            Some(t) => Ok(format!("bk-{t}")),
            None => Err("no tenant in the encryption context".into()),
        }
    }
}

#[tokio::test]
async fn two_tenants_through_a_supplier() {
    let store = CountingStore::new("store", Duration::ZERO);
    let kr = HierarchicalKeyring::builder(store.clone())
        .branch_key_id_supplier(Arc::new(Tenants))
        .ttl(TTL)
        .build()
        .unwrap();
    let cmm = DefaultCmm::new(kr);
    let client = Client::new();
    let a = client
        .encrypt(&cmm, b"for a", &ctx(&[("tenant", "a")]))
        .await
        .unwrap();
    let b = client
        .encrypt(&cmm, b"for b", &ctx(&[("tenant", "b")]))
        .await
        .unwrap();
    let (ha, _) = parse_header(&a, &HeaderLimits::default()).unwrap();
    let (hb, _) = parse_header(&b, &HeaderLimits::default()).unwrap();
    assert_eq!(ha.encrypted_data_keys[0].provider_info, b"bk-a");
    assert_eq!(hb.encrypted_data_keys[0].provider_info, b"bk-b");
    assert_eq!(client.decrypt(&cmm, &a).await.unwrap().plaintext, b"for a");
    assert_eq!(client.decrypt(&cmm, &b).await.unwrap().plaintext, b"for b");
    assert_eq!(store.calls(), (2, 2));
    // A keyring fixed to tenant a cannot read tenant b's message.
    let only_a = DefaultCmm::new(keyring(store.clone(), "bk-a"));
    match client.decrypt(&only_a, &b).await {
        Err(Error::NoDataKey(e)) => assert!(reasons(&e)[0].contains("is not the branch key ID")),
        other => panic!("{other:?}"),
    }
    // No tenant: the supplier's error reaches the caller.
    let err = client
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no tenant in the encryption context"),
        "{err}"
    );
    // A tenant with no branch key: the store's NotFound.
    let err = client
        .encrypt(&cmm, b"x", &ctx(&[("tenant", "zz")]))
        .await
        .unwrap_err();
    match &err {
        Error::Keyring(k) => assert!(matches!(
            store_error(k).unwrap(),
            KeyStoreError::NotFound { branch_key_id, .. } if branch_key_id == "bk-zz"
        )),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Single flight, failures, TTL

#[tokio::test(start_paused = true)]
async fn sixty_four_concurrent_cold_requests_make_one_store_call() {
    let store = CountingStore::new("store", Duration::from_millis(50));
    let kr = Arc::new(keyring(store.clone(), "bk-a"));
    let ec = ctx(&[("tenant", "a")]);
    let wraps =
        futures_util::future::join_all((0..64).map(|_| kr.generate_data_key(SUITE, &ec))).await;
    let edks: Vec<EncryptedDataKey> = wraps.into_iter().map(|r| r.unwrap().1.remove(0)).collect();
    assert_eq!(store.calls(), (1, 0));
    let stats = kr.cache().stats();
    assert_eq!((stats.misses, stats.coalesced, stats.hits), (1, 63, 63));
    // The same for 64 concurrent cold decrypts of 64 different EDKs of one version.
    let unwraps = futures_util::future::join_all(
        edks.iter()
            .map(|edk| kr.unwrap_data_key(SUITE, &ec, std::slice::from_ref(edk))),
    )
    .await;
    assert!(unwraps.iter().all(Result::is_ok));
    assert_eq!(store.calls(), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_cold_requests_on_many_threads_make_one_store_call() {
    let store = CountingStore::new("store", Duration::from_millis(100));
    let cmm = Arc::new(DefaultCmm::new(keyring(store.clone(), "bk-a")));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let cmm = cmm.clone();
            tokio::spawn(async move {
                let client = Client::new();
                let pt = format!("message {i}");
                let msg = client
                    .encrypt(cmm.as_ref(), pt.as_bytes(), &EncryptionContext::new())
                    .await?;
                Ok::<_, Error>((pt, msg))
            })
        })
        .collect();
    let mut messages = Vec::new();
    for t in tasks {
        messages.push(t.await.unwrap().unwrap());
    }
    assert_eq!(store.calls(), (1, 0));
    for (pt, msg) in messages {
        assert_eq!(
            Client::new()
                .decrypt(cmm.as_ref(), &msg)
                .await
                .unwrap()
                .plaintext,
            pt.as_bytes()
        );
    }
    assert_eq!(store.calls(), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_refused_store_call_reaches_every_caller_and_is_not_cached() {
    let store = CountingStore::new("store", Duration::from_millis(20));
    store.deny.store(true, Ordering::SeqCst);
    let kr = Arc::new(keyring(store.clone(), "bk-a"));
    let cmm = DefaultCmm::from_arc(kr.clone());
    let client = Client::new();
    let ec = ctx(&[("tenant", "a")]);
    let results =
        futures_util::future::join_all((0..8).map(|_| client.encrypt(&cmm, b"x", &ec))).await;
    // One store call for the eight, and each of them gets the refusal, clearly.
    assert_eq!(store.calls(), (1, 0));
    for r in results {
        let err = r.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("keyring aws-kms-hierarchy bk-a: cannot get the active branch key"),
            "{text}"
        );
        let Error::Keyring(k) = &err else {
            panic!("{err:?}")
        };
        match store_error(k).expect("the store's error as the source") {
            KeyStoreError::Service {
                operation, source, ..
            } => {
                assert_eq!(*operation, "KMS Decrypt");
                assert!(source.to_string().contains("AccessDeniedException"));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(kr.cache().stats().entries, 0);
    assert_eq!(kr.cache().stats().load_failures, 1);
    // Nothing was cached: the next request asks again, and once allowed, succeeds.
    assert!(client.encrypt(&cmm, b"x", &ec).await.is_err());
    assert_eq!(store.calls(), (2, 0));
    store.deny.store(false, Ordering::SeqCst);
    let msg = client.encrypt(&cmm, b"x", &ec).await.unwrap();
    assert_eq!(store.calls(), (3, 0));
    // On decrypt the refusal is the attempt's error.
    store.deny.store(true, Ordering::SeqCst);
    match client.decrypt(&cmm, &msg).await {
        Err(Error::NoDataKey(e)) => {
            assert!(reasons(&e)[0].contains("KMS Decrypt failed"), "{e}");
            assert!(store_error(e.attempts[0].error.as_ref()).is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.calls(), (3, 1));
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_the_ttl_and_a_rotation_is_then_seen() {
    let store = CountingStore::new("store", Duration::ZERO);
    let kr = keyring(store.clone(), "bk-a");
    let ec = EncryptionContext::new();
    let version_of = |edk: &EncryptedDataKey| edk.ciphertext[28..44].to_vec();
    let (_, edks) = kr.generate_data_key(SUITE, &ec).await.unwrap();
    let v1 = version_of(&edks[0]);
    // Rotate: the cached active version serves until the TTL.
    store.inner.insert(branch_key("bk-a", V2, 9)).unwrap();
    tokio::time::advance(TTL - Duration::from_secs(1)).await;
    let (_, edks) = kr.generate_data_key(SUITE, &ec).await.unwrap();
    assert_eq!(version_of(&edks[0]), v1);
    assert_eq!(store.calls(), (1, 0));
    // TTL + 1 s after the read: read again, and the new version is used.
    tokio::time::advance(Duration::from_secs(2)).await;
    let (dk, edks) = kr.generate_data_key(SUITE, &ec).await.unwrap();
    assert_eq!(store.calls(), (2, 0));
    assert_ne!(version_of(&edks[0]), v1);
    assert_eq!(kr.unwrap_data_key(SUITE, &ec, &edks).await.unwrap(), dk);
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_reads_once_in_the_background_while_requests_keep_going() {
    let store = CountingStore::new("store", Duration::from_secs(5));
    let kr = HierarchicalKeyring::builder(store.clone())
        .branch_key_id("bk-a")
        .ttl(Duration::from_secs(60))
        .refresh_ahead(Duration::from_secs(10))
        .build()
        .unwrap();
    let ec = EncryptionContext::new();
    kr.generate_data_key(SUITE, &ec).await.unwrap();
    assert_eq!(store.calls(), (1, 0));
    // 5 s of store latency: the entry was created when the call started, at t = 0.
    tokio::time::advance(Duration::from_secs(45)).await; // t = 50 s: inside the grace period
    let start = tokio::time::Instant::now();
    for _ in 0..10 {
        kr.generate_data_key(SUITE, &ec).await.unwrap();
    }
    // None of them waited for the store, and only one refresh started.
    assert_eq!(start.elapsed(), Duration::ZERO);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(store.calls(), (2, 0));
    assert_eq!(kr.cache().stats().refreshes, 1);
    // The refreshed entry (created at t = 50 s) serves until t = 110 s without a miss.
    tokio::time::advance(Duration::from_secs(40)).await; // t = 96 s
    kr.generate_data_key(SUITE, &ec).await.unwrap();
    assert_eq!(kr.cache().stats().misses, 1);
}

// ---------------------------------------------------------------------------------------------
// Shared caches

#[tokio::test]
async fn a_shared_cache_shares_only_within_one_partition() {
    let store = CountingStore::new("store", Duration::ZERO);
    let cache = BranchKeyCache::new(10).unwrap();
    let with = |partition: Option<&str>| {
        let b = HierarchicalKeyring::builder(store.clone())
            .branch_key_id("bk-a")
            .ttl(TTL)
            .cache(cache.clone());
        match partition {
            Some(p) => b.partition_id(p),
            None => b,
        }
        .build()
        .unwrap()
    };
    let ec = EncryptionContext::new();
    let one = with(Some("fleet"));
    let two = with(Some("fleet"));
    let (dk, edks) = one.generate_data_key(SUITE, &ec).await.unwrap();
    two.generate_data_key(SUITE, &ec).await.unwrap();
    assert_eq!(store.calls(), (1, 0));
    // Another partition, or the default (random) one: no sharing.
    with(Some("other"))
        .generate_data_key(SUITE, &ec)
        .await
        .unwrap();
    with(None).generate_data_key(SUITE, &ec).await.unwrap();
    assert_eq!(store.calls(), (3, 0));
    // Decryption entries are shared the same way.
    assert_eq!(two.unwrap_data_key(SUITE, &ec, &edks).await.unwrap(), dk);
    assert_eq!(one.unwrap_data_key(SUITE, &ec, &edks).await.unwrap(), dk);
    assert_eq!(store.calls(), (3, 1));
    // Another logical key store name: no sharing, even in the same partition.
    let store2 = CountingStore::new("store-2", Duration::ZERO);
    HierarchicalKeyring::builder(store2.clone())
        .branch_key_id("bk-a")
        .ttl(TTL)
        .cache(cache.clone())
        .partition_id("fleet")
        .build()
        .unwrap()
        .generate_data_key(SUITE, &ec)
        .await
        .unwrap();
    assert_eq!(store2.calls(), (1, 0));
    assert_eq!(cache.stats().entries, 5);
}

#[tokio::test]
async fn the_cache_holds_at_most_its_capacity() {
    let store = CountingStore::new("store", Duration::ZERO);
    let kr = HierarchicalKeyring::builder(store.clone())
        .branch_key_id_supplier(Arc::new(Tenants))
        .ttl(TTL)
        .cache_capacity(1)
        .build()
        .unwrap();
    for tenant in ["a", "b", "a"] {
        kr.generate_data_key(SUITE, &ctx(&[("tenant", tenant)]))
            .await
            .unwrap();
    }
    assert_eq!(store.calls(), (3, 0));
    assert_eq!(kr.cache().stats().entries, 1);
}

// ---------------------------------------------------------------------------------------------
// Composition

#[tokio::test]
async fn composes_with_the_caching_cmm() {
    let store = CountingStore::new("store", Duration::ZERO);
    let cmm = CachingCmm::builder_with_keyring(keyring(store.clone(), "bk-a"))
        .max_age(Duration::from_secs(60))
        .build()
        .unwrap();
    let client = Client::new();
    let ec = ctx(&[("tenant", "a")]);
    let mut messages = Vec::new();
    for i in 0..10u8 {
        messages.push(client.encrypt(&cmm, &[i], &ec).await.unwrap());
    }
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(client.decrypt(&cmm, m).await.unwrap().plaintext, [i as u8]);
    }
    // One data key for the ten messages (so one wrap), one unwrap, one read of each kind.
    assert_eq!(cmm.stats().underlying_calls, 2);
    assert_eq!(store.calls(), (1, 1));
}

#[tokio::test]
async fn composes_with_the_multi_keyring() {
    let store = CountingStore::new("store", Duration::ZERO);
    let hier: Arc<dyn Keyring> = Arc::new(keyring(store.clone(), "bk-a"));
    let aes: Arc<dyn Keyring> =
        Arc::new(RawAesKeyring::new("ns", "k", Zeroizing::new(vec![5u8; 32])).unwrap());
    let client = Client::new();
    let ec = ctx(&[("tenant", "a")]);
    for (generator, child) in [(hier.clone(), aes.clone()), (aes.clone(), hier.clone())] {
        let multi = DefaultCmm::new(MultiKeyring::new(Some(generator), vec![child]).unwrap());
        let msg = client.encrypt(&multi, b"both", &ec).await.unwrap();
        let (header, _) = parse_header(&msg, &HeaderLimits::default()).unwrap();
        assert_eq!(header.encrypted_data_keys.len(), 2);
        // Each keyring alone can decrypt.
        for alone in [&hier, &aes] {
            let cmm = DefaultCmm::from_arc(alone.clone());
            assert_eq!(client.decrypt(&cmm, &msg).await.unwrap().plaintext, b"both");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary EDKs

mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever is done to a genuine EDK (bytes flipped, cut, extended, provider info
        /// changed), unwrapping never panics, and it yields a data key only if the EDK is
        /// unchanged, and then the right one.
        #[test]
        fn mangled_edks_are_refused_cleanly(
            flips in proptest::collection::vec((0usize..200, 1u8..=255), 0..4),
            cut in proptest::option::of(0usize..120),
            extra in proptest::collection::vec(any::<u8>(), 0..4),
            info in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            rt.block_on(async {
                let (kr, ec, dk, edk) = one_edk().await;
                let mut mangled = edk.clone();
                for (at, x) in &flips {
                    let len = mangled.ciphertext.len();
                    mangled.ciphertext[at % len] ^= x;
                }
                if let Some(cut) = cut {
                    mangled.ciphertext.truncate(cut);
                }
                mangled.ciphertext.extend_from_slice(&extra);
                if let Some(info) = &info {
                    mangled.provider_info = info.clone();
                }
                match kr.unwrap_data_key(SUITE, &ec, std::slice::from_ref(&mangled)).await {
                    Ok(key) => {
                        prop_assert_eq!(&mangled, &edk);
                        prop_assert_eq!(key, dk);
                    }
                    Err(e) => {
                        prop_assert_ne!(&mangled, &edk);
                        prop_assert_eq!(e.attempts.len(), 1);
                    }
                }
                Ok(())
            })?;
        }
    }
}
