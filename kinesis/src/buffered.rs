//! The buffered producer: `put` hands a record to a background task and returns a future of its
//! outcome; the task batches records by count, bytes and time, keeps a bounded number of batches
//! in flight and sends refused records again, as the KPL does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::engine::Engine;
use crate::producer::{Config, Outcome};
use crate::{KinesisError, UserRecord};

/// How the buffered producer batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BufferOptions {
    /// How long a record may wait for others to share its batch (default 100 ms, the KPL's
    /// `RecordMaxBufferedTime`). A batch leaves as soon as it is full.
    pub max_buffered_time: Duration,
    /// The most user records in one batch (default: the request limit, 500, without
    /// aggregation; ten times that with it).
    pub max_batch_records: Option<usize>,
    /// The most plaintext bytes (data plus partition keys) in one batch (default 5 MiB).
    pub max_batch_bytes: usize,
    /// Keep each partition key's records in put order in the stream (default off). It costs
    /// throughput per key: a key has at most one user record in flight, with or without
    /// aggregation, so a hot key is written at one record per round trip plus any backoff; other
    /// keys are not held up.
    pub ordered: bool,
}

impl Default for BufferOptions {
    fn default() -> Self {
        BufferOptions {
            max_buffered_time: Duration::from_millis(100),
            max_batch_records: None,
            max_batch_bytes: 5 * 1024 * 1024,
            ordered: false,
        }
    }
}

impl BufferOptions {
    /// Set the longest a record waits for its batch.
    pub fn max_buffered_time(mut self, time: Duration) -> Self {
        self.max_buffered_time = time;
        self
    }

    /// Set the most user records in one batch.
    pub fn max_batch_records(mut self, records: usize) -> Self {
        self.max_batch_records = Some(records.max(1));
        self
    }

    /// Set the most plaintext bytes in one batch.
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes.max(1);
        self
    }

    /// Keep each partition key's records in order (see [`BufferOptions::ordered`]).
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }
}

enum Command {
    Put(UserRecord, oneshot::Sender<Outcome>),
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// A buffered, encrypting producer (from
/// [`EncryptingProducer::buffered`](crate::EncryptingProducer::buffered)). Cheap to clone; the
/// clones share one background task, which ends, after sending every record it holds, when
/// [`shutdown`](Self::shutdown) is called or the last clone is dropped.
#[derive(Clone)]
pub struct BufferedProducer {
    tx: mpsc::UnboundedSender<Command>,
    config: Arc<Config>,
}

impl fmt::Debug for BufferedProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferedProducer")
            .field("stream", &self.config.stream)
            .finish_non_exhaustive()
    }
}

/// The outcome of one [`BufferedProducer::put`]: where the record was written, or the error that
/// ended it. Dropping it does not cancel the record.
#[derive(Debug)]
pub struct PutFuture {
    rx: oneshot::Receiver<Outcome>,
}

impl Future for PutFuture {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(KinesisError::Shutdown)))
    }
}

impl BufferedProducer {
    pub(crate) fn spawn(config: Config, options: BufferOptions) -> Self {
        let config = Arc::new(config);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(Engine::new(config.clone(), options), rx));
        BufferedProducer { tx, config }
    }

    /// Hand over a record. It is encrypted and sent in the background; the returned future
    /// resolves to its outcome. There is no back-pressure: a caller that produces faster than
    /// the stream takes should bound its own outstanding futures.
    pub fn put(&self, record: impl Into<UserRecord>) -> PutFuture {
        let (reply, rx) = oneshot::channel();
        // A send error means the task has ended: the dropped reply resolves the future to
        // `Shutdown`.
        let _ = self.tx.send(Command::Put(record.into(), reply));
        PutFuture { rx }
    }

    /// Send everything buffered now, and return when every record put so far has its outcome.
    pub async fn flush(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Send everything buffered, wait for every outcome, and end the background task; records put
    /// afterwards (through other clones) end in [`KinesisError::Shutdown`].
    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(done)).is_ok() {
            let _ = rx.await;
        }
    }

    /// The producer's counters (shared with the [`EncryptingProducer`](crate::EncryptingProducer)
    /// it came from).
    pub fn stats(&self) -> crate::ProducerStats {
        crate::producer::stats(&self.config.counters)
    }
}

async fn run(mut engine: Engine, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let mut shutdowns: Vec<oneshot::Sender<()>> = Vec::new();
    let mut closing = false;
    loop {
        let forced = closing || !flushes.is_empty();
        let wake = engine.pump(forced).await;
        if engine.is_idle() {
            for f in flushes.drain(..) {
                let _ = f.send(());
            }
            if closing {
                break;
            }
        }
        let in_flight = engine.has_in_flight();
        tokio::select! {
            command = rx.recv(), if !closing => match command {
                Some(Command::Put(record, reply)) => {
                    engine.enqueue_channel(record, reply);
                    // Take in whatever else is waiting before batching.
                    while let Ok(command) = rx.try_recv() {
                        match command {
                            Command::Put(record, reply) => engine.enqueue_channel(record, reply),
                            other => {
                                requeue(&mut flushes, &mut shutdowns, &mut closing, other);
                                break;
                            }
                        }
                    }
                }
                Some(other) => requeue(&mut flushes, &mut shutdowns, &mut closing, other),
                None => closing = true,
            },
            _ = engine.complete_one(), if in_flight => {}
            _ = sleep_until(wake), if wake.is_some() => {}
        }
    }
    // Closing: nothing more is taken; later puts resolve to `Shutdown` as their replies drop.
    rx.close();
    while let Ok(command) = rx.try_recv() {
        match command {
            Command::Put(_, reply) => {
                let _ = reply.send(Err(KinesisError::Shutdown));
            }
            Command::Flush(done) | Command::Shutdown(done) => {
                let _ = done.send(());
            }
        }
    }
    for s in shutdowns {
        let _ = s.send(());
    }
}

fn requeue(
    flushes: &mut Vec<oneshot::Sender<()>>,
    shutdowns: &mut Vec<oneshot::Sender<()>>,
    closing: &mut bool,
    command: Command,
) {
    match command {
        Command::Flush(done) => flushes.push(done),
        Command::Shutdown(done) => {
            shutdowns.push(done);
            *closing = true;
        }
        // Handled by the caller.
        Command::Put(..) => {}
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
