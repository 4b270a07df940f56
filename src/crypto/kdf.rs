//! Per-message key derivation and key commitment, as the message format defines them. The HKDF
//! itself is the backend's.

use zeroize::Zeroizing;

use super::backend::kdf::{hmac_sha384, HmacSha256Key, Prk};
use super::AeadKey;
use crate::error::{ConfigError, Error};
use crate::suite::{AlgorithmSuite, Kdf};

/// The hash under an HKDF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HkdfHash {
    Sha256,
    Sha384,
    Sha512,
}

/// The NIST SP 800-108 key derivation function in counter mode with HMAC-SHA-256 as its PRF, for
/// one 256-bit block, as the AWS KMS Hierarchical keyring derives a wrapping key from a branch
/// key (the Material Providers Library's `KdfCtr`). Byte for byte:
///
/// ```text
/// HMAC-SHA256(key, 00 00 00 01 || label || 00 || context || 00 00 01 00)
/// ```
///
/// (the counter 1 and the output length 256 in bits, both big-endian u32). Not HKDF.
pub(crate) fn kdf_ctr_hmac_sha256(
    key: &HmacSha256Key,
    label: &[u8],
    context: &[u8],
) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut out = Zeroizing::new([0u8; 32]);
    key.sign(
        &[
            &1u32.to_be_bytes(),
            label,
            &[0],
            context,
            &256u32.to_be_bytes(),
        ],
        &mut out,
    )
    .map_err(|_| Error::Config(ConfigError::Internal("HMAC-SHA-256 output length")))?;
    Ok(out)
}

/// The NIST SP 800-108 key derivation function in counter mode with HMAC-SHA-384 as its PRF,
/// for 512 bits, as the key-agreement keyrings (raw ECDH, AWS KMS ECDH) derive a commitment key
/// and a wrapping key from a shared secret (the Material Providers Library's `KdfCtr` with
/// `SHA_384` and an expected length of 64). Two blocks, byte for byte:
///
/// ```text
/// HMAC-SHA384(z, 00 00 00 0i || label || 00 || context || 00 00 02 00)   for i = 1, 2
/// ```
///
/// truncated to 64 bytes. `label` is the fixed info, `context` the 32-byte salt.
pub(crate) fn kdf_ctr_hmac_sha384(z: &[u8], label: &[u8], context: &[u8]) -> Zeroizing<[u8; 64]> {
    let mut out = Zeroizing::new([0u8; 64]);
    let length_bits = 512u32.to_be_bytes();
    for (i, chunk) in out.chunks_mut(48).enumerate() {
        let counter = (i as u32 + 1).to_be_bytes();
        let block = hmac_sha384(z, &[&counter, label, &[0], context, &length_bits]);
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
    out
}

/// Derive the message's encryption key (and, for committing suites, the commitment) from the data
/// key and the message ID.
pub(crate) fn derive_keys(
    suite: AlgorithmSuite,
    data_key: &[u8],
    message_id: &[u8],
) -> Result<(AeadKey, Option<[u8; 32]>), Error> {
    if data_key.len() != suite.data_key_len() {
        return Err(Error::materials(
            format!(
                "data key is {} bytes, suite {suite} needs {}",
                data_key.len(),
                suite.data_key_len()
            ),
            None,
        ));
    }
    let len = suite.key_len();
    let mut okm = Zeroizing::new([0u8; 32]);
    let mut info = [0u8; 2 + 32];
    info[..2].copy_from_slice(&suite.id().to_be_bytes());
    let expand_err = |_| Error::Config(ConfigError::Internal("HKDF output length"));
    match suite.kdf() {
        Kdf::Identity => Ok((AeadKey::new(data_key)?, None)),
        Kdf::HkdfSha256 | Kdf::HkdfSha384 => {
            info[2..2 + message_id.len()].copy_from_slice(message_id);
            let info = &info[..2 + message_id.len()];
            let hash = if suite.kdf() == Kdf::HkdfSha256 {
                HkdfHash::Sha256
            } else {
                HkdfHash::Sha384
            };
            Prk::extract(hash, &[], data_key)
                .expand(info, &mut okm[..len])
                .map_err(expand_err)?;
            Ok((AeadKey::new(&okm[..len])?, None))
        }
        Kdf::HkdfSha512Commit => {
            // One extract, two expands, as the specification asks.
            let prk = Prk::extract(HkdfHash::Sha512, message_id, data_key);
            info[2..11].copy_from_slice(b"DERIVEKEY");
            prk.expand(&info[..11], &mut okm[..len])
                .map_err(expand_err)?;
            let mut commitment = [0u8; 32];
            prk.expand(b"COMMITKEY", &mut commitment)
                .map_err(expand_err)?;
            Ok((AeadKey::new(&okm[..len])?, Some(commitment)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected value is independent of this code: Python's standard library,
    ///
    /// ```text
    /// import hmac, hashlib
    /// msg = b"\x00\x00\x00\x01" + b"aws-kms-hierarchy" + b"\x00" + bytes(range(100, 116)) + b"\x00\x00\x01\x00"
    /// hmac.new(bytes(range(32)), msg, hashlib.sha256).hexdigest()
    /// ```
    #[test]
    fn sp800_108_counter_mode_matches_python_hmac() {
        let key: Vec<u8> = (0..32).collect();
        let salt: Vec<u8> = (100..116).collect();
        let key = HmacSha256Key::new(&key);
        let out = kdf_ctr_hmac_sha256(&key, b"aws-kms-hierarchy", &salt).unwrap();
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "158fc6a614fd99d6004e1fe18a50b033eebdf21f70d63f2b8af9a1def888d927"
        );
        // The salt is the context: another salt, another key.
        let other = kdf_ctr_hmac_sha256(&key, b"aws-kms-hierarchy", &[0u8; 16]).unwrap();
        assert_ne!(*out, *other);
    }
    /// Independent of this code: Python's standard library,
    ///
    /// ```text
    /// import hmac, hashlib
    /// z, label, salt = bytes(range(48)), b"fixed info", bytes(range(200, 232))
    /// f = lambda i: hmac.new(z, i.to_bytes(4, "big") + label + b"\x00" + salt + (512).to_bytes(4, "big"), hashlib.sha384).digest()
    /// (f(1) + f(2))[:64].hex()
    /// ```
    #[test]
    fn sp800_108_counter_mode_sha384_matches_python_hmac() {
        let z: Vec<u8> = (0..48).collect();
        let salt: Vec<u8> = (200..232).collect();
        let out = kdf_ctr_hmac_sha384(&z, b"fixed info", &salt);
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "1ddea48562441a5f38fb52b7f6a14828e9a9bbfc52d0e8978b1190aa875efbf3e0c1cdc1f08c057e827103b4cf73f66390439a3cdc25dcd0fc9c3799003470de");
        assert_ne!(*out, *kdf_ctr_hmac_sha384(&z, b"fixed info", &[0u8; 32]));
    }
}
