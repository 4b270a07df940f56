//! HKDF (RFC 5869) with aws-lc.
//!
//! Two implementations over aws-lc:
//!
//! * `Fast` (non-FIPS builds): HKDF from aws-lc's HMAC, with the PRK's HMAC key (its inner and
//!   outer pads) computed once and reused by every expand. `aws-lc-rs`'s own `Prk` from
//!   `Salt::extract` runs the whole HKDF (extract included) again for every expand: 16 SHA-512
//!   compressions for a committing suite's key and commitment where this needs 10. SHA-512
//!   dominates a small message's cost, the more so on AMD processors, where aws-lc uses its
//!   generic SHA-512 code (its AVX code path is enabled for Intel only).
//! * `Module` (the FIPS build): aws-lc's own HKDF service, so that the key derivation is the
//!   FIPS module's approved KDF rather than one built outside it from HMAC.
//!
//! Tests check that both agree.

use aws_lc_rs::hkdf::{self, KeyType, Salt, HKDF_SHA256, HKDF_SHA384, HKDF_SHA512};
use aws_lc_rs::hmac;

use crate::crypto::kdf::HkdfHash;

/// The requested output is longer than 255 hash lengths.
#[derive(Debug)]
pub(crate) struct InvalidLength;

#[cfg(not(feature = "fips"))]
pub(crate) use Fast as Prk;
#[cfg(feature = "fips")]
pub(crate) use Module as Prk;

/// A pseudorandom key as an HMAC key: ready for any number of expands.
#[cfg_attr(feature = "fips", allow(dead_code))]
pub(crate) struct Fast(hmac::Key);

#[cfg_attr(feature = "fips", allow(dead_code))]
impl Fast {
    /// HKDF-Extract. An empty `salt` is the hash length of zero bytes, as RFC 5869 says for an
    /// absent salt (HMAC pads its key with zeros either way).
    pub(crate) fn extract(hash: HkdfHash, salt: &[u8], ikm: &[u8]) -> Self {
        let algorithm = match hash {
            HkdfHash::Sha256 => hmac::HMAC_SHA256,
            HkdfHash::Sha384 => hmac::HMAC_SHA384,
            HkdfHash::Sha512 => hmac::HMAC_SHA512,
        };
        let prk = hmac::sign(&hmac::Key::new(algorithm, salt), ikm);
        // The tag's bytes are the PRK; aws-lc wipes its own copies, `Tag` is on the stack.
        Fast(hmac::Key::new(algorithm, prk.as_ref()))
    }

    /// HKDF-Expand into `out`.
    pub(crate) fn expand(&self, info: &[u8], out: &mut [u8]) -> Result<(), InvalidLength> {
        let hash_len = self.0.algorithm().digest_algorithm().output_len();
        if out.len() > 255 * hash_len {
            return Err(InvalidLength);
        }
        let mut previous: Option<hmac::Tag> = None;
        for (i, chunk) in out.chunks_mut(hash_len).enumerate() {
            let mut ctx = hmac::Context::with_key(&self.0);
            if let Some(t) = &previous {
                ctx.update(t.as_ref());
            }
            ctx.update(info);
            ctx.update(&[i as u8 + 1]);
            let t = ctx.sign();
            chunk.copy_from_slice(&t.as_ref()[..chunk.len()]);
            previous = Some(t);
        }
        Ok(())
    }
}

/// An HMAC-SHA-256 key with its inner and outer pads computed once (the PRF of the SP 800-108
/// KDF that the hierarchical keyring uses, kept for as long as its branch key is cached). Held
/// by aws-lc, which wipes it when freed.
pub(crate) struct HmacSha256Key(hmac::Key);

impl HmacSha256Key {
    pub(crate) fn new(key: &[u8]) -> Self {
        HmacSha256Key(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// HMAC-SHA-256 of the concatenation of `parts`, into `out`.
    pub(crate) fn sign(&self, parts: &[&[u8]], out: &mut [u8; 32]) -> Result<(), InvalidLength> {
        let mut ctx = hmac::Context::with_key(&self.0);
        for part in parts {
            ctx.update(part);
        }
        let tag = ctx.sign();
        if tag.as_ref().len() != out.len() {
            return Err(InvalidLength);
        }
        out.copy_from_slice(tag.as_ref());
        Ok(())
    }
}

/// aws-lc's own HKDF.
#[cfg_attr(not(feature = "fips"), allow(dead_code))]
pub(crate) struct Module(hkdf::Prk);

/// An output length, as aws-lc's expand wants it.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

#[cfg_attr(not(feature = "fips"), allow(dead_code))]
impl Module {
    /// HKDF-Extract (aws-lc runs it again with every expand).
    pub(crate) fn extract(hash: HkdfHash, salt: &[u8], ikm: &[u8]) -> Self {
        let algorithm = match hash {
            HkdfHash::Sha256 => HKDF_SHA256,
            HkdfHash::Sha384 => HKDF_SHA384,
            HkdfHash::Sha512 => HKDF_SHA512,
        };
        Module(Salt::new(algorithm, salt).extract(ikm))
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

/// HMAC-SHA-384 of the concatenation of `parts` under `key` (the PRF of the key-agreement
/// keyrings' SP 800-108 KDF). aws-lc wipes its copy of the key when it frees it.
pub(crate) fn hmac_sha384(key: &[u8], parts: &[&[u8]]) -> zeroize::Zeroizing<[u8; 48]> {
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA384, key));
    for part in parts {
        ctx.update(part);
    }
    let mut out = zeroize::Zeroizing::new([0u8; 48]);
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_implementations_agree_with_rfc_5869() {
        // RFC 5869 test case 1 (SHA-256).
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let mut a = [0u8; 42];
        let mut b = [0u8; 42];
        Fast::extract(HkdfHash::Sha256, &salt, &ikm)
            .expand(&info, &mut a)
            .unwrap();
        Module::extract(HkdfHash::Sha256, &salt, &ikm)
            .expand(&info, &mut b)
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(&a[..8], &[0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a]);
        // Every hash, empty and long salts, outputs of several blocks.
        for hash in [HkdfHash::Sha256, HkdfHash::Sha384, HkdfHash::Sha512] {
            for salt in [&[][..], &[7u8; 32][..], &[9u8; 200][..]] {
                for len in [1, 32, 64, 65, 200] {
                    let mut a = vec![0u8; len];
                    let mut b = vec![0u8; len];
                    let fast = Fast::extract(hash, salt, b"input key");
                    let module = Module::extract(hash, salt, b"input key");
                    for info in [&b""[..], b"DERIVEKEY", b"COMMITKEY"] {
                        fast.expand(info, &mut a).unwrap();
                        module.expand(info, &mut b).unwrap();
                        assert_eq!(a, b, "{hash:?} salt {} len {len}", salt.len());
                    }
                }
            }
        }
        let mut too_long = vec![0u8; 255 * 32 + 1];
        assert!(Fast::extract(HkdfHash::Sha256, &[], b"k")
            .expand(b"", &mut too_long)
            .is_err());
    }
}
