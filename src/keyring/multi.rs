//! The multi-keyring: one generator and any number of children.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::join_all;

use super::Keyring;
use crate::error::{Error, KeyringError, UnwrapError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// Combines keyrings. On encrypt the generator makes the data key and every keyring wraps it, so
/// that any one of them can decrypt; the children's wrapping calls run concurrently (children with
/// KMS keys in three Regions cost one round trip after the generator's, not three), and the message
/// lists the EDKs in the keyrings' order. On decrypt each is tried in turn (generator first) until
/// one unwraps a data key: one service call where the first keyring can decrypt, not one per
/// keyring.
#[derive(Debug)]
pub struct MultiKeyring {
    generator: Option<Arc<dyn Keyring>>,
    children: Vec<Arc<dyn Keyring>>,
}

impl MultiKeyring {
    /// A multi-keyring. Without a generator it can only wrap keys made elsewhere, and decrypt.
    pub fn new(
        generator: Option<Arc<dyn Keyring>>,
        children: Vec<Arc<dyn Keyring>>,
    ) -> Result<Self, Error> {
        if generator.is_none() && children.is_empty() {
            return Err(Error::invalid(
                "multi-keyring",
                "needs a generator or a child",
            ));
        }
        Ok(MultiKeyring {
            generator,
            children,
        })
    }

    fn all(&self) -> impl Iterator<Item = &Arc<dyn Keyring>> {
        self.generator.iter().chain(self.children.iter())
    }
}

/// Wrap `data_key` with every one of `keyrings` concurrently; their EDKs in the keyrings' order, or
/// the first keyring's error (in that order).
async fn wrap_all(
    keyrings: impl Iterator<Item = &Arc<dyn Keyring>>,
    suite: AlgorithmSuite,
    encryption_context: &EncryptionContext,
    data_key: &DataKey,
) -> Result<Vec<EncryptedDataKey>, KeyringError> {
    let wrapped =
        join_all(keyrings.map(|k| k.wrap_data_key(suite, encryption_context, data_key))).await;
    let mut edks = Vec::new();
    for keyring_edks in wrapped {
        edks.extend(keyring_edks?);
    }
    Ok(edks)
}

#[async_trait]
impl Keyring for MultiKeyring {
    async fn generate_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
    ) -> Result<(DataKey, Vec<EncryptedDataKey>), KeyringError> {
        let generator = self
            .generator
            .as_ref()
            .ok_or_else(|| KeyringError::new("multi", "no generator to make a data key"))?;
        let (key, mut edks) = generator
            .generate_data_key(suite, encryption_context)
            .await?;
        edks.extend(wrap_all(self.children.iter(), suite, encryption_context, &key).await?);
        Ok((key, edks))
    }

    async fn wrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        wrap_all(self.all(), suite, encryption_context, data_key).await
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        let mut errors = UnwrapError::default();
        for k in self.all() {
            match k.unwrap_data_key(suite, encryption_context, edks).await {
                Ok(key) => return Ok(key),
                Err(e) => errors.extend(e),
            }
        }
        Err(errors)
    }
}
