//! The encrypting producer and decrypting consumer against a real local Kinesis: moto's, from
//! `moto_server` in the repository's venv, on a free loopback port (or `SEALBOX_KINESIS_ENDPOINT`).
//! Without one the tests fail: they never pass by skipping. moto_server gives concurrent
//! `PutRecords` requests on one shard the same sequence numbers and keeps one record of each
//! pair, so every producer here that sends more than one batch has one batch in flight.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

mod support;

use aws_sdk_kinesis::primitives::Blob;
use sealbox_kinesis::{
    DecryptingConsumer, EncryptingProducer, KinesisError, KinesisEvent, Limits, StartingPosition,
    StreamRef, UserRecord,
};
use support::{b64, cmm, context, kinesis, stream};

#[tokio::test]
async fn records_round_trip_with_partition_keys_and_one_master_key_call_per_100() {
    let kinesis = kinesis();
    let (name, _) = stream(&kinesis, "round-trip", 2).await;
    let producer_cmm = cmm(100);
    let producer = EncryptingProducer::new(kinesis.clone(), &name, producer_cmm.clone())
        .with_encryption_context(context())
        .with_max_in_flight(1);

    let records: Vec<(String, Vec<u8>)> = (0..1200)
        .map(|i| {
            let data = format!("reading {i}: ").repeat(1 + i % 50).into_bytes();
            (format!("device-{}", i % 17), data)
        })
        .collect();
    let summary = producer.put_records(records.clone()).await;
    assert!(
        summary.all_written(),
        "{:?}",
        summary.failed().collect::<Vec<_>>()
    );
    assert_eq!(summary.outcomes.len(), 1200);
    assert_eq!(summary.requests, 3, "500 + 500 + 200 records");
    let mut expected: Vec<(String, Vec<u8>)> = records;
    for i in 0..5 {
        let data = format!("single {i}").into_bytes();
        let placement = producer
            .put_record((format!("device-{i}"), data.clone()))
            .await
            .expect("put one");
        assert_eq!(placement.attempts, 1);
        expected.push((format!("device-{i}"), data));
    }
    let stats = producer.stats();
    assert_eq!(stats.records, 1205);
    assert_eq!(stats.max_records_per_request, 500);

    let consumer_cmm = cmm(100);
    let consumer = DecryptingConsumer::new(kinesis, &name, consumer_cmm.clone())
        .with_expected_context(context());
    let reads = consumer.read_all_shards().await.expect("read");
    let read: Vec<_> = reads
        .into_iter()
        .flat_map(|s| {
            assert!(s.error.is_none());
            s.records
        })
        .map(|r| r.expect("decrypts"))
        .collect();
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
    assert_eq!(producer_cmm.stats().underlying_calls, 13);
    assert_eq!(consumer_cmm.stats().underlying_calls, 13);
    let cstats = consumer.stats();
    assert_eq!(cstats.plaintext_bytes, stats.plaintext_bytes);
    assert_eq!(
        cstats.ciphertext_bytes
            + read
                .iter()
                .map(|r| r.partition_key.len() as u64)
                .sum::<u64>(),
        stats.wire_bytes
    );
}

#[tokio::test]
async fn large_records_are_batched_within_the_request_limit() {
    let kinesis = kinesis();
    let (name, _) = stream(&kinesis, "large", 1).await;
    let producer = EncryptingProducer::new(kinesis.clone(), &name, cmm(1000)).with_max_in_flight(1);
    let records: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| (format!("k{i}"), vec![i as u8; 600 * 1024]))
        .collect();
    let summary = producer.put_records(records).await;
    assert!(summary.all_written());
    let stats = producer.stats();
    assert!(stats.max_bytes_per_request as usize <= Limits::default().max_request_bytes);
    // About 600 KiB each encrypted: eight fit in 5 MiB.
    assert_eq!((summary.requests, stats.max_records_per_request), (2, 8));
}

#[tokio::test]
async fn bad_records_end_alone_and_the_others_are_written() {
    let kinesis = kinesis();
    let (name, _) = stream(&kinesis, "bad-records", 1).await;
    let producer = EncryptingProducer::new(kinesis.clone(), &name, cmm(10))
        .with_limits(
            Limits::default()
                .max_record_bytes(64 * 1024)
                .max_request_records(2),
        )
        .with_max_in_flight(1);
    let summary = producer
        .put_records(vec![
            UserRecord::new("a", vec![0u8; 10]),
            UserRecord::new("b", vec![0u8; 64 * 1024]),
            UserRecord::new("", b"x".to_vec()),
            UserRecord::new("c", b"y".to_vec()).explicit_hash_key("12x"),
            UserRecord::new("d", b"z".to_vec()),
            UserRecord::new("e", b"w".to_vec()),
        ])
        .await;
    let o = &summary.outcomes;
    assert!(o[0].is_ok() && o[4].is_ok() && o[5].is_ok(), "{o:?}");
    assert!(
        matches!(o[1], Err(KinesisError::RecordTooLarge { limit: 65536, .. })),
        "{o:?}"
    );
    assert!(matches!(o[2], Err(KinesisError::PartitionKey { chars: 0 })));
    assert!(matches!(o[3], Err(KinesisError::ExplicitHashKey(_))));
    assert!(o
        .iter()
        .all(|o| !o.as_ref().is_err_and(KinesisError::may_be_written)));
    // Three records at most two per request.
    assert_eq!(summary.requests, 2);
    let read = DecryptingConsumer::new(kinesis, &name, cmm(10))
        .read_all_shards()
        .await
        .expect("read");
    assert_eq!(read.iter().map(|s| s.records.len()).sum::<usize>(), 3);
}

#[tokio::test]
async fn a_record_that_does_not_decrypt_is_reported_and_the_others_are_kept() {
    let kinesis = kinesis();
    let (name, _) = stream(&kinesis, "tampered", 1).await;
    let producer = EncryptingProducer::new(kinesis.clone(), &name, cmm(10));
    producer
        .put_record(("k", b"first".to_vec()))
        .await
        .expect("put");
    let bad = kinesis
        .put_record()
        .stream_name(&name)
        .partition_key("plain")
        .data(Blob::new(b"not encrypted".to_vec()))
        .send()
        .await
        .expect("put plain");
    producer
        .put_record(("k", b"last".to_vec()))
        .await
        .expect("put");
    let consumer = DecryptingConsumer::new(kinesis.clone(), &name, cmm(10));
    let read = consumer.read_all_shards().await.expect("read").remove(0);
    assert_eq!(read.records.len(), 3);
    assert_eq!(read.records[0].as_ref().expect("first").plaintext, b"first");
    match &read.records[1] {
        Err(KinesisError::Decrypt {
            sequence_number, ..
        }) => {
            assert_eq!(sequence_number, bad.sequence_number())
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(read.records[2].as_ref().expect("last").plaintext, b"last");
    assert_eq!(consumer.stats().failed, 1);

    // A consumer that expects another context rejects every record, each on its own.
    let strict = DecryptingConsumer::new(kinesis, &name, cmm(10)).with_expected_context(context());
    let read = strict.read_all_shards().await.expect("read").remove(0);
    assert!(read
        .records
        .iter()
        .all(|r| matches!(r, Err(KinesisError::Decrypt { .. }))));
}

#[tokio::test]
async fn explicit_hash_keys_pick_the_shard_and_stream_arns_work() {
    let kinesis = kinesis();
    let (name, arn) = stream(&kinesis, "hash-keys", 2).await;
    let producer = EncryptingProducer::new(kinesis.clone(), StreamRef::arn(&arn), cmm(10));
    let shards = kinesis
        .list_shards()
        .stream_name(&name)
        .send()
        .await
        .expect("shards");
    let mut shard_ids = Vec::new();
    for shard in shards.shards() {
        let start = shard.hash_key_range().expect("range").starting_hash_key();
        // The same partition key, sent to each shard by its explicit hash key.
        let placement = producer
            .put_record(UserRecord::new("same-key", b"x".to_vec()).explicit_hash_key(start))
            .await
            .expect("put");
        assert_eq!(placement.shard_id, shard.shard_id());
        shard_ids.push(placement.shard_id);
    }
    assert_eq!(shard_ids.len(), 2);
    // moto answers GetShardIterator by StreamARN with an iterator it cannot read back ("Stream
    // None ... not found"), so the consumer names the stream.
    let _ = arn;
    let consumer = DecryptingConsumer::new(kinesis, &name, cmm(10));
    let read = consumer.read_all_shards().await.expect("read");
    for s in &read {
        assert!(s.error.is_none(), "{:?}", s.error);
    }
    assert_eq!(read.iter().map(|s| s.records.len()).sum::<usize>(), 2);
}

#[tokio::test]
async fn every_starting_position_reads_from_where_it_says() {
    let kinesis = kinesis();
    let (name, _) = stream(&kinesis, "positions", 1).await;
    let producer = EncryptingProducer::new(kinesis.clone(), &name, cmm(100));
    let mut placements = Vec::new();
    for i in 0..5 {
        placements.push(
            producer
                .put_record(("k", format!("r{i}")))
                .await
                .expect("put"),
        );
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let middle = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for i in 5..8 {
        placements.push(
            producer
                .put_record(("k", format!("r{i}")))
                .await
                .expect("put"),
        );
    }
    let consumer = DecryptingConsumer::new(kinesis, &name, cmm(100));
    let shard = &placements[0].shard_id;
    let read = |start| {
        let consumer = consumer.clone();
        async move {
            let r = consumer.read_shard(shard, start).await;
            assert!(r.error.is_none(), "{:?}", r.error);
            r.records
                .into_iter()
                .map(|r| String::from_utf8(r.expect("decrypts").plaintext).expect("utf-8"))
                .collect::<Vec<_>>()
        }
    };
    let all: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    assert_eq!(read(StartingPosition::TrimHorizon).await, all);
    assert_eq!(
        read(StartingPosition::AtSequenceNumber(
            placements[3].sequence_number.clone()
        ))
        .await,
        all[3..]
    );
    assert_eq!(
        read(StartingPosition::AfterSequenceNumber(
            placements[3].sequence_number.clone()
        ))
        .await,
        all[4..]
    );
    assert_eq!(read(StartingPosition::AtTimestamp(middle)).await, all[5..]);
    assert!(read(StartingPosition::Latest).await.is_empty());
}

#[tokio::test]
async fn a_lambda_event_decrypts_record_by_record() {
    let kinesis = kinesis();
    let (name, arn) = stream(&kinesis, "lambda", 1).await;
    let producer = EncryptingProducer::new(kinesis.clone(), &name, cmm(10));
    let a = producer
        .put_record(("k1", b"one".to_vec()))
        .await
        .expect("put");
    let b = producer
        .put_record(("k2", b"two".to_vec()))
        .await
        .expect("put");
    let raw = support::raw_records(&kinesis, &name).await;
    let mut records: Vec<serde_json::Value> = raw
        .iter()
        .map(|(shard, seq, pk, data)| {
            serde_json::json!({
                "eventID": format!("{shard}:{seq}"),
                "eventSourceARN": arn,
                "eventSource": "aws:kinesis",
                "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": pk,
                            "sequenceNumber": seq, "data": b64(data),
                            "approximateArrivalTimestamp": 1.7e9},
            })
        })
        .collect();
    records.push(serde_json::json!({
        "eventID": "shardId-000000000000:9", "kinesis": {"partitionKey": "p",
        "sequenceNumber": "9", "data": "not base64!"}}));
    let event: KinesisEvent =
        serde_json::from_value(serde_json::json!({ "Records": records })).expect("event");
    let results = DecryptingConsumer::new(kinesis, &name, cmm(10))
        .decrypt_lambda_event(&event)
        .await;
    assert_eq!(results.len(), 3);
    let one = results[0].as_ref().expect("one");
    assert_eq!(
        (one.plaintext.as_slice(), one.sequence_number.as_str()),
        (&b"one"[..], a.sequence_number.as_str())
    );
    assert_eq!(one.shard_id, a.shard_id);
    assert_eq!(
        results[1].as_ref().expect("two").sequence_number,
        b.sequence_number
    );
    assert!(
        matches!(&results[2], Err(KinesisError::EventData { sequence_number, .. }) if sequence_number == "9")
    );
}
