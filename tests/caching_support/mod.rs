//! Shared by the caching tests: a keyring that counts its calls and can be slowed, gated or
//! made to fail.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sealbox::{
    AlgorithmSuite, DataKey, EncryptedDataKey, EncryptionContext, Keyring, KeyringError,
    RawAesKeyring, UnwrapError,
};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use zeroize::Zeroizing;

/// Wraps a [`RawAesKeyring`] and counts calls. `delay` sleeps on tokio's clock (paused in the
/// time-dependent tests), and `gate`, when set, holds every generate until the test releases a
/// permit.
#[derive(Debug)]
pub(crate) struct CountingKeyring {
    inner: RawAesKeyring,
    generates: AtomicU64,
    unwraps: AtomicU64,
    delay: Mutex<Duration>,
    fail: AtomicBool,
    gate: Mutex<Option<Arc<Semaphore>>>,
    /// When the call that generated each data key began, by the ciphertext of its EDK.
    generated_at: Mutex<HashMap<Vec<u8>, Instant>>,
}

impl CountingKeyring {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(CountingKeyring {
            inner: RawAesKeyring::new("counting", "key", Zeroizing::new(vec![42u8; 32])).unwrap(),
            generates: AtomicU64::new(0),
            unwraps: AtomicU64::new(0),
            delay: Mutex::new(Duration::ZERO),
            fail: AtomicBool::new(false),
            gate: Mutex::new(None),
            generated_at: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn with_delay(delay: Duration) -> Arc<Self> {
        let k = Self::new();
        k.set_delay(delay);
        k
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub(crate) fn set_failing(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    pub(crate) fn set_gate(&self, gate: Arc<Semaphore>) {
        *self.gate.lock().unwrap() = Some(gate);
    }

    pub(crate) fn generates(&self) -> u64 {
        self.generates.load(Ordering::SeqCst)
    }

    pub(crate) fn unwraps(&self) -> u64 {
        self.unwraps.load(Ordering::SeqCst)
    }

    pub(crate) fn generated_at(&self, edk: &EncryptedDataKey) -> Option<Instant> {
        self.generated_at
            .lock()
            .unwrap()
            .get(&edk.ciphertext)
            .copied()
    }

    async fn pause(&self) -> Result<(), KeyringError> {
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(KeyringError::new("counting", "injected failure"));
        }
        Ok(())
    }
}

#[async_trait]
impl Keyring for CountingKeyring {
    async fn generate_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
    ) -> Result<(DataKey, Vec<EncryptedDataKey>), KeyringError> {
        self.generates.fetch_add(1, Ordering::SeqCst);
        let called_at = Instant::now();
        let gate = self.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            gate.acquire().await.unwrap().forget();
        }
        self.pause().await?;
        let (key, edks) = self
            .inner
            .generate_data_key(suite, encryption_context)
            .await?;
        let mut at = self.generated_at.lock().unwrap();
        for edk in &edks {
            at.insert(edk.ciphertext.clone(), called_at);
        }
        Ok((key, edks))
    }

    async fn wrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        self.inner
            .wrap_data_key(suite, encryption_context, data_key)
            .await
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.pause().await {
            let mut err = UnwrapError::default();
            err.push(0, "counting", e.to_string());
            return Err(err);
        }
        self.inner
            .unwrap_data_key(suite, encryption_context, edks)
            .await
    }
}

pub(crate) fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
