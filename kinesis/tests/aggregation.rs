//! KPL aggregation, both modes, against moto's Kinesis and the reference Python packages:
//! `aws-kinesis-agg` de-aggregates what sealbox aggregates and aggregates what sealbox reads, and
//! the Python ESDK decrypts every user record.

use std::time::Duration;

mod support;

use aws_sdk_kinesis::primitives::Blob;
use sealbox::Client;
use sealbox_kinesis::{
    aggregate, deaggregate, Aggregation, BufferOptions, DecryptingConsumer, EncryptingProducer,
    UserRecord,
};
use serde_json::json;
use support::{b64, cmm, context, kinesis, python, python_decrypt, raw_records, stream, unb64};

fn user_records(n: usize) -> Vec<UserRecord> {
    (0..n)
        .map(|i| {
            let mut data = format!("record {i:06} ").into_bytes();
            data.resize(256, b'.');
            UserRecord::new(format!("device-{}", i % 64), data)
        })
        .collect()
}

/// Put `records` through a buffered producer in `mode`; check every outcome, read the stream
/// back through the consumer and through Python, and return the wire bytes per user record.
async fn round_trip(mode: Aggregation, python_mode: &str, records: &[UserRecord]) -> f64 {
    let kinesis = kinesis();
    let (name, _) = stream(&kinesis, python_mode, 2).await;
    let producer = EncryptingProducer::new(kinesis.clone(), &name, cmm(1000))
        .with_encryption_context(context())
        .with_aggregation(mode)
        .with_max_in_flight(1)
        .buffered(BufferOptions::default().max_buffered_time(Duration::from_millis(50)));
    let futures: Vec<_> = records.iter().map(|r| producer.put(r.clone())).collect();
    producer.shutdown().await;
    let mut placements = Vec::new();
    for f in futures {
        placements.push(f.await.expect("written"));
    }
    assert!(
        placements.iter().all(|p| p.sub_sequence_number.is_some()),
        "aggregated"
    );
    let stats = producer.stats();
    assert_eq!(stats.records, records.len() as u64);
    assert!(stats.kinesis_records * 10 < stats.records, "{stats:?}");

    // sealbox's consumer: every user record, at the place its outcome said.
    let consumer =
        DecryptingConsumer::new(kinesis.clone(), &name, cmm(1000)).with_expected_context(context());
    let read: Vec<_> = consumer
        .read_all_shards()
        .await
        .expect("read")
        .into_iter()
        .flat_map(|s| s.records)
        .map(|r| r.expect("decrypts"))
        .collect();
    assert_eq!(read.len(), records.len());
    for (record, placement) in records.iter().zip(&placements) {
        let found: Vec<_> = read
            .iter()
            .filter(|r| {
                r.shard_id == placement.shard_id
                    && r.sequence_number == placement.sequence_number
                    && r.sub_sequence_number == placement.sub_sequence_number
            })
            .collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].plaintext, record.data);
        assert_eq!(found[0].partition_key, record.partition_key);
    }

    // The reference Python packages.
    let raw = raw_records(&kinesis, &name).await;
    let py = python_decrypt(
        python_mode,
        &raw.iter()
            .map(|(_, seq, pk, data)| (pk.clone(), seq.clone(), data.clone()))
            .collect::<Vec<_>>(),
    );
    let mut py: Vec<_> = py;
    let mut want: Vec<_> = records
        .iter()
        .map(|r| (r.partition_key.clone(), r.data.clone()))
        .collect();
    py.sort();
    want.sort();
    assert!(py == want, "Python read other records than were written");
    stats.wire_bytes as f64 / records.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_then_aggregate_round_trips_through_aws_kinesis_agg_and_the_python_esdk() {
    let per_record = round_trip(
        Aggregation::EncryptThenAggregate,
        "encrypt-then-aggregate",
        &user_records(2000),
    )
    .await;
    println!("encrypt-then-aggregate: {per_record:.1} wire bytes per 256-byte record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_then_encrypt_round_trips_and_costs_at_most_1_1_times_the_plaintext() {
    let per_record = round_trip(
        Aggregation::AggregateThenEncrypt,
        "aggregate-then-encrypt",
        &user_records(2000),
    )
    .await;
    println!("aggregate-then-encrypt: {per_record:.1} wire bytes per 256-byte record");
    assert!(
        per_record <= 1.1 * 256.0,
        "{per_record} bytes per 256-byte record"
    );
}

#[tokio::test]
async fn records_aggregated_by_aws_kinesis_agg_are_read_by_the_consumer_in_both_modes() {
    let kinesis = kinesis();
    let (name, _) = stream(&kinesis, "python-aggregated", 1).await;
    let client = Client::new();
    let key = cmm(100);
    let records: Vec<UserRecord> = user_records(300)
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            if i % 5 == 0 {
                r.explicit_hash_key(format!("{}", i * 7919))
            } else {
                r
            }
        })
        .collect();
    // Python aggregates ESDK messages (encrypt, then aggregate) ...
    let mut encrypted = Vec::new();
    for r in &records {
        encrypted.push(
            client
                .encrypt(&key, &r.data, &context())
                .await
                .expect("encrypt"),
        );
    }
    let input = json!({"records": records.iter().zip(&encrypted).map(|(r, c)| json!({
        "partition_key": r.partition_key, "explicit_hash_key": r.explicit_hash_key, "data": b64(c),
    })).collect::<Vec<_>>()});
    let aggregates = python(&["aggregate"], &input)["aggregates"]
        .as_array()
        .expect("aggregates")
        .clone();
    assert!(!aggregates.is_empty() && aggregates.len() < 300);
    // ... and plaintexts, which sealbox then encrypts (aggregate, then encrypt).
    let input = json!({"records": records.iter().map(|r| json!({
        "partition_key": r.partition_key, "explicit_hash_key": r.explicit_hash_key, "data": b64(&r.data),
    })).collect::<Vec<_>>()});
    let plain_aggregates = python(&["aggregate"], &input)["aggregates"]
        .as_array()
        .expect("aggregates")
        .clone();
    for a in &plain_aggregates {
        // sealbox's own de-aggregator reads aws-kinesis-agg's format, explicit hash keys and all.
        let subs = deaggregate(&unb64(&a["data"]))
            .expect("aggregated")
            .expect("well formed");
        assert!(!subs.is_empty());
    }
    for (a, encrypt) in aggregates
        .iter()
        .map(|a| (a, false))
        .chain(plain_aggregates.iter().map(|a| (a, true)))
    {
        let mut data = unb64(&a["data"]);
        if encrypt {
            data = client
                .encrypt(&key, &data, &context())
                .await
                .expect("encrypt");
        }
        kinesis
            .put_record()
            .stream_name(&name)
            .partition_key(a["partition_key"].as_str().expect("pk"))
            .data(Blob::new(data))
            .send()
            .await
            .expect("put");
    }
    let read: Vec<_> = DecryptingConsumer::new(kinesis, &name, cmm(100))
        .read_all_shards()
        .await
        .expect("read")
        .into_iter()
        .flat_map(|s| s.records)
        .map(|r| r.expect("decrypts"))
        .collect();
    assert_eq!(read.len(), 600);
    for (half, label) in [
        (&read[..300], "encrypt-then-aggregate"),
        (&read[300..], "aggregate-then-encrypt"),
    ] {
        for (r, want) in half.iter().zip(&records) {
            assert_eq!(r.plaintext, want.data, "{label}");
            assert_eq!(r.partition_key, want.partition_key, "{label}");
            assert_eq!(r.explicit_hash_key, want.explicit_hash_key, "{label}");
        }
    }
}

#[test]
fn sealbox_aggregates_are_read_by_aws_kinesis_agg() {
    let records = user_records(50);
    let bytes = aggregate(
        records
            .iter()
            .map(|r| (r.partition_key.as_str(), None, r.data.as_slice())),
    );
    let out = python_decrypt_plain(&bytes);
    let want: Vec<_> = records
        .iter()
        .map(|r| (r.partition_key.clone(), r.data.clone()))
        .collect();
    assert_eq!(out, want);
}

/// De-aggregate `bytes` with aws-kinesis-agg alone (no decryption).
fn python_decrypt_plain(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let out = python(&["deaggregate"], &json!({"data": b64(bytes)}));
    out["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["partition_key"].as_str().expect("pk").to_owned(),
                unb64(&r["data"]),
            )
        })
        .collect()
}
