//! Which shard a record goes to: the MD5 of its partition key (or its explicit hash key) as a
//! 128-bit integer, in the hash key ranges of the stream's open shards. The producer groups
//! user records by shard for aggregation, as the KPL does.

use md5::{Digest, Md5};

use crate::error::{service, KinesisError};
use crate::StreamRef;

/// A record's hash key: its explicit hash key when it has one, else the MD5 of its partition key
/// read as a big-endian integer (as Kinesis computes it).
pub(crate) fn hash_key(partition_key: &str, explicit_hash_key: Option<&str>) -> u128 {
    if let Some(h) = explicit_hash_key.and_then(|h| h.parse().ok()) {
        return h;
    }
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

/// The open shards' hash key ranges, sorted by start.
#[derive(Clone, Debug, Default)]
pub(crate) struct ShardMap {
    ranges: Vec<(u128, u128, String)>,
}

impl ShardMap {
    /// The open shards of `stream` (a shard with an ending sequence number is closed).
    pub(crate) async fn load(
        kinesis: &aws_sdk_kinesis::Client,
        stream: &StreamRef,
    ) -> Result<ShardMap, KinesisError> {
        let mut ranges = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // A request with a token must not name the stream.
            let request = match &token {
                Some(t) => kinesis.list_shards().next_token(t),
                None => stream.list_shards(kinesis.list_shards()),
            };
            let out = request.send().await.map_err(service("ListShards"))?;
            for s in out.shards() {
                let open = s
                    .sequence_number_range()
                    .is_none_or(|r| r.ending_sequence_number().is_none());
                let range = s.hash_key_range();
                let bounds = range.and_then(|r| {
                    Some((
                        r.starting_hash_key().parse::<u128>().ok()?,
                        r.ending_hash_key().parse::<u128>().ok()?,
                    ))
                });
                if let (true, Some((start, end))) = (open, bounds) {
                    ranges.push((start, end, s.shard_id().to_owned()));
                }
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        ranges.sort();
        Ok(ShardMap { ranges })
    }

    /// The shard whose range holds `hash`, if the map knows one.
    pub(crate) fn shard_of(&self, hash: u128) -> Option<&str> {
        let i = self.ranges.partition_point(|(start, _, _)| *start <= hash);
        let (start, end, id) = self.ranges.get(i.checked_sub(1)?)?;
        (*start <= hash && hash <= *end).then_some(id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_keys_and_ranges() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e.
        assert_eq!(hash_key("", None), 0xd41d8cd98f00b204e9800998ecf8427e);
        assert_eq!(hash_key("x", Some("42")), 42);
        assert_eq!(hash_key("", Some("not a number")), hash_key("", None));
        let half = u128::MAX / 2;
        let map = ShardMap {
            ranges: vec![(0, half, "a".into()), (half + 1, u128::MAX, "b".into())],
        };
        assert_eq!(map.shard_of(0), Some("a"));
        assert_eq!(map.shard_of(half), Some("a"));
        assert_eq!(map.shard_of(half + 1), Some("b"));
        assert_eq!(map.shard_of(u128::MAX), Some("b"));
        assert_eq!(ShardMap::default().shard_of(5), None);
    }
}
