//! The key-agreement core that the raw ECDH keyring and the AWS KMS ECDH keyring share: how a
//! shared secret becomes a wrapped data key, and how an EDK says whose keys made it.
//!
//! # The contract (the Material Providers Library's `EcdhEdkWrapping`, byte for byte)
//!
//! * **Fixed info** ([`fixed_info`]): `"ecdh-key-derivation" 00 curve 00 "HMAC_SHA384" 00
//!   sender || recipient 00 01 00 EC`, where `curve` is `p256`, `p384` or `p521`, the two public
//!   keys are compressed SEC 1 points (sender first), `01` is the keyring version and `EC` the
//!   serialized encryption context (empty when there is none).
//! * **Derivation**: a 32-byte random salt; SP 800-108 counter mode with HMAC-SHA-384, the shared
//!   secret as the key, the fixed info as the label and the salt as the context, 64 bytes out:
//!   the first 32 are the commitment key, the last 32 the wrapping key.
//! * **Wrapping** ([`wrap`]): AES-256-GCM under the wrapping key, a zero IV (each key wraps once:
//!   the salt makes it fresh), the fixed info as AAD. EDK ciphertext: `salt(32) || commitment
//!   key(32) || encrypted data key || tag(16)`.
//! * **Unwrapping** ([`unwrap`]): derive again with the EDK's salt, compare the commitment keys
//!   in constant time, then decrypt.
//! * **Provider info** ([`ProviderInfo`]): `01 || u32 len || recipient || u32 len || sender`
//!   (big-endian lengths, compressed points). Provider ID `raw-ecdh` ([`RAW_ECDH_PROVIDER_ID`])
//!   or `aws-kms-ecdh` ([`KMS_ECDH_PROVIDER_ID`]); a raw ECDH keyring reads either.
//!
//! The algorithm suites of the message format wrap the data key directly (no intermediate key).
//! Errors on the unwrap side are strings for the per-EDK report: which check failed, never a
//! secret.

mod raw;

pub use raw::{RawEcdhKeyring, RawEcdhKeyringBuilder, RawEcdhScheme};

use zeroize::Zeroizing;

use crate::crypto::{ct_eq, kdf_ctr_hmac_sha384, random_bytes, AeadKey, EcdhCurve};
use crate::error::Error;
use crate::format::{serialize_encryption_context, EncryptionContext};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// The provider ID of the raw ECDH keyring's EDKs.
pub(crate) const RAW_ECDH_PROVIDER_ID: &str = "raw-ecdh";
/// The provider ID of the AWS KMS ECDH keyring's EDKs (which a raw ECDH keyring also reads).
pub(crate) const KMS_ECDH_PROVIDER_ID: &str = "aws-kms-ecdh";
/// The version byte of both keyrings' provider info, also bound into the fixed info.
pub(crate) const KEYRING_VERSION: u8 = 0x01;

const SALT_LEN: usize = 32;
const COMMITMENT_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The public keys an EDK names: compressed SEC 1 points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProviderInfo {
    pub(crate) sender: Vec<u8>,
    pub(crate) recipient: Vec<u8>,
}

impl ProviderInfo {
    /// `01 || u32 len(recipient) || recipient || u32 len(sender) || sender`.
    pub(crate) fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.recipient.len() + self.sender.len());
        out.push(KEYRING_VERSION);
        for key in [&self.recipient, &self.sender] {
            // Compressed points are at most 67 bytes.
            out.extend_from_slice(&(key.len() as u32).to_be_bytes());
            out.extend_from_slice(key);
        }
        out
    }

    /// Parse an EDK's provider info for `curve`: the version, both lengths (each a compressed
    /// point of `curve`), nothing left over. The points themselves are checked when used.
    pub(crate) fn parse(curve: EcdhCurve, bytes: &[u8]) -> Result<Self, String> {
        let n = curve.compressed_len();
        let expected = 1 + 4 + n + 4 + n;
        let (&version, rest) = bytes.split_first().ok_or("empty provider info")?;
        if version != KEYRING_VERSION {
            return Err(format!(
                "provider info version 0x{version:02x} is not 0x{KEYRING_VERSION:02x}"
            ));
        }
        if bytes.len() != expected {
            return Err(format!(
                "provider info is {} bytes; two {curve} public keys make {expected}",
                bytes.len()
            ));
        }
        let take = |rest: &[u8], which: &str| -> Result<(Vec<u8>, usize), String> {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if len != n {
                return Err(format!(
                    "the {which} public key is {len} bytes, not a compressed {curve} point ({n})"
                ));
            }
            Ok((rest[4..4 + n].to_vec(), 4 + n))
        };
        let (recipient, used) = take(rest, "recipient's")?;
        let (sender, _) = take(&rest[used..], "sender's")?;
        Ok(ProviderInfo { sender, recipient })
    }
}

/// The KDF's fixed info, also the AES-GCM AAD: see the module docs.
pub(crate) fn fixed_info(
    curve: EcdhCurve,
    info: &ProviderInfo,
    encryption_context: &EncryptionContext,
) -> Result<Vec<u8>, Error> {
    let ec = serialize_encryption_context(encryption_context)?;
    let mut out = Vec::with_capacity(64 + info.sender.len() + info.recipient.len() + ec.len());
    out.extend_from_slice(b"ecdh-key-derivation");
    out.push(0);
    out.extend_from_slice(curve.spec_name().as_bytes());
    out.push(0);
    out.extend_from_slice(b"HMAC_SHA384");
    out.push(0);
    out.extend_from_slice(&info.sender);
    out.extend_from_slice(&info.recipient);
    out.push(0);
    out.push(KEYRING_VERSION);
    out.push(0);
    out.extend_from_slice(&ec);
    Ok(out)
}

/// (commitment key, wrapping key) from the shared secret, the fixed info and the salt.
fn derive(shared_secret: &[u8], fixed_info: &[u8], salt: &[u8]) -> Zeroizing<[u8; 64]> {
    kdf_ctr_hmac_sha384(shared_secret, fixed_info, salt)
}

/// Wrap `data_key` under a fresh salt: the EDK ciphertext.
pub(crate) fn wrap(
    shared_secret: &[u8],
    fixed_info: &[u8],
    data_key: &DataKey,
) -> Result<Vec<u8>, String> {
    let mut salt = [0u8; SALT_LEN];
    random_bytes(&mut salt);
    let okm = derive(shared_secret, fixed_info, &salt);
    let (commitment, wrapping_key) = okm.split_at(COMMITMENT_KEY_LEN);
    let key = AeadKey::new(wrapping_key).map_err(|_| "the wrapping key is not 32 bytes")?;
    let mut out = Vec::with_capacity(SALT_LEN + COMMITMENT_KEY_LEN + data_key.len() + TAG_LEN);
    out.extend_from_slice(&salt);
    out.extend_from_slice(commitment);
    let start = out.len();
    out.extend_from_slice(data_key.as_bytes());
    let mut tag = [0u8; TAG_LEN];
    key.seal(&[0u8; 12], fixed_info, &mut out[start..], &mut tag);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Unwrap an EDK ciphertext made by [`wrap`] for `suite`.
pub(crate) fn unwrap(
    shared_secret: &[u8],
    fixed_info: &[u8],
    ciphertext: &[u8],
    suite: AlgorithmSuite,
) -> Result<DataKey, String> {
    let key_len = suite.data_key_len();
    let expected = SALT_LEN + COMMITMENT_KEY_LEN + key_len + TAG_LEN;
    if ciphertext.len() != expected {
        return Err(format!(
            "wrapped key is {} bytes; salt, commitment key, a {key_len}-byte key and its tag \
             make {expected}",
            ciphertext.len()
        ));
    }
    let (salt, rest) = ciphertext.split_at(SALT_LEN);
    let (commitment, rest) = rest.split_at(COMMITMENT_KEY_LEN);
    let (encrypted, tag) = rest.split_at(key_len);
    let okm = derive(shared_secret, fixed_info, salt);
    let (expected_commitment, wrapping_key) = okm.split_at(COMMITMENT_KEY_LEN);
    if !ct_eq(expected_commitment, commitment) {
        return Err(
            "commitment key mismatch: not these keys, or another encryption context".into(),
        );
    }
    let key = AeadKey::new(wrapping_key).map_err(|_| "the wrapping key is not 32 bytes")?;
    let mut plaintext = Zeroizing::new(encrypted.to_vec());
    let mut tag_arr = [0u8; TAG_LEN];
    tag_arr.copy_from_slice(tag);
    key.open(&[0u8; 12], fixed_info, &mut plaintext, &tag_arr)
        .map_err(|_| "authentication of the wrapped key failed")?;
    Ok(DataKey::new(plaintext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::EcPrivateKey;

    fn info(curve: EcdhCurve) -> ProviderInfo {
        ProviderInfo {
            sender: EcPrivateKey::generate(curve)
                .unwrap()
                .public_key()
                .compressed(),
            recipient: EcPrivateKey::generate(curve)
                .unwrap()
                .public_key()
                .compressed(),
        }
    }

    #[test]
    fn provider_info_round_trips_and_rejects_every_bad_length() {
        for (curve, len) in EcdhCurve::ALL.into_iter().zip([75, 107, 143]) {
            let info = info(curve);
            let bytes = info.serialize();
            assert_eq!(bytes.len(), len, "{curve}");
            assert_eq!(ProviderInfo::parse(curve, &bytes).unwrap(), info);
            // Truncated anywhere, extended, another version, inconsistent lengths.
            for cut in 0..bytes.len() {
                assert!(ProviderInfo::parse(curve, &bytes[..cut]).is_err());
            }
            assert!(ProviderInfo::parse(curve, &[bytes.clone(), vec![0]].concat()).is_err());
            let mut v2 = bytes.clone();
            v2[0] = 2;
            assert!(ProviderInfo::parse(curve, &v2)
                .unwrap_err()
                .contains("version"));
            let mut shifted = bytes.clone();
            shifted[4] -= 1;
            assert!(ProviderInfo::parse(curve, &shifted).is_err());
            let other = if curve == EcdhCurve::P256 {
                EcdhCurve::P384
            } else {
                EcdhCurve::P256
            };
            assert!(ProviderInfo::parse(other, &bytes).is_err());
        }
    }

    #[test]
    fn fixed_info_layout() {
        let info = ProviderInfo {
            sender: vec![2; 33],
            recipient: vec![3; 33],
        };
        let mut ec = EncryptionContext::new();
        ec.insert("a".into(), "b".into());
        let fi = fixed_info(EcdhCurve::P256, &info, &ec).unwrap();
        let mut want = b"ecdh-key-derivation\0p256\0HMAC_SHA384\0".to_vec();
        want.extend_from_slice(&[2; 33]);
        want.extend_from_slice(&[3; 33]);
        want.extend_from_slice(&[0, 1, 0]);
        want.extend_from_slice(&[0, 1, 0, 1, b'a', 0, 1, b'b']);
        assert_eq!(fi, want);
        let empty = fixed_info(EcdhCurve::P256, &info, &EncryptionContext::new()).unwrap();
        assert_eq!(empty, want[..want.len() - 8]);
    }

    #[test]
    fn wrap_unwrap_and_every_tamper_fails() {
        let suite = AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384;
        let secret = [9u8; 32];
        let fi = b"fixed info".to_vec();
        let dk = DataKey::generate(suite.data_key_len());
        let ct = wrap(&secret, &fi, &dk).unwrap();
        assert_eq!(ct.len(), 32 + 32 + suite.data_key_len() + 16);
        assert_eq!(unwrap(&secret, &fi, &ct, suite).unwrap(), dk);
        // Fresh salt every time.
        assert_ne!(wrap(&secret, &fi, &dk).unwrap(), ct);
        for i in 0..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 0x80;
            assert!(unwrap(&secret, &fi, &bad, suite).is_err(), "byte {i}");
        }
        assert!(unwrap(&[8u8; 32], &fi, &ct, suite)
            .unwrap_err()
            .contains("commitment"));
        assert!(unwrap(&secret, b"other", &ct, suite).is_err());
        assert!(unwrap(&secret, &fi, &ct[..ct.len() - 1], suite)
            .unwrap_err()
            .contains("bytes"));
        assert!(unwrap(&secret, &fi, &[], suite).is_err());
    }
}
