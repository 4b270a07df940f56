//! The raw RSA keyring: RSA-OAEP or PKCS#1 v1.5 key wrapping under a local key pair.

use async_trait::async_trait;

use super::{Keyring, Skip};
use crate::crypto::{
    private_key_from_pem, public_from_private, public_key_from_pem, rsa_decrypt, rsa_encrypt,
    RsaPadding, RsaPrivateKey, RsaPublicKey,
};
use crate::error::{Error, KeyringError, UnwrapError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// Wraps data keys with RSA. Encrypting needs the public key, decrypting the private key.
/// Unlike AES wrapping, RSA wrapping does not bind the encryption context (the format says so).
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    padding: RsaPadding,
    public: Option<RsaPublicKey>,
    private: Option<RsaPrivateKey>,
    label: String,
}

impl std::fmt::Debug for RawRsaKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRsaKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("padding", &self.padding)
            .field("can_encrypt", &self.public.is_some())
            .field("can_decrypt", &self.private.is_some())
            .finish()
    }
}

impl RawRsaKeyring {
    /// A keyring with no keys yet; add them with [`with_public_key_pem`](Self::with_public_key_pem)
    /// and [`with_private_key_pem`](Self::with_private_key_pem).
    pub fn new(namespace: &str, name: &str, padding: RsaPadding) -> Result<Self, Error> {
        if namespace.starts_with("aws-kms") {
            return Err(Error::invalid(
                "key namespace",
                "namespaces starting with \"aws-kms\" are reserved for AWS KMS",
            ));
        }
        Ok(RawRsaKeyring {
            label: format!("raw-rsa {namespace}/{name}"),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            padding,
            public: None,
            private: None,
        })
    }

    /// Add the public key (PEM, SubjectPublicKeyInfo or PKCS#1), needed to encrypt.
    pub fn with_public_key_pem(mut self, pem: &str) -> Result<Self, Error> {
        self.public = Some(public_key_from_pem(pem)?);
        Ok(self)
    }

    /// Add the private key (PEM, PKCS#8 or PKCS#1), needed to decrypt.
    pub fn with_private_key_pem(mut self, pem: &str) -> Result<Self, Error> {
        self.private = Some(private_key_from_pem(pem)?);
        Ok(self)
    }

    /// Derive the public key from the private key, explicitly. The ESDK specification forbids a
    /// keyring to do this on its own, so it happens only when asked.
    pub fn with_public_key_from_private(mut self) -> Result<Self, Error> {
        let private = self.private.as_ref().ok_or_else(|| {
            Error::invalid("RSA key", "no private key to derive the public key from")
        })?;
        self.public = Some(public_from_private(private));
        Ok(self)
    }
}

#[async_trait]
impl Keyring for RawRsaKeyring {
    async fn wrap_data_key(
        &self,
        _suite: AlgorithmSuite,
        _encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        let public = self
            .public
            .as_ref()
            .ok_or_else(|| KeyringError::new(&self.label, "no public key to encrypt with"))?;
        let ciphertext = rsa_encrypt(public, self.padding, data_key.as_bytes())
            .map_err(|e| KeyringError::new(&self.label, e))?;
        Ok(vec![EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: self.name.as_bytes().to_vec(),
            ciphertext,
        }])
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        _encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        let mut errors = UnwrapError::default();
        for (i, edk) in edks.iter().enumerate() {
            let skip = if edk.provider_id != self.namespace {
                Some(Skip::Provider {
                    found: edk.provider_id.clone(),
                    expected: self.namespace.clone(),
                })
            } else if edk.provider_info != self.name.as_bytes() {
                Some(Skip::KeyName {
                    found: String::from_utf8_lossy(&edk.provider_info).into_owned(),
                    expected: self.name.clone(),
                })
            } else {
                None
            };
            if let Some(skip) = skip {
                errors.push(i, &self.label, skip);
                continue;
            }
            let Some(private) = &self.private else {
                errors.push(i, &self.label, "no private key to decrypt with");
                continue;
            };
            match rsa_decrypt(private, self.padding, &edk.ciphertext) {
                Ok(key) if key.len() == suite.data_key_len() => return Ok(DataKey::new(key)),
                Ok(key) => errors.push(
                    i,
                    &self.label,
                    format!(
                        "unwrapped key is {} bytes, suite {suite} needs {}",
                        key.len(),
                        suite.data_key_len()
                    ),
                ),
                Err(e) => errors.push(i, &self.label, e),
            }
        }
        Err(errors)
    }
}
