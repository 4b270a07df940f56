//! The event an AWS Lambda function receives from a Kinesis stream (feature `lambda`): the
//! fields a decrypting consumer needs, with `serde`. A hand-written struct rather than the
//! `aws_lambda_events` crate, whose Kinesis types bring `chrono`, `http` and `serde_with` for four
//! strings.

use serde::Deserialize;

/// A Lambda event from a Kinesis event source mapping (the JSON the function receives).
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct KinesisEvent {
    /// The records.
    #[serde(rename = "Records")]
    pub records: Vec<KinesisEventRecord>,
}

/// One record of a [`KinesisEvent`].
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct KinesisEventRecord {
    /// `shardId-…:sequence number`.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// The stream's ARN.
    #[serde(rename = "eventSourceARN", default)]
    pub event_source_arn: Option<String>,
    /// The Kinesis record.
    pub kinesis: KinesisEventRecordData,
}

/// The Kinesis part of a [`KinesisEventRecord`].
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct KinesisEventRecordData {
    /// The partition key.
    #[serde(rename = "partitionKey")]
    pub partition_key: String,
    /// The sequence number.
    #[serde(rename = "sequenceNumber")]
    pub sequence_number: String,
    /// The record's data, base64.
    pub data: String,
}

impl KinesisEventRecord {
    /// The shard ID, from the event ID (`shardId-000000000000:4954…`).
    pub fn shard_id(&self) -> &str {
        self.event_id
            .split_once(':')
            .map_or(self.event_id.as_str(), |(shard, _)| shard)
    }
}
