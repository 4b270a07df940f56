//! The encrypting producer: its configuration, the one-call [`EncryptingProducer::put_records`],
//! and how one batch of user records becomes Kinesis records and `PutRecords` requests.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use sealbox::{Client, EncryptionContext, MaterialsManager};

use crate::aggregate::Aggregator;
use crate::buffered::{BufferOptions, BufferedProducer};
use crate::engine::{Engine, Pending, Verdict};
use crate::error::{classify, KinesisError, RequestFailure};
use crate::shards::{hash_key, ShardMap};
use crate::{with_stream, Limits, Placement, StreamRef, UserRecord};

/// A record's outcome: where it was written, or the error that ended it.
pub type Outcome = Result<Placement, KinesisError>;

/// Whether and how user records are packed into KPL aggregated records (see the crate docs for
/// the trade-offs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Aggregation {
    /// One Kinesis record per user record.
    #[default]
    None,
    /// Encrypt each user record, then aggregate the ESDK messages.
    EncryptThenAggregate,
    /// Aggregate the plaintexts, then encrypt each aggregated record as one ESDK message.
    AggregateThenEncrypt,
}

/// When a record that the service refused is sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The most attempts per record (default 10).
    pub max_attempts: u32,
    /// The first backoff (default 100 ms); it doubles with each attempt, jittered (half fixed,
    /// half random) so that throttled producers do not retry in step.
    pub initial_backoff: Duration,
    /// The longest backoff (default 5 s).
    pub max_backoff: Duration,
    /// How long a record may take from `put` to its outcome (default 30 s, the KPL's): past it,
    /// it ends in [`KinesisError::Expired`] instead of being sent again.
    pub record_ttl: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            record_ttl: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Set the most attempts per record (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Set the first and the longest backoff.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Set the record time to live.
    pub fn record_ttl(mut self, ttl: Duration) -> Self {
        self.record_ttl = ttl;
        self
    }

    /// The backoff before attempt `attempts + 1`.
    pub(crate) fn delay(&self, attempts: u32) -> Duration {
        let cap = self
            .initial_backoff
            .saturating_mul(1 << attempts.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let half = cap / 2;
        let jitter = rand::random::<f64>();
        half + half.mul_f64(jitter)
    }
}

/// The outcome of [`EncryptingProducer::put_records`]: one per record, in input order.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct PutSummary {
    /// Each record's outcome, in input order.
    pub outcomes: Vec<Outcome>,
    /// `PutRecords` requests made, retries included.
    pub requests: u64,
    /// Attempts that were refused and sent again.
    pub retried: u64,
}

impl PutSummary {
    /// Whether every record was written.
    pub fn all_written(&self) -> bool {
        self.outcomes.iter().all(Result::is_ok)
    }

    /// The records that were not (or may not have been) written, with their input positions.
    pub fn failed(&self) -> impl Iterator<Item = (usize, &KinesisError)> {
        self.outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.as_ref().err().map(|e| (i, e)))
    }
}

/// Counters of a producer over its lifetime (shared by its clones and its buffered form).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerStats {
    /// User records written.
    pub records: u64,
    /// Kinesis records written (fewer than `records` with aggregation).
    pub kinesis_records: u64,
    /// Plaintext bytes of the user records written.
    pub plaintext_bytes: u64,
    /// Bytes of the Kinesis records written: data (encrypted, aggregated) plus partition keys,
    /// what the service bills and the shard's write limit counts.
    pub wire_bytes: u64,
    /// `PutRecords` requests made.
    pub requests: u64,
    /// User-record attempts refused and sent again.
    pub retried: u64,
    /// User records that ended in an error (including indeterminate ones).
    pub failed: u64,
    /// The most Kinesis records one request carried.
    pub max_records_per_request: u64,
    /// The most bytes (data plus partition keys) one request carried.
    pub max_bytes_per_request: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    records: AtomicU64,
    kinesis_records: AtomicU64,
    plaintext_bytes: AtomicU64,
    wire_bytes: AtomicU64,
    requests: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) failed: AtomicU64,
    max_records_per_request: AtomicU64,
    max_bytes_per_request: AtomicU64,
}

pub(crate) fn stats(c: &Counters) -> ProducerStats {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    ProducerStats {
        records: get(&c.records),
        kinesis_records: get(&c.kinesis_records),
        plaintext_bytes: get(&c.plaintext_bytes),
        wire_bytes: get(&c.wire_bytes),
        requests: get(&c.requests),
        retried: get(&c.retried),
        failed: get(&c.failed),
        max_records_per_request: get(&c.max_records_per_request),
        max_bytes_per_request: get(&c.max_bytes_per_request),
    }
}

/// What the producer is configured with; shared with its background task.
pub(crate) struct Config {
    pub(crate) kinesis: aws_sdk_kinesis::Client,
    pub(crate) stream: StreamRef,
    pub(crate) cmm: Arc<dyn MaterialsManager>,
    pub(crate) client: Client,
    pub(crate) context: EncryptionContext,
    pub(crate) limits: Limits,
    pub(crate) aggregation: Aggregation,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_in_flight: usize,
    pub(crate) counters: Arc<Counters>,
}

/// Encrypts records and writes them to a stream. Cheap to clone; share one per stream.
///
/// Without buffering, [`put_records`](Self::put_records) sends what it is given at once; for the
/// KPL's buffering, batching by time and background retries, turn it into a
/// [`BufferedProducer`] with [`buffered`](Self::buffered).
#[derive(Clone)]
pub struct EncryptingProducer {
    config: Config,
}

impl Clone for Config {
    fn clone(&self) -> Self {
        Config {
            kinesis: self.kinesis.clone(),
            stream: self.stream.clone(),
            cmm: self.cmm.clone(),
            client: self.client.clone(),
            context: self.context.clone(),
            limits: self.limits,
            aggregation: self.aggregation,
            retry: self.retry,
            max_in_flight: self.max_in_flight,
            counters: self.counters.clone(),
        }
    }
}

impl fmt::Debug for EncryptingProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("EncryptingProducer")
            .field("stream", &c.stream)
            .field("cmm", &c.cmm)
            .field("context", &c.context)
            .field("limits", &c.limits)
            .field("aggregation", &c.aggregation)
            .field("retry", &c.retry)
            .finish_non_exhaustive()
    }
}

impl EncryptingProducer {
    /// A producer for `stream` (a name, or [`StreamRef::arn`]), encrypting under materials from
    /// `cmm` with the default [`Client`] and an empty encryption context.
    pub fn new(
        kinesis: aws_sdk_kinesis::Client,
        stream: impl Into<StreamRef>,
        cmm: impl MaterialsManager + 'static,
    ) -> Self {
        EncryptingProducer {
            config: Config {
                kinesis,
                stream: stream.into(),
                cmm: Arc::new(cmm),
                client: Client::new(),
                context: EncryptionContext::new(),
                limits: Limits::default(),
                aggregation: Aggregation::None,
                retry: RetryPolicy::default(),
                max_in_flight: 4,
                counters: Arc::default(),
            },
        }
    }

    /// The client that encrypts (suite, frame length, commitment policy).
    pub fn with_client(mut self, client: Client) -> Self {
        self.config.client = client;
        self
    }

    /// The encryption context of every record. It selects the cache entry, so records that share
    /// a context share data keys; keep it to a few distinct values per producer.
    pub fn with_encryption_context(mut self, context: EncryptionContext) -> Self {
        self.config.context = context;
        self
    }

    /// The size limits (default: the service's).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Aggregation (default: none).
    pub fn with_aggregation(mut self, aggregation: Aggregation) -> Self {
        self.config.aggregation = aggregation;
        self
    }

    /// When refused records are sent again.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.config.retry = retry;
        self
    }

    /// The most batches (each one or more `PutRecords` requests) in flight at once (default 4).
    pub fn with_max_in_flight(mut self, batches: usize) -> Self {
        self.config.max_in_flight = batches.max(1);
        self
    }

    /// The stream.
    pub fn stream(&self) -> &StreamRef {
        &self.config.stream
    }

    /// The producer's counters.
    pub fn stats(&self) -> ProducerStats {
        stats(&self.config.counters)
    }

    /// A buffered producer on this configuration, with its background task spawned on the
    /// current tokio runtime (so call it from within one).
    pub fn buffered(self, options: BufferOptions) -> BufferedProducer {
        BufferedProducer::spawn(self.config, options)
    }

    /// Encrypt and write one record; see [`put_records`](Self::put_records).
    pub async fn put_record(&self, record: impl Into<UserRecord>) -> Outcome {
        let mut summary = self.put_records([record.into()]).await;
        summary
            .outcomes
            .pop()
            .unwrap_or(Err(KinesisError::Shutdown))
    }

    /// Encrypt and write records now, in as few `PutRecords` requests as the limits allow, up to
    /// [`with_max_in_flight`](Self::with_max_in_flight) at once, sending refused ones again
    /// under the retry policy. Returns every record's outcome, in input order; it never fails as
    /// a whole. Records may be written out of input order (retries, concurrent requests); the
    /// buffered producer can keep each partition key's order.
    pub async fn put_records<I>(&self, records: I) -> PutSummary
    where
        I: IntoIterator,
        I::Item: Into<UserRecord>,
    {
        let before = self.stats();
        let options = BufferOptions::default().max_buffered_time(Duration::ZERO);
        let mut engine = Engine::new(Arc::new(self.config.clone()), options);
        let mut n = 0;
        for record in records {
            engine.enqueue_slot(record.into(), n);
            n += 1;
        }
        engine.run_to_completion().await;
        let after = self.stats();
        PutSummary {
            outcomes: engine.take_slots(n),
            requests: after.requests - before.requests,
            retried: after.retried - before.retried,
        }
    }
}

/// One Kinesis record to send, and the user records (their positions in the batch) it carries.
struct Entry {
    partition_key: String,
    explicit_hash_key: Option<String>,
    data: Vec<u8>,
    members: Vec<usize>,
    aggregated: bool,
    plaintext_bytes: u64,
}

impl Entry {
    fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// The plaintext an aggregate may hold before it is encrypted, so that the ESDK message stays
/// within `max_record_bytes`: room for a header (the wrapped data keys, the signature key), the
/// signature and each frame's IV, tag and sequence number (32 bytes per 4,096).
fn aggregate_budget(limits: &Limits, partition_key: &str) -> usize {
    let room = limits
        .max_record_bytes
        .saturating_sub(partition_key.len() + 8 * 1024);
    room / 4128 * 4096
}

async fn encrypt(config: &Config, plaintext: &[u8]) -> Result<Vec<u8>, KinesisError> {
    config
        .client
        .encrypt(config.cmm.as_ref(), plaintext, &config.context)
        .await
        .map_err(|source| KinesisError::Encrypt {
            source: Arc::new(source),
        })
}

/// Group positions by the shard their records go to (by partition key where the map does not
/// know), keeping the input order within each group and the groups in order of first record.
fn group_by_shard<'a>(
    records: impl Iterator<Item = (usize, &'a UserRecord)>,
    map: &ShardMap,
) -> Vec<Vec<usize>> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, r) in records {
        let hash = hash_key(&r.partition_key, r.explicit_hash_key.as_deref());
        let key = match map.shard_of(hash) {
            Some(shard) => format!("s:{shard}"),
            None => format!("k:{}", r.partition_key),
        };
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
}

/// Aggregate `items` (position, partition key, explicit hash key, data) in order into entries of
/// at most `budget(first key)` bytes each; a group of one is sent as it is, not aggregated.
fn pack<F>(items: Vec<(usize, &UserRecord, Vec<u8>)>, budget: F) -> Vec<(Vec<usize>, Vec<u8>, bool)>
where
    F: Fn(&str) -> usize,
{
    let mut out = Vec::new();
    let mut agg = Aggregator::new();
    let mut members: Vec<usize> = Vec::new();
    let mut single: Option<Vec<u8>> = None;
    let mut limit = 0;
    let close = |agg: &mut Aggregator,
                 members: &mut Vec<usize>,
                 single: &mut Option<Vec<u8>>,
                 out: &mut Vec<(Vec<usize>, Vec<u8>, bool)>| {
        let m = std::mem::take(members);
        let a = std::mem::take(agg);
        if m.len() == 1 {
            if let Some(data) = single.take() {
                out.push((m, data, false));
            }
        } else if !m.is_empty() {
            out.push((m, a.finish(), true));
        }
        *single = None;
    };
    for (i, r, data) in items {
        let key = r.partition_key.as_str();
        let hash = r.explicit_hash_key.as_deref();
        if !agg.is_empty() && agg.size_with(key, hash, data.len()) > limit {
            close(&mut agg, &mut members, &mut single, &mut out);
        }
        if agg.is_empty() {
            limit = budget(key);
            single = Some(data.clone());
        }
        agg.push(key, hash, &data);
        members.push(i);
    }
    close(&mut agg, &mut members, &mut single, &mut out);
    out
}

/// Turn a batch into Kinesis records (encrypting, aggregating), send them in `PutRecords`
/// requests within the limits, and say what became of each user record.
pub(crate) async fn send_batch(
    config: Arc<Config>,
    map: Arc<ShardMap>,
    mut batch: Vec<Pending>,
) -> Vec<(Pending, Verdict)> {
    for p in &mut batch {
        p.attempts += 1;
    }
    let mut verdicts: Vec<Option<Verdict>> = (0..batch.len()).map(|_| None).collect();
    let limits = config.limits;
    let mut entries: Vec<Entry> = Vec::new();
    let records = || batch.iter().map(|p| &p.record).enumerate();
    match config.aggregation {
        Aggregation::None => {
            for (i, r) in records() {
                match encrypt(&config, &r.data).await {
                    Ok(data) => entries.push(Entry {
                        partition_key: r.partition_key.clone(),
                        explicit_hash_key: r.explicit_hash_key.clone(),
                        data,
                        members: vec![i],
                        aggregated: false,
                        plaintext_bytes: r.data.len() as u64,
                    }),
                    Err(e) => verdicts[i] = Some(Verdict::Done(Err(e))),
                }
            }
        }
        Aggregation::EncryptThenAggregate => {
            for group in group_by_shard(records(), &map) {
                let mut items = Vec::new();
                for i in group {
                    let r = &batch[i].record;
                    match encrypt(&config, &r.data).await {
                        Ok(data) => items.push((i, r, data)),
                        Err(e) => verdicts[i] = Some(Verdict::Done(Err(e))),
                    }
                }
                let budget = |key: &str| limits.max_record_bytes.saturating_sub(key.len());
                for (members, data, aggregated) in pack(items, budget) {
                    let first = &batch[members[0]].record;
                    entries.push(Entry {
                        partition_key: first.partition_key.clone(),
                        explicit_hash_key: first.explicit_hash_key.clone(),
                        plaintext_bytes: members
                            .iter()
                            .map(|&m| batch[m].record.data.len() as u64)
                            .sum(),
                        data,
                        members,
                        aggregated,
                    });
                }
            }
        }
        Aggregation::AggregateThenEncrypt => {
            for group in group_by_shard(records(), &map) {
                let items = group
                    .into_iter()
                    .map(|i| (i, &batch[i].record, batch[i].record.data.clone()))
                    .collect();
                let budget = |key: &str| aggregate_budget(&limits, key);
                for (members, plaintext, aggregated) in pack(items, budget) {
                    match encrypt(&config, &plaintext).await {
                        Ok(data) => {
                            let first = &batch[members[0]].record;
                            entries.push(Entry {
                                partition_key: first.partition_key.clone(),
                                explicit_hash_key: first.explicit_hash_key.clone(),
                                plaintext_bytes: members
                                    .iter()
                                    .map(|&m| batch[m].record.data.len() as u64)
                                    .sum(),
                                data,
                                members,
                                aggregated,
                            })
                        }
                        Err(e) => {
                            for m in members {
                                verdicts[m] = Some(Verdict::Done(Err(e.clone())));
                            }
                        }
                    }
                }
            }
        }
    }
    // Records over the limit once encrypted are not sent.
    entries.retain(|e| {
        if e.size() <= limits.max_record_bytes {
            return true;
        }
        for &m in &e.members {
            verdicts[m] = Some(Verdict::Done(Err(KinesisError::RecordTooLarge {
                size: e.size(),
                limit: limits.max_record_bytes,
            })));
        }
        false
    });
    for request in requests(entries, &limits) {
        send_request(&config, &batch, request, &mut verdicts).await;
    }
    batch
        .into_iter()
        .zip(verdicts)
        .map(|(p, v)| {
            let v = v.unwrap_or(Verdict::Done(Err(KinesisError::Shutdown)));
            (p, v)
        })
        .collect()
}

/// Split entries, in order, into requests within the limits. Every entry is within the record
/// limit, so each fits in a request of its own.
fn requests(entries: Vec<Entry>, limits: &Limits) -> Vec<Vec<Entry>> {
    let mut out = Vec::new();
    let mut request: Vec<Entry> = Vec::new();
    let mut bytes = 0;
    for e in entries {
        if !request.is_empty()
            && (request.len() >= limits.max_request_records
                || bytes + e.size() > limits.max_request_bytes)
        {
            out.push(std::mem::take(&mut request));
            bytes = 0;
        }
        bytes += e.size();
        request.push(e);
    }
    if !request.is_empty() {
        out.push(request);
    }
    out
}

async fn send_request(
    config: &Config,
    batch: &[Pending],
    request: Vec<Entry>,
    verdicts: &mut [Option<Verdict>],
) {
    let c = &config.counters;
    let bytes: usize = request.iter().map(Entry::size).sum();
    c.requests.fetch_add(1, Ordering::Relaxed);
    c.max_records_per_request
        .fetch_max(request.len() as u64, Ordering::Relaxed);
    c.max_bytes_per_request
        .fetch_max(bytes as u64, Ordering::Relaxed);
    let mut sdk_entries = Vec::with_capacity(request.len());
    for e in &request {
        let built = PutRecordsRequestEntry::builder()
            .partition_key(e.partition_key.clone())
            .set_explicit_hash_key(e.explicit_hash_key.clone())
            .data(Blob::new(e.data.clone()))
            .build();
        match built {
            Ok(entry) => sdk_entries.push(entry),
            Err(err) => {
                let err = KinesisError::Service {
                    operation: "PutRecords",
                    message: err.to_string(),
                    source: Arc::new(err),
                };
                for e in &request {
                    for &m in &e.members {
                        verdicts[m] = Some(Verdict::Done(Err(err.clone())));
                    }
                }
                return;
            }
        }
    }
    // The producer retries itself, knowing what each failure means for the records; the SDK's
    // retries would resend a request whose answer was lost, writing its records twice.
    let sent = with_stream!(config.kinesis.put_records(), &config.stream)
        .set_records(Some(sdk_entries))
        .customize()
        .config_override(
            aws_sdk_kinesis::config::Builder::default().retry_config(RetryConfig::disabled()),
        )
        .send()
        .await;
    let out = match sent {
        Ok(out) => out,
        Err(e) => {
            let verdict = |failure: &RequestFailure| match failure {
                RequestFailure::Retry { code, message } => Verdict::Retry {
                    code: code.clone(),
                    message: message.clone(),
                },
                RequestFailure::Final(e) | RequestFailure::Unknown(e) => {
                    Verdict::Done(Err(e.clone()))
                }
            };
            let failure = classify("PutRecords", e);
            for e in &request {
                for &m in &e.members {
                    verdicts[m] = Some(verdict(&failure));
                }
            }
            return;
        }
    };
    let results = out.records();
    for (i, e) in request.iter().enumerate() {
        match results.get(i) {
            Some(r) if r.error_code().is_none() => {
                c.kinesis_records.fetch_add(1, Ordering::Relaxed);
                c.wire_bytes.fetch_add(e.size() as u64, Ordering::Relaxed);
                c.records
                    .fetch_add(e.members.len() as u64, Ordering::Relaxed);
                c.plaintext_bytes
                    .fetch_add(e.plaintext_bytes, Ordering::Relaxed);
                for (j, &m) in e.members.iter().enumerate() {
                    verdicts[m] = Some(Verdict::Done(Ok(Placement {
                        shard_id: r.shard_id().unwrap_or_default().to_owned(),
                        sequence_number: r.sequence_number().unwrap_or_default().to_owned(),
                        sub_sequence_number: e.aggregated.then_some(j as u64),
                        attempts: batch[m].attempts,
                    })));
                }
            }
            Some(r) => {
                for &m in &e.members {
                    verdicts[m] = Some(Verdict::Retry {
                        code: r.error_code().unwrap_or_default().to_owned(),
                        message: r.error_message().unwrap_or_default().to_owned(),
                    });
                }
            }
            // An answer without a result for this entry: as if it had been lost.
            None => {
                for &m in &e.members {
                    verdicts[m] = Some(Verdict::Done(Err(KinesisError::Indeterminate {
                        operation: "PutRecords",
                        message: "the response has no result for this record".into(),
                    })));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(data_len: usize) -> Entry {
        Entry {
            partition_key: "k".into(),
            explicit_hash_key: None,
            data: vec![0; data_len],
            members: vec![0],
            aggregated: false,
            plaintext_bytes: 0,
        }
    }

    #[test]
    fn requests_keep_order_and_respect_count_and_byte_limits() {
        let limits = Limits::default();
        let many: Vec<Entry> = (0..1201).map(|_| entry(10)).collect();
        let r = requests(many, &limits);
        assert_eq!(r.iter().map(Vec::len).collect::<Vec<_>>(), [500, 500, 201]);

        // 1 MiB - 1 of data plus a 1-byte key: five fit in 5 MiB, a sixth does not.
        let big: Vec<Entry> = (0..11)
            .map(|_| entry(limits.max_record_bytes - 1))
            .collect();
        let r = requests(big, &limits);
        assert_eq!(r.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 1]);
        for request in &r {
            assert!(request.iter().map(Entry::size).sum::<usize>() <= limits.max_request_bytes);
        }
        assert!(requests(Vec::new(), &limits).is_empty());
        let small = Limits::default().max_request_records(3);
        let r = requests((0..7).map(|_| entry(1)).collect(), &small);
        assert_eq!(r.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    }

    #[test]
    fn pack_fills_aggregates_to_the_budget_and_sends_singles_plain() {
        let records: Vec<UserRecord> = (0..10)
            .map(|i| UserRecord::new(format!("k{i}"), vec![1u8; 100]))
            .collect();
        let items = records
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r, r.data.clone()))
            .collect();
        let packed = pack(items, |_| 350);
        // About 110 bytes per record: three fit in 350, the last one is alone.
        let sizes: Vec<usize> = packed.iter().map(|(m, _, _)| m.len()).collect();
        assert_eq!(sizes, [3, 3, 3, 1]);
        for (members, data, aggregated) in &packed {
            assert!(data.len() <= 350);
            assert_eq!(*aggregated, members.len() > 1);
        }
        assert_eq!(packed[3].1, vec![1u8; 100]);
        let all: Vec<usize> = packed.iter().flat_map(|(m, _, _)| m.clone()).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn backoff_doubles_within_its_cap_with_jitter() {
        let p = RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_secs(1));
        for attempts in 1..20 {
            let d = p.delay(attempts);
            let cap = Duration::from_millis(100 * (1 << (attempts - 1).min(16)))
                .min(Duration::from_secs(1));
            assert!(
                d >= cap / 2 && d <= cap,
                "{attempts}: {d:?} outside {cap:?}"
            );
        }
    }
}
