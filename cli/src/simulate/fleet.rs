//! A fleet: many hosts, each with caches of its own, encrypting for many tenants with a skewed
//! (Zipf) traffic mix, under three configurations: no cache, data-key caching, and the
//! hierarchical keyring.
//!
//! Every message goes through the real client and, per host, a real [`CachingCmm`] (data-key
//! caching) or a real [`HierarchicalKeyring`] (one branch key per tenant) over a simulated
//! [`BranchKeyStore`] whose reads cost one DynamoDB GetItem and one KMS Decrypt, each with its own
//! latency and price, on tokio's paused clock.
//!
//! Hosts are identical and independent (each has its own caches, and traffic is spread over them
//! uniformly at random), so a run may simulate a sample of the hosts, each receiving its share of
//! the fleet's traffic, and scale the counts and costs up to the whole fleet.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sealbox::{
    AlgorithmSuite, BoxError, BranchKeyIdSupplier, BranchKeyMaterials, BranchKeyStore, CachingCmm,
    Client, DefaultCmm, EncryptionContext, HierarchicalKeyring, KeyStoreError, LruMaterialsCache,
    MaterialsManager,
};
use serde_json::{json, Value};
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::engine::MONTH;
use super::keyring::{Latency, ServiceModel, SimulatedKeyring};
use super::traffic::show_duration;
use super::{dollars, ms};

/// The encryption-context key that names the tenant.
const TENANT: &str = "tenant";

/// The most tenants a run takes (the Zipf table and each host's caches hold one entry each).
const MAX_TENANTS: u32 = 1_000_000;

/// Everything a fleet run needs.
#[derive(Clone, Debug)]
pub(crate) struct FleetPlan {
    /// The named scenario, if any.
    pub(crate) scenario: Option<&'static str>,
    /// Hosts in the fleet.
    pub(crate) hosts: u32,
    /// Hosts actually simulated (each with its share of the traffic); counts are scaled by
    /// `hosts / sample_hosts`.
    pub(crate) sample_hosts: u32,
    /// Tenants: one encryption context and one branch key each.
    pub(crate) tenants: u32,
    /// The Zipf exponent of the tenant mix (0: uniform).
    pub(crate) zipf: f64,
    /// Messages per second over the whole fleet.
    pub(crate) rate: f64,
    /// Plaintext bytes per message (encrypted for real).
    pub(crate) size: usize,
    /// The simulated window.
    pub(crate) duration: Duration,
    /// AWS KMS: latency and price per call (no quota in a fleet run).
    pub(crate) kms: ServiceModel,
    /// DynamoDB GetItem latency.
    pub(crate) ddb_latency: Latency,
    /// Dollars per DynamoDB read.
    pub(crate) ddb_cost: f64,
    /// Data-key caching: the maximum data-key age.
    pub(crate) max_age: Duration,
    /// Data-key caching: the maximum messages per data key (`None`: the default, 2^32).
    pub(crate) max_messages: Option<u64>,
    /// Hierarchical keyring: the branch-key TTL.
    pub(crate) ttl: Duration,
    /// The algorithm suite of every message.
    pub(crate) suite: AlgorithmSuite,
    /// Seed of the host and tenant draws and the DynamoDB latencies.
    pub(crate) seed: u64,
}

impl FleetPlan {
    /// The share of the fleet's traffic the sampled hosts receive.
    fn sampled_rate(&self) -> f64 {
        self.rate * f64::from(self.sample_hosts) / f64::from(self.hosts)
    }

    /// The warm-up, the longest cache lifetime, after which the caches are in a steady state;
    /// `None` when the window is shorter than twice that. (A window of whole lifetimes measures
    /// the steady state exactly: each entry is read again once per lifetime after it.)
    fn warmup(&self) -> Option<Duration> {
        let w = self.ttl.max(self.max_age);
        (self.duration >= w * 2).then_some(w)
    }

    /// How much the sampled counts are multiplied by for the whole fleet.
    fn scale(&self) -> f64 {
        f64::from(self.hosts) / f64::from(self.sample_hosts)
    }
}

/// One of the three configurations a fleet is compared under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FleetConfig {
    /// Every message calls KMS for its data key.
    NoCache,
    /// A caching CMM per host in front of the KMS keyring.
    DataKeyCaching,
    /// A hierarchical keyring per host, one branch key per tenant.
    Hierarchical,
}

impl FleetConfig {
    /// All three, in the order they are printed.
    pub(crate) const ALL: [FleetConfig; 3] = [
        FleetConfig::NoCache,
        FleetConfig::DataKeyCaching,
        FleetConfig::Hierarchical,
    ];

    fn key(self) -> &'static str {
        match self {
            FleetConfig::NoCache => "no-cache",
            FleetConfig::DataKeyCaching => "data-key-caching",
            FleetConfig::Hierarchical => "hierarchical",
        }
    }
}

impl fmt::Display for FleetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FleetConfig::NoCache => "no cache",
            FleetConfig::DataKeyCaching => "data-key caching",
            FleetConfig::Hierarchical => "hierarchical keyring",
        })
    }
}

/// A simulated DynamoDB branch key store: each read takes a GetItem and then a KMS Decrypt (of
/// the branch key), sleeping each one's latency on tokio's clock, and is counted.
#[derive(Debug)]
struct SimulatedStore {
    ddb: Latency,
    kms: Latency,
    rng: Mutex<StdRng>,
    reads: AtomicU64,
}

impl SimulatedStore {
    fn draw(&self, latency: Latency) -> Duration {
        match latency {
            Latency::Fixed(d) => d,
            Latency::Uniform(a, b) if b > a => self
                .rng
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .gen_range(a..=b),
            Latency::Uniform(a, _) => a,
        }
    }

    async fn read(&self, branch_key_id: &str) -> BranchKeyMaterials {
        tokio::time::sleep(self.draw(self.ddb)).await;
        tokio::time::sleep(self.draw(self.kms)).await;
        self.reads.fetch_add(1, Ordering::Relaxed);
        let mut key = Zeroizing::new([0x5au8; 32]);
        for (i, b) in branch_key_id.bytes().enumerate() {
            key[i % 32] ^= b.rotate_left(i as u32 % 8);
        }
        BranchKeyMaterials::new(
            branch_key_id,
            "6f2a1c3e-0d4b-4e5f-9a7b-8c9d0e1f2a3b",
            BTreeMap::new(),
            key,
        )
    }
}

#[async_trait]
impl BranchKeyStore for SimulatedStore {
    fn logical_key_store_name(&self) -> &str {
        "simulated-branch-key-store"
    }

    async fn get_active_branch_key(
        &self,
        branch_key_id: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        Ok(self.read(branch_key_id).await)
    }

    async fn get_branch_key_version(
        &self,
        branch_key_id: &str,
        _version: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        Ok(self.read(branch_key_id).await)
    }

    async fn get_beacon_key(
        &self,
        branch_key_id: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        Ok(self.read(branch_key_id).await)
    }
}

/// One branch key per tenant: `branch-key-N` for `tenant-N`.
#[derive(Debug)]
struct TenantBranchKeys;

#[async_trait]
impl BranchKeyIdSupplier for TenantBranchKeys {
    async fn branch_key_id(&self, ec: &EncryptionContext) -> Result<String, BoxError> {
        let tenant = ec
            .get(TENANT)
            .ok_or("no tenant in the encryption context")?;
        Ok(format!("branch-key-{tenant}"))
    }
}

/// Draws tenants (0-based ranks) with probability proportional to `1 / (rank + 1)^s`.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u32, s: f64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                total += 1.0 / f64::from(k).powf(s);
                total
            })
            .collect();
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    fn draw(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.gen_range(0.0..1.0);
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// The result of one configuration over the fleet (counts scaled to every host).
#[derive(Clone, Debug)]
pub(crate) struct FleetOutcome {
    /// The configuration run.
    pub(crate) config: FleetConfig,
    /// Messages the sampled hosts encrypted.
    pub(crate) sampled_messages: u64,
    /// Encrypts that failed (none are expected: a fleet run has no quota).
    pub(crate) failed: u64,
    /// The first failure's error.
    pub(crate) first_error: Option<String>,
    /// KMS calls that the sampled hosts made.
    pub(crate) sampled_kms_calls: u64,
    /// DynamoDB reads that the sampled hosts made.
    pub(crate) sampled_ddb_reads: u64,
    /// (host, tenant) pairs that received at least one message, on the sampled hosts.
    pub(crate) touched_host_tenants: u64,
    /// KMS calls over the window, scaled to the whole fleet.
    pub(crate) kms_calls: f64,
    /// DynamoDB reads over the window, scaled to the whole fleet.
    pub(crate) ddb_reads: f64,
    /// The window's cost for the whole fleet, in dollars.
    pub(crate) cost_usd: f64,
    /// Dollars per 30 days for the whole fleet (see `steady`).
    pub(crate) cost_usd_per_month: f64,
    /// Whether the monthly cost is from the steady state after the warm-up (else from the whole
    /// window, cold start included).
    pub(crate) steady: bool,
    /// Median encrypt latency, from arrival (virtual time).
    pub(crate) latency_p50: Duration,
    /// 99th-percentile encrypt latency, from arrival (virtual time).
    pub(crate) latency_p99: Duration,
    /// The real time the run took.
    pub(crate) real: std::time::Duration,
}

/// Run one configuration over the sampled hosts on a fresh paused-clock runtime.
pub(crate) fn run(plan: &FleetPlan, config: FleetConfig) -> anyhow::Result<FleetOutcome> {
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

#[derive(Default)]
struct Tally {
    failed: u64,
    first_error: Option<String>,
    latencies_us: Vec<u64>,
}

async fn simulate(plan: &FleetPlan, config: FleetConfig) -> anyhow::Result<FleetOutcome> {
    let start = Instant::now();
    let kms = Arc::new(SimulatedKeyring::new(plan.kms.clone(), plan.seed)?);
    let store = Arc::new(SimulatedStore {
        ddb: plan.ddb_latency,
        kms: plan.kms.latency,
        rng: Mutex::new(StdRng::seed_from_u64(plan.seed ^ 0xbb67_ae85_84ca_a73b)),
        reads: AtomicU64::new(0),
    });
    let capacity = usize::try_from(plan.tenants).unwrap_or(usize::MAX).max(1);
    let mut hosts: Vec<Arc<dyn MaterialsManager>> = Vec::new();
    for _ in 0..plan.sample_hosts {
        let cmm: Arc<dyn MaterialsManager> = match config {
            FleetConfig::NoCache => Arc::new(DefaultCmm::new(Arc::clone(&kms))),
            FleetConfig::DataKeyCaching => {
                let mut b = CachingCmm::builder_with_keyring(Arc::clone(&kms))
                    .max_age(plan.max_age)
                    .partition("simulate-fleet")
                    .cache(LruMaterialsCache::new(capacity)?);
                if let Some(m) = plan.max_messages {
                    b = b.max_messages(m);
                }
                Arc::new(b.build()?)
            }
            FleetConfig::Hierarchical => {
                let keyring = HierarchicalKeyring::builder(store.clone())
                    .branch_key_id_supplier(Arc::new(TenantBranchKeys))
                    .ttl(plan.ttl)
                    .cache_capacity(capacity)
                    .build()?;
                Arc::new(DefaultCmm::new(keyring))
            }
        };
        hosts.push(cmm);
    }
    let contexts: Vec<EncryptionContext> = (0..plan.tenants)
        .map(|i| {
            let mut ec = EncryptionContext::new();
            ec.insert(TENANT.into(), format!("tenant-{i}"));
            ec
        })
        .collect();
    let client = Arc::new(Client::builder().algorithm_suite(plan.suite).build()?);
    let plaintext: Arc<[u8]> = vec![0u8; plan.size].into();
    let contexts = Arc::new(contexts);
    let tally = Arc::new(Mutex::new(Tally::default()));

    let zipf = Zipf::new(plan.tenants, plan.zipf);
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let rate = plan.sampled_rate();
    let mut touched = HashSet::new();
    let mut tasks = Vec::new();
    let mut index = 0u64;
    let count = |config: FleetConfig| match config {
        FleetConfig::Hierarchical => store.reads.load(Ordering::Relaxed),
        _ => kms.stats().calls,
    };
    let warmup = plan.warmup();
    let mut warm = None;
    loop {
        let at = match Duration::try_from_secs_f64(index as f64 / rate) {
            Ok(at) if at < plan.duration => at,
            _ => break,
        };
        tokio::time::sleep_until(start + at).await;
        if warm.is_none() && warmup.is_some_and(|w| at >= w) {
            warm = Some(count(config));
        }
        let host = rng.gen_range(0..hosts.len());
        let tenant = zipf.draw(&mut rng);
        touched.insert((host, tenant));
        let (cmm, client, contexts, plaintext, tally) = (
            Arc::clone(&hosts[host]),
            Arc::clone(&client),
            Arc::clone(&contexts),
            Arc::clone(&plaintext),
            Arc::clone(&tally),
        );
        tasks.push(tokio::spawn(async move {
            let arrived = Instant::now();
            let result = client
                .encrypt(cmm.as_ref(), &plaintext, &contexts[tenant])
                .await;
            let took = (Instant::now() - arrived).as_micros() as u64;
            let mut t = tally.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(_) => t.latencies_us.push(took),
                Err(e) => {
                    t.failed += 1;
                    t.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }));
        index += 1;
    }
    for task in tasks {
        task.await.context("a simulated request panicked")?;
    }

    let mut tally = std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner));
    tally.latencies_us.sort_unstable();
    let calls = count(config);
    let (sampled_kms_calls, sampled_ddb_reads) = match config {
        FleetConfig::Hierarchical => (calls, calls),
        _ => (calls, 0),
    };
    let scale = plan.scale();
    let kms_calls = sampled_kms_calls as f64 * scale;
    let ddb_reads = sampled_ddb_reads as f64 * scale;
    let price = |calls: f64| match config {
        FleetConfig::Hierarchical => calls * (plan.kms.cost_per_call + plan.ddb_cost),
        _ => calls * plan.kms.cost_per_call,
    };
    let cost_usd = price(calls as f64 * scale);
    // The month: from the calls after the warm-up (steady state), when the window has one.
    let cost_usd_per_month = match (warm, warmup) {
        (Some(before), Some(w)) => {
            price((calls - before) as f64 * scale) / (plan.duration - w).as_secs_f64()
                * MONTH.as_secs_f64()
        }
        _ => cost_usd / plan.duration.as_secs_f64() * MONTH.as_secs_f64(),
    };
    Ok(FleetOutcome {
        config,
        sampled_messages: index,
        failed: tally.failed,
        first_error: tally.first_error,
        sampled_kms_calls,
        sampled_ddb_reads,
        touched_host_tenants: touched.len() as u64,
        kms_calls,
        ddb_reads,
        cost_usd,
        cost_usd_per_month,
        steady: warm.is_some(),
        latency_p50: percentile(&tally.latencies_us, 0.50),
        latency_p99: percentile(&tally.latencies_us, 0.99),
        real: std::time::Duration::ZERO,
    })
}

fn percentile(sorted: &[u64], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Duration::from_micros(sorted[rank - 1])
}

/// Check a plan's numbers before running it.
pub(crate) fn validate(plan: &FleetPlan) -> anyhow::Result<()> {
    if plan.hosts == 0 || plan.tenants == 0 {
        bail!("--hosts and --tenants must be at least 1");
    }
    if plan.tenants > MAX_TENANTS {
        bail!("--tenants: at most {MAX_TENANTS}");
    }
    if plan.sample_hosts == 0 || plan.sample_hosts > plan.hosts {
        bail!("--sample-hosts must be between 1 and --hosts");
    }
    if !(plan.zipf.is_finite() && plan.zipf >= 0.0) {
        bail!("--zipf must be zero or more");
    }
    if plan.ttl.is_zero() || plan.max_age.is_zero() {
        bail!("--branch-key-ttl and --max-age must be more than zero");
    }
    if !(plan.ddb_cost.is_finite() && plan.ddb_cost >= 0.0) {
        bail!("--ddb-cost must be zero or more");
    }
    let messages = plan.sampled_rate() * plan.duration.as_secs_f64();
    if messages > 20_000_000.0 {
        bail!("{messages:.0} messages to simulate: shorten --duration or lower --sample-hosts");
    }
    Ok(())
}

/// The plan, and the table's heading.
pub(crate) fn print_plan(plan: &FleetPlan, about: Option<&str>) {
    match plan.scenario {
        Some(name) => outln!("scenario {name}: {}", about.unwrap_or_default()),
        None => outln!("custom fleet simulation"),
    }
    outln!(
        "  fleet       {} hosts, {} tenants (Zipf s = {}), {} msg/s in all, {} B messages; {} simulated on {} sampled host{} ({:.0} messages), scaled to {} hosts",
        plan.hosts,
        plan.tenants,
        plan.zipf,
        plan.rate,
        plan.size,
        show_duration(plan.duration),
        plan.sample_hosts,
        if plan.sample_hosts == 1 { "" } else { "s" },
        plan.sampled_rate() * plan.duration.as_secs_f64(),
        plan.hosts
    );
    outln!(
        "  AWS KMS     latency {}, ${} per call",
        plan.kms.latency,
        plan.kms.cost_per_call
    );
    outln!(
        "  DynamoDB    GetItem latency {}, ${} per read",
        plan.ddb_latency,
        plan.ddb_cost
    );
    outln!(
        "  data-key caching: max age {}{}, a cache per host; hierarchical keyring: branch-key TTL {}, a cache per host, one branch key per tenant; suite {}",
        show_duration(plan.max_age),
        plan.max_messages
            .map_or(String::new(), |m| format!(", max messages {m}")),
        show_duration(plan.ttl),
        plan.suite
    );
    outln!();
    outln!(
        "{:<22} {:>14} {:>14} {:>12} {:>8} {:>8}",
        "configuration",
        "KMS calls",
        "DynamoDB reads",
        "$/month",
        "p50 ms",
        "p99 ms"
    );
}

/// One configuration's row.
pub(crate) fn print_row(o: &FleetOutcome) {
    outln!(
        "{:<22} {:>14.0} {:>14.0} {:>12} {:>8.1} {:>8.1}",
        o.config.to_string(),
        o.kms_calls,
        o.ddb_reads,
        dollars(o.cost_usd_per_month),
        ms(o.latency_p50),
        ms(o.latency_p99)
    );
    if let Some(e) = &o.first_error {
        outln!("    ({} requests failed; first: {e})", o.failed);
    }
}

/// What the columns mean.
pub(crate) fn print_footer(plan: &FleetPlan) {
    outln!();
    outln!(
        "KMS calls, DynamoDB reads: over the {} window, for all {} hosts. $/month: {}. p50/p99: encrypt latency from arrival; CPU time is not simulated, so a cache hit takes 0 ms. A hierarchical miss is one DynamoDB GetItem and then one KMS Decrypt of the branch key.",
        show_duration(plan.duration),
        plan.hosts,
        match plan.warmup() {
            Some(w) => format!(
                "the calls after the first {} (the longest cache lifetime: caches are warm), times 30 days / the rest of the window",
                show_duration(w)
            ),
            None => "the window's cost times 30 days / window (the window is shorter than twice the longest cache lifetime, so cold caches count and this errs high)".into(),
        }
    );
}

/// One JSON object for one configuration.
pub(crate) fn json(plan: &FleetPlan, o: &FleetOutcome) -> Value {
    json!({
        "scenario": plan.scenario,
        "fleet": true,
        "configuration": o.config.key(),
        "hosts": plan.hosts,
        "sample_hosts": plan.sample_hosts,
        "tenants": plan.tenants,
        "zipf": plan.zipf,
        "rate_per_s": plan.rate,
        "duration_s": plan.duration.as_secs_f64(),
        "month_s": MONTH.as_secs_f64(),
        "max_age_s": plan.max_age.as_secs_f64(),
        "max_messages": plan.max_messages,
        "branch_key_ttl_s": plan.ttl.as_secs_f64(),
        "kms_cost_usd_per_call": plan.kms.cost_per_call,
        "ddb_cost_usd_per_read": plan.ddb_cost,
        "sampled_messages": o.sampled_messages,
        "failed": o.failed,
        "sampled_kms_calls": o.sampled_kms_calls,
        "sampled_ddb_reads": o.sampled_ddb_reads,
        "touched_host_tenants": o.touched_host_tenants,
        "kms_calls": o.kms_calls,
        "ddb_reads": o.ddb_reads,
        "cost_usd": o.cost_usd,
        "cost_usd_per_month": o.cost_usd_per_month,
        "cost_per_month_steady_state": o.steady,
        "latency_p50_ms": ms(o.latency_p50),
        "latency_p99_ms": ms(o.latency_p99),
        "real_time_s": o.real.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_favours_the_first_ranks() {
        let z = Zipf::new(100, 1.0);
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts = [0u32; 100];
        for _ in 0..10_000 {
            counts[z.draw(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[9] * 5, "{counts:?}");
        let uniform = Zipf::new(1, 0.0);
        assert_eq!(uniform.draw(&mut rng), 0);
    }
}
