//! Data-key caching: a caching materials manager over a raw AES keyring, encrypting and decrypting
//! many messages from concurrent tasks, then printing what the cache saved.
//!
//! ```text
//! cargo run --release --example caching
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use sealbox::{CachingCmm, Client, EncryptionContext, LruMaterialsCache, RawAesKeyring};
use zeroize::Zeroizing;

const TASKS: usize = 16;
const MESSAGES_PER_TASK: usize = 125;
const TENANTS: usize = 4;

#[tokio::main]
async fn main() -> Result<(), sealbox::Error> {
    // In production the wrapping key comes from a key manager; a fixed one keeps the example
    // self-contained.
    let keyring = RawAesKeyring::new("example", "aes-256", Zeroizing::new(vec![0x5a; 32]))?;

    // One cache, which several caching managers could share (each in its own partition).
    let cache = Arc::new(LruMaterialsCache::new(100)?);
    let cmm = Arc::new(
        CachingCmm::builder_with_keyring(keyring)
            // How long a data key is used: bounds how long a revoked master key goes unnoticed.
            .max_age(Duration::from_secs(300))
            // At most 100 messages and 1 MiB of plaintext per data key.
            .max_messages(100)
            .max_bytes(1 << 20)
            // Fetch a fresh key in the background 30 s before the current one expires.
            .refresh_ahead(Duration::from_secs(30))
            .cache(cache.clone())
            .build()?,
    );
    let client = Client::new();

    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (cmm, client) = (cmm.clone(), client.clone());
            tokio::spawn(async move {
                for i in 0..MESSAGES_PER_TASK {
                    // The encryption context picks the cache entry: one data key per tenant.
                    let mut context = EncryptionContext::new();
                    context.insert("tenant".into(), format!("tenant-{}", i % TENANTS));
                    let plaintext = format!("task {task} message {i}").repeat(20);
                    let message = client
                        .encrypt(&*cmm, plaintext.as_bytes(), &context)
                        .await?;
                    let decrypted = client.decrypt(&*cmm, &message).await?;
                    assert_eq!(decrypted.plaintext, plaintext.as_bytes());
                }
                Ok::<(), sealbox::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task panicked")?;
    }
    let elapsed = started.elapsed();

    let messages = TASKS * MESSAGES_PER_TASK;
    let stats = cmm.stats();
    println!("{messages} messages encrypted and decrypted by {TASKS} tasks in {elapsed:.2?}");
    println!(
        "requests: hits={} misses={} bypasses={} coalesced={}",
        stats.hits,
        stats.misses,
        stats.bypasses(),
        stats.coalesced
    );
    println!(
        "underlying calls: {} for {} requests (refreshes: {})",
        stats.underlying_calls,
        2 * messages,
        stats.refreshes
    );
    let cache_stats = cache.stats();
    println!(
        "cache: entries={} puts={} evictions: age={} messages={} bytes={} capacity={}",
        cache_stats.entries,
        cache_stats.puts,
        cache_stats.evictions.age,
        cache_stats.evictions.messages,
        cache_stats.evictions.bytes,
        cache_stats.evictions.capacity
    );
    Ok(())
}
