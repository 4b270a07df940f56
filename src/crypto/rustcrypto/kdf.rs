//! HKDF (RFC 5869) with the `hkdf` crate.

use hkdf::Hkdf;
use sha2::{Sha256, Sha384, Sha512};

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
