//! The caching materials manager and the LRU cache: cache-ID known answers, thresholds, bypasses,
//! partitions, single flight, refresh ahead. Time-dependent tests run on tokio's paused clock.

mod caching_support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use caching_support::{ctx, CountingKeyring};
use sealbox::format::serialize_encryption_context;
use sealbox::{
    AlgorithmSuite, CachingCmm, Client, CommitmentPolicy, DecryptOptions, DecryptionMaterials,
    DefaultCmm, EncryptedDataKey, EncryptionContext, EncryptionMaterials, Error, MaterialsManager,
    RequiredEncryptionContextCmm,
};
use sealbox::{CacheId, LruMaterialsCache, MaterialsCache};
use sealbox::{DecryptionRequest, EncryptionRequest};
use sha2::{Digest, Sha512};
use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);

fn caching(keyring: &Arc<CountingKeyring>) -> sealbox::CachingCmmBuilder {
    CachingCmm::builder_with_keyring(keyring.clone()).max_age(MINUTE)
}

fn request(ec: &EncryptionContext, len: Option<u64>, bound: Option<u64>) -> EncryptionRequest {
    let mut r = EncryptionRequest::new(ec.clone(), CommitmentPolicy::default());
    r.suite = Some(AlgorithmSuite::Aes256GcmHkdfSha512Commit);
    r.plaintext_length = len;
    r.max_plaintext_length = bound;
    r
}

async fn get(cmm: &CachingCmm, ec: &EncryptionContext, len: u64) -> EncryptionMaterials {
    cmm.get_encryption_materials(&request(ec, Some(len), None))
        .await
        .unwrap()
}

fn edk_of(m: &EncryptionMaterials) -> Vec<u8> {
    m.encrypted_data_keys[0].ciphertext.clone()
}

// ---------------------------------------------------------------------------------------------
// Cache IDs

#[test]
fn cache_ids_match_the_python_known_answers() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/cache-id-kats.json"
    ))
    .unwrap();
    let kats: serde_json::Value = serde_json::from_str(&text).unwrap();
    let partition = kats["partition"].as_str().unwrap();
    let full: EncryptionContext = kats["ec_full"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let ec = |name: &str| match name {
        "empty" => EncryptionContext::new(),
        "full" => full.clone(),
        other => panic!("unknown context {other}"),
    };
    let edks: Vec<EncryptedDataKey> = kats["edks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| EncryptedDataKey {
            provider_id: e["providerId"].as_str().unwrap().to_owned(),
            provider_info: e["providerInfo"].as_str().unwrap().as_bytes().to_vec(),
            ciphertext: e["ciphertext"].as_str().unwrap().as_bytes().to_vec(),
        })
        .collect();
    let suite = |v: &serde_json::Value| {
        v.as_str()
            .map(|s| AlgorithmSuite::from_id(u16::from_str_radix(s, 16).unwrap()).unwrap())
    };
    let b64 = |v: &serde_json::Value| B64.decode(v.as_str().unwrap()).unwrap();
    let mut checked = 0;

    // The intermediate hashes, so that a failure points at the serialization.
    let hashes = &kats["hashes_b64"];
    let sha = |b: &[u8]| Sha512::digest(b).to_vec();
    assert_eq!(
        sha(&serialize_encryption_context(&ec("empty")).unwrap()),
        b64(&hashes["sha512(serialize({}))"])
    );
    assert_eq!(
        sha(&serialize_encryption_context(&full).unwrap()),
        b64(&hashes["sha512(serialize(ec_full))"])
    );
    for (i, edk) in edks.iter().enumerate() {
        let mut buf = Vec::new();
        edk.serialize_into(&mut buf).unwrap();
        assert_eq!(
            sha(&buf),
            b64(&hashes[format!("sha512(serializeEDK(edks[{i}]))").as_str()])
        );
    }

    for kat in kats["encrypt_ids_b64"].as_array().unwrap() {
        let id = CacheId::for_encryption(
            partition,
            suite(&kat["suite"]),
            &ec(kat["ec"].as_str().unwrap()),
        )
        .unwrap();
        assert_eq!(id.as_bytes().to_vec(), b64(&kat["id"]), "{kat}");
        checked += 1;
    }
    for kat in kats["decrypt_ids_b64"].as_array().unwrap() {
        let chosen: Vec<EncryptedDataKey> = kat["edks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| edks[i.as_u64().unwrap() as usize].clone())
            .collect();
        let id = CacheId::for_decryption(
            partition,
            suite(&kat["suite"]).unwrap(),
            &chosen,
            &ec(kat["ec"].as_str().unwrap()),
        )
        .unwrap();
        assert_eq!(id.as_bytes().to_vec(), b64(&kat["id"]), "{kat}");
        // The EDK order does not matter.
        let mut reversed = chosen.clone();
        reversed.reverse();
        let again = CacheId::for_decryption(
            partition,
            suite(&kat["suite"]).unwrap(),
            &reversed,
            &ec(kat["ec"].as_str().unwrap()),
        )
        .unwrap();
        assert_eq!(again, id);
        checked += 1;
    }
    assert_eq!(checked, 6);
}

// ---------------------------------------------------------------------------------------------
// Reuse and thresholds

#[tokio::test]
async fn one_data_key_serves_many_messages_both_ways() {
    let keyring = CountingKeyring::new();
    let cmm = caching(&keyring).build().unwrap();
    let client = Client::new();
    let ec = ctx(&[("tenant", "a")]);
    let mut messages = Vec::new();
    for i in 0..20u8 {
        messages.push(client.encrypt(&cmm, &[i; 100], &ec).await.unwrap());
    }
    for (i, m) in messages.iter().enumerate() {
        let out = client.decrypt(&cmm, m).await.unwrap();
        assert_eq!(out.plaintext, vec![i as u8; 100]);
    }
    assert_eq!(keyring.generates(), 1);
    assert_eq!(keyring.unwraps(), 1);
    let stats = cmm.stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.underlying_calls),
        (38, 2, 2)
    );
    assert_eq!(stats.bypasses(), 0);
    assert_eq!(stats.cache.entries, 2);

    // A different context is a different entry.
    client
        .encrypt(&cmm, b"x", &ctx(&[("tenant", "b")]))
        .await
        .unwrap();
    assert_eq!(keyring.generates(), 2);
}

#[tokio::test]
async fn message_limit_is_exact() {
    let keyring = CountingKeyring::new();
    let cmm = caching(&keyring).max_messages(3).build().unwrap();
    let ec = EncryptionContext::new();
    let mut keys = Vec::new();
    for _ in 0..10 {
        let m = cmm
            .get_encryption_materials(&request(&ec, Some(1), None))
            .await
            .unwrap();
        keys.push(edk_of(&m));
    }
    // Three messages per key: 3 + 3 + 3 + 1.
    assert_eq!(keyring.generates(), 4);
    for chunk in keys.chunks(3) {
        assert!(chunk.iter().all(|k| *k == chunk[0]));
    }
    assert_ne!(keys[0], keys[3]);
    // Each exhausted entry was dropped as soon as its last message was served.
    assert_eq!(cmm.stats().cache.evictions.messages, 3);
}

#[tokio::test]
async fn byte_limit_is_exact_and_large_requests_bypass() {
    let keyring = CountingKeyring::new();
    let cmm = caching(&keyring).max_bytes(100).build().unwrap();
    let ec = EncryptionContext::new();
    let a = edk_of(&get(&cmm, &ec, 50).await);
    // Usage equal to the limit is allowed.
    assert_eq!(edk_of(&get(&cmm, &ec, 50).await), a);
    assert_eq!(keyring.generates(), 1);
    // One more byte is over: a new key.
    let b = edk_of(&get(&cmm, &ec, 1).await);
    assert_ne!(a, b);
    assert_eq!(keyring.generates(), 2);
    assert_eq!(cmm.stats().cache.evictions.bytes, 1);
    // Larger than the limit on its own: bypass, and the current entry is untouched.
    let big = edk_of(&get(&cmm, &ec, 101).await);
    assert_ne!(big, b);
    assert_eq!(keyring.generates(), 3);
    assert_eq!(edk_of(&get(&cmm, &ec, 99).await), b);
    assert_eq!(keyring.generates(), 3);
    let stats = cmm.stats();
    assert_eq!(stats.bypassed_too_large, 1);
    assert_eq!(stats.bypasses(), 1);
}

#[tokio::test]
async fn unknown_length_bypasses_and_a_bound_is_charged() {
    let keyring = CountingKeyring::new();
    let cmm = caching(&keyring).max_bytes(1000).build().unwrap();
    let ec = EncryptionContext::new();
    for _ in 0..2 {
        cmm.get_encryption_materials(&request(&ec, None, None))
            .await
            .unwrap();
    }
    assert_eq!(keyring.generates(), 2);
    let stats = cmm.stats();
    assert_eq!(stats.bypassed_unknown_length, 2);
    assert_eq!(stats.cache.entries, 0, "a bypass writes nothing");

    // A bound is charged in full: 600 + 600 is over 1000, so the second needs a new key ...
    let a = cmm
        .get_encryption_materials(&request(&ec, None, Some(600)))
        .await
        .unwrap();
    let b = cmm
        .get_encryption_materials(&request(&ec, None, Some(600)))
        .await
        .unwrap();
    assert_ne!(edk_of(&a), edk_of(&b));
    // ... and an exact length is charged exactly: 600 + 400 fits.
    let c = cmm
        .get_encryption_materials(&request(&ec, Some(400), Some(4000)))
        .await
        .unwrap();
    assert_eq!(edk_of(&b), edk_of(&c));
    assert_eq!(keyring.generates(), 4);
}

/// A manager that records the lengths it is asked for.
#[derive(Debug)]
struct Recording {
    inner: DefaultCmm,
    seen: std::sync::Mutex<Vec<(Option<u64>, Option<u64>)>>,
}

#[async_trait]
impl MaterialsManager for Recording {
    async fn get_encryption_materials(
        &self,
        request: &EncryptionRequest,
    ) -> Result<EncryptionMaterials, Error> {
        self.seen
            .lock()
            .unwrap()
            .push((request.plaintext_length, request.max_plaintext_length));
        self.inner.get_encryption_materials(request).await
    }

    async fn decrypt_materials(
        &self,
        request: &DecryptionRequest,
    ) -> Result<DecryptionMaterials, Error> {
        self.inner.decrypt_materials(request).await
    }
}

#[tokio::test]
async fn the_plaintext_length_is_never_passed_down() {
    let recording = Arc::new(Recording {
        inner: DefaultCmm::new(CountingKeyring::new()),
        seen: Default::default(),
    });
    let cmm = CachingCmm::builder(recording.clone())
        .max_age(MINUTE)
        .max_bytes(10)
        .build()
        .unwrap();
    let ec = EncryptionContext::new();
    for (len, bound) in [
        (Some(5), None),
        (None, Some(6)),
        (None, None),
        (Some(11), None),
    ] {
        cmm.get_encryption_materials(&request(&ec, len, bound))
            .await
            .unwrap();
    }
    let seen = recording.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|s| *s == (None, None)), "{seen:?}");
}

#[tokio::test]
async fn suites_without_key_derivation_are_never_cached() {
    let keyring = CountingKeyring::new();
    let cmm = caching(&keyring).build().unwrap();
    let client = Client::builder()
        .commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt)
        .algorithm_suite(AlgorithmSuite::Aes256GcmNoKdf)
        .build()
        .unwrap();
    let ec = EncryptionContext::new();
    let a = client.encrypt(&cmm, b"a", &ec).await.unwrap();
    let b = client.encrypt(&cmm, b"b", &ec).await.unwrap();
    assert_eq!(keyring.generates(), 2);
    for m in [&a, &a, &b] {
        client.decrypt(&cmm, m).await.unwrap();
    }
    assert_eq!(keyring.unwraps(), 3);
    let stats = cmm.stats();
    assert_eq!(stats.bypassed_uncacheable_suite, 5);
    assert_eq!(stats.cache.entries, 0);
    assert_eq!(stats.cache.puts, 0);
}

#[tokio::test]
async fn partitions_separate_managers_that_share_a_cache() {
    let cache: Arc<dyn MaterialsCache> = Arc::new(LruMaterialsCache::new(100).unwrap());
    let keyring = CountingKeyring::new();
    let build = |partition: Option<&str>| {
        let b = caching(&keyring).cache(cache.clone());
        match partition {
            Some(p) => b.partition(p),
            None => b,
        }
        .build()
        .unwrap()
    };
    let (a, b) = (build(None), build(None));
    assert_ne!(a.partition(), b.partition());
    assert_eq!(a.partition().len(), 36, "a UUID");
    let ec = EncryptionContext::new();
    let r = request(&ec, Some(1), None);
    a.get_encryption_materials(&r).await.unwrap();
    b.get_encryption_materials(&r).await.unwrap();
    assert_eq!(keyring.generates(), 2, "random partitions do not share");

    let (c, d) = (build(Some("shared")), build(Some("shared")));
    let x = c.get_encryption_materials(&r).await.unwrap();
    let y = d.get_encryption_materials(&r).await.unwrap();
    assert_eq!(edk_of(&x), edk_of(&y));
    assert_eq!(keyring.generates(), 3, "one partition shares");
    assert_eq!(cache.stats().entries, 3);
}

#[tokio::test]
async fn lru_capacity_evicts_the_least_recently_used() {
    let keyring = CountingKeyring::new();
    let cache = Arc::new(LruMaterialsCache::new(2).unwrap());
    let cmm = caching(&keyring).cache(cache.clone()).build().unwrap();
    for tenant in ["a", "b", "a", "c", "a", "b"] {
        cmm.get_encryption_materials(&request(&ctx(&[("t", tenant)]), Some(1), None))
            .await
            .unwrap();
    }
    // a, b, (a hit), c evicts b, (a hit), b evicts c.
    assert_eq!(keyring.generates(), 4);
    assert_eq!(cache.stats().evictions.capacity, 2);
    assert_eq!(cache.len(), 2);
    assert!(LruMaterialsCache::new(0).is_err());
}

// ---------------------------------------------------------------------------------------------
// What a hit must not skip

#[tokio::test]
async fn a_reproduced_context_is_part_of_the_decrypt_key() {
    let keyring = CountingKeyring::new();
    let required = RequiredEncryptionContextCmm::new(
        Arc::new(DefaultCmm::new(keyring.clone())),
        vec!["tenant".into()],
    )
    .unwrap();
    let cmm = CachingCmm::builder(required)
        .max_age(MINUTE)
        .build()
        .unwrap();
    let client = Client::new();
    let ec = ctx(&[("tenant", "a"), ("stored", "1")]);
    let message = client.encrypt(&cmm, b"secret", &ec).await.unwrap();

    let right = ctx(&[("tenant", "a")]);
    for _ in 0..2 {
        let out = client
            .decrypt_with(
                &cmm,
                &message,
                &DecryptOptions::new().reproduced_context(right.clone()),
            )
            .await
            .unwrap();
        assert_eq!(out.plaintext, b"secret");
    }
    assert_eq!(keyring.unwraps(), 1, "the same reproduced context hits");

    // Were the reproduced context not in the key, each of these would be a hit on the entry
    // above and would succeed.
    let wrong = ctx(&[("tenant", "b")]);
    // (The raw AES keyring binds the full context, so the unwrap is what fails.)
    assert!(matches!(
        client
            .decrypt_with(
                &cmm,
                &message,
                &DecryptOptions::new().reproduced_context(wrong.clone())
            )
            .await,
        Err(Error::NoDataKey(_) | Error::HeaderAuthentication)
    ));
    assert!(matches!(
        client.decrypt(&cmm, &message).await,
        Err(Error::EncryptionContext(_))
    ));
    let conflicting = ctx(&[("tenant", "a"), ("stored", "2")]);
    assert!(matches!(
        client
            .decrypt_with(
                &cmm,
                &message,
                &DecryptOptions::new().reproduced_context(conflicting.clone())
            )
            .await,
        Err(Error::EncryptionContext(_))
    ));
}

#[tokio::test]
async fn clients_with_different_policies_do_not_share_entries() {
    let keyring = CountingKeyring::new();
    let cmm = caching(&keyring).build().unwrap();
    let ec = EncryptionContext::new();
    let forbid = Client::builder()
        .commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt)
        .build()
        .unwrap();
    let v1 = forbid.encrypt(&cmm, b"x", &ec).await.unwrap();
    assert_eq!(v1[0], 1);
    // The same request under the default policy must get a committing suite, not the entry above.
    let v2 = Client::new().encrypt(&cmm, b"x", &ec).await.unwrap();
    assert_eq!(v2[0], 2);
    assert_eq!(keyring.generates(), 2);
    // Policy checks are made before the cache is consulted.
    let mut r = request(&ec, Some(1), None);
    r.commitment_policy = CommitmentPolicy::ForbidEncryptAllowDecrypt;
    assert!(matches!(
        cmm.get_encryption_materials(&r).await,
        Err(Error::PolicyViolation { .. })
    ));
    let mut reserved = request(&ctx(&[("aws-crypto-x", "1")]), Some(1), None);
    reserved.suite = None;
    assert!(matches!(
        cmm.get_encryption_materials(&reserved).await,
        Err(Error::EncryptionContext(_))
    ));
}

#[test]
fn builder_checks_its_configuration() {
    let keyring = CountingKeyring::new();
    let b = || CachingCmm::builder_with_keyring(keyring.clone());
    assert!(
        matches!(b().build(), Err(Error::Config(_))),
        "max age is required"
    );
    assert!(b().max_age(Duration::ZERO).build().is_err());
    assert!(b().max_age(MINUTE).max_messages(0).build().is_err());
    assert!(b()
        .max_age(MINUTE)
        .max_messages((1 << 32) + 1)
        .build()
        .is_err());
    assert!(b().max_age(MINUTE).max_messages(1 << 32).build().is_ok());
    assert!(b().max_age(MINUTE).max_bytes(1 << 63).build().is_err());
    assert!(b().max_age(MINUTE).refresh_ahead(MINUTE).build().is_err());
    assert!(b()
        .max_age(MINUTE)
        .refresh_ahead(Duration::ZERO)
        .build()
        .is_err());
    let cmm = b()
        .max_age(MINUTE)
        .refresh_ahead(Duration::from_secs(10))
        .build()
        .unwrap();
    assert_eq!(cmm.limits().max_messages, 1 << 32);
    assert_eq!(cmm.limits().max_bytes, (1 << 63) - 1);
    assert_eq!(cmm.limits().refresh_ahead, Some(Duration::from_secs(10)));
    assert_eq!(cmm.limits().refresh_after(), Some(Duration::from_secs(50)));
}

#[tokio::test]
async fn debug_output_holds_no_key() {
    let keyring = CountingKeyring::new();
    let cache = Arc::new(LruMaterialsCache::new(10).unwrap());
    let cmm = caching(&keyring).cache(cache.clone()).build().unwrap();
    let m = cmm
        .get_encryption_materials(&request(&EncryptionContext::new(), Some(1), None))
        .await
        .unwrap();
    let key = m.data_key.as_bytes();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    for text in [format!("{cmm:?}"), format!("{cache:?}"), format!("{m:?}")] {
        assert!(!text.contains(&format!("{key:?}")), "{text}");
        assert!(!text.contains(&hex), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Age, on the paused clock

#[tokio::test(start_paused = true)]
async fn maximum_age_is_a_hard_limit_and_equality_is_allowed() {
    let keyring = CountingKeyring::new();
    let cache = Arc::new(LruMaterialsCache::new(10).unwrap());
    let cmm = caching(&keyring).cache(cache.clone()).build().unwrap();
    let client = Client::new();
    let ec = EncryptionContext::new();
    let message = client.encrypt(&cmm, b"x", &ec).await.unwrap();
    client.decrypt(&cmm, &message).await.unwrap();

    tokio::time::advance(MINUTE).await;
    client.encrypt(&cmm, b"x", &ec).await.unwrap();
    client.decrypt(&cmm, &message).await.unwrap();
    assert_eq!((keyring.generates(), keyring.unwraps()), (1, 1));

    tokio::time::advance(Duration::from_millis(1)).await;
    client.encrypt(&cmm, b"x", &ec).await.unwrap();
    client.decrypt(&cmm, &message).await.unwrap();
    assert_eq!((keyring.generates(), keyring.unwraps()), (2, 2));
    assert_eq!(cache.stats().evictions.age, 2);

    // Expired entries leave memory without being looked up again.
    tokio::time::advance(MINUTE * 2).await;
    assert_eq!(cache.len(), 2);
    cache.prune_expired();
    assert!(cache.is_empty());
    assert_eq!(cache.stats().evictions.age, 4);
}

#[tokio::test(start_paused = true)]
async fn a_shared_cache_honours_each_managers_maximum_age() {
    let keyring = CountingKeyring::new();
    let cache: Arc<dyn MaterialsCache> = Arc::new(LruMaterialsCache::new(10).unwrap());
    let long = caching(&keyring)
        .cache(cache.clone())
        .partition("p")
        .max_age(MINUTE * 10)
        .build()
        .unwrap();
    let short = caching(&keyring)
        .cache(cache.clone())
        .partition("p")
        .build()
        .unwrap();
    let r = request(&EncryptionContext::new(), Some(1), None);
    long.get_encryption_materials(&r).await.unwrap();
    tokio::time::advance(MINUTE * 2).await;
    short.get_encryption_materials(&r).await.unwrap();
    assert_eq!(
        keyring.generates(),
        2,
        "too old for the short-lived manager"
    );
}

// ---------------------------------------------------------------------------------------------
// Single flight

#[tokio::test(start_paused = true)]
async fn concurrent_cold_misses_make_one_call() {
    let keyring = CountingKeyring::with_delay(Duration::from_millis(200));
    let cmm = Arc::new(caching(&keyring).build().unwrap());
    let ec = ctx(&[("hot", "key")]);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (cmm, ec) = (cmm.clone(), ec.clone());
            tokio::spawn(async move {
                Client::new()
                    .encrypt(&cmm, &[i as u8; 64], &ec)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut messages = Vec::new();
    for t in tasks {
        messages.push(t.await.unwrap());
    }
    assert_eq!(keyring.generates(), 1);
    let stats = cmm.stats();
    assert_eq!((stats.misses, stats.hits, stats.coalesced), (1, 63, 63));

    // The same for decrypt: 64 concurrent decrypts of messages under one data key.
    let tasks: Vec<_> = messages
        .into_iter()
        .map(|m| {
            let cmm = cmm.clone();
            tokio::spawn(async move { Client::new().decrypt(&cmm, &m).await.unwrap() })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().plaintext, vec![i as u8; 64]);
    }
    assert_eq!(keyring.unwraps(), 1);
}

/// `n` concurrent encrypt requests of `len` bytes each: how many used each data key, and how
/// long they took together (on the paused clock).
async fn concurrent_misses(cmm: &Arc<CachingCmm>, n: usize, len: u64) -> (Vec<usize>, Duration) {
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let cmm = cmm.clone();
            tokio::spawn(async move {
                let r = request(&ctx(&[("hot", "key")]), Some(len), None);
                edk_of(&cmm.get_encryption_materials(&r).await.unwrap())
            })
        })
        .collect();
    let mut uses = std::collections::HashMap::<Vec<u8>, usize>::new();
    for t in tasks {
        *uses.entry(t.await.unwrap()).or_default() += 1;
    }
    let mut uses: Vec<usize> = uses.into_values().collect();
    uses.sort_unstable();
    (uses, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_beyond_the_limits_call_in_parallel() {
    // Each call's materials serve 10 messages: 35 concurrent misses make 4 calls, at once (each
    // takes 200 ms), not one after another, and no data key serves more than 10 messages.
    let keyring = CountingKeyring::with_delay(Duration::from_millis(200));
    let cmm = Arc::new(caching(&keyring).max_messages(10).build().unwrap());
    let (uses, took) = concurrent_misses(&cmm, 35, 1).await;
    assert_eq!(uses, [5, 10, 10, 10]);
    assert!(took < Duration::from_millis(400), "took {took:?}");
    let stats = cmm.stats();
    assert_eq!(
        (stats.misses, stats.hits, stats.coalesced),
        (4, 31, 31),
        "{stats:?}"
    );
    // The entries were stored charged for every seat: the full ones not at all, the last with
    // 5 messages used, so it serves 5 more before the next call.
    for _ in 0..5 {
        get(&cmm, &ctx(&[("hot", "key")]), 1).await;
    }
    assert_eq!(keyring.generates(), 4);
    get(&cmm, &ctx(&[("hot", "key")]), 1).await;
    assert_eq!(keyring.generates(), 5);

    // Seats count bytes too: 1,000 bytes per data key, 300 per request, so 3 per call.
    let keyring = CountingKeyring::with_delay(Duration::from_millis(200));
    let cmm = Arc::new(caching(&keyring).max_bytes(1000).build().unwrap());
    let (uses, took) = concurrent_misses(&cmm, 7, 300).await;
    assert_eq!(uses, [1, 3, 3]);
    assert!(took < Duration::from_millis(400), "took {took:?}");

    // With one message per data key the cache is no slower than none: every miss calls at once.
    let keyring = CountingKeyring::with_delay(Duration::from_millis(200));
    let cmm = Arc::new(caching(&keyring).max_messages(1).build().unwrap());
    let (uses, took) = concurrent_misses(&cmm, 8, 1).await;
    assert_eq!(uses, [1; 8]);
    assert!(took < Duration::from_millis(400), "took {took:?}");
    assert_eq!(cmm.stats().coalesced, 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_call_is_shared_with_its_waiters_and_not_cached() {
    let keyring = CountingKeyring::with_delay(Duration::from_millis(200));
    keyring.set_failing(true);
    let cmm = Arc::new(caching(&keyring).build().unwrap());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let cmm = cmm.clone();
            tokio::spawn(async move {
                Client::new()
                    .encrypt(&cmm, b"x", &EncryptionContext::new())
                    .await
            })
        })
        .collect();
    for t in tasks {
        match t.await.unwrap() {
            Err(Error::Keyring(e)) => {
                assert_eq!(e.keyring(), "counting");
                assert_eq!(e.to_string(), "keyring counting: injected failure");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(keyring.generates(), 1, "the waiters shared the one failure");
    assert_eq!(cmm.stats().cache.entries, 0);

    keyring.set_failing(false);
    for _ in 0..3 {
        Client::new()
            .encrypt(&cmm, b"x", &EncryptionContext::new())
            .await
            .unwrap();
    }
    assert_eq!(
        keyring.generates(),
        2,
        "the next request called again, then hits"
    );

    // Decrypt failures are shared the same way, with every attempt listed.
    let message = Client::new()
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap();
    keyring.set_failing(true);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (cmm, m) = (cmm.clone(), message.clone());
            tokio::spawn(async move { Client::new().decrypt(&cmm, &m).await })
        })
        .collect();
    for t in tasks {
        match t.await.unwrap() {
            Err(Error::NoDataKey(e)) => {
                assert_eq!(e.attempts.len(), 1);
                assert!(e.to_string().contains("injected failure"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(keyring.unwraps(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_caller_hands_over_to_a_waiter() {
    let keyring = CountingKeyring::with_delay(Duration::from_secs(10));
    let cmm = Arc::new(caching(&keyring).build().unwrap());
    let spawn = || {
        let cmm = cmm.clone();
        tokio::spawn(async move {
            Client::new()
                .encrypt(&cmm, b"x", &EncryptionContext::new())
                .await
        })
    };
    let first = spawn();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = spawn();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!((keyring.generates(), cmm.stats().coalesced), (1, 1));
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    second.await.unwrap().unwrap();
    assert_eq!(keyring.generates(), 2);
}

// ---------------------------------------------------------------------------------------------
// Refresh ahead, on the paused clock

#[tokio::test(start_paused = true)]
async fn refresh_ahead_replaces_hot_entries_before_they_expire() {
    let keyring = CountingKeyring::with_delay(Duration::from_secs(1));
    let cmm = caching(&keyring)
        .refresh_ahead(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = request(&EncryptionContext::new(), Some(1), None);
    let first = edk_of(&cmm.get_encryption_materials(&r).await.unwrap());
    assert_eq!(keyring.generates(), 1);

    // 49 s after the call began: not yet in the grace period.
    tokio::time::advance(Duration::from_secs(48)).await;
    assert_eq!(
        edk_of(&cmm.get_encryption_materials(&r).await.unwrap()),
        first
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(keyring.generates(), 1);

    // 55 s: in the grace period. This caller is served at once from the current entry, and a
    // refresh starts in the background; callers meanwhile keep using the current entry.
    tokio::time::advance(Duration::from_secs(4)).await;
    let started = Instant::now();
    assert_eq!(
        edk_of(&cmm.get_encryption_materials(&r).await.unwrap()),
        first
    );
    assert_eq!(
        edk_of(&cmm.get_encryption_materials(&r).await.unwrap()),
        first
    );
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "nobody waited for the refresh"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(keyring.generates(), 2);
    let stats = cmm.stats();
    assert_eq!((stats.refreshes, stats.refresh_failures), (1, 0));

    // 65 s: the first entry would have expired; the refreshed one serves without a stall.
    tokio::time::advance(Duration::from_secs(8)).await;
    let started = Instant::now();
    let second = edk_of(&cmm.get_encryption_materials(&r).await.unwrap());
    assert_ne!(second, first);
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(keyring.generates(), 2);
    assert_eq!(cmm.stats().misses, 1);
}

#[tokio::test(start_paused = true)]
async fn without_refresh_ahead_the_expiry_stalls_the_caller() {
    let keyring = CountingKeyring::with_delay(Duration::from_secs(1));
    let cmm = caching(&keyring).build().unwrap();
    let r = request(&EncryptionContext::new(), Some(1), None);
    cmm.get_encryption_materials(&r).await.unwrap();
    tokio::time::advance(Duration::from_secs(65)).await;
    let started = Instant::now();
    cmm.get_encryption_materials(&r).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(keyring.generates(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_leaves_the_maximum_age_hard() {
    let keyring = CountingKeyring::new();
    let cmm = caching(&keyring)
        .refresh_ahead(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = request(&EncryptionContext::new(), Some(1), None);
    cmm.get_encryption_materials(&r).await.unwrap();
    keyring.set_failing(true);
    tokio::time::advance(Duration::from_secs(55)).await;
    // Served from the entry; the refresh fails in the background ...
    cmm.get_encryption_materials(&r).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    // ... and is not retried for this entry.
    cmm.get_encryption_materials(&r).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let stats = cmm.stats();
    assert_eq!((stats.refreshes, stats.refresh_failures), (1, 1));
    assert_eq!(keyring.generates(), 2);
    // Past the maximum age nothing is served from the cache.
    tokio::time::advance(Duration::from_secs(6)).await;
    assert!(cmm.get_encryption_materials(&r).await.is_err());
    assert_eq!(keyring.generates(), 3);
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_covers_decryption_entries() {
    let keyring = CountingKeyring::with_delay(Duration::from_secs(1));
    let cmm = caching(&keyring)
        .refresh_ahead(Duration::from_secs(10))
        .build()
        .unwrap();
    let client = Client::new();
    let message = client
        .encrypt(&cmm, b"hot", &EncryptionContext::new())
        .await
        .unwrap();
    client.decrypt(&cmm, &message).await.unwrap();
    assert_eq!(keyring.unwraps(), 1);
    tokio::time::advance(Duration::from_secs(55)).await;
    client.decrypt(&cmm, &message).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(keyring.unwraps(), 2);
    tokio::time::advance(Duration::from_secs(10)).await;
    let started = Instant::now();
    client.decrypt(&cmm, &message).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(keyring.unwraps(), 2);
}

/// A request that joins a call which outlasts `max_age` does not get the call's materials: they
/// are already too old for it (the cache refuses to store them for the same reason). It makes a
/// call of its own. The request that made the call gets its result, as it would without a cache.
#[tokio::test(start_paused = true)]
async fn a_waiter_never_gets_materials_older_than_the_maximum_age() {
    let keyring = CountingKeyring::with_delay(Duration::from_secs(30));
    let cmm = Arc::new(
        CachingCmm::builder_with_keyring(keyring.clone())
            .max_age(Duration::from_secs(10))
            .build()
            .unwrap(),
    );
    let t0 = Instant::now();
    let ec = ctx(&[("hot", "key")]);
    let first = {
        let (cmm, ec) = (cmm.clone(), ec.clone());
        tokio::spawn(async move { get(&cmm, &ec, 10).await })
    };
    tokio::time::sleep(Duration::from_secs(25)).await;
    let second = {
        let (cmm, ec) = (cmm.clone(), ec.clone());
        tokio::spawn(async move {
            let m = get(&cmm, &ec, 10).await;
            (m, Instant::now())
        })
    };
    let first = first.await.unwrap();
    let (second, second_done) = second.await.unwrap();
    assert_eq!(
        keyring.generates(),
        2,
        "the waiter must make a call of its own"
    );
    assert_ne!(first.data_key, second.data_key);
    let obtained = keyring
        .generated_at(&second.encrypted_data_keys[0])
        .unwrap();
    assert!(
        obtained >= t0 + Duration::from_secs(25),
        "materials older than the request"
    );
    assert!(second_done - obtained <= Duration::from_secs(30));
}

/// The same for decryption: a decrypt that joins an unwrap which outlasts `max_age` unwraps again.
#[tokio::test(start_paused = true)]
async fn a_decrypt_waiter_never_gets_materials_older_than_the_maximum_age() {
    let keyring = CountingKeyring::new();
    let cmm = Arc::new(
        CachingCmm::builder_with_keyring(keyring.clone())
            .max_age(Duration::from_secs(10))
            .build()
            .unwrap(),
    );
    let message = Client::new()
        .encrypt(&cmm, b"payload", &ctx(&[("a", "b")]))
        .await
        .unwrap();
    keyring.set_delay(Duration::from_secs(30));
    let first = {
        let (cmm, m) = (cmm.clone(), message.clone());
        tokio::spawn(async move { Client::new().decrypt(&cmm, &m).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_secs(25)).await;
    let second = {
        let (cmm, m) = (cmm.clone(), message.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let d = Client::new().decrypt(&cmm, &m).await.unwrap();
            (d, start.elapsed())
        })
    };
    assert_eq!(first.await.unwrap().plaintext, b"payload");
    let (second, waited) = second.await.unwrap();
    assert_eq!(second.plaintext, b"payload");
    assert_eq!(keyring.unwraps(), 2, "the waiter must unwrap for itself");
    // Joined at 25 s, the first unwrap ended at 30 s, its own took 30 s more.
    assert_eq!(waited, Duration::from_secs(35));
}

#[test]
fn a_byte_limit_of_zero_is_refused() {
    let keyring = CountingKeyring::new();
    let err = caching(&keyring).max_bytes(0).build().unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(caching(&keyring).max_bytes(1).build().is_ok());
}

/// A typed handle on the LRU cache stays usable after handing the cache to a manager: no cast,
/// and its counters need no trait in scope.
#[tokio::test]
async fn a_typed_cache_handle_can_be_kept() {
    let keyring = CountingKeyring::new();
    let cache = Arc::new(LruMaterialsCache::new(10).unwrap());
    let cmm = caching(&keyring).cache(Arc::clone(&cache)).build().unwrap();
    get(&cmm, &ctx(&[("k", "v")]), 1).await;
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.capacity(), 10);
    assert_eq!(LruMaterialsCache::stats(&cache).entries, 1);
    cache.clear();
    assert!(cache.is_empty());
}
