//! One simulation run: real encrypts through the real client and caching materials manager, over
//! the simulated master key, on tokio's paused clock.
//!
//! The traffic generator (or the trace) spawns one task per request at its arrival time, so
//! requests overlap exactly as they would in a service: while a master-key call is in flight, the
//! requests that arrive wait on it (single flight) or make their own. The clock advances only
//! when every task is waiting, so master-key latency, backoff and a month of arrivals cost no
//! real time; only the encryption itself does.
//!
//! # Which message a decrypt reads back
//! A decrypt goes through the caching manager's decrypt path with the header of a message that
//! this run wrote: it gets the materials (a hit when a decrypt of a message under the same data
//! key cached them within max age, otherwise one master-key call to unwrap the data key) and
//! authenticates the header. The body is not decrypted: its cost is CPU time, which is not
//! simulated, and does not change what the cache or the master key see.
//! - Synthetic traffic (`--decrypt-ratio`, `--decrypt-delay`): the message that encrypt wrote.
//! - A trace: the latest message written under the same context (the last whose encrypt had
//!   finished when the decrypt arrived). Reading back recent messages is the favourable case:
//!   consecutive reads share data keys, so they hit. A service that reads old messages touches
//!   one data key per max-messages messages written, and pays one call per key per max age.
//! - If there is no such message yet (a trace that reads before it writes, or a synthetic
//!   message whose encrypt failed or has not finished), a message written before the traffic
//!   began: one per context, under a data key of its own, written without the master key's
//!   latency or cost. Such reads are counted (`decrypts_of_older_messages`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sealbox::format::{parse_header, HeaderLimits};
use sealbox::{
    AlgorithmSuite, CachingCmm, Client, DecryptOptions, DecryptionMaterials, DefaultCmm,
    EncryptionContext, EncryptionMaterials, LruMaterialsCache, MaterialsManager, PendingMessage,
    PlaintextLength,
};
use sealbox::{DecryptionRequest, EncryptionRequest};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::keyring::{ServiceModel, SimulatedKeyring, THROTTLING};
use super::trace::{Op, Request, TraceReader, TraceSummary};
use super::traffic::{show_duration, show_size, Arrivals, ReadBack, Sizes, SyntheticSource};

/// Messages up to this size are encrypted for real, from a buffer of zeros. Larger ones get their
/// materials through the streaming API with their exact declared length, which is what the cache
/// charges, and are not written: the cache's accounting is the same, without allocating and
/// encrypting gigabytes.
pub(crate) const REAL_BYTES_LIMIT: u64 = 64 * 1024;

/// Thirty days: what `cost_usd_per_month` extrapolates the simulated window to.
pub(crate) const MONTH: Duration = Duration::from_secs(30 * 24 * 3600);

/// The application that sends the traffic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    /// Retries after a failed encrypt (throttling or any other error).
    pub(crate) retries: u32,
    /// The first backoff; it doubles with every retry, with full jitter.
    pub(crate) backoff: Duration,
    /// A request that has not succeeded this long after it arrived fails.
    pub(crate) timeout: Duration,
    /// Requests in progress at once (the application's workers); the others queue.
    pub(crate) concurrency: usize,
}

/// Everything a run needs but its cache thresholds.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) scenario: Option<&'static str>,
    pub(crate) arrivals: Arrivals,
    pub(crate) sizes: Sizes,
    /// Distinct encryption contexts, used in turn (each is its own cache entry).
    pub(crate) contexts: u32,
    /// Synthetic decrypts.
    pub(crate) read_back: Option<ReadBack>,
    /// Replay this trace instead of the synthetic traffic (`arrivals`, `sizes`, `contexts` and
    /// `read_back` are then unused).
    pub(crate) trace: Option<TraceSummary>,
    /// The simulated window during which requests arrive (a trace's span).
    pub(crate) duration: Duration,
    pub(crate) service: ServiceModel,
    pub(crate) caller: Caller,
    pub(crate) suite: AlgorithmSuite,
    pub(crate) seed: u64,
    /// Dollars per month to compare the extrapolated cost with.
    pub(crate) budget: Option<f64>,
}

impl Plan {
    /// Requests that arrive in the window: encrypts and decrypts.
    pub(crate) fn requests(&self) -> u64 {
        if let Some(t) = &self.trace {
            return t.requests;
        }
        let encrypts = self.encrypts();
        encrypts
            + self
                .read_back
                .map_or(0, |r| (encrypts as f64 * r.ratio).floor() as u64)
    }

    /// Whether any request is a decrypt.
    pub(crate) fn has_decrypts(&self) -> bool {
        match &self.trace {
            Some(t) => t.decrypts > 0,
            None => self.read_back.is_some_and(|r| r.ratio > 0.0),
        }
    }

    /// The requests, in time order.
    fn source(&self) -> anyhow::Result<Source> {
        Ok(match &self.trace {
            Some(t) => Source::Trace(Box::new(TraceReader::open(&t.path)?)),
            None => Source::Synthetic(Box::new(SyntheticSource::new(
                self.arrivals,
                self.sizes.clone(),
                self.contexts,
                self.duration,
                self.read_back,
                self.seed,
            ))),
        })
    }

    /// Write the synthetic traffic as a trace.
    pub(crate) fn write_trace(&self, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
        let source = SyntheticSource::new(
            self.arrivals,
            self.sizes.clone(),
            self.contexts,
            self.duration,
            self.read_back,
            self.seed,
        );
        Ok(super::trace::write_csv(out, source, synthetic_context)?)
    }

    /// Synthetic encrypts that arrive in the window (arrival times only grow: a binary search).
    fn encrypts(&self) -> u64 {
        let arrives = |i: u64| self.arrivals.time_of(i) < self.duration;
        if !arrives(0) {
            return 0;
        }
        let mut hi = 1u64;
        while arrives(hi) {
            hi *= 2;
        }
        let mut lo = hi / 2;
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if arrives(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo + 1
    }
}

/// The name of synthetic context `c`: the encryption context is `{"tenant": name}`.
fn synthetic_context(c: u32) -> String {
    format!("tenant-{c}")
}

/// Where requests come from.
enum Source {
    Synthetic(Box<SyntheticSource>),
    Trace(Box<TraceReader>),
}

impl Source {
    fn next_request(&mut self) -> anyhow::Result<Option<Request>> {
        match self {
            Source::Synthetic(s) => Ok(s.next()),
            Source::Trace(t) => t.next_request(),
        }
    }

    fn context_name(&self, c: u32) -> String {
        match self {
            Source::Synthetic(_) => synthetic_context(c),
            Source::Trace(t) => t.context_name(c).to_owned(),
        }
    }
}

/// One point of a run's time series: what happened since the point before.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sample {
    /// The end of the interval, from the start.
    pub(crate) at: Duration,
    pub(crate) interval: Duration,
    /// Master-key calls that succeeded in the interval, both sides; and of them, decrypts'.
    pub(crate) calls: u64,
    pub(crate) decrypt_calls: u64,
    /// The caching manager's hits, misses and bypasses in the interval (zero without a cache).
    pub(crate) hits: u64,
    pub(crate) misses: u64,
}

/// Points in a run's time series.
const SAMPLES: u32 = 200;

/// The thresholds of one configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Thresholds {
    pub(crate) max_age: Duration,
    /// `None`: the caching CMM's default (2^32).
    pub(crate) max_messages: Option<u64>,
    /// `None`: the caching CMM's default (2^63 - 1).
    pub(crate) max_bytes: Option<u64>,
    pub(crate) capacity: usize,
    pub(crate) refresh_ahead: Option<Duration>,
}

/// A configuration: a caching CMM with thresholds, or none (every message calls the master key).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum CacheConfig {
    Off,
    On(Thresholds),
}

impl fmt::Display for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheConfig::Off => write!(f, "no cache"),
            CacheConfig::On(t) => {
                write!(f, "age {}", show_duration(t.max_age))?;
                if let Some(m) = t.max_messages {
                    write!(f, " msgs {m}")?;
                }
                if let Some(b) = t.max_bytes {
                    write!(f, " bytes {}", show_size(b))?;
                }
                if t.capacity != sealbox::DEFAULT_CACHE_CAPACITY {
                    write!(f, " cap {}", t.capacity)?;
                }
                if let Some(r) = t.refresh_ahead {
                    write!(f, " refresh {}", show_duration(r))?;
                }
                Ok(())
            }
        }
    }
}

/// What the caching CMM reported.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CacheCounters {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) coalesced: u64,
    pub(crate) bypasses: u64,
    pub(crate) refreshes: u64,
    pub(crate) evicted_age: u64,
    pub(crate) evicted_messages: u64,
    pub(crate) evicted_bytes: u64,
    pub(crate) evicted_capacity: u64,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub(crate) config: CacheConfig,
    pub(crate) requests: u64,
    pub(crate) encrypts: u64,
    pub(crate) decrypts: u64,
    /// Decrypts that found no message of their own or of their context yet, and read one
    /// written before the traffic began.
    pub(crate) decrypts_of_older_messages: u64,
    pub(crate) succeeded: u64,
    /// Requests that gave up: out of retries, or out of time.
    pub(crate) failed: u64,
    pub(crate) timed_out: u64,
    pub(crate) retries: u64,
    /// Requests that saw at least one throttling error (their own call's, or the one they waited
    /// on).
    pub(crate) requests_throttled: u64,
    /// Errors other than throttling that requests saw (none are expected).
    pub(crate) other_errors: u64,
    pub(crate) first_other_error: Option<String>,
    /// Master-key calls that succeeded (and were billed), both sides.
    pub(crate) kms_calls: u64,
    /// Of `kms_calls`, those that unwrapped a data key for a decrypt.
    pub(crate) kms_decrypt_calls: u64,
    /// Master-key calls refused for exceeding the quota, both sides.
    pub(crate) throttled: u64,
    /// Of `throttled`, decrypts' calls.
    pub(crate) decrypt_throttled: u64,
    pub(crate) max_concurrent_calls: u64,
    pub(crate) cost_usd: f64,
    pub(crate) cost_usd_per_month: f64,
    /// Of `cost_usd_per_month`, the decrypts' share.
    pub(crate) decrypt_cost_usd_per_month: f64,
    /// The simulated window.
    pub(crate) window: Duration,
    /// From the first arrival until the last request finished.
    pub(crate) simulated: Duration,
    /// Successful requests per second, over the window or until the last one finished if later.
    pub(crate) throughput: f64,
    pub(crate) latency_p50: Duration,
    pub(crate) latency_p99: Duration,
    pub(crate) latency_max: Duration,
    /// Latency of the successful decrypts alone.
    pub(crate) decrypt_latency_p50: Duration,
    pub(crate) decrypt_latency_p99: Duration,
    /// Successful requests that took any virtual time: they waited for a master-key call (their
    /// own or another's), a backoff or a worker. A cache hit takes none.
    pub(crate) waited: u64,
    /// Data keys that encrypted at least one message.
    pub(crate) data_keys: u64,
    pub(crate) max_messages_per_data_key: u64,
    pub(crate) mean_messages_per_data_key: f64,
    pub(crate) max_bytes_per_data_key: u64,
    /// From the start of the call that generated a key to the last message it encrypted.
    pub(crate) max_data_key_age: Duration,
    /// For bursty traffic: the most bursts one data key encrypted messages in.
    pub(crate) max_bursts_per_data_key: Option<u64>,
    pub(crate) cache: Option<CacheCounters>,
    /// Master-key calls and cache hits over time.
    pub(crate) series: Vec<Sample>,
    pub(crate) real: std::time::Duration,
}

/// How one data key was used.
#[derive(Debug)]
struct KeyUse {
    generated: Instant,
    messages: u64,
    bytes: u64,
    last_use: Instant,
    first_burst: Option<u64>,
    last_burst: Option<u64>,
}

/// A materials manager in front of the one under test that records which data key each message
/// received, and how many bytes it declared: what actually happened, whatever the thresholds said.
struct Observer {
    inner: Arc<dyn MaterialsManager>,
    keyring: Arc<SimulatedKeyring>,
    start: Instant,
    arrivals: Arrivals,
    keys: Mutex<HashMap<Vec<u8>, KeyUse>>,
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MaterialsManager for Observer {
    async fn get_encryption_materials(
        &self,
        request: &EncryptionRequest,
    ) -> Result<EncryptionMaterials, sealbox::Error> {
        let materials = self.inner.get_encryption_materials(request).await?;
        let now = Instant::now();
        let bytes = request
            .plaintext_length
            .or(request.max_plaintext_length)
            .unwrap_or(0);
        let burst = self.arrivals.burst_of(now - self.start);
        if let Some(edk) = materials.encrypted_data_keys.first() {
            let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            let key = keys
                .entry(edk.ciphertext.clone())
                .or_insert_with(|| KeyUse {
                    generated: self.keyring.generated_at(&edk.ciphertext).unwrap_or(now),
                    messages: 0,
                    bytes: 0,
                    last_use: now,
                    first_burst: burst,
                    last_burst: burst,
                });
            key.messages += 1;
            key.bytes += bytes;
            key.last_use = key.last_use.max(now);
            key.last_burst = key.last_burst.max(burst);
        }
        Ok(materials)
    }

    async fn decrypt_materials(
        &self,
        request: &DecryptionRequest,
    ) -> Result<DecryptionMaterials, sealbox::Error> {
        self.inner.decrypt_materials(request).await
    }
}

#[derive(Default)]
struct Tally {
    succeeded: u64,
    failed: u64,
    timed_out: u64,
    retries: u64,
    requests_throttled: u64,
    other_errors: u64,
    first_other_error: Option<String>,
    latencies_us: Vec<u64>,
    decrypt_latencies_us: Vec<u64>,
    decrypts_of_older_messages: u64,
    last_done: Option<Instant>,
}

/// A message header to read back, shared by the decrypts that read it.
type Header = Arc<[u8]>;

/// The messages decrypts read back (see the module docs).
#[derive(Default)]
struct Written {
    /// By the encrypt's request number: headers that decrypts naming them will read, with how
    /// many reads are left.
    named: HashMap<u64, (Header, u32)>,
    /// By context: the latest header written.
    latest: HashMap<u32, Header>,
    /// By context: a message written before the traffic began.
    older: HashMap<u32, Header>,
}

/// Writes the messages "written before the traffic began": the simulated master key's own
/// wrapping key, without its latency, quota or cost.
struct OlderWriter {
    client: Client,
    cmm: DefaultCmm,
}

struct Shared {
    client: Client,
    cmm: Arc<Observer>,
    caller: Caller,
    zeros: Vec<u8>,
    workers: Semaphore,
    tally: Mutex<Tally>,
    jitter: Mutex<StdRng>,
    written: Mutex<Written>,
    older_writer: OlderWriter,
}

/// An error and its sources, as text: a throttled unwrap says so only in a source.
fn error_text(e: &sealbox::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Shared {
    fn tally(&self) -> MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn written(&self) -> MutexGuard<'_, Written> {
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Encrypt one message; returns its header.
    async fn encrypt_once(
        &self,
        context: &EncryptionContext,
        size: u64,
    ) -> Result<Vec<u8>, sealbox::Error> {
        let cmm: &dyn MaterialsManager = self.cmm.as_ref();
        if size <= REAL_BYTES_LIMIT {
            let plaintext = &self.zeros[..size as usize];
            let message = self.client.encrypt(cmm, plaintext, context).await?;
            let (_, len) = parse_header(&message, &HeaderLimits::default())?;
            Ok(message[..len].to_vec())
        } else {
            let encryptor = self
                .client
                .encryptor(cmm, context, PlaintextLength::Exact(size))
                .await?;
            let mut writer = encryptor.into_writer(Vec::new());
            std::io::Write::flush(&mut writer).map_err(sealbox::Error::from)?;
            Ok(writer.get_ref().clone())
        }
    }

    /// Get the materials of a message from its header and authenticate the header.
    async fn decrypt_once(&self, header: &[u8]) -> Result<(), sealbox::Error> {
        let cmm: &dyn MaterialsManager = self.cmm.as_ref();
        PendingMessage::read(&self.client, header)?
            .decrypt(&self.client, cmm, &DecryptOptions::new())
            .await
            .map(drop)
    }

    /// The header a decrypt reads back (see the module docs).
    async fn message_for(
        &self,
        request: &Request,
        context: &EncryptionContext,
    ) -> anyhow::Result<Header> {
        {
            let mut w = self.written();
            if let Some(number) = request.reads {
                if let Some((header, left)) = w.named.get_mut(&number) {
                    let header = Arc::clone(header);
                    *left -= 1;
                    if *left == 0 {
                        w.named.remove(&number);
                    }
                    return Ok(header);
                }
            }
            if let Some(h) = w.latest.get(&request.context) {
                return Ok(Arc::clone(h));
            }
            if let Some(h) = w.older.get(&request.context) {
                self.tally().decrypts_of_older_messages += 1;
                return Ok(Arc::clone(h));
            }
        }
        let message = self
            .older_writer
            .client
            .encrypt(&self.older_writer.cmm, b"", context)
            .await
            .context("cannot write a message to read back")?;
        let (_, len) = parse_header(&message, &HeaderLimits::default())?;
        let header: Header = Arc::from(&message[..len]);
        let mut w = self.written();
        let header = Arc::clone(w.older.entry(request.context).or_insert(header));
        self.tally().decrypts_of_older_messages += 1;
        Ok(header)
    }

    /// A message was written: keep its header for the decrypts that will read it.
    fn wrote(&self, request: &Request, header: Vec<u8>) {
        let header: Header = Arc::from(header);
        let mut w = self.written();
        if request.read_back > 0 {
            w.named
                .insert(request.number, (Arc::clone(&header), request.read_back));
        }
        w.latest.insert(request.context, header);
    }

    /// One request: wait for a worker, encrypt or decrypt, retry with backoff on errors, give up
    /// at the deadline.
    async fn request(self: Arc<Self>, request: Request, context: Arc<EncryptionContext>) {
        let arrived = Instant::now();
        let header = match request.op {
            Op::Encrypt => None,
            Op::Decrypt => match self.message_for(&request, &context).await {
                Ok(h) => Some(h),
                Err(e) => {
                    let mut t = self.tally();
                    t.failed += 1;
                    t.other_errors += 1;
                    t.first_other_error.get_or_insert(format!("{e:#}"));
                    return;
                }
            },
        };
        let attempt = async {
            let _worker = self.workers.acquire().await;
            let mut throttled = false;
            let mut retry = 0;
            loop {
                let result = match &header {
                    None => self
                        .encrypt_once(&context, request.size)
                        .await
                        .map(|h| self.wrote(&request, h)),
                    Some(h) => self.decrypt_once(h).await,
                };
                let error = match result {
                    Ok(()) => return true,
                    Err(e) => error_text(&e),
                };
                if error.contains(THROTTLING) {
                    if !throttled {
                        throttled = true;
                        self.tally().requests_throttled += 1;
                    }
                } else {
                    let mut t = self.tally();
                    t.other_errors += 1;
                    t.first_other_error.get_or_insert(error);
                }
                if retry >= self.caller.retries {
                    return false;
                }
                retry += 1;
                self.tally().retries += 1;
                let cap = self.caller.backoff.saturating_mul(1 << (retry - 1).min(20));
                let wait = {
                    let mut rng = self.jitter.lock().unwrap_or_else(PoisonError::into_inner);
                    cap.mul_f64(rng.gen_range(0.0..=1.0))
                };
                tokio::time::sleep(wait).await;
            }
        };
        let outcome = tokio::time::timeout_at(arrived + self.caller.timeout, attempt).await;
        let now = Instant::now();
        let mut t = self.tally();
        match outcome {
            Ok(true) => {
                t.succeeded += 1;
                let us = (now - arrived).as_micros() as u64;
                t.latencies_us.push(us);
                if request.op == Op::Decrypt {
                    t.decrypt_latencies_us.push(us);
                }
            }
            Ok(false) => t.failed += 1,
            Err(_) => {
                t.failed += 1;
                t.timed_out += 1;
            }
        }
        t.last_done = Some(t.last_done.map_or(now, |d| d.max(now)));
    }
}

/// Record the master-key calls and the cache's hits at `SAMPLES` even points of the window.
async fn sample(
    start: Instant,
    window: Duration,
    keyring: Arc<SimulatedKeyring>,
    caching: Option<CachingCmm>,
) -> Vec<Sample> {
    let mut series = Vec::with_capacity(SAMPLES as usize);
    let (mut calls, mut decrypt_calls, mut hits, mut misses) = (0, 0, 0, 0);
    let mut last = Duration::ZERO;
    for k in 1..=SAMPLES {
        let at = window * k / SAMPLES;
        tokio::time::sleep_until(start + at).await;
        let s = keyring.stats();
        let (h, m) = caching.as_ref().map_or((0, 0), |c| {
            let c = c.stats();
            (c.hits, c.misses + c.bypasses())
        });
        series.push(Sample {
            at,
            interval: at - last,
            calls: s.calls - calls,
            decrypt_calls: s.decrypt_calls - decrypt_calls,
            hits: h - hits,
            misses: m - misses,
        });
        (calls, decrypt_calls, hits, misses, last) = (s.calls, s.decrypt_calls, h, m, at);
    }
    series
}

fn percentile(sorted: &[u64], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Duration::from_micros(sorted[rank - 1])
}

/// Run one configuration on a fresh paused-clock runtime.
pub(crate) fn run(plan: &Plan, config: CacheConfig) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .context("cannot start the simulation runtime")?;
    let real_start = std::time::Instant::now();
    let mut outcome = runtime.block_on(simulate(plan, config))?;
    outcome.real = real_start.elapsed();
    Ok(outcome)
}

async fn simulate(plan: &Plan, config: CacheConfig) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let keyring = Arc::new(SimulatedKeyring::new(plan.service.clone(), plan.seed)?);
    let (manager, caching): (Arc<dyn MaterialsManager>, Option<CachingCmm>) = match config {
        CacheConfig::Off => (Arc::new(DefaultCmm::new(Arc::clone(&keyring))), None),
        CacheConfig::On(t) => {
            let mut b = CachingCmm::builder_with_keyring(Arc::clone(&keyring))
                .max_age(t.max_age)
                .partition("simulate")
                .cache(LruMaterialsCache::new(t.capacity)?);
            if let Some(m) = t.max_messages {
                b = b.max_messages(m);
            }
            if let Some(bytes) = t.max_bytes {
                b = b.max_bytes(bytes);
            }
            if let Some(r) = t.refresh_ahead {
                b = b.refresh_ahead(r);
            }
            let cmm = b.build()?;
            (Arc::new(cmm.clone()), Some(cmm))
        }
    };
    let observer = Arc::new(Observer {
        inner: manager,
        keyring: Arc::clone(&keyring),
        start,
        arrivals: plan.arrivals,
        keys: Mutex::new(HashMap::new()),
    });
    let client = Client::builder().algorithm_suite(plan.suite).build()?;
    let older_keyring = super::keyring::wrapping_keyring()?;
    let shared = Arc::new(Shared {
        client: client.clone(),
        cmm: Arc::clone(&observer),
        caller: plan.caller,
        zeros: vec![0u8; REAL_BYTES_LIMIT as usize],
        workers: Semaphore::new(plan.caller.concurrency.max(1)),
        tally: Mutex::new(Tally::default()),
        jitter: Mutex::new(StdRng::seed_from_u64(plan.seed ^ 0x6a09_e667_f3bc_c908)),
        written: Mutex::new(Written::default()),
        older_writer: OlderWriter {
            client,
            cmm: DefaultCmm::new(Arc::new(older_keyring)),
        },
    });
    let sampler = tokio::spawn(sample(
        start,
        plan.duration,
        Arc::clone(&keyring),
        caching.clone(),
    ));

    let mut source = plan.source()?;
    let mut contexts: Vec<Arc<EncryptionContext>> = Vec::new();
    // Finished tasks are reaped as the run goes: a task's memory is freed only once it is joined,
    // and a million held handles would hold a million futures.
    let mut tasks = tokio::task::JoinSet::new();
    let (mut requests, mut encrypts) = (0u64, 0u64);
    while let Some(request) = source.next_request()? {
        tokio::time::sleep_until(start + request.at).await;
        while contexts.len() <= request.context as usize {
            let mut ec = EncryptionContext::new();
            ec.insert("tenant".into(), source.context_name(contexts.len() as u32));
            contexts.push(Arc::new(ec));
        }
        let context = Arc::clone(&contexts[request.context as usize]);
        requests += 1;
        encrypts += u64::from(request.op == Op::Encrypt);
        tasks.spawn(Arc::clone(&shared).request(request, context));
        while let Some(done) = tasks.try_join_next() {
            done.context("a simulated request panicked")?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a simulated request panicked")?;
    }
    // Let a refresh ahead of expiry that is still running finish, so that its call is counted.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let series = sampler.await.context("the sampler panicked")?;

    let mut tally = std::mem::take(&mut *shared.tally());
    tally.latencies_us.sort_unstable();
    tally.decrypt_latencies_us.sort_unstable();
    let service = keyring.stats();
    let cost_usd = service.calls as f64 * plan.service.cost_per_call;
    let per_month = MONTH.as_secs_f64() / plan.duration.as_secs_f64();
    let simulated = tally.last_done.map_or(Duration::ZERO, |d| d - start);
    let keys = observer.keys.lock().unwrap_or_else(PoisonError::into_inner);
    let data_keys = keys.len() as u64;
    let used: u64 = keys.values().map(|k| k.messages).sum();
    let cache = caching.map(|c| {
        let s = c.stats();
        CacheCounters {
            hits: s.hits,
            misses: s.misses,
            coalesced: s.coalesced,
            bypasses: s.bypasses(),
            refreshes: s.refreshes,
            evicted_age: s.cache.evictions.age,
            evicted_messages: s.cache.evictions.messages,
            evicted_bytes: s.cache.evictions.bytes,
            evicted_capacity: s.cache.evictions.capacity,
        }
    });
    Ok(Outcome {
        config,
        requests,
        encrypts,
        decrypts: requests - encrypts,
        decrypts_of_older_messages: tally.decrypts_of_older_messages,
        succeeded: tally.succeeded,
        failed: tally.failed,
        timed_out: tally.timed_out,
        retries: tally.retries,
        requests_throttled: tally.requests_throttled,
        other_errors: tally.other_errors,
        first_other_error: tally.first_other_error,
        kms_calls: service.calls,
        kms_decrypt_calls: service.decrypt_calls,
        throttled: service.throttled,
        decrypt_throttled: service.decrypt_throttled,
        max_concurrent_calls: service.max_concurrent,
        cost_usd,
        cost_usd_per_month: cost_usd * per_month,
        decrypt_cost_usd_per_month: service.decrypt_calls as f64
            * plan.service.cost_per_call
            * per_month,
        window: plan.duration,
        simulated,
        throughput: tally.succeeded as f64 / simulated.max(plan.duration).as_secs_f64(),
        latency_p50: percentile(&tally.latencies_us, 0.50),
        latency_p99: percentile(&tally.latencies_us, 0.99),
        latency_max: percentile(&tally.latencies_us, 1.0),
        decrypt_latency_p50: percentile(&tally.decrypt_latencies_us, 0.50),
        decrypt_latency_p99: percentile(&tally.decrypt_latencies_us, 0.99),
        waited: tally.latencies_us.iter().filter(|&&l| l > 0).count() as u64,
        data_keys,
        max_messages_per_data_key: keys.values().map(|k| k.messages).max().unwrap_or(0),
        mean_messages_per_data_key: if data_keys == 0 {
            0.0
        } else {
            used as f64 / data_keys as f64
        },
        max_bytes_per_data_key: keys.values().map(|k| k.bytes).max().unwrap_or(0),
        max_data_key_age: keys
            .values()
            .map(|k| k.last_use - k.generated)
            .max()
            .unwrap_or(Duration::ZERO),
        max_bursts_per_data_key: plan.arrivals.burst.map(|_| {
            keys.values()
                .filter_map(|k| Some(k.last_burst? - k.first_burst? + 1))
                .max()
                .unwrap_or(0)
        }),
        cache,
        series,
        real: std::time::Duration::ZERO,
    })
}
