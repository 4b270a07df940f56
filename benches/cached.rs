//! Encrypt and decrypt by message size (1 KiB, 64 KiB, 1 MiB) and suite (0x0478, 0x0578), through
//! a warm caching materials manager and without one; and a cache lookup alone.
//!
//! The keyring is raw AES, so "uncached" measures local data-key generation and wrapping (and,
//! for 0x0578, a fresh ECDSA P-384 key pair per message); a remote master key would add its round
//! trip to every uncached message. `cargo bench --bench cached`.

// `criterion_group!` generates a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sealbox::EncryptionRequest;
use sealbox::{
    AlgorithmSuite, CachingCmm, Client, CommitmentPolicy, DefaultCmm, EncryptionContext,
    MaterialsManager, RawAesKeyring,
};
use sealbox::{CacheId, EntryLimits, LruMaterialsCache, MaterialsCache, Usage};
use zeroize::Zeroizing;

const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];
const SUITES: [AlgorithmSuite; 2] = [
    AlgorithmSuite::Aes256GcmHkdfSha512Commit,
    AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384,
];

fn keyring() -> RawAesKeyring {
    RawAesKeyring::new("bench", "key", Zeroizing::new(vec![3u8; 32])).expect("keyring")
}

fn context() -> EncryptionContext {
    let mut ec = EncryptionContext::new();
    ec.insert("purpose".into(), "bench".into());
    ec.insert("tenant".into(), "acme".into());
    ec
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn encrypt_decrypt(c: &mut Criterion) {
    let rt = runtime();
    let context = context();
    for suite in SUITES {
        let client = Client::builder()
            .algorithm_suite(suite)
            .build()
            .expect("client");
        let uncached = DefaultCmm::new(keyring());
        let cached = CachingCmm::builder_with_keyring(keyring())
            .max_age(Duration::from_secs(3600))
            .build()
            .expect("caching cmm");
        let managers: [(&str, &dyn MaterialsManager); 2] =
            [("uncached", &uncached), ("cached", &cached)];
        for (size, size_name) in SIZES {
            let plaintext = vec![0x42u8; size];
            let mut group = c.benchmark_group(format!("{suite}/{size_name}"));
            group.throughput(Throughput::Bytes(size as u64));
            for (name, cmm) in managers {
                // One message to decrypt, and a warm cache entry for each direction.
                let message = rt
                    .block_on(client.encrypt(cmm, &plaintext, &context))
                    .expect("encrypt");
                rt.block_on(client.decrypt(cmm, &message)).expect("decrypt");
                group.bench_function(BenchmarkId::new("encrypt", name), |b| {
                    b.iter(|| {
                        rt.block_on(client.encrypt(cmm, &plaintext, &context))
                            .expect("encrypt")
                    })
                });
                group.bench_function(BenchmarkId::new("decrypt", name), |b| {
                    b.iter(|| rt.block_on(client.decrypt(cmm, &message)).expect("decrypt"))
                });
            }
            group.finish();
        }
        let stats = cached.stats();
        eprintln!(
            "{suite}: the cached runs made {} underlying calls for {} requests",
            stats.underlying_calls,
            stats.hits + stats.misses
        );
    }
}

fn lookup(c: &mut Criterion) {
    let rt = runtime();
    let context = context();
    let mut group = c.benchmark_group("cache lookup");
    for suite in SUITES {
        // The cache alone: one warm encryption entry, looked up and charged.
        let mut request = EncryptionRequest::new(context.clone(), CommitmentPolicy::default());
        request.suite = Some(suite);
        let materials = rt
            .block_on(DefaultCmm::new(keyring()).get_encryption_materials(&request))
            .expect("materials");
        let cache = LruMaterialsCache::new(1000).expect("cache");
        let id = CacheId::for_encryption("bench", Some(suite), &context).expect("id");
        let limits = EntryLimits::new(Duration::from_secs(3600));
        let now = tokio::time::Instant::now();
        cache.put_encryption(id, materials, Usage::default(), &limits, now);
        let charge = Usage {
            messages: 1,
            bytes: 1024,
        };
        group.bench_function(
            BenchmarkId::new("LruMaterialsCache::get_encryption", suite),
            |b| {
                b.iter(|| {
                    cache
                        .get_encryption(&id, charge, &limits, now)
                        .expect("hit")
                })
            },
        );

        // Through the caching manager: the cache ID (SHA-512 over the context), the lookup and
        // the copy of the materials, as every cached encrypt pays.
        let cmm = CachingCmm::builder_with_keyring(keyring())
            .max_age(Duration::from_secs(3600))
            .build()
            .expect("caching cmm");
        request.plaintext_length = Some(1024);
        rt.block_on(cmm.get_encryption_materials(&request))
            .expect("warm");
        group.bench_function(BenchmarkId::new("CachingCmm hit", suite), |b| {
            b.iter(|| {
                rt.block_on(cmm.get_encryption_materials(&request))
                    .expect("hit")
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // Short runs: the whole file takes about a minute on two cores.
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = encrypt_decrypt, lookup
}
criterion_main!(benches);
