//! The byte layout of the AWS KMS ML-KEM keyring's encrypted data keys and of its key
//! derivation's fixed info (ESDK specification, `aws-kms-ml-kem-keyring.md`). Bytes only: the
//! keyring (`keyring/kms/ml_kem.rs`) does the cryptography.
//!
//! * provider info: `01 || u16 length || key ARN`;
//! * ciphertext: `KEM ciphertext || salt (32) || encrypted data key || tag (16)`;
//! * fixed info: six fields, each behind a big-endian `u16` of its length:
//!   `"AWS-KMS-ML-KEM-KEY-DERIVATION"`, the parameter set (`"ML-KEM-768"`), `"HMAC_SHA384"`, the
//!   key ARN, the version byte `01`, the serialized encryption context.

use super::{put_vec16, serialize_encryption_context, EncryptionContext};
use crate::error::Error;

/// The version byte of the provider info (and the fifth fixed-info field).
pub const ML_KEM_EDK_VERSION: u8 = 0x01;
/// The length of the salt in the ciphertext.
pub const ML_KEM_SALT_LEN: usize = 32;
/// The length of the AES-GCM tag at the end of the ciphertext.
pub const ML_KEM_TAG_LEN: usize = 16;

/// The parts of an ML-KEM EDK ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlKemEdkCiphertext<'a> {
    /// The KEM ciphertext (what KMS `Decapsulate` takes).
    pub kem_ciphertext: &'a [u8],
    /// The key derivation's salt.
    pub salt: &'a [u8; ML_KEM_SALT_LEN],
    /// The AES-GCM ciphertext of the data key.
    pub encrypted_key: &'a [u8],
    /// The AES-GCM tag.
    pub tag: &'a [u8; ML_KEM_TAG_LEN],
}

/// Serialize the provider info of `key_arn`.
pub fn ml_kem_provider_info(key_arn: &str) -> Result<Vec<u8>, Error> {
    let mut out = vec![ML_KEM_EDK_VERSION];
    put_vec16(&mut out, key_arn.as_bytes(), "the ML-KEM key ARN")?;
    Ok(out)
}

/// The key ARN in a provider info, or why the bytes are not a provider info of version `01`.
pub fn parse_ml_kem_provider_info(info: &[u8]) -> Result<&str, String> {
    let (&version, rest) = info.split_first().ok_or("ML-KEM provider info is empty")?;
    if version != ML_KEM_EDK_VERSION {
        return Err(format!(
            "ML-KEM provider info version is {version:#04x}, not {ML_KEM_EDK_VERSION:#04x}"
        ));
    }
    let [hi, lo, arn @ ..] = rest else {
        return Err("ML-KEM provider info is truncated before the key ARN length".into());
    };
    let len = usize::from(u16::from_be_bytes([*hi, *lo]));
    if arn.len() != len {
        return Err(format!(
            "ML-KEM provider info declares a {len}-byte key ARN but holds {} bytes",
            arn.len()
        ));
    }
    std::str::from_utf8(arn).map_err(|_| "the ML-KEM key ARN is not UTF-8".to_owned())
}

/// Split an EDK ciphertext whose KEM ciphertext is `kem_len` bytes and whose data key is
/// `data_key_len` bytes; any other total length is refused, saying what was expected.
pub fn split_ml_kem_ciphertext(
    ct: &[u8],
    kem_len: usize,
    data_key_len: usize,
) -> Result<MlKemEdkCiphertext<'_>, String> {
    let want = kem_len + ML_KEM_SALT_LEN + data_key_len + ML_KEM_TAG_LEN;
    if ct.len() != want {
        return Err(format!(
            "the ML-KEM EDK ciphertext is {} bytes; a {kem_len}-byte KEM ciphertext, the \
             {ML_KEM_SALT_LEN}-byte salt, a {data_key_len}-byte data key and the \
             {ML_KEM_TAG_LEN}-byte tag are {want}",
            ct.len()
        ));
    }
    let (kem_ciphertext, rest) = ct.split_at(kem_len);
    let (salt, rest) = rest.split_at(ML_KEM_SALT_LEN);
    let (encrypted_key, tag) = rest.split_at(data_key_len);
    Ok(MlKemEdkCiphertext {
        kem_ciphertext,
        salt: salt.try_into().map_err(|_| "salt length")?,
        encrypted_key,
        tag: tag.try_into().map_err(|_| "tag length")?,
    })
}

/// The key derivation's fixed info, also the AES-GCM AAD. `parameter_set` is the name
/// (`"ML-KEM-768"`). Fails only for a context too long for a `u16` length.
pub fn ml_kem_fixed_info(
    parameter_set: &str,
    key_arn: &str,
    ec: &EncryptionContext,
) -> Result<Vec<u8>, Error> {
    let context = serialize_encryption_context(ec)?;
    let fields: [&[u8]; 6] = [
        b"AWS-KMS-ML-KEM-KEY-DERIVATION",
        parameter_set.as_bytes(),
        b"HMAC_SHA384",
        key_arn.as_bytes(),
        &[ML_KEM_EDK_VERSION],
        &context,
    ];
    let mut out = Vec::with_capacity(fields.iter().map(|f| 2 + f.len()).sum());
    for field in fields {
        put_vec16(&mut out, field, "an ML-KEM fixed-info field")?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn provider_info_round_trips_and_rejects_hostile_bytes() {
        let info = ml_kem_provider_info(ARN).unwrap();
        assert_eq!(info[0], 1);
        assert_eq!(
            usize::from(u16::from_be_bytes([info[1], info[2]])),
            ARN.len()
        );
        assert_eq!(parse_ml_kem_provider_info(&info).unwrap(), ARN);
        for (bad, why) in [
            (&[][..], "empty"),
            (&[2, 0, 0][..], "version"),
            (&[1, 0][..], "truncated"),
            (&info[..info.len() - 1], "declares"),
            (&[1, 0, 1, 0xff][..], "UTF-8"),
        ] {
            let err = parse_ml_kem_provider_info(bad).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn ciphertext_lengths_are_exact() {
        for kem_len in [768, 1088, 1568] {
            let ok = vec![0u8; kem_len + 32 + 32 + 16];
            let parts = split_ml_kem_ciphertext(&ok, kem_len, 32).unwrap();
            assert_eq!(parts.kem_ciphertext.len(), kem_len);
            assert_eq!(parts.encrypted_key.len(), 32);
            let mut long = ok.clone();
            long.push(0);
            for bad in [
                &[][..],
                &ok[..1],
                &ok[..kem_len],
                &ok[..ok.len() - 1],
                &long,
            ] {
                let err = split_ml_kem_ciphertext(bad, kem_len, 32).unwrap_err();
                assert!(err.contains(&format!("{kem_len}-byte KEM")), "{err}");
            }
            // A 16-byte data key (another suite) is another length.
            assert!(split_ml_kem_ciphertext(&ok, kem_len, 16).is_err());
        }
    }
}
