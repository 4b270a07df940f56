//! The producer's queue: which records go in the next batch, when a batch is due, how many are
//! in flight, and what happens to a record after its attempt. Shared by
//! [`EncryptingProducer::put_records`](crate::EncryptingProducer::put_records) (everything due
//! at once) and the [`BufferedProducer`](crate::BufferedProducer)'s background task.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::buffered::BufferOptions;
use crate::producer::{send_batch, Aggregation, Config, Outcome};
use crate::shards::ShardMap;
use crate::{KinesisError, UserRecord};

/// Where a record's outcome goes.
pub(crate) enum Reply {
    Channel(oneshot::Sender<Outcome>),
    Slot(usize),
}

/// A record waiting for, or in, an attempt.
pub(crate) struct Pending {
    pub(crate) seq: u64,
    pub(crate) record: UserRecord,
    reply: Reply,
    pub(crate) attempts: u32,
    enqueued: Instant,
    not_before: Instant,
    last_error: Option<String>,
}

/// What an attempt means for one record.
pub(crate) enum Verdict {
    /// The record's outcome.
    Done(Outcome),
    /// Refused with nothing written: send it again if its policy allows.
    Retry { code: String, message: String },
}

pub(crate) struct Engine {
    config: Arc<Config>,
    options: BufferOptions,
    queue: BTreeMap<u64, Pending>,
    next_seq: u64,
    in_flight: JoinSet<Vec<(Pending, Verdict)>>,
    /// Partition keys with a record in flight (kept only with ordering).
    busy_keys: HashMap<String, usize>,
    map: Option<Arc<ShardMap>>,
    slots: Vec<Option<Outcome>>,
}

impl Engine {
    pub(crate) fn new(config: Arc<Config>, options: BufferOptions) -> Self {
        Engine {
            config,
            options,
            queue: BTreeMap::new(),
            next_seq: 0,
            in_flight: JoinSet::new(),
            busy_keys: HashMap::new(),
            map: None,
            slots: Vec::new(),
        }
    }

    /// Records waiting or in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight.is_empty()
    }

    fn finish(&mut self, reply: Reply, outcome: Outcome) {
        if outcome.is_err() {
            self.config.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        match reply {
            Reply::Channel(tx) => {
                // The caller may have dropped its future: the outcome is then nobody's.
                let _ = tx.send(outcome);
            }
            Reply::Slot(i) => {
                if self.slots.len() <= i {
                    self.slots.resize_with(i + 1, || None);
                }
                self.slots[i] = Some(outcome);
            }
        }
    }

    fn enqueue(&mut self, record: UserRecord, reply: Reply) {
        if let Err(e) = record.validate() {
            self.finish(reply, Err(e));
            return;
        }
        let now = Instant::now();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.insert(
            seq,
            Pending {
                seq,
                record,
                reply,
                attempts: 0,
                enqueued: now,
                not_before: now,
                last_error: None,
            },
        );
    }

    pub(crate) fn enqueue_channel(&mut self, record: UserRecord, tx: oneshot::Sender<Outcome>) {
        self.enqueue(record, Reply::Channel(tx));
    }

    pub(crate) fn enqueue_slot(&mut self, record: UserRecord, slot: usize) {
        self.enqueue(record, Reply::Slot(slot));
    }

    /// The outcomes of slots `0..n`, in order.
    pub(crate) fn take_slots(&mut self, n: usize) -> Vec<Outcome> {
        self.slots.resize_with(n.max(self.slots.len()), || None);
        self.slots
            .drain(..n)
            .map(|o| o.unwrap_or(Err(KinesisError::Shutdown)))
            .collect()
    }

    /// End the queued records whose time to live has passed.
    fn expire(&mut self, now: Instant) {
        let ttl = self.config.retry.record_ttl;
        let expired: Vec<u64> = self
            .queue
            .values()
            .filter(|p| now.saturating_duration_since(p.enqueued) >= ttl)
            .map(|p| p.seq)
            .collect();
        for seq in expired {
            if let Some(p) = self.queue.remove(&seq) {
                let error = KinesisError::Expired {
                    attempts: p.attempts,
                    last: p.last_error.unwrap_or_else(|| "never sent".into()),
                };
                self.finish(p.reply, Err(error));
            }
        }
    }

    /// Start as many batches as are due and allowed in flight; `force` sends whatever is ready
    /// (a flush, a shutdown, `put_records`) without waiting for the buffered time. Returns when
    /// to look again (`None`: only when a batch completes or a record arrives).
    async fn start_batches(&mut self, force: bool) -> Option<Instant> {
        if self.config.aggregation != Aggregation::None && self.map.is_none() {
            let map = match ShardMap::load(&self.config.kinesis, &self.config.stream).await {
                Ok(map) => map,
                Err(e) => {
                    tracing::warn!(error = %e, "no shard map: aggregating by partition key");
                    ShardMap::default()
                }
            };
            self.map = Some(Arc::new(map));
        }
        loop {
            let now = Instant::now();
            self.expire(now);
            let mut wake: Option<Instant> = self
                .queue
                .values()
                .map(|p| p.enqueued + self.config.retry.record_ttl)
                .min();
            if self.in_flight.len() >= self.config.max_in_flight {
                return wake;
            }
            let (selected, due, next) = self.select(now, force);
            wake = match (wake, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if selected.is_empty() || !due {
                return wake;
            }
            let batch: Vec<Pending> = selected
                .iter()
                .filter_map(|seq| self.queue.remove(seq))
                .collect();
            if self.options.ordered {
                for p in &batch {
                    *self
                        .busy_keys
                        .entry(p.record.partition_key.clone())
                        .or_default() += 1;
                }
            }
            let map = self.map.clone().unwrap_or_default();
            self.in_flight
                .spawn(send_batch(self.config.clone(), map, batch));
        }
    }

    /// The next batch: records in put order that are ready (past their backoff), and with
    /// ordering, only the first record of each partition key, and none of a key in flight.
    /// Returns them, whether the batch is due now, and when a skipped record becomes ready.
    fn select(&self, now: Instant, force: bool) -> (Vec<u64>, bool, Option<Instant>) {
        let max_records = self
            .options
            .max_batch_records
            .unwrap_or(match self.config.aggregation {
                Aggregation::None => self.config.limits.max_request_records,
                _ => 10 * self.config.limits.max_request_records,
            });
        let max_bytes = self.options.max_batch_bytes;
        let mut selected = Vec::new();
        let mut bytes = 0usize;
        let mut seen: HashSet<&str> = HashSet::new();
        let mut due = force;
        let mut next: Option<Instant> = None;
        let mut full = false;
        for p in self.queue.values() {
            let key = p.record.partition_key.as_str();
            if self.options.ordered && (self.busy_keys.contains_key(key) || !seen.insert(key)) {
                continue;
            }
            if p.not_before > now {
                next = Some(next.map_or(p.not_before, |n| n.min(p.not_before)));
                continue;
            }
            let size = p.record.data.len() + p.record.partition_key.len();
            if !selected.is_empty() && (selected.len() >= max_records || bytes + size > max_bytes) {
                full = true;
                break;
            }
            let ready_at = p.enqueued + self.options.max_buffered_time;
            if ready_at <= now {
                due = true;
            } else {
                next = Some(next.map_or(ready_at, |n| n.min(ready_at)));
            }
            bytes += size;
            selected.push(p.seq);
        }
        (selected, due || full, next)
    }

    /// Take in a completed batch: outcomes to their callers, refused records back in the queue
    /// at their place, after a backoff, unless their attempts or time to live have run out.
    fn complete(&mut self, results: Vec<(Pending, Verdict)>) {
        let now = Instant::now();
        let retry = self.config.retry;
        for (mut p, verdict) in results {
            if self.options.ordered {
                let key = p.record.partition_key.as_str();
                if let Some(n) = self.busy_keys.get_mut(key) {
                    *n -= 1;
                    if *n == 0 {
                        self.busy_keys.remove(key);
                    }
                }
            }
            match verdict {
                Verdict::Done(outcome) => self.finish(p.reply, outcome),
                Verdict::Retry { code, message } => {
                    let delay = retry.delay(p.attempts);
                    if p.attempts >= retry.max_attempts {
                        let attempts = p.attempts;
                        let error = KinesisError::Rejected {
                            code,
                            message,
                            attempts,
                        };
                        self.finish(p.reply, Err(error));
                    } else if now + delay >= p.enqueued + retry.record_ttl {
                        let error = KinesisError::Expired {
                            attempts: p.attempts,
                            last: format!("{code}: {message}"),
                        };
                        self.finish(p.reply, Err(error));
                    } else {
                        self.config.counters.retried.fetch_add(1, Ordering::Relaxed);
                        p.last_error = Some(format!("{code}: {message}"));
                        p.not_before = now + delay;
                        self.queue.insert(p.seq, p);
                    }
                }
            }
        }
    }

    /// Wait for one batch in flight and take it in; `false` when none is in flight.
    pub(crate) async fn complete_one(&mut self) -> bool {
        match self.in_flight.join_next().await {
            Some(Ok(results)) => {
                self.complete(results);
                true
            }
            Some(Err(e)) => {
                // A batch task panicked or was cancelled: its records' outcomes are lost with it.
                // `send_batch` does not panic on any input, so this is a bug; say so loudly.
                tracing::error!(error = %e, "a Kinesis batch task ended without its results");
                true
            }
            None => false,
        }
    }

    /// One step of the producer: start what is due, and return when to look again.
    pub(crate) async fn pump(&mut self, force: bool) -> Option<Instant> {
        self.start_batches(force).await
    }

    pub(crate) fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Send everything now and wait until every record has its outcome.
    pub(crate) async fn run_to_completion(&mut self) {
        loop {
            let wake = self.pump(true).await;
            if self.is_idle() {
                return;
            }
            if self.has_in_flight() {
                match wake {
                    Some(at) => {
                        tokio::select! {
                            _ = self.complete_one() => {}
                            _ = tokio::time::sleep_until(at) => {}
                        }
                    }
                    None => {
                        self.complete_one().await;
                    }
                }
            } else if let Some(at) = wake {
                tokio::time::sleep_until(at).await;
            }
        }
    }
}
