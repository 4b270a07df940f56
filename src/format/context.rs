//! The encryption context and its canonical serialization.

use std::collections::BTreeMap;

use super::{put_vec16, Reader};
use crate::error::{BadContext, ContextError, Error, Malformed};

/// The encryption context: non-secret key-value pairs bound to a message.
///
/// A `BTreeMap<String, String>` orders keys by their UTF-8 bytes, which is exactly the order the
/// wire format requires.
pub type EncryptionContext = BTreeMap<String, String>;

/// Serialize an encryption context as the message format does: empty for an empty context,
/// otherwise `u16 count` and length-prefixed key/value pairs sorted by key bytes.
pub fn serialize_encryption_context(ec: &EncryptionContext) -> Result<Vec<u8>, Error> {
    let mut out =
        Vec::with_capacity(2 + ec.iter().map(|(k, v)| 4 + k.len() + v.len()).sum::<usize>());
    write_encryption_context(&mut out, ec.iter())?;
    Ok(out)
}

/// Append the serialization of `entries` (in key order, as a context's iterator yields them) to
/// `out`: nothing for no entries, otherwise `u16 count` and the length-prefixed pairs.
pub(crate) fn write_encryption_context<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'a String, &'a String)> + Clone,
) -> Result<(), Error> {
    let n = entries.clone().count();
    if n == 0 {
        return Ok(());
    }
    let count =
        u16::try_from(n).map_err(|_| Error::EncryptionContext(ContextError::TooManyEntries(n)))?;
    let start = out.len();
    out.extend_from_slice(&count.to_be_bytes());
    for (k, v) in entries {
        put_vec16(out, k.as_bytes(), "an encryption context key")?;
        put_vec16(out, v.as_bytes(), "an encryption context value")?;
    }
    if out.len() - start > u16::MAX as usize {
        return Err(Error::EncryptionContext(ContextError::TooLong(
            out.len() - start,
        )));
    }
    Ok(())
}

/// Parse a serialized encryption context. Rejects duplicate keys, invalid UTF-8 and trailing bytes.
pub fn parse_encryption_context(bytes: &[u8]) -> Result<EncryptionContext, Error> {
    let mut ec = EncryptionContext::new();
    if bytes.is_empty() {
        return Ok(ec);
    }
    let bad = |why: BadContext| Error::Malformed(Malformed::EncryptionContext(why));
    let mut r = Reader::new(bytes);
    let count = r
        .u16("encryption context count")
        .map_err(|_| bad(BadContext::Truncated))?;
    if count == 0 {
        return Err(bad(BadContext::ZeroEntries));
    }
    for _ in 0..count {
        let k = r
            .vec16("encryption context key")
            .map_err(|_| bad(BadContext::Truncated))?;
        let v = r
            .vec16("encryption context value")
            .map_err(|_| bad(BadContext::Truncated))?;
        let k = std::str::from_utf8(k).map_err(|_| bad(BadContext::NotUtf8))?;
        let v = std::str::from_utf8(v).map_err(|_| bad(BadContext::NotUtf8))?;
        if ec.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(bad(BadContext::DuplicateKey));
        }
    }
    if r.remaining() != 0 {
        return Err(bad(BadContext::TrailingBytes));
    }
    Ok(ec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_bytes_and_round_trips() {
        let mut ec = EncryptionContext::new();
        ec.insert("b".into(), "2".into());
        ec.insert("a".into(), "1".into());
        ec.insert("unicode_key_ловие".into(), "\u{0}\u{1}".into());
        let bytes = serialize_encryption_context(&ec).unwrap();
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(&bytes[2..7], &[0, 1, b'a', 0, 1]);
        assert_eq!(parse_encryption_context(&bytes).unwrap(), ec);
        assert!(serialize_encryption_context(&EncryptionContext::new())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn rejects_duplicates_trailing_and_oversize() {
        let dup = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0];
        assert!(parse_encryption_context(&dup).is_err());
        let trailing = [0, 1, 0, 1, b'a', 0, 0, 7];
        assert!(parse_encryption_context(&trailing).is_err());
        let mut big = EncryptionContext::new();
        big.insert("k".into(), "v".repeat(70_000));
        assert!(serialize_encryption_context(&big).is_err());
    }
}
