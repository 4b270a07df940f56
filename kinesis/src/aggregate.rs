//! The Kinesis Producer Library's aggregated record format, which the KCL and the
//! `aws-kinesis-agg` libraries de-aggregate: many user records in one Kinesis record.
//!
//! ```text
//! magic F3 89 9A C2 | AggregatedRecord (protobuf) | MD5 of the protobuf bytes (16 bytes)
//!
//! message AggregatedRecord {
//!   repeated string partition_key_table     = 1;
//!   repeated string explicit_hash_key_table = 2;
//!   repeated Record records                 = 3;
//! }
//! message Record {
//!   required uint64 partition_key_index     = 1;
//!   optional uint64 explicit_hash_key_index = 2;
//!   required bytes  data                    = 3;
//!   repeated Tag    tags                    = 4;   // read and ignored, never written
//! }
//! ```
//!
//! The protobuf is written and read by hand: three messages of two field types do not need a
//! code generator, and the reader checks every length against the input, so a hostile record
//! is an error, never a panic or an unbounded allocation.

use std::collections::HashMap;

use md5::{Digest, Md5};

/// The four bytes every aggregated record starts with.
pub const AGGREGATED_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// One user record inside an aggregated record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubRecord {
    /// The user record's partition key.
    pub partition_key: String,
    /// Its explicit hash key, when it had one.
    pub explicit_hash_key: Option<String>,
    /// Its data.
    pub data: Vec<u8>,
}

/// Why bytes that claim to be an aggregated record (they start with the magic and their MD5
/// matches) could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed KPL aggregated record: {0}")]
pub struct AggregationError(&'static str);

/// Builds one aggregated record, keeping track of its encoded size.
#[derive(Debug, Default)]
pub(crate) struct Aggregator {
    keys: Vec<String>,
    key_index: HashMap<String, u64>,
    hash_keys: Vec<String>,
    hash_key_index: HashMap<String, u64>,
    records: Vec<u8>,
    count: usize,
    /// The encoded size of the protobuf so far.
    size: usize,
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The size of a length-delimited field (one-byte tag) holding `len` bytes.
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn put_bytes_field(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

impl Aggregator {
    pub(crate) fn new() -> Self {
        Aggregator::default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The size of the whole aggregated record (magic and digest included) with what was added.
    pub(crate) fn size(&self) -> usize {
        AGGREGATED_MAGIC.len() + self.size + DIGEST_LEN
    }

    fn record_body_len(&self, key: &str, hash_key: Option<&str>, data_len: usize) -> usize {
        let key_index = self
            .key_index
            .get(key)
            .copied()
            .unwrap_or(self.keys.len() as u64);
        let mut n = 1 + varint_len(key_index) + field_len(data_len);
        if let Some(h) = hash_key {
            let index = self
                .hash_key_index
                .get(h)
                .copied()
                .unwrap_or(self.hash_keys.len() as u64);
            n += 1 + varint_len(index);
        }
        n
    }

    /// The size of the whole aggregated record if this user record were added.
    pub(crate) fn size_with(&self, key: &str, hash_key: Option<&str>, data_len: usize) -> usize {
        let mut extra = field_len(self.record_body_len(key, hash_key, data_len));
        if !self.key_index.contains_key(key) {
            extra += field_len(key.len());
        }
        if let Some(h) = hash_key {
            if !self.hash_key_index.contains_key(h) {
                extra += field_len(h.len());
            }
        }
        self.size() + extra
    }

    /// Add a user record.
    pub(crate) fn push(&mut self, key: &str, hash_key: Option<&str>, data: &[u8]) {
        let body = self.record_body_len(key, hash_key, data.len());
        let key_index = match self.key_index.get(key) {
            Some(&i) => i,
            None => {
                let i = self.keys.len() as u64;
                self.size += field_len(key.len());
                self.keys.push(key.to_owned());
                self.key_index.insert(key.to_owned(), i);
                i
            }
        };
        let hash_index = hash_key.map(|h| match self.hash_key_index.get(h) {
            Some(&i) => i,
            None => {
                let i = self.hash_keys.len() as u64;
                self.size += field_len(h.len());
                self.hash_keys.push(h.to_owned());
                self.hash_key_index.insert(h.to_owned(), i);
                i
            }
        });
        let start = self.records.len();
        self.records.push(0x1A);
        put_varint(&mut self.records, body as u64);
        self.records.push(0x08);
        put_varint(&mut self.records, key_index);
        if let Some(i) = hash_index {
            self.records.push(0x10);
            put_varint(&mut self.records, i);
        }
        put_bytes_field(&mut self.records, 0x1A, data);
        self.size += self.records.len() - start;
        self.count += 1;
    }

    /// The aggregated record: magic, protobuf, MD5.
    pub(crate) fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size());
        out.extend_from_slice(&AGGREGATED_MAGIC);
        for k in &self.keys {
            put_bytes_field(&mut out, 0x0A, k.as_bytes());
        }
        for h in &self.hash_keys {
            put_bytes_field(&mut out, 0x12, h.as_bytes());
        }
        out.extend_from_slice(&self.records);
        let digest = Md5::digest(&out[AGGREGATED_MAGIC.len()..]);
        out.extend_from_slice(&digest);
        out
    }
}

/// Aggregate user records `(partition key, explicit hash key, data)` into one KPL aggregated
/// record, as the KPL would. Which records may share an aggregate (the same shard) and how big
/// it may grow is the caller's choice.
pub fn aggregate<'a, I>(records: I) -> Vec<u8>
where
    I: IntoIterator<Item = (&'a str, Option<&'a str>, &'a [u8])>,
{
    let mut agg = Aggregator::new();
    for (key, hash_key, data) in records {
        agg.push(key, hash_key, data);
    }
    agg.finish()
}

/// Whether `data` is a KPL aggregated record: it starts with the magic and ends with the MD5 of
/// what is between. Like the KCL, anything else is an ordinary record.
pub fn is_aggregated(data: &[u8]) -> bool {
    data.len() >= AGGREGATED_MAGIC.len() + DIGEST_LEN && data.starts_with(&AGGREGATED_MAGIC) && {
        let body = &data[AGGREGATED_MAGIC.len()..data.len() - DIGEST_LEN];
        Md5::digest(body)[..] == data[data.len() - DIGEST_LEN..]
    }
}

/// The user records of a KPL aggregated record, in order; `None` when `data` is not one
/// ([`is_aggregated`]), and an error when it claims to be one but its protobuf is malformed.
pub fn deaggregate(data: &[u8]) -> Option<Result<Vec<SubRecord>, AggregationError>> {
    if !is_aggregated(data) {
        return None;
    }
    Some(parse(
        &data[AGGREGATED_MAGIC.len()..data.len() - DIGEST_LEN],
    ))
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, AggregationError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self
                .buf
                .split_first()
                .ok_or(AggregationError("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(AggregationError("varint longer than 10 bytes"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], AggregationError> {
        let len = self.varint()?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.buf.len())
            .ok_or(AggregationError("length past the end"))?;
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    fn skip(&mut self, wire_type: u64) -> Result<(), AggregationError> {
        let n = match wire_type {
            0 => return self.varint().map(drop),
            1 => 8,
            2 => return self.bytes().map(drop),
            5 => 4,
            _ => return Err(AggregationError("unknown wire type")),
        };
        if self.buf.len() < n {
            return Err(AggregationError("truncated field"));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }
}

fn text(bytes: &[u8]) -> Result<String, AggregationError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| AggregationError("a key is not UTF-8"))
}

fn parse(body: &[u8]) -> Result<Vec<SubRecord>, AggregationError> {
    let mut r = Reader { buf: body };
    let mut keys = Vec::new();
    let mut hash_keys = Vec::new();
    let mut raw = Vec::new();
    while !r.buf.is_empty() {
        let tag = r.varint()?;
        match (tag >> 3, tag & 7) {
            (1, 2) => keys.push(text(r.bytes()?)?),
            (2, 2) => hash_keys.push(text(r.bytes()?)?),
            (3, 2) => raw.push(r.bytes()?),
            (_, wire) => r.skip(wire)?,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    for record in raw {
        let mut r = Reader { buf: record };
        let (mut key, mut hash, mut data) = (None, None, None);
        while !r.buf.is_empty() {
            let tag = r.varint()?;
            match (tag >> 3, tag & 7) {
                (1, 0) => key = Some(r.varint()?),
                (2, 0) => hash = Some(r.varint()?),
                (3, 2) => data = Some(r.bytes()?),
                (_, wire) => r.skip(wire)?,
            }
        }
        let index = |i: u64, table: &[String]| {
            usize::try_from(i)
                .ok()
                .and_then(|i| table.get(i))
                .cloned()
                .ok_or(AggregationError("a key index past its table"))
        };
        let key = key.ok_or(AggregationError("a record without a partition key index"))?;
        out.push(SubRecord {
            partition_key: index(key, &keys)?,
            explicit_hash_key: hash.map(|h| index(h, &hash_keys)).transpose()?,
            data: data
                .ok_or(AggregationError("a record without data"))?
                .to_vec(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_shared_keys_and_hash_keys() {
        let records: Vec<(String, Option<String>, Vec<u8>)> = (0..300)
            .map(|i| {
                (
                    format!("key-{}", i % 7),
                    (i % 3 == 0).then(|| format!("{}", i * 1000)),
                    vec![i as u8; i % 200],
                )
            })
            .collect();
        let mut agg = Aggregator::new();
        for (k, h, d) in &records {
            let predicted = agg.size_with(k, h.as_deref(), d.len());
            agg.push(k, h.as_deref(), d);
            assert_eq!(agg.size(), predicted);
        }
        assert_eq!(agg.count, 300);
        let size = agg.size();
        let bytes = agg.finish();
        assert_eq!(bytes.len(), size);
        let back = deaggregate(&bytes)
            .expect("aggregated")
            .expect("well formed");
        let back: Vec<_> = back
            .into_iter()
            .map(|s| (s.partition_key, s.explicit_hash_key, s.data))
            .collect();
        assert_eq!(back, records);
    }

    #[test]
    fn plain_records_and_bad_digests_are_not_aggregates() {
        assert!(deaggregate(b"hello").is_none());
        let mut bytes = aggregate([("k", None, &b"v"[..])]);
        assert!(is_aggregated(&bytes));
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(deaggregate(&bytes).is_none());
    }

    #[test]
    fn malformed_protobuf_with_a_good_digest_is_an_error() {
        for body in [
            &[0x1A, 0x05, 0x08][..],       // record length past the end
            &[0x1A, 0x02, 0x08, 0x00][..], // no data
            &[0x0A, 0x01, b'k', 0x1A, 0x04, 0x08, 0x01, 0x1A, 0x00][..], // key index 1 of 1
            &[0xFF; 11][..],               // varint too long
            &[0x0B][..],                   // wire type 3
        ] {
            let mut bytes = AGGREGATED_MAGIC.to_vec();
            bytes.extend_from_slice(body);
            bytes.extend_from_slice(&Md5::digest(body));
            assert!(
                matches!(deaggregate(&bytes), Some(Err(_))),
                "{body:02x?} was accepted"
            );
        }
    }
}
