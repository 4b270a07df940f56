//! HKDF (RFC 5869) with aws-lc.

use aws_lc_rs::hkdf::{self, KeyType, Salt, HKDF_SHA256, HKDF_SHA384, HKDF_SHA512};

use crate::crypto::kdf::HkdfHash;

/// A pseudorandom key: the output of HKDF-Extract, ready for any number of expands.
pub(crate) struct Prk(hkdf::Prk);

/// The requested output is longer than 255 hash lengths.
#[derive(Debug)]
pub(crate) struct InvalidLength;

/// An output length, as aws-lc's expand wants it.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl Prk {
    /// HKDF-Extract. An empty `salt` is the hash length of zero bytes, as RFC 5869 says for an
    /// absent salt (HMAC pads its key with zeros either way).
    pub(crate) fn extract(hash: HkdfHash, salt: &[u8], ikm: &[u8]) -> Self {
        let algorithm = match hash {
            HkdfHash::Sha256 => HKDF_SHA256,
            HkdfHash::Sha384 => HKDF_SHA384,
            HkdfHash::Sha512 => HKDF_SHA512,
        };
        Prk(Salt::new(algorithm, salt).extract(ikm))
    }

    /// HKDF-Expand into `out`.
    pub(crate) fn expand(&self, info: &[u8], out: &mut [u8]) -> Result<(), InvalidLength> {
        let info = [info];
        self.0
            .expand(&info, Len(out.len()))
            .and_then(|okm| okm.fill(out))
            .map_err(|_| InvalidLength)
    }
}
