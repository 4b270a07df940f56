//! The raw AES keyring: AES-GCM key wrapping under a local wrapping key.

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{Keyring, Skip};
use crate::crypto::{random_bytes, AeadKey};
use crate::error::{Error, KeyringError, UnwrapError};
use crate::format::{serialize_encryption_context, EncryptedDataKey, EncryptionContext};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

const TAG_LEN_BITS: u32 = 128;
const IV_LEN: u32 = 12;

/// Wraps data keys with AES-GCM under a 128-, 192- or 256-bit key, binding the encryption context
/// as additional authenticated data. Interoperates with every ESDK's raw AES keyring.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: AeadKey,
    label: String,
}

impl std::fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawAesKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RawAesKeyring {
    /// A keyring for the wrapping key `key` (16, 24 or 32 bytes), identified in messages by
    /// `namespace` (the provider ID) and `name`. Namespaces starting with `aws-kms` are reserved.
    pub fn new(namespace: &str, name: &str, key: Zeroizing<Vec<u8>>) -> Result<Self, Error> {
        if namespace.starts_with("aws-kms") {
            return Err(Error::invalid(
                "key namespace",
                "namespaces starting with \"aws-kms\" are reserved for AWS KMS",
            ));
        }
        let key = AeadKey::new(&key).map_err(|_| {
            Error::invalid(
                "raw AES wrapping key",
                format!("must be 16, 24 or 32 bytes, not {}", key.len()),
            )
        })?;
        Ok(RawAesKeyring {
            label: format!("raw-aes {namespace}/{name}"),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key,
        })
    }

    fn matches(&self, edk: &EncryptedDataKey) -> Result<[u8; 12], Skip> {
        if edk.provider_id != self.namespace {
            return Err(Skip::Provider {
                found: edk.provider_id.clone(),
                expected: self.namespace.clone(),
            });
        }
        // providerInfo = keyName || u32 tagLenBits || u32 ivLen || IV: parse from the end.
        let info = &edk.provider_info;
        if info.len() < 20 {
            return Err(Skip::Other("provider info is too short".into()));
        }
        let (name, rest) = info.split_at(info.len() - 20);
        if name != self.name.as_bytes() {
            return Err(Skip::KeyName {
                found: String::from_utf8_lossy(name).into_owned(),
                expected: self.name.clone(),
            });
        }
        let tag_bits = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let iv_len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if tag_bits != TAG_LEN_BITS || iv_len != IV_LEN {
            return Err(Skip::Other(format!(
                "tag length {tag_bits} bits / IV length {iv_len} are not 128 / 12"
            )));
        }
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&rest[8..]);
        Ok(iv)
    }
}

#[async_trait]
impl Keyring for RawAesKeyring {
    async fn wrap_data_key(
        &self,
        _suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        let aad = serialize_encryption_context(encryption_context)
            .map_err(|e| KeyringError::new(&self.label, e.to_string()))?;
        let mut iv = [0u8; 12];
        random_bytes(&mut iv);
        let mut ciphertext = Vec::with_capacity(data_key.len() + 16);
        ciphertext.extend_from_slice(data_key.as_bytes());
        let mut tag = [0; 16];
        self.key.seal(&iv, &aad, &mut ciphertext, &mut tag);
        ciphertext.extend_from_slice(&tag);
        let mut provider_info = Vec::with_capacity(self.name.len() + 20);
        provider_info.extend_from_slice(self.name.as_bytes());
        provider_info.extend_from_slice(&TAG_LEN_BITS.to_be_bytes());
        provider_info.extend_from_slice(&IV_LEN.to_be_bytes());
        provider_info.extend_from_slice(&iv);
        Ok(vec![EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info,
            ciphertext,
        }])
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        let mut errors = UnwrapError::default();
        let aad = match serialize_encryption_context(encryption_context) {
            Ok(aad) => aad,
            Err(e) => {
                errors.push(0, &self.label, e.to_string());
                return Err(errors);
            }
        };
        for (i, edk) in edks.iter().enumerate() {
            let iv = match self.matches(edk) {
                Ok(iv) => iv,
                Err(skip) => {
                    errors.push(i, &self.label, skip);
                    continue;
                }
            };
            let expected = suite.data_key_len() + 16;
            if edk.ciphertext.len() != expected {
                errors.push(
                    i,
                    &self.label,
                    format!(
                        "wrapped key is {} bytes, expected {expected}",
                        edk.ciphertext.len()
                    ),
                );
                continue;
            }
            let (ct, tag) = edk.ciphertext.split_at(suite.data_key_len());
            let mut key = Zeroizing::new(ct.to_vec());
            let mut tag_arr = [0u8; 16];
            tag_arr.copy_from_slice(tag);
            match self.key.open(&iv, &aad, &mut key, &tag_arr) {
                Ok(()) => return Ok(DataKey::new(key)),
                Err(_) => errors.push(
                    i,
                    &self.label,
                    "authentication failed: wrong wrapping key or encryption context",
                ),
            }
        }
        Err(errors)
    }
}
