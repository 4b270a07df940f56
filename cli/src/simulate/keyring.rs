//! A simulated master-key provider: a real raw AES keyring behind the behaviour of a remote key
//! service (latency, a calls-per-second quota that throttles, a price per call).
//!
//! It runs on tokio time, so under the simulation's paused clock its latency costs no real time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sealbox::{
    AlgorithmSuite, DataKey, EncryptedDataKey, EncryptionContext, Keyring, KeyringError,
    RawAesKeyring, UnwrapError,
};
use tokio::time::Instant;
use zeroize::Zeroizing;

/// The name under which the keyring reports errors.
const NAME: &str = "simulated-kms";

/// The text every throttling error carries, as AWS KMS's `ThrottlingException` does. Callers
/// recognise throttling by it: a request that waited on another request's call receives a copy
/// of the error as text, without its source.
pub(crate) const THROTTLING: &str = "ThrottlingException";

/// How long one call to the key service takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Latency {
    /// Always this long.
    Fixed(Duration),
    /// Uniformly distributed between the two.
    Uniform(Duration, Duration),
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::Fixed(d) => write!(f, "{d:?}"),
            Latency::Uniform(a, b) => write!(f, "{a:?}-{b:?}"),
        }
    }
}

/// What the simulated key service is like.
#[derive(Clone, Debug)]
pub(crate) struct ServiceModel {
    pub(crate) latency: Latency,
    /// The quota in calls per second; calls beyond it are throttled. `None`: no quota.
    pub(crate) rate_limit: Option<f64>,
    /// How many seconds of quota the service lets a client save up (a token bucket of
    /// `rate_limit * burst_seconds` calls, full at the start), as request-rate quotas allow short
    /// bursts.
    pub(crate) burst_seconds: f64,
    /// Dollars per call that succeeds; throttled calls are not billed (as in AWS KMS).
    pub(crate) cost_per_call: f64,
}

/// Which side of the cache a call serves: generating or wrapping a data key for an encrypt, or
/// unwrapping one for a decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Encrypt,
    Decrypt,
}

/// What the key service saw.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ServiceStats {
    /// Calls that succeeded (and were billed), both sides.
    pub(crate) calls: u64,
    /// Of `calls`, those that unwrapped a data key for a decrypt.
    pub(crate) decrypt_calls: u64,
    /// Calls refused for exceeding the quota, both sides.
    pub(crate) throttled: u64,
    /// Of `throttled`, those of decrypts.
    pub(crate) decrypt_throttled: u64,
    /// Calls made at once, at most.
    pub(crate) max_concurrent: u64,
}

struct State {
    rng: StdRng,
    tokens: f64,
    refilled_at: Instant,
    stats: ServiceStats,
    concurrent: u64,
    /// When each data key was generated (the start of the call, which is when a cache counts
    /// its age from), by the ciphertext of its first encrypted data key.
    generated: HashMap<Vec<u8>, Instant>,
}

/// A [`Keyring`] that wraps with a real [`RawAesKeyring`] after the simulated service's latency,
/// and fails with a throttling error past its quota.
pub(crate) struct SimulatedKeyring {
    inner: RawAesKeyring,
    model: ServiceModel,
    state: Mutex<State>,
}

impl fmt::Debug for SimulatedKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedKeyring")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// The error a throttled call returns, kept as the source of the keyring error.
#[derive(Debug)]
struct Throttled {
    limit: f64,
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate exceeded: the quota is {} calls per second",
            self.limit
        )
    }
}

impl std::error::Error for Throttled {}

impl SimulatedKeyring {
    /// A simulated service. `seed` makes its latency draws reproducible.
    pub(crate) fn new(model: ServiceModel, seed: u64) -> Result<Self, sealbox::Error> {
        let inner = wrapping_keyring()?;
        let tokens = model
            .rate_limit
            .map_or(0.0, |r| bucket_size(r, model.burst_seconds));
        Ok(SimulatedKeyring {
            inner,
            model,
            state: Mutex::new(State {
                rng: StdRng::seed_from_u64(seed),
                tokens,
                refilled_at: Instant::now(),
                stats: ServiceStats::default(),
                concurrent: 0,
                generated: HashMap::new(),
            }),
        })
    }

    pub(crate) fn stats(&self) -> ServiceStats {
        self.lock().stats
    }

    /// When the data key whose first EDK has this ciphertext was generated.
    pub(crate) fn generated_at(&self, edk_ciphertext: &[u8]) -> Option<Instant> {
        self.lock().generated.get(edk_ciphertext).copied()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One round trip: admit or throttle the call, then wait the latency. Returns the start.
    async fn call(&self, side: Side) -> Result<Instant, KeyringError> {
        let started = Instant::now();
        let (latency, admitted) = {
            let mut s = self.lock();
            let latency = match self.model.latency {
                Latency::Fixed(d) => d,
                Latency::Uniform(a, b) if b > a => s.rng.gen_range(a..=b),
                Latency::Uniform(a, _) => a,
            };
            let admitted = match self.model.rate_limit {
                None => true,
                Some(rate) => {
                    let cap = bucket_size(rate, self.model.burst_seconds);
                    let elapsed = started.duration_since(s.refilled_at).as_secs_f64();
                    s.tokens = (s.tokens + elapsed * rate).min(cap);
                    s.refilled_at = started;
                    if s.tokens >= 1.0 {
                        s.tokens -= 1.0;
                        true
                    } else {
                        false
                    }
                }
            };
            s.concurrent += 1;
            s.stats.max_concurrent = s.stats.max_concurrent.max(s.concurrent);
            (latency, admitted)
        };
        tokio::time::sleep(latency).await;
        let mut s = self.lock();
        s.concurrent -= 1;
        let decrypt = u64::from(side == Side::Decrypt);
        if admitted {
            s.stats.calls += 1;
            s.stats.decrypt_calls += decrypt;
            Ok(started)
        } else {
            s.stats.throttled += 1;
            s.stats.decrypt_throttled += decrypt;
            Err(KeyringError::new(NAME, THROTTLING).with_source(Throttled {
                limit: self.model.rate_limit.unwrap_or_default(),
            }))
        }
    }
}

/// The keyring that does the simulated service's wrapping: the same key for every run, so that a
/// message written outside the service (a decrypt's message from before the traffic began)
/// unwraps through it.
pub(crate) fn wrapping_keyring() -> Result<RawAesKeyring, sealbox::Error> {
    RawAesKeyring::new("simulated", "master-key", Zeroizing::new(vec![0x11; 32]))
}

fn bucket_size(rate: f64, burst_seconds: f64) -> f64 {
    (rate * burst_seconds).max(1.0)
}

#[async_trait]
impl Keyring for SimulatedKeyring {
    async fn generate_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
    ) -> Result<(DataKey, Vec<EncryptedDataKey>), KeyringError> {
        let started = self.call(Side::Encrypt).await?;
        let (key, edks) = self
            .inner
            .generate_data_key(suite, encryption_context)
            .await?;
        if let Some(edk) = edks.first() {
            self.lock()
                .generated
                .insert(edk.ciphertext.clone(), started);
        }
        Ok((key, edks))
    }

    async fn wrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        self.call(Side::Encrypt).await?;
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
        if let Err(e) = self.call(Side::Decrypt).await {
            let mut err = UnwrapError::default();
            err.push(0, NAME, e);
            return Err(err);
        }
        self.inner
            .unwrap_data_key(suite, encryption_context, edks)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(rate_limit: Option<f64>) -> ServiceModel {
        ServiceModel {
            latency: Latency::Fixed(Duration::from_millis(10)),
            rate_limit,
            burst_seconds: 1.0,
            cost_per_call: 0.01,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn latency_is_virtual_and_the_quota_throttles() {
        let keyring = SimulatedKeyring::new(model(Some(5.0)), 1).unwrap();
        let ec = EncryptionContext::new();
        let suite = AlgorithmSuite::Aes256GcmHkdfSha512Commit;
        let t0 = Instant::now();
        let mut ok = 0;
        let mut throttled = 0;
        for _ in 0..8 {
            match keyring.generate_data_key(suite, &ec).await {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert!(e.to_string().contains(THROTTLING), "{e}");
                    throttled += 1;
                }
            }
        }
        // Eight sequential calls of 10 ms: 80 ms of virtual time. The bucket holds 5 calls and
        // refills 5 per second, so 0.4 more over 80 ms: 5 admitted, 3 throttled.
        assert_eq!(t0.elapsed(), Duration::from_millis(80));
        assert_eq!((ok, throttled), (5, 3));
        let stats = keyring.stats();
        assert_eq!((stats.calls, stats.throttled), (5, 3));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(keyring.generate_data_key(suite, &ec).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn generated_keys_are_recorded_with_their_call_start() {
        let keyring = SimulatedKeyring::new(model(None), 1).unwrap();
        let t0 = Instant::now();
        let (_, edks) = keyring
            .generate_data_key(
                AlgorithmSuite::Aes256GcmHkdfSha512Commit,
                &EncryptionContext::new(),
            )
            .await
            .unwrap();
        assert_eq!(keyring.generated_at(&edks[0].ciphertext), Some(t0));
    }
}
