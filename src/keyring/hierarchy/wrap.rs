//! Wrapping and unwrapping one data key under a branch key, byte for byte as the AWS KMS
//! Hierarchical keyring specification defines it (and every ESDK with the Material Providers
//! Library writes it).
//!
//! ```text
//! wrapping key = SP 800-108 counter-mode KDF, HMAC-SHA-256, key = branch key,
//!                label = "aws-kms-hierarchy", context = salt (16 random bytes), 256 bits
//! AAD          = "aws-kms-hierarchy" || UTF-8(branch key ID) || version (16 UUID bytes)
//!                || serialize(materials' encryption context)   (an empty context adds nothing)
//! EDK          = provider ID "aws-kms-hierarchy", provider info UTF-8(branch key ID),
//!                ciphertext salt(16) || iv(12) || version(16) || AES-256-GCM(data key) || tag(16)
//! ```

use zeroize::Zeroizing;

use crate::crypto::{kdf_ctr_hmac_sha256, random_bytes, AeadKey, HmacSha256Key};
use crate::error::Error;
use crate::format::{serialize_encryption_context, EncryptedDataKey, EncryptionContext};
use crate::materials::DataKey;

/// The provider ID of the encrypted data keys the hierarchical keyring writes, and the KDF's label.
pub(crate) const PROVIDER_ID: &str = "aws-kms-hierarchy";

const SALT_LEN: usize = 16;
const IV_LEN: usize = 12;
const VERSION_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// Everything in an EDK's ciphertext but the wrapped key itself.
pub(crate) const OVERHEAD: usize = SALT_LEN + IV_LEN + VERSION_LEN + TAG_LEN;

/// A UUID's 16 bytes from its 36-character form (`8-4-4-4-12` hex digits, either case), as
/// Python's `uuid.UUID(s).bytes` gives them. `None` if `s` is not in that form.
pub(crate) fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let s = s.as_bytes();
    if s.len() != 36 || [8, 13, 18, 23].iter().any(|&i| s[i] != b'-') {
        return None;
    }
    let mut digits = s.iter().filter(|&&c| c != b'-');
    let mut out = [0u8; 16];
    for byte in &mut out {
        let hi = hex_value(*digits.next()?)?;
        let lo = hex_value(*digits.next()?)?;
        *byte = hi << 4 | lo;
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The 36-character lower-case form of a UUID's 16 bytes.
pub(crate) fn uuid_string(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// A fresh version-4 UUID's 16 bytes.
pub(crate) fn random_uuid() -> [u8; 16] {
    let mut b = [0u8; 16];
    random_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

/// The additional authenticated data of one wrapped key.
fn aad(
    branch_key_id: &str,
    version: &[u8; 16],
    encryption_context: &EncryptionContext,
) -> Result<Vec<u8>, Error> {
    let context = serialize_encryption_context(encryption_context)?;
    let mut aad = Vec::with_capacity(PROVIDER_ID.len() + branch_key_id.len() + 16 + context.len());
    aad.extend_from_slice(PROVIDER_ID.as_bytes());
    aad.extend_from_slice(branch_key_id.as_bytes());
    aad.extend_from_slice(version);
    aad.extend_from_slice(&context);
    Ok(aad)
}

fn wrapping_key(branch_key: &HmacSha256Key, salt: &[u8]) -> Result<AeadKey, Error> {
    let derived = kdf_ctr_hmac_sha256(branch_key, PROVIDER_ID.as_bytes(), salt)?;
    AeadKey::new(&derived[..])
}

/// Wrap `data_key` under a key derived from `branch_key` (version `version` of `branch_key_id`;
/// the key as an HMAC key, which is all the derivation needs).
pub(crate) fn wrap(
    branch_key_id: &str,
    version: &[u8; 16],
    branch_key: &HmacSha256Key,
    encryption_context: &EncryptionContext,
    data_key: &DataKey,
) -> Result<EncryptedDataKey, Error> {
    let aad = aad(branch_key_id, version, encryption_context)?;
    let mut salt_iv = [0u8; SALT_LEN + IV_LEN];
    random_bytes(&mut salt_iv);
    let (salt, iv) = salt_iv.split_at(SALT_LEN);
    let mut iv_arr = [0u8; IV_LEN];
    iv_arr.copy_from_slice(iv);
    let key = wrapping_key(branch_key, salt)?;
    let mut ciphertext = Vec::with_capacity(OVERHEAD + data_key.len());
    ciphertext.extend_from_slice(&salt_iv);
    ciphertext.extend_from_slice(version);
    let start = ciphertext.len();
    ciphertext.extend_from_slice(data_key.as_bytes());
    let mut tag = [0u8; TAG_LEN];
    key.seal(&iv_arr, &aad, &mut ciphertext[start..], &mut tag);
    ciphertext.extend_from_slice(&tag);
    Ok(EncryptedDataKey {
        provider_id: PROVIDER_ID.to_owned(),
        provider_info: branch_key_id.as_bytes().to_vec(),
        ciphertext,
    })
}

/// The parts of an EDK's ciphertext, borrowed.
pub(crate) struct Parsed<'a> {
    salt: &'a [u8],
    iv: [u8; IV_LEN],
    /// The version's 16 bytes.
    pub(crate) version: [u8; 16],
    wrapped: &'a [u8],
    tag: [u8; TAG_LEN],
}

/// Split an EDK's ciphertext, which must be exactly `60 + key_len` bytes.
pub(crate) fn parse(ciphertext: &[u8], key_len: usize) -> Result<Parsed<'_>, String> {
    let expected = OVERHEAD + key_len;
    if ciphertext.len() != expected {
        return Err(format!(
            "EDK ciphertext is {} bytes, expected {expected} (salt 16, IV 12, version 16, \
             wrapped key {key_len}, tag 16)",
            ciphertext.len()
        ));
    }
    let (salt, rest) = ciphertext.split_at(SALT_LEN);
    let (iv, rest) = rest.split_at(IV_LEN);
    let (version, rest) = rest.split_at(VERSION_LEN);
    let (wrapped, tag) = rest.split_at(key_len);
    let mut parsed = Parsed {
        salt,
        iv: [0; IV_LEN],
        version: [0; 16],
        wrapped,
        tag: [0; TAG_LEN],
    };
    parsed.iv.copy_from_slice(iv);
    parsed.version.copy_from_slice(version);
    parsed.tag.copy_from_slice(tag);
    Ok(parsed)
}

/// Why a parsed EDK did not unwrap.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The context could not be serialized, or the key derivation failed.
    Setup(Error),
    /// The tag did not verify: another branch key, another context, or a tampered EDK.
    Auth,
}

/// Unwrap a parsed EDK with `branch_key` (the version the EDK names).
pub(crate) fn unwrap(
    parsed: &Parsed<'_>,
    branch_key_id: &str,
    branch_key: &HmacSha256Key,
    encryption_context: &EncryptionContext,
) -> Result<DataKey, OpenError> {
    let aad = aad(branch_key_id, &parsed.version, encryption_context).map_err(OpenError::Setup)?;
    let key = wrapping_key(branch_key, parsed.salt).map_err(OpenError::Setup)?;
    let mut data_key = Zeroizing::new(parsed.wrapped.to_vec());
    key.open(&parsed.iv, &aad, &mut data_key, &parsed.tag)
        .map_err(|_| OpenError::Auth)?;
    Ok(DataKey::new(data_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_round_trip_matches_python() {
        // uuid.UUID("9e2158c7-c660-4867-b472-1e7591b69343").bytes.hex()
        let s = "9e2158c7-c660-4867-b472-1e7591b69343";
        let b = uuid_bytes(s).unwrap();
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(hex, "9e2158c7c6604867b4721e7591b69343");
        assert_eq!(uuid_string(&b), s);
        assert_eq!(uuid_bytes(&s.to_uppercase()), Some(b));
        for bad in [
            "",
            "9e2158c7c6604867b4721e7591b69343",
            "9e2158c7-c660-4867-b472-1e7591b6934g",
            "9e2158c7-c660-4867-b472-1e7591b693433",
            "9e2158c7+c660-4867-b472-1e7591b69343",
            "9e2158c7-c660-4867-b472-1e7591b6934é",
        ] {
            assert_eq!(uuid_bytes(bad), None, "{bad:?}");
        }
        let r = random_uuid();
        assert_eq!(r[6] >> 4, 4);
        assert_eq!(r[8] >> 6, 2);
        assert_eq!(uuid_bytes(&uuid_string(&r)), Some(r));
    }

    #[test]
    fn wrap_then_unwrap_and_the_layout() {
        let key = HmacSha256Key::new(&[9u8; 32]);
        let version = random_uuid();
        let mut ec = EncryptionContext::new();
        ec.insert("tenant".into(), "a".into());
        let dk = DataKey::generate(32);
        let edk = wrap("bk", &version, &key, &ec, &dk).unwrap();
        assert_eq!(edk.provider_id, "aws-kms-hierarchy");
        assert_eq!(edk.provider_info, b"bk");
        assert_eq!(edk.ciphertext.len(), 92);
        assert_eq!(&edk.ciphertext[28..44], &version);
        let parsed = parse(&edk.ciphertext, 32).unwrap();
        assert_eq!(unwrap(&parsed, "bk", &key, &ec).unwrap(), dk);
        // Every input to the AAD and the key matters.
        assert!(matches!(
            unwrap(&parsed, "bk2", &key, &ec),
            Err(OpenError::Auth)
        ));
        assert!(matches!(
            unwrap(&parsed, "bk", &HmacSha256Key::new(&[8u8; 32]), &ec),
            Err(OpenError::Auth)
        ));
        assert!(matches!(
            unwrap(&parsed, "bk", &key, &EncryptionContext::new()),
            Err(OpenError::Auth)
        ));
        assert!(parse(&edk.ciphertext, 16).is_err());
        assert!(parse(&edk.ciphertext[..91], 32).is_err());
    }
}
