//! A branch key store in memory: for tests, test vectors, and users who keep branch keys
//! elsewhere and hand them over already decrypted.

use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;

use super::store::{BranchKeyMaterials, BranchKeyStore, KeyStoreError};
use super::wrap::uuid_bytes;
use crate::error::Error;

/// A [`BranchKeyStore`] that answers from branch keys it was given, in memory (never on disk).
///
/// Each branch key ID has any number of versions; the one inserted last is the active one.
/// Nothing here authenticates anything: whoever inserts a key vouches for it.
pub struct StaticBranchKeyStore {
    name: String,
    keys: RwLock<HashMap<String, Keys>>,
}

#[derive(Default)]
struct Keys {
    versions: Vec<BranchKeyMaterials>,
    beacon: Option<BranchKeyMaterials>,
}

impl StaticBranchKeyStore {
    /// An empty store with this logical key store name (part of the cache identifiers).
    pub fn new(logical_key_store_name: impl Into<String>) -> Self {
        StaticBranchKeyStore {
            name: logical_key_store_name.into(),
            keys: RwLock::new(HashMap::new()),
        }
    }

    /// Add a version of a branch key, which becomes its active version (replacing any version
    /// with the same UUID). The version must be a UUID in its 36-character form.
    pub fn insert(&self, materials: BranchKeyMaterials) -> Result<(), Error> {
        if uuid_bytes(materials.version()).is_none() {
            return Err(Error::Config(format!(
                "branch key {:?}: version {:?} is not a UUID",
                materials.branch_key_id(),
                materials.version()
            )));
        }
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let entry = keys
            .entry(materials.branch_key_id().to_owned())
            .or_default();
        entry
            .versions
            .retain(|m| uuid_bytes(m.version()) != uuid_bytes(materials.version()));
        entry.versions.push(materials);
        Ok(())
    }

    /// Set the beacon key of a branch key (its version is not used).
    pub fn insert_beacon_key(&self, materials: BranchKeyMaterials) {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let id = materials.branch_key_id().to_owned();
        keys.entry(id).or_default().beacon = Some(materials);
    }

    fn find(
        &self,
        branch_key_id: &str,
        version: Option<&str>,
        pick: impl FnOnce(&Keys) -> Option<&BranchKeyMaterials>,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.get(branch_key_id)
            .and_then(pick)
            .cloned()
            .ok_or_else(|| KeyStoreError::NotFound {
                branch_key_id: branch_key_id.to_owned(),
                version: version.map(str::to_owned),
            })
    }
}

impl fmt::Debug for StaticBranchKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let mut ids: Vec<&String> = keys.keys().collect();
        ids.sort();
        f.debug_struct("StaticBranchKeyStore")
            .field("name", &self.name)
            .field("branch_key_ids", &ids)
            .finish()
    }
}

#[async_trait]
impl BranchKeyStore for StaticBranchKeyStore {
    fn logical_key_store_name(&self) -> &str {
        &self.name
    }

    async fn get_active_branch_key(
        &self,
        branch_key_id: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        self.find(branch_key_id, None, |k| k.versions.last())
    }

    async fn get_branch_key_version(
        &self,
        branch_key_id: &str,
        version: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        let wanted = uuid_bytes(version);
        if wanted.is_none() {
            return Err(KeyStoreError::NotFound {
                branch_key_id: branch_key_id.to_owned(),
                version: Some(version.to_owned()),
            });
        }
        self.find(branch_key_id, Some(version), |k| {
            k.versions
                .iter()
                .find(|m| uuid_bytes(m.version()) == wanted)
        })
    }

    async fn get_beacon_key(
        &self,
        branch_key_id: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        self.find(branch_key_id, None, |k| k.beacon.as_ref())
    }
}
