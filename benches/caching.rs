//! 1 KiB encrypt and decrypt with and without a warm cache, for suites 0x0478 and 0x0578 (the
//! default). The keyring is raw AES, so "without" measures local key generation and wrapping; a
//! remote master key (KMS) would widen the gap by its round trip.

// `criterion_group!` generates a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sealbox::{
    AlgorithmSuite, CachingCmm, Client, DefaultCmm, EncryptionContext, MaterialsManager,
    RawAesKeyring,
};
use zeroize::Zeroizing;

fn keyring() -> RawAesKeyring {
    RawAesKeyring::new("bench", "key", Zeroizing::new(vec![3u8; 32])).expect("keyring")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let plaintext = vec![0x42u8; 1024];
    let mut context = EncryptionContext::new();
    context.insert("purpose".into(), "bench".into());

    for suite in [
        AlgorithmSuite::Aes256GcmHkdfSha512Commit,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384,
    ] {
        let client = Client::builder()
            .algorithm_suite(suite)
            .build()
            .expect("client");
        let plain = DefaultCmm::new(keyring());
        let cached = CachingCmm::builder_with_keyring(keyring())
            .max_age(Duration::from_secs(3600))
            .build()
            .expect("caching cmm");
        let managers: [(&str, &dyn MaterialsManager); 2] =
            [("no cache", &plain), ("warm cache", &cached)];

        let mut group = c.benchmark_group(format!("1KiB/{suite}"));
        group.throughput(Throughput::Bytes(plaintext.len() as u64));
        for (name, cmm) in managers {
            // Warm the cache (a no-op for the default manager).
            let message = runtime
                .block_on(client.encrypt(cmm, &plaintext, &context))
                .expect("encrypt");
            runtime
                .block_on(client.decrypt(cmm, &message))
                .expect("decrypt");
            group.bench_function(BenchmarkId::new("encrypt", name), |b| {
                b.iter(|| {
                    runtime
                        .block_on(client.encrypt(cmm, &plaintext, &context))
                        .expect("encrypt")
                })
            });
            group.bench_function(BenchmarkId::new("decrypt", name), |b| {
                b.iter(|| {
                    runtime
                        .block_on(client.decrypt(cmm, &message))
                        .expect("decrypt")
                })
            });
        }
        group.finish();
        let stats = cached.stats();
        eprintln!(
            "{suite}: warm-cache runs made {} underlying calls for {} requests",
            stats.underlying_calls,
            stats.hits + stats.misses
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
