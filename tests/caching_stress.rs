//! 64 concurrent tasks against one caching manager: no data key ever serves more messages, bytes
//! or age than its limits, and one cold key costs one underlying call.

mod caching_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use caching_support::{ctx, CountingKeyring};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sealbox::EncryptionRequest;
use sealbox::{
    AlgorithmSuite, CachingCmm, Client, CommitmentPolicy, EncryptionContext, LruMaterialsCache,
    MaterialsManager,
};
use tokio::sync::Semaphore;
use tokio::time::Instant;

const TASKS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_cold_key_costs_one_underlying_call() {
    let keyring = CountingKeyring::new();
    // Hold the one call until every other task is waiting on it, so that the misses really are
    // concurrent.
    let gate = Arc::new(Semaphore::new(0));
    keyring.set_gate(gate.clone());
    let cmm = Arc::new(
        CachingCmm::builder_with_keyring(keyring.clone())
            .max_age(Duration::from_secs(3600))
            .build()
            .unwrap(),
    );
    let ec = ctx(&[("cold", "key")]);
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (cmm, ec) = (cmm.clone(), ec.clone());
            tokio::spawn(async move {
                let message = Client::new()
                    .encrypt(&cmm, format!("message {i}").as_bytes(), &ec)
                    .await
                    .unwrap();
                let out = Client::new().decrypt(&cmm, &message).await.unwrap();
                assert_eq!(out.plaintext, format!("message {i}").as_bytes());
            })
        })
        .collect();
    let mut spins = 0u64;
    // The caller that makes the call first generates a signing key (the default suite signs),
    // which may take longer than the others take to gather: wait for the call to reach the
    // keyring too.
    while cmm.stats().coalesced < TASKS as u64 - 1 || keyring.generates() == 0 {
        spins += 1;
        assert!(
            spins < 50_000_000,
            "the waiters never gathered: {:?}",
            cmm.stats()
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(keyring.generates(), 1);
    gate.add_permits(1);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(keyring.generates(), 1);
    assert_eq!(keyring.unwraps(), 1);
    let stats = cmm.stats();
    assert_eq!(stats.misses, 2, "{stats:?}");
    assert_eq!(stats.hits, 2 * TASKS as u64 - 2, "{stats:?}");
}

/// What each data key (named by its EDK) has been used for.
#[derive(Default)]
struct Ledger {
    uses: Mutex<HashMap<Vec<u8>, (u64, u64)>>,
}

impl Ledger {
    fn charge(&self, edk: &[u8], bytes: u64) -> (u64, u64) {
        let mut uses = self.uses.lock().unwrap();
        let e = uses.entry(edk.to_vec()).or_default();
        e.0 += 1;
        e.1 += bytes;
        *e
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thresholds_hold_under_parallel_load() {
    const MAX_MESSAGES: u64 = 7;
    const MAX_BYTES: u64 = 1000;
    const PER_TASK: usize = 60;
    let keyring = CountingKeyring::new();
    // Small on purpose: capacity evictions run concurrently with everything else.
    let cache = Arc::new(LruMaterialsCache::new(3).unwrap());
    let cmm = Arc::new(
        CachingCmm::builder_with_keyring(keyring.clone())
            .max_age(Duration::from_secs(3600))
            .max_messages(MAX_MESSAGES)
            .max_bytes(MAX_BYTES)
            .cache(cache.clone())
            .build()
            .unwrap(),
    );
    let ledger = Arc::new(Ledger::default());
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (cmm, ledger) = (cmm.clone(), ledger.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(t as u64);
                let mut total_bytes = 0;
                for _ in 0..PER_TASK {
                    let tenant = rng.gen_range(0..4).to_string();
                    let len = rng.gen_range(0..=400u64);
                    total_bytes += len;
                    let mut r = EncryptionRequest::new(
                        ctx(&[("tenant", &tenant)]),
                        CommitmentPolicy::default(),
                    );
                    r.suite = Some(AlgorithmSuite::Aes256GcmHkdfSha512Commit);
                    r.plaintext_length = Some(len);
                    let m = cmm.get_encryption_materials(&r).await.unwrap();
                    let (messages, bytes) =
                        ledger.charge(&m.encrypted_data_keys[0].ciphertext, len);
                    assert!(messages <= MAX_MESSAGES, "{messages} messages on one key");
                    assert!(bytes <= MAX_BYTES, "{bytes} bytes on one key");
                    assert_eq!(m.encryption_context["tenant"], tenant);
                    if rng.gen_bool(0.3) {
                        tokio::task::yield_now().await;
                    }
                }
                total_bytes
            })
        })
        .collect();
    let mut total_bytes = 0;
    for t in tasks {
        total_bytes += t.await.unwrap();
    }
    let requests = (TASKS * PER_TASK) as u64;
    let calls = keyring.generates();
    // Each key served at most 7 messages and 1000 bytes, so there were at least this many keys.
    let floor = (requests.div_ceil(MAX_MESSAGES)).max(total_bytes.div_ceil(MAX_BYTES));
    assert!(
        calls >= floor,
        "{calls} calls, fewer than the floor {floor}"
    );
    assert!(
        calls < requests / 2,
        "{calls} calls for {requests} requests: caching did nothing"
    );
    let stats = cmm.stats();
    assert_eq!(stats.hits + stats.misses, requests, "{stats:?}");
    assert_eq!(stats.misses, calls);
    let ledger = ledger.uses.lock().unwrap();
    assert_eq!(ledger.len() as u64, calls);
    assert_eq!(ledger.values().map(|u| u.0).sum::<u64>(), requests);
}

#[tokio::test(start_paused = true)]
async fn no_key_outlives_its_maximum_age_under_concurrency() {
    const MAX_AGE: Duration = Duration::from_secs(10);
    let keyring = CountingKeyring::with_delay(Duration::from_millis(300));
    let cmm = Arc::new(
        CachingCmm::builder_with_keyring(keyring.clone())
            .max_age(MAX_AGE)
            .max_messages(50)
            .refresh_ahead(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    let ledger = Arc::new(Ledger::default());
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (cmm, ledger, keyring) = (cmm.clone(), ledger.clone(), keyring.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(1000 + t as u64);
                let client = Client::new();
                for _ in 0..30 {
                    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..3000))).await;
                    let ec: EncryptionContext =
                        ctx(&[("tenant", &rng.gen_range(0..3).to_string())]);
                    let mut r = EncryptionRequest::new(ec.clone(), CommitmentPolicy::default());
                    r.plaintext_length = Some(100);
                    let m = cmm.get_encryption_materials(&r).await.unwrap();
                    let edk = &m.encrypted_data_keys[0];
                    let age = Instant::now() - keyring.generated_at(edk).unwrap();
                    assert!(age <= MAX_AGE, "a key {age:?} old was served");
                    let (messages, _) = ledger.charge(&edk.ciphertext, 100);
                    assert!(messages <= 50);
                    // And the materials are real: a message made with them decrypts.
                    if rng.gen_bool(0.1) {
                        let message = client.encrypt(&cmm, b"checked", &ec).await.unwrap();
                        assert_eq!(
                            client.decrypt(&cmm, &message).await.unwrap().plaintext,
                            b"checked"
                        );
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stats = cmm.stats();
    assert!(stats.refreshes > 0, "{stats:?}");
    assert!(stats.coalesced > 0, "{stats:?}");
}
