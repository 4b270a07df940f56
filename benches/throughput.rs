//! Bulk throughput by message size and suite, with a warm caching materials manager so that the
//! figures are the message format's cost, not the keyring's: encrypt and decrypt into reused
//! buffers (`encrypt_into`, `decrypt_into`) and in place (`encrypt_in_place`,
//! `decrypt_in_place`). `sealbox bench` reports the same ground against the crypto backend's own
//! AES-GCM and ECDSA; this is for development (`cargo bench --bench throughput`, and with
//! `--features aws-lc` for the other backend).

// `criterion_group!` generates a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sealbox::{AlgorithmSuite, CachingCmm, Client, EncryptionContext, RawAesKeyring};
use zeroize::Zeroizing;

const SIZES: [usize; 4] = [1 << 10, 64 << 10, 1 << 20, 16 << 20];

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let keyring =
        RawAesKeyring::new("bench", "key", Zeroizing::new(vec![3u8; 32])).expect("keyring");
    let cmm = CachingCmm::builder_with_keyring(keyring)
        .max_age(Duration::from_secs(3600))
        .build()
        .expect("caching cmm");
    let mut context = EncryptionContext::new();
    context.insert("purpose".into(), "bench".into());

    for suite in [
        AlgorithmSuite::Aes256GcmHkdfSha512Commit,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384,
        AlgorithmSuite::Aes256GcmHkdfSha256,
    ] {
        let client = Client::builder()
            .commitment_policy(if suite.is_committing() {
                sealbox::CommitmentPolicy::RequireEncryptRequireDecrypt
            } else {
                sealbox::CommitmentPolicy::ForbidEncryptAllowDecrypt
            })
            .algorithm_suite(suite)
            .build()
            .expect("client");
        let mut group = c.benchmark_group(format!("{} {suite}", sealbox::crypto_backend()));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(2));
        for size in SIZES {
            let plaintext: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let message = runtime
                .block_on(client.encrypt(&cmm, &plaintext, &context))
                .expect("encrypt");
            group.throughput(Throughput::Bytes(size as u64));
            let mut out = Vec::with_capacity(message.len());
            group.bench_function(BenchmarkId::new("encrypt_into", size), |b| {
                b.iter(|| {
                    out.clear();
                    runtime
                        .block_on(client.encrypt_into(&cmm, &plaintext, &context, &mut out))
                        .expect("encrypt")
                })
            });
            group.bench_function(BenchmarkId::new("decrypt_into", size), |b| {
                b.iter(|| {
                    out.clear();
                    runtime
                        .block_on(client.decrypt_into(&cmm, &message, &mut out))
                        .expect("decrypt")
                })
            });
            // In place: the buffer is filled before every iteration, outside the timing, with room
            // for the message.
            group.bench_function(BenchmarkId::new("encrypt_in_place", size), |b| {
                b.iter_batched_ref(
                    || {
                        let mut buffer = Vec::with_capacity(message.len() + 64);
                        buffer.extend_from_slice(&plaintext);
                        buffer
                    },
                    |buf| {
                        runtime
                            .block_on(client.encrypt_in_place(&cmm, &context, buf))
                            .expect("encrypt")
                    },
                    criterion::BatchSize::LargeInput,
                )
            });
            group.bench_function(BenchmarkId::new("decrypt_in_place", size), |b| {
                b.iter_batched_ref(
                    || message.clone(),
                    |buf| {
                        runtime
                            .block_on(client.decrypt_in_place(&cmm, buf))
                            .expect("decrypt")
                    },
                    criterion::BatchSize::LargeInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
