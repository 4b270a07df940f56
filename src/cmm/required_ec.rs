//! The required-encryption-context materials manager.

use std::sync::Arc;

use async_trait::async_trait;

use super::{DecryptionRequest, EncryptionRequest, MaterialsManager};
use crate::error::{ContextError, Error};
use crate::materials::{DecryptionMaterials, EncryptionMaterials};

/// Makes some context keys required: they must be supplied on encrypt and again on decrypt, and
/// they are authenticated by the header tag without being stored in the message. Use it for
/// context that the reader knows anyway (a tenant ID, a table name) and that should not travel.
#[derive(Debug, Clone)]
pub struct RequiredEncryptionContextCmm {
    inner: Arc<dyn MaterialsManager>,
    required_keys: Vec<String>,
}

impl RequiredEncryptionContextCmm {
    /// Require `required_keys` on top of `inner`.
    pub fn new(
        inner: Arc<dyn MaterialsManager>,
        required_keys: Vec<String>,
    ) -> Result<Self, Error> {
        if required_keys.is_empty() {
            return Err(Error::invalid(
                "required encryption context keys",
                "none given",
            ));
        }
        Ok(RequiredEncryptionContextCmm {
            inner,
            required_keys,
        })
    }
}

#[async_trait]
impl MaterialsManager for RequiredEncryptionContextCmm {
    async fn get_encryption_materials(
        &self,
        request: &EncryptionRequest,
    ) -> Result<EncryptionMaterials, Error> {
        for k in &self.required_keys {
            if !request.encryption_context.contains_key(k) {
                return Err(Error::EncryptionContext(ContextError::MissingRequiredKey(
                    k.clone(),
                )));
            }
        }
        let mut materials = self.inner.get_encryption_materials(request).await?;
        for k in &self.required_keys {
            if !materials.encryption_context.contains_key(k) {
                return Err(Error::materials(
                    format!("underlying materials manager dropped required key {k:?}"),
                    None,
                ));
            }
            if !materials.required_encryption_context_keys.contains(k) {
                materials.required_encryption_context_keys.push(k.clone());
            }
        }
        Ok(materials)
    }

    async fn decrypt_materials(
        &self,
        request: &DecryptionRequest,
    ) -> Result<DecryptionMaterials, Error> {
        let reproduced = request.reproduced_encryption_context.as_ref();
        for k in &self.required_keys {
            if !reproduced.is_some_and(|ec| ec.contains_key(k)) {
                return Err(Error::EncryptionContext(
                    ContextError::RequiredKeyNotSupplied(k.clone()),
                ));
            }
        }
        let mut materials = self.inner.decrypt_materials(request).await?;
        for k in &self.required_keys {
            if !materials.required_encryption_context_keys.contains(k) {
                materials.required_encryption_context_keys.push(k.clone());
            }
        }
        Ok(materials)
    }
}
