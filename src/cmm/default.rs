//! The default materials manager: one keyring, signing keys for signing suites.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    check_no_reserved_keys, DecryptionRequest, EncryptionRequest, MaterialsManager,
    PUBLIC_KEY_CONTEXT_KEY,
};
use crate::crypto::{SigningKey, VerifyingKey};
use crate::error::{ContextError, Error};
use crate::keyring::Keyring;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};

/// The standard materials manager: picks the suite (the policy's default unless one is asked
/// for), makes the signing key of signing suites and puts its public half in the context, and
/// asks its keyring to generate, wrap and unwrap data keys.
#[derive(Debug, Clone)]
pub struct DefaultCmm {
    keyring: Arc<dyn Keyring>,
}

impl DefaultCmm {
    /// A materials manager over `keyring`.
    pub fn new(keyring: impl Keyring + 'static) -> Self {
        DefaultCmm {
            keyring: Arc::new(keyring),
        }
    }

    /// A materials manager over a shared keyring.
    pub fn from_arc(keyring: Arc<dyn Keyring>) -> Self {
        DefaultCmm { keyring }
    }
}

#[async_trait]
impl MaterialsManager for DefaultCmm {
    async fn get_encryption_materials(
        &self,
        request: &EncryptionRequest,
    ) -> Result<EncryptionMaterials, Error> {
        check_no_reserved_keys(&request.encryption_context)?;
        let policy = request.commitment_policy;
        let suite = request.suite.unwrap_or(policy.default_suite());
        if !policy.allows_encrypt(suite) {
            return Err(Error::PolicyViolation {
                policy,
                suite,
                operation: "encrypt",
            });
        }
        let mut ec = request.encryption_context.clone();
        let signing_key = suite.signature().map(SigningKey::generate);
        if let Some(key) = &signing_key {
            ec.insert(PUBLIC_KEY_CONTEXT_KEY.to_owned(), key.public_key_base64());
        }
        let (data_key, edks) = self.keyring.generate_data_key(suite, &ec).await?;
        if data_key.len() != suite.data_key_len() {
            return Err(Error::materials(
                format!(
                    "keyring returned a {}-byte data key; suite {suite} needs {}",
                    data_key.len(),
                    suite.data_key_len()
                ),
                None,
            ));
        }
        if edks.is_empty() {
            return Err(Error::materials(
                "keyring returned no encrypted data key",
                None,
            ));
        }
        let mut materials = EncryptionMaterials::new(suite, ec, data_key, edks);
        materials.signing_key = signing_key;
        Ok(materials)
    }

    async fn decrypt_materials(
        &self,
        request: &DecryptionRequest,
    ) -> Result<DecryptionMaterials, Error> {
        let suite = request.suite;
        if !request.commitment_policy.allows_decrypt(suite) {
            return Err(Error::PolicyViolation {
                policy: request.commitment_policy,
                suite,
                operation: "decrypt",
            });
        }
        let mut ec = request.encryption_context.clone();
        let mut required = Vec::new();
        if let Some(reproduced) = &request.reproduced_encryption_context {
            for (k, v) in reproduced {
                match ec.get(k) {
                    Some(stored) if stored != v => {
                        return Err(Error::EncryptionContext(ContextError::Mismatch(k.clone())))
                    }
                    Some(_) => {}
                    None => {
                        // Not stored: it must be authenticated through the header tag.
                        ec.insert(k.clone(), v.clone());
                        required.push(k.clone());
                    }
                }
            }
        }
        let verifying_key = match (suite.signature(), ec.get(PUBLIC_KEY_CONTEXT_KEY)) {
            (Some(alg), Some(value)) => Some(VerifyingKey::from_base64(alg, value)?),
            (Some(_), None) => {
                return Err(Error::EncryptionContext(ContextError::MissingPublicKey(
                    suite,
                )))
            }
            (None, Some(_)) => {
                return Err(Error::EncryptionContext(ContextError::UnexpectedPublicKey(
                    suite,
                )))
            }
            (None, None) => None,
        };
        let data_key = self
            .keyring
            .unwrap_data_key(suite, &ec, &request.encrypted_data_keys)
            .await?;
        let mut materials = DecryptionMaterials::new(suite, ec, data_key);
        materials.verifying_key = verifying_key;
        materials.required_encryption_context_keys = required;
        Ok(materials)
    }
}
