//! What sealbox is for, with no AWS account: envelope encryption, then data-key caching.
//!
//! 1. One message: a fresh data key encrypts it, a master key (here a raw AES key, standing in
//!    for AWS KMS) wraps the data key, and the wrapped key travels in the message's header.
//! 2. A thousand messages through a caching materials manager: the master key is called a
//!    handful of times instead of once per message.
//!
//! Run with `cargo run --release --example quickstart`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sealbox::{
    AlgorithmSuite, CachingCmm, Client, DataKey, DefaultCmm, EncryptedDataKey, EncryptionContext,
    Keyring, KeyringError, RawAesKeyring, UnwrapError,
};
use zeroize::Zeroizing;

const MESSAGES: u64 = 1_000;
const MESSAGES_PER_DATA_KEY: u64 = 100;

/// A master key that counts its calls: a raw AES keyring underneath. With AWS KMS each of these
/// calls would be a network round trip (`GenerateDataKey`, `Decrypt`) with a price and a quota.
#[derive(Debug)]
struct CountingKeyring {
    inner: RawAesKeyring,
    wraps: AtomicU64,
    unwraps: AtomicU64,
}

#[async_trait]
impl Keyring for CountingKeyring {
    async fn wrap_data_key(
        &self,
        suite: AlgorithmSuite,
        context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        self.wraps.fetch_add(1, Ordering::Relaxed);
        self.inner.wrap_data_key(suite, context, data_key).await
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        self.unwraps.fetch_add(1, Ordering::Relaxed);
        self.inner.unwrap_data_key(suite, context, edks).await
    }
}

impl CountingKeyring {
    fn calls(&self) -> (u64, u64) {
        (
            self.wraps.load(Ordering::Relaxed),
            self.unwraps.load(Ordering::Relaxed),
        )
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), sealbox::Error> {
    // In production the wrapping key lives in a key manager (AWS KMS: see docs/kms.md); here it
    // is random and lives only in this process.
    let mut wrapping_key = Zeroizing::new(vec![0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut wrapping_key);
    let keyring = Arc::new(CountingKeyring {
        inner: RawAesKeyring::new("quickstart", "demo-key", wrapping_key)?,
        wraps: AtomicU64::new(0),
        unwraps: AtomicU64::new(0),
    });
    // Commitment required, suite 0x0578 (AES-256-GCM, HKDF-SHA512, ECDSA P-384), 4 KiB frames.
    let client = Client::new();

    // The encryption context is authenticated, stored in the header in the clear, and picks the
    // cache entry below: one data key per context.
    let mut context = EncryptionContext::new();
    context.insert("tenant".into(), "example-co".into());
    context.insert("purpose".into(), "quickstart".into());

    println!("1. Envelope encryption: one message");
    let cmm = DefaultCmm::from_arc(keyring.clone());
    let plaintext = b"The quick brown fox jumps over the lazy dog. ".repeat(200);
    let message = client.encrypt(&cmm, &plaintext, &context).await?;
    let decrypted = client.decrypt(&cmm, &message).await?;
    assert_eq!(decrypted.plaintext, plaintext);
    let header = &decrypted.header;
    println!(
        "   {} bytes -> a {}-byte message: suite {}, format v{}, {} frames of {} bytes",
        plaintext.len(),
        message.len(),
        header.suite,
        header.version,
        plaintext.len().div_ceil(header.frame_length as usize),
        header.frame_length,
    );
    for edk in &header.encrypted_data_keys {
        println!(
            "   data key wrapped by {:?} ({} bytes)",
            edk.provider_id,
            edk.ciphertext.len()
        );
    }
    for (key, value) in &decrypted.encryption_context {
        println!("   context {key} = {value}");
    }
    let (wraps, unwraps) = keyring.calls();
    println!("   master-key calls: {wraps} to wrap, {unwraps} to unwrap (one of each per message)");
    let mut tampered = message.clone();
    let last_frame = tampered.len() - 200;
    tampered[last_frame] ^= 1;
    match client.decrypt(&cmm, &tampered).await {
        Ok(_) => panic!("a tampered message decrypted"),
        Err(e) => println!("   one bit flipped: rejected ({e})"),
    }

    println!("\n2. Data-key caching: {MESSAGES} messages");
    let before = keyring.calls();
    let caching = CachingCmm::builder_with_keyring(keyring.clone())
        // Bounds how long a revoked master-key permission goes unnoticed.
        .max_age(Duration::from_secs(300))
        // Bounds how much data one data key protects.
        .max_messages(MESSAGES_PER_DATA_KEY)
        .build()?;
    for i in 0..MESSAGES {
        let plaintext = format!("record {i}");
        let message = client
            .encrypt(&caching, plaintext.as_bytes(), &context)
            .await?;
        let decrypted = client.decrypt(&caching, &message).await?;
        assert_eq!(decrypted.plaintext, plaintext.as_bytes());
    }
    let (wraps, unwraps) = keyring.calls();
    let (wraps, unwraps) = (wraps - before.0, unwraps - before.1);
    let stats = caching.stats();
    println!(
        "   encrypted and decrypted {MESSAGES} messages, at most {MESSAGES_PER_DATA_KEY} per data key"
    );
    println!(
        "   master-key calls: {wraps} to wrap, {unwraps} to unwrap ({} without the cache)",
        2 * MESSAGES
    );
    println!(
        "   cache: {} hits, {} misses; every message still has its own key, derived from the \
         data key and its message ID",
        stats.hits, stats.misses
    );
    assert_eq!(wraps, MESSAGES / MESSAGES_PER_DATA_KEY);
    assert_eq!(unwraps, MESSAGES / MESSAGES_PER_DATA_KEY);
    Ok(())
}
