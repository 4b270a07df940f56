//! HKDF (RFC 5869) with the `hkdf` crate.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::crypto::kdf::HkdfHash;

/// A pseudorandom key: the output of HKDF-Extract, ready for any number of expands.
pub(crate) enum Prk {
    Sha256(Hkdf<Sha256>),
    Sha384(Hkdf<Sha384>),
    Sha512(Hkdf<Sha512>),
}

/// The requested output is longer than 255 hash lengths.
#[derive(Debug)]
pub(crate) struct InvalidLength;

impl Prk {
    /// HKDF-Extract. An empty `salt` is the hash length of zero bytes, as RFC 5869 says for an
    /// absent salt.
    pub(crate) fn extract(hash: HkdfHash, salt: &[u8], ikm: &[u8]) -> Self {
        match hash {
            HkdfHash::Sha256 => Prk::Sha256(Hkdf::new(Some(salt), ikm)),
            HkdfHash::Sha384 => Prk::Sha384(Hkdf::new(Some(salt), ikm)),
            HkdfHash::Sha512 => Prk::Sha512(Hkdf::new(Some(salt), ikm)),
        }
    }

    /// HKDF-Expand into `out`.
    pub(crate) fn expand(&self, info: &[u8], out: &mut [u8]) -> Result<(), InvalidLength> {
        match self {
            Prk::Sha256(h) => h.expand(info, out),
            Prk::Sha384(h) => h.expand(info, out),
            Prk::Sha512(h) => h.expand(info, out),
        }
        .map_err(|_| InvalidLength)
    }
}

/// An HMAC-SHA-256 key (the PRF of the SP 800-108 KDF that the hierarchical keyring uses). The
/// `hmac` crate does not wipe its state on drop, so this keeps only the raw key, in zeroizing
/// memory, and computes the pads on every use rather than keep them for a cache entry's life.
pub(crate) struct HmacSha256Key(Zeroizing<Vec<u8>>);

impl HmacSha256Key {
    pub(crate) fn new(key: &[u8]) -> Self {
        HmacSha256Key(Zeroizing::new(key.to_vec()))
    }

    /// HMAC-SHA-256 of the concatenation of `parts`, into `out`.
    pub(crate) fn sign(&self, parts: &[&[u8]], out: &mut [u8; 32]) -> Result<(), InvalidLength> {
        // HMAC takes keys of any length: this never fails.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).map_err(|_| InvalidLength)?;
        for part in parts {
            mac.update(part);
        }
        out.copy_from_slice(&mac.finalize().into_bytes());
        Ok(())
    }
}
/// HMAC-SHA-384 of the concatenation of `parts` under `key` (the PRF of the key-agreement
/// keyrings' SP 800-108 KDF).
pub(crate) fn hmac_sha384(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 48]> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha384> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    let mut out = Zeroizing::new([0u8; 48]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}
