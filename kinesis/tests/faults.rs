//! Accounting under failure: every record put ends in exactly one outcome the caller sees, and
//! the stream holds exactly what those outcomes say, whatever fails and when.
//!
//! A fault-injecting proxy (tests/fault_proxy) stands between the producer and moto_server on
//! 127.0.0.1 and, on a fixed schedule of `PutRecords` requests, throttles whole requests, fails
//! them with HTTP 500, refuses every third entry (`FailedRecordCount`), or applies a request and
//! drops its response. The done-when check is here: 10,000 records through the buffered
//! producer, each exactly once in the stream with its told outcome, decrypted by the reference
//! Python ESDK.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::time::Duration;

mod fault_proxy;
mod support;

use fault_proxy::{Fault, FaultProxy};
use sealbox_kinesis::{
    BufferOptions, DecryptingConsumer, EncryptingProducer, KinesisError, Placement, RetryPolicy,
    StartingPosition, UserRecord,
};
use support::{cmm, context, kinesis, kinesis_at, moto, python_decrypt, raw_records, stream};

/// Every fault kind, twice per cycle of ten requests.
fn schedule() -> Vec<Fault> {
    use Fault::*;
    vec![
        None,
        Throttle,
        Partial,
        None,
        InternalFailure,
        Partial,
        LostResponse,
        None,
        Throttle,
        Partial,
    ]
}

fn retry() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(20)
        .backoff(Duration::from_millis(5), Duration::from_millis(100))
        .record_ttl(Duration::from_secs(120))
}

/// Check each outcome against the stream: a placement is there exactly once with that sequence
/// number and its data; an indeterminate record is there at most once; any other error is not
/// there. Returns (written, indeterminate-and-found, indeterminate-and-absent, failed).
fn check_against_stream(
    records: &[UserRecord],
    outcomes: &[Result<Placement, KinesisError>],
    stream: &[(String, String, String, Vec<u8>)],
    decrypted: &HashMap<Vec<u8>, Vec<(String, String)>>,
) -> (usize, usize, usize, usize) {
    let (mut written, mut found, mut absent, mut failed) = (0, 0, 0, 0);
    let _ = stream;
    for (record, outcome) in records.iter().zip(outcomes) {
        let copies = decrypted.get(&record.data).map_or(&[][..], Vec::as_slice);
        match outcome {
            Ok(p) => {
                assert_eq!(
                    copies,
                    [(p.shard_id.clone(), p.sequence_number.clone())],
                    "record {:?} told {p:?}",
                    record.partition_key
                );
                written += 1;
            }
            Err(e) if e.may_be_written() => {
                assert!(
                    copies.len() <= 1,
                    "an indeterminate record is in the stream twice"
                );
                if copies.is_empty() {
                    absent += 1
                } else {
                    found += 1
                }
            }
            Err(e) => {
                assert!(copies.is_empty(), "record told {e} is in the stream");
                failed += 1;
            }
        }
    }
    (written, found, absent, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_records_through_the_buffered_producer_under_every_fault() {
    let direct = kinesis();
    let (name, _) = stream(&direct, "faults", 4).await;
    let proxy = FaultProxy::start(moto(), schedule());
    let producer = EncryptingProducer::new(kinesis_at(&proxy.endpoint), &name, cmm(1000))
        .with_encryption_context(context())
        .with_retry_policy(retry())
        .with_max_in_flight(1)
        .buffered(
            BufferOptions::default()
                .max_buffered_time(Duration::from_millis(20))
                .max_batch_records(250),
        );
    let records: Vec<UserRecord> = (0..10_000)
        .map(|i| {
            UserRecord::new(
                format!("device-{}", i % 97),
                format!("reading {i:05} ").repeat(8),
            )
        })
        .collect();
    let futures: Vec<_> = records.iter().map(|r| producer.put(r.clone())).collect();
    producer.flush().await;
    let mut outcomes = Vec::new();
    for f in futures {
        outcomes.push(f.await);
    }
    producer.shutdown().await;
    let c = &proxy.counts;
    println!("faults injected: {}", c.summary());
    for (what, n) in [
        ("throttled requests", &c.throttled_requests),
        ("failed requests", &c.failed_requests),
        ("partial failures", &c.partial_requests),
        ("lost responses", &c.lost_responses),
    ] {
        assert!(n.load(Ordering::Relaxed) > 0, "no {what} were injected");
    }

    // Read the stream directly (not through the proxy) and decrypt every record in Python.
    let raw = raw_records(&direct, &name).await;
    let python = python_decrypt(
        "none",
        &raw.iter()
            .map(|(_, seq, pk, data)| (pk.clone(), seq.clone(), data.clone()))
            .collect::<Vec<_>>(),
    );
    assert_eq!(python.len(), raw.len(), "Python decrypted every record");
    let mut decrypted: HashMap<Vec<u8>, Vec<(String, String)>> = HashMap::new();
    for ((shard, seq, pk, _), (py_pk, plaintext)) in raw.iter().zip(python) {
        assert_eq!(*pk, py_pk);
        decrypted
            .entry(plaintext)
            .or_default()
            .push((shard.clone(), seq.clone()));
    }
    let (written, found, absent, failed) =
        check_against_stream(&records, &outcomes, &raw, &decrypted);
    let stats = producer.stats();
    println!(
        "outcomes: written={written} indeterminate_in_stream={found} \
         indeterminate_absent={absent} failed={failed}; stream records={}; producer requests={} \
         retried={}",
        raw.len(),
        stats.requests,
        stats.retried
    );
    // Every lost response was applied by moto, so its records are in the stream, told
    // indeterminate; the rest were all written after their retries.
    assert_eq!(found, c.lost_entries.load(Ordering::Relaxed));
    assert_eq!((absent, failed), (0, 0));
    assert_eq!(written + found, 10_000);
    assert_eq!(raw.len(), 10_000, "every record exactly once");
    assert!(stats.retried > 0);
}

#[tokio::test]
async fn put_records_reports_every_record_when_a_later_request_fails() {
    let direct = kinesis();
    let (name, _) = stream(&direct, "put-records-faults", 2).await;
    // Request 1 succeeds, request 2 is refused whole, request 3 loses its answer; one attempt
    // only, so each ends as it was told.
    let proxy = FaultProxy::start(
        moto(),
        vec![
            Fault::None,
            Fault::InternalFailure,
            Fault::LostResponse,
            Fault::Partial,
        ],
    );
    let producer = EncryptingProducer::new(kinesis_at(&proxy.endpoint), &name, cmm(100))
        .with_max_in_flight(1)
        .with_retry_policy(RetryPolicy::default().max_attempts(1));
    let records: Vec<UserRecord> = (0..1_800)
        .map(|i| UserRecord::new(format!("k{}", i % 10), format!("record {i}")))
        .collect();
    let summary = producer.put_records(records.clone()).await;
    assert_eq!(summary.outcomes.len(), 1_800);
    assert_eq!(summary.requests, 4, "500 + 500 + 500 + 300");
    let outcomes = &summary.outcomes;
    assert!(outcomes[..500].iter().all(Result::is_ok));
    assert!(outcomes[500..1000]
        .iter()
        .all(|o| matches!(o, Err(KinesisError::Rejected { code, attempts: 1, .. }) if code == "InternalFailure")));
    assert!(outcomes[1000..1500]
        .iter()
        .all(|o| matches!(o, Err(e) if e.may_be_written())));
    // The partial failure refused every third entry of the last request.
    for (i, o) in outcomes[1500..].iter().enumerate() {
        assert_eq!(
            o.is_ok(),
            i % 3 != 0,
            "entry {i} of the last request: {o:?}"
        );
    }
    let read = DecryptingConsumer::new(direct, &name, cmm(100))
        .read_all_shards()
        .await
        .expect("read");
    let in_stream: BTreeMap<Vec<u8>, usize> = read
        .iter()
        .flat_map(|s| s.records.iter())
        .map(|r| (r.as_ref().expect("decrypts").plaintext.clone(), 1))
        .fold(BTreeMap::new(), |mut m, (k, n)| {
            *m.entry(k).or_default() += n;
            m
        });
    for (record, outcome) in records.iter().zip(outcomes) {
        let n = in_stream.get(&record.data).copied().unwrap_or(0);
        let expected = match outcome {
            Ok(_) => 1,
            // moto applied the request whose answer was lost.
            Err(e) if e.may_be_written() => 1,
            Err(_) => 0,
        };
        assert_eq!(n, expected, "{outcome:?}");
    }
}

/// Put 640 records of 64 keys through a buffered producer behind a proxy that refuses entries;
/// how many keys end up out of order in the stream.
async fn keys_out_of_order(label: &str, ordered: bool) -> usize {
    let direct = kinesis();
    let (name, _) = stream(&direct, label, 2).await;
    // Two rounds of faults, then none: a retried record meets the faults a few times, not until
    // its attempts run out (a schedule repeating forever once refused one record 20 times in a
    // row, every retry landing on a refusing request while other batches took the others).
    let proxy = FaultProxy::start(moto(), vec![Fault::Partial, Fault::None, Fault::Throttle])
        .faults_only_for(6);
    let producer = EncryptingProducer::new(kinesis_at(&proxy.endpoint), &name, cmm(1000))
        .with_retry_policy(retry())
        .with_max_in_flight(1)
        .buffered(
            BufferOptions::default()
                .max_buffered_time(Duration::from_millis(5))
                .ordered(ordered),
        );
    let futures: Vec<_> = (0..640)
        .map(|i| {
            producer.put(UserRecord::new(
                format!("key-{}", i % 64),
                format!("{i:04}"),
            ))
        })
        .collect();
    producer.shutdown().await;
    for f in futures {
        f.await.expect("written");
    }
    assert!(proxy.counts.refused_entries.load(Ordering::Relaxed) > 0);
    let read = DecryptingConsumer::new(direct, &name, cmm(1000))
        .read_all_shards()
        .await
        .expect("read");
    let mut per_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for r in read.iter().flat_map(|s| s.records.iter()) {
        let r = r.as_ref().expect("decrypts");
        let n: u32 = std::str::from_utf8(&r.plaintext)
            .expect("utf-8")
            .parse()
            .expect("n");
        per_key.entry(r.partition_key.clone()).or_default().push(n);
    }
    assert_eq!(per_key.len(), 64);
    assert!(per_key.values().all(|v| v.len() == 10), "every record once");
    per_key
        .values()
        .filter(|v| v.windows(2).any(|w| w[0] > w[1]))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_mode_keeps_each_partition_key_in_order_through_retries() {
    let unordered = keys_out_of_order("unordered", false).await;
    let ordered = keys_out_of_order("ordered", true).await;
    println!("ordering: keys out of order of 64: without ordering {unordered}, with {ordered}");
    // The first request refuses every third entry, while later records of the same keys in it
    // are written: without ordering, retries land them behind.
    assert!(unordered > 0);
    assert_eq!(ordered, 0, "keys out of order");
}

#[tokio::test]
async fn an_expired_iterator_is_renewed_after_the_last_record_read() {
    let direct = kinesis();
    let (name, _) = stream(&direct, "expired", 1).await;
    let producer = EncryptingProducer::new(direct.clone(), &name, cmm(100));
    for i in 0..30 {
        producer
            .put_record(UserRecord::new("k", format!("r{i}")))
            .await
            .expect("put");
    }
    let proxy = FaultProxy::start(moto(), vec![Fault::None]).expire_get_records_every(2);
    let consumer = DecryptingConsumer::new(kinesis_at(&proxy.endpoint), &name, cmm(100))
        .with_get_records_limit(7);
    // Small pages, so that the read takes several GetRecords calls, every second one expired.
    let shard = consumer.shard_ids().await.expect("shards").remove(0);
    let read = consumer
        .read_shard(&shard, StartingPosition::TrimHorizon)
        .await;
    assert!(read.error.is_none(), "{:?}", read.error);
    assert!(read.iterators_renewed >= 3, "{}", read.iterators_renewed);
    let got: Vec<Vec<u8>> = read
        .records
        .into_iter()
        .map(|r| r.expect("decrypts").plaintext)
        .collect();
    let want: Vec<Vec<u8>> = (0..30).map(|i| format!("r{i}").into_bytes()).collect();
    assert_eq!(got, want, "nothing lost or read twice across renewals");
}
