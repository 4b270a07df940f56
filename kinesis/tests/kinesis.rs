//! The encrypting Kinesis producer and decrypting consumer against a real local Kinesis: moto's,
//! from `moto_server` in the Python venv, on a free loopback port.
//!
//! The endpoint comes from `SEALBOX_KINESIS_ENDPOINT` when it is set (scripts/test may share one
//! server); otherwise the tests start `moto_server` themselves, from `SEALBOX_MOTO_SERVER` or
//! `.venv/bin/moto_server` (run `scripts/test` once to create the venv). Without either the tests
//! fail: they never pass by skipping.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

#[path = "../../tests/moto_support/mod.rs"]
mod moto_support;

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use moto_support::LocalMoto;
use sealbox::{CachingCmm, EncryptionContext, RawAesKeyring};
use sealbox_kinesis::{
    DecryptingConsumer, EncryptingProducer, KinesisError, MAX_BYTES_PER_REQUEST,
};
use zeroize::Zeroizing;

fn endpoint() -> &'static str {
    static SERVER: OnceLock<LocalMoto> = OnceLock::new();
    &SERVER
        .get_or_init(|| moto_support::start("SEALBOX_KINESIS_ENDPOINT", "Kinesis"))
        .endpoint
}

fn kinesis() -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

/// A fresh stream with `shards` shards; names are unique per test so tests can share a server.
async fn stream(client: &aws_sdk_kinesis::Client, name: &str, shards: i32) -> String {
    let name = format!("{name}-{}", std::process::id());
    client
        .create_stream()
        .stream_name(&name)
        .shard_count(shards)
        .send()
        .await
        .expect("CreateStream");
    for _ in 0..100 {
        let summary = client
            .describe_stream_summary()
            .stream_name(&name)
            .send()
            .await
            .expect("DescribeStreamSummary");
        if summary
            .stream_description_summary()
            .is_some_and(|s| s.stream_status().as_str() == "ACTIVE")
        {
            return name;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream {name} never became active");
}

fn cmm(max_messages: u64) -> CachingCmm {
    let keyring =
        RawAesKeyring::new("kinesis-test", "key", Zeroizing::new(vec![0x42; 32])).expect("keyring");
    CachingCmm::builder_with_keyring(keyring)
        .max_age(Duration::from_secs(300))
        .max_messages(max_messages)
        .build()
        .expect("caching cmm")
}

fn context() -> EncryptionContext {
    let mut ec = EncryptionContext::new();
    ec.insert("stream".into(), "sensor-readings".into());
    ec
}

#[tokio::test]
async fn records_round_trip_with_partition_keys_and_one_master_key_call_per_100() {
    let kinesis = kinesis();
    let name = stream(&kinesis, "round-trip", 2).await;
    let producer_cmm = cmm(100);
    let producer = EncryptingProducer::new(kinesis.clone(), &name, producer_cmm.clone())
        .with_encryption_context(context());

    let records: Vec<(String, Vec<u8>)> = (0..1200)
        .map(|i| {
            let data = format!("reading {i}: ").repeat(1 + i % 50).into_bytes();
            (format!("device-{}", i % 17), data)
        })
        .collect();
    let summary = producer.put_records(records.clone()).await.expect("put");
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    assert_eq!(summary.records, 1200);
    assert_eq!(summary.requests, 3, "500 + 500 + 200 records");
    assert!(summary.placements.iter().all(Option::is_some));
    let mut expected: Vec<(String, Vec<u8>)> = records;
    for i in 0..5 {
        let data = format!("single {i}").into_bytes();
        producer
            .put_record(format!("device-{i}"), &data)
            .await
            .expect("put one");
        expected.push((format!("device-{i}"), data));
    }
    let stats = producer.stats();
    assert_eq!(stats.records, 1205);
    assert_eq!(stats.max_records_per_request, 500);

    let consumer_cmm = cmm(100);
    let consumer = DecryptingConsumer::new(kinesis, &name, consumer_cmm.clone())
        .with_expected_context(context());
    let read = consumer.read_all_shards().await.expect("read");
    assert_eq!(read.len(), 1205);
    let mut got: Vec<(String, Vec<u8>)> = read
        .iter()
        .map(|r| (r.partition_key.clone(), r.plaintext.clone()))
        .collect();
    got.sort();
    expected.sort();
    assert!(
        got == expected,
        "the records read differ from those written"
    );
    // Partition keys are unchanged, so each key's records stay on one shard.
    let mut shard_of: BTreeMap<&str, &str> = BTreeMap::new();
    for r in &read {
        let shard = shard_of.entry(&r.partition_key).or_insert(&r.shard_id);
        assert_eq!(*shard, r.shard_id, "{} moved shards", r.partition_key);
        assert_eq!(r.encryption_context["stream"], "sensor-readings");
    }

    // 1,205 records at 100 messages per data key: 13 data keys, each generated once by the
    // producer and unwrapped once by the consumer.
    let (enc, dec) = (producer_cmm.stats(), consumer_cmm.stats());
    assert_eq!(enc.underlying_calls, 13);
    assert_eq!(dec.underlying_calls, 13);
    let cstats = consumer.stats();
    println!(
        "round trip: records={} plaintext_bytes={} ciphertext_bytes={} put_requests={} \
         get_records_requests={} master_key_calls: encrypt={} decrypt={}",
        cstats.records,
        stats.plaintext_bytes,
        stats.ciphertext_bytes,
        stats.requests,
        cstats.get_records_requests,
        enc.underlying_calls,
        dec.underlying_calls
    );
    assert_eq!(cstats.ciphertext_bytes, stats.ciphertext_bytes);
    assert_eq!(cstats.plaintext_bytes, stats.plaintext_bytes);
}

#[tokio::test]
async fn large_records_are_batched_within_5_mib() {
    let kinesis = kinesis();
    let name = stream(&kinesis, "large", 1).await;
    let producer = EncryptingProducer::new(kinesis.clone(), &name, cmm(1000));
    let records: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| (format!("k{i}"), vec![i as u8; 600 * 1024]))
        .collect();
    let summary = producer.put_records(records).await.expect("put");
    assert!(summary.failed.is_empty());
    let stats = producer.stats();
    assert!(stats.max_bytes_per_request as usize <= MAX_BYTES_PER_REQUEST);
    // About 600 KiB each encrypted: eight fit in 5 MiB.
    assert_eq!((summary.requests, stats.max_records_per_request), (2, 8));
    let read = DecryptingConsumer::new(kinesis, &name, cmm(1000))
        .read_all_shards()
        .await
        .expect("read");
    assert_eq!(read.len(), 12);
    assert!(read.iter().all(|r| r.plaintext.len() == 600 * 1024));
}

#[tokio::test]
async fn an_oversized_record_or_a_bad_partition_key_sends_nothing() {
    let kinesis = kinesis();
    let name = stream(&kinesis, "oversized", 1).await;
    let producer = EncryptingProducer::new(kinesis.clone(), &name, cmm(10));
    let err = producer
        .put_records(vec![
            ("a".to_string(), vec![0u8; 10]),
            ("b".to_string(), vec![0u8; 1024 * 1024]),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, KinesisError::RecordTooLarge { index: 1, .. }),
        "{err}"
    );
    let err = producer.put_record("", b"x").await.unwrap_err();
    assert!(matches!(err, KinesisError::PartitionKey { chars: 0, .. }));
    let read = DecryptingConsumer::new(kinesis, &name, cmm(10))
        .read_all_shards()
        .await
        .expect("read");
    assert!(read.is_empty(), "something was sent");
}

#[tokio::test]
async fn a_record_that_is_not_an_esdk_message_or_has_the_wrong_context_fails() {
    let kinesis = kinesis();
    let name = stream(&kinesis, "tampered", 1).await;
    kinesis
        .put_record()
        .stream_name(&name)
        .partition_key("plain")
        .data(Blob::new(b"not encrypted".to_vec()))
        .send()
        .await
        .expect("put plain");
    let consumer = DecryptingConsumer::new(kinesis.clone(), &name, cmm(10));
    let err = consumer.read_all_shards().await.unwrap_err();
    assert!(matches!(err, KinesisError::Decrypt { .. }), "{err}");

    let other = stream(&kinesis, "context", 1).await;
    EncryptingProducer::new(kinesis.clone(), &other, cmm(10))
        .put_record("k", b"hello")
        .await
        .expect("put");
    let strict = DecryptingConsumer::new(kinesis, &other, cmm(10)).with_expected_context(context());
    let err = strict.read_all_shards().await.unwrap_err();
    assert!(matches!(err, KinesisError::Decrypt { .. }), "{err}");
}
