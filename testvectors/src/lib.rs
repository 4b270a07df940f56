//! The AWS Encryption SDK's test-vector manifests, read and run through sealbox's public API:
//! keys manifests, keyrings built from key descriptions, and two runners.
//!
//! - [`decrypt_manifest`] decrypts every test of an awses-decrypt manifest (v1 to v5) or of the
//!   Python ESDK 1.3.0 `ciphertext.manifest`, and checks each plaintext or expected error.
//! - [`encrypt_manifest`] encrypts every raw-key, framed test of an awses-encrypt manifest (v1,
//!   v2) and writes an awses-decrypt v2 set that other ESDKs (and [`decrypt_manifest`]) read.
//!
//! Tests that need a key sealbox cannot use here (AWS KMS, a hierarchical keyring, ...) are
//! counted as skipped, never as passed. sealbox's `tests/vectors.rs` and the CLI's
//! `sealbox vectors` both run on this crate, so that there is one manifest reader. It chooses no
//! crypto backend: the crate that depends on it does.

mod decrypt;
mod encrypt;

pub use decrypt::decrypt_manifest;
pub use encrypt::encrypt_manifest;

/// What a runner did: one entry per test of the manifest.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Report {
    /// Tests that gave the expected plaintext or the expected error (decrypt), or that were
    /// written (encrypt).
    pub passed: usize,
    /// Tests that did not, by test ID, with what went wrong.
    pub failed: Vec<(String, String)>,
    /// Tests that need a key or materials manager this runner does not build.
    pub skipped: usize,
    /// Of the skipped tests, those whose keyring needs AWS KMS itself (`aws-kms`, `aws-kms-rsa`,
    /// `aws-kms-ecdh`, `aws-kms-ml-kem`, ...): an AWS account and the vectors' keys.
    pub need_aws: usize,
}

impl Report {
    /// Whether no test failed.
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// `N passed, N failed, N skipped`: the summary line of `sealbox vectors` and `scripts/test`.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failed.len(),
            self.skipped
        )?;
        if self.need_aws > 0 {
            write!(f, " ({} need AWS KMS)", self.need_aws)?;
        }
        Ok(())
    }
}

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sealbox::{
    BranchKeyMaterials, EcdhCurve, HierarchicalKeyring, Keyring, MultiKeyring, RawAesKeyring,
    RawEcdhKeyring, RawEcdhScheme, RawRsaKeyring, RsaPadding, StaticBranchKeyStore,
};
use serde_json::Value;
use zeroize::Zeroizing;

/// A key from a keys manifest.
#[derive(Clone)]
pub(crate) struct Key {
    /// The name written into messages.
    pub(crate) key_id: String,
    pub(crate) material: Material,
}

#[derive(Clone)]
pub(crate) enum Material {
    Aes(Zeroizing<Vec<u8>>),
    RsaPrivate(String),
    RsaPublic(String),
    /// A `static-branch-key`: a branch key (and its beacon key) that an in-memory store answers,
    /// for `aws-kms-hierarchy` key descriptions.
    StaticBranchKey {
        version: String,
        branch_key: Zeroizing<[u8; 32]>,
        beacon_key: Option<Zeroizing<[u8; 32]>>,
    },
    /// An `ecc-private` key (`algorithm` `ecdh`): the sender's and the recipient's PEM private
    /// keys (PKCS#8) and the recipient's public key (DER `SubjectPublicKeyInfo`), for `raw-ecdh`
    /// key descriptions.
    Ecc {
        sender_private: Zeroizing<String>,
        recipient_private: Zeroizing<String>,
        recipient_public: Vec<u8>,
    },
    /// A key type sealbox does not handle here (aws-kms, ...): tests that need it are skipped.
    Unsupported(String),
}

/// A test that cannot run here (a key type sealbox does not support yet).
#[derive(Debug)]
pub(crate) struct Skip(pub(crate) String);

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped: {}", self.0)
    }
}

impl std::error::Error for Skip {}

/// A test whose keyring calls AWS KMS (an account, the vectors' keys): skipped here, and counted
/// in [`Report::need_aws`].
#[derive(Debug)]
pub(crate) struct NeedsAws(pub(crate) String);

impl std::fmt::Display for NeedsAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped, needs AWS KMS: {}", self.0)
    }
}

impl std::error::Error for NeedsAws {}

/// The key description and keys-manifest types whose keyrings call AWS KMS: the symmetric KMS
/// keyrings and the asymmetric ones (RSA, ECDH, ML-KEM).
pub(crate) fn needs_aws(ty: &str) -> bool {
    matches!(
        ty,
        "aws-kms"
            | "aws-kms-mrk-aware"
            | "aws-kms-mrk-aware-discovery"
            | "aws-kms-rsa"
            | "aws-kms-ecdh"
            | "aws-kms-ml-kem"
    )
}

/// Record a test that could not run: [`Skip`] and [`NeedsAws`] are skips; anything else is
/// not (the caller reports it as a failure).
pub(crate) fn count_skip(report: &mut Report, e: &anyhow::Error) -> bool {
    if e.is::<NeedsAws>() {
        report.skipped += 1;
        report.need_aws += 1;
        true
    } else if e.is::<Skip>() {
        report.skipped += 1;
        true
    } else {
        false
    }
}

pub(crate) fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Resolve a `file://` URI relative to the manifest's folder.
pub(crate) fn resolve(base: &Path, uri: &str) -> PathBuf {
    base.join(uri.strip_prefix("file://").unwrap_or(uri))
}

pub(crate) fn manifest_kind(v: &Value) -> (String, u64) {
    let m = &v["manifest"];
    (
        m["type"].as_str().unwrap_or_default().to_owned(),
        m["version"].as_u64().unwrap_or(0),
    )
}

/// Load a keys manifest (v1 to v3).
pub(crate) fn load_keys(path: &Path) -> anyhow::Result<HashMap<String, Key>> {
    let v = read_json(path)?;
    let (kind, version) = manifest_kind(&v);
    if kind != "keys" || !(1..=3).contains(&version) {
        bail!("{}: not a keys manifest v1 to v3", path.display());
    }
    let mut keys = HashMap::new();
    let obj = v["keys"]
        .as_object()
        .ok_or_else(|| anyhow!("keys manifest without keys"))?;
    for (name, k) in obj {
        let key_id = k["key-id"].as_str().unwrap_or(name).to_owned();
        let ty = k["type"].as_str().unwrap_or_default();
        let material_text = match &k["material"] {
            Value::String(s) => s.clone(),
            Value::Array(lines) => lines
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(k["line-separator"].as_str().unwrap_or("\n")),
            _ => String::new(),
        };
        let material = match (ty, k["algorithm"].as_str().unwrap_or_default()) {
            ("static-branch-key", _) => static_branch_key(name, k)?,
            ("ecc-private", "ecdh") => ecc_key(name, k)?,
            ("symmetric", "aes") => Material::Aes(Zeroizing::new(
                B64.decode(material_text.trim())
                    .with_context(|| format!("key {name}: bad base64"))?,
            )),
            ("private", "rsa") => Material::RsaPrivate(material_text),
            ("public", "rsa") => Material::RsaPublic(material_text),
            (other, alg) => Material::Unsupported(format!("{other} {alg}").trim().to_owned()),
        };
        keys.insert(name.clone(), Key { key_id, material });
    }
    Ok(keys)
}

/// A 32-byte key in base64.
fn key_32(name: &str, field: &str, v: &Value) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let text = v
        .as_str()
        .ok_or_else(|| anyhow!("key {name}: no {field}"))?;
    let bytes = Zeroizing::new(
        B64.decode(text.trim())
            .with_context(|| format!("key {name}: {field} is not base64"))?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != key.len() {
        bail!("key {name}: {field} is {} bytes, not 32", bytes.len());
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// A keys-manifest entry of type `static-branch-key`: `key-id` (the branch key ID),
/// `branchKeyVersion`, `branchKey` and `beaconKey` (base64).
fn static_branch_key(name: &str, k: &Value) -> anyhow::Result<Material> {
    let version = k["branchKeyVersion"]
        .as_str()
        .ok_or_else(|| anyhow!("key {name}: no branchKeyVersion"))?
        .to_owned();
    let beacon_key = match &k["beaconKey"] {
        Value::Null => None,
        v => Some(key_32(name, "beaconKey", v)?),
    };
    Ok(Material::StaticBranchKey {
        version,
        branch_key: key_32(name, "branchKey", &k["branchKey"])?,
        beacon_key,
    })
}

/// A keys-manifest entry of type `ecc-private`: `sender-material` and `recipient-material`
/// (PEM) and `recipient-material-public-key` (base64 DER; `sender-material-public-key`, the
/// sender's, is not needed: the keyring derives it).
fn ecc_key(name: &str, k: &Value) -> anyhow::Result<Material> {
    let text = |field: &str| {
        k[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("key {name}: no {field}"))
    };
    let der = |field: &str| -> anyhow::Result<Vec<u8>> {
        B64.decode(text(field)?.trim())
            .with_context(|| format!("key {name}: {field} is not base64"))
    };
    Ok(Material::Ecc {
        sender_private: Zeroizing::new(text("sender-material")?),
        recipient_private: Zeroizing::new(text("recipient-material")?),
        recipient_public: der("recipient-material-public-key")?,
    })
}

/// `ecc-256`, `ecc-384`, `ecc-521` (the test vectors' curve names).
fn ecc_curve(kd: &Value) -> anyhow::Result<EcdhCurve> {
    match kd["ecc-curve"].as_str() {
        Some("ecc-256") => Ok(EcdhCurve::P256),
        Some("ecc-384") => Ok(EcdhCurve::P384),
        Some("ecc-521") => Ok(EcdhCurve::P521),
        other => bail!("unknown ecc-curve {other:?}"),
    }
}

fn padding(mk: &Value) -> anyhow::Result<RsaPadding> {
    let alg = mk["padding-algorithm"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let hash = mk["padding-hash"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace('-', "");
    Ok(match (alg.as_str(), hash.as_str()) {
        ("pkcs1", _) => RsaPadding::Pkcs1,
        ("oaep-mgf1", "sha1") => RsaPadding::OaepSha1,
        ("oaep-mgf1", "sha256") => RsaPadding::OaepSha256,
        ("oaep-mgf1", "sha384") => RsaPadding::OaepSha384,
        ("oaep-mgf1", "sha512") => RsaPadding::OaepSha512,
        _ => bail!("unknown RSA padding {alg}/{hash}"),
    })
}

/// Builds keyrings from master-key and keyring descriptions, reusing them across tests (parsing
/// an RSA key is expensive).
pub(crate) struct KeyringFactory {
    keys: HashMap<String, Key>,
    cache: Mutex<HashMap<String, Arc<dyn Keyring>>>,
    /// Key name to write for a key (RSA pairs share one name).
    names: HashMap<String, String>,
}

impl KeyringFactory {
    pub(crate) fn new(keys: HashMap<String, Key>) -> Self {
        KeyringFactory {
            keys,
            cache: Mutex::new(HashMap::new()),
            names: HashMap::new(),
        }
    }

    pub(crate) fn with_names(mut self, names: HashMap<String, String>) -> Self {
        self.names = names;
        self
    }

    pub(crate) fn key(&self, name: &str) -> anyhow::Result<&Key> {
        self.keys
            .get(name)
            .ok_or_else(|| anyhow!("unknown key {name:?}"))
    }

    /// One master key or single keyring description (`raw`, or `aws-kms-hierarchy` for a
    /// `static-branch-key`). `encrypt` asks for a keyring that can encrypt with a private RSA
    /// key (deriving the public key explicitly).
    pub(crate) fn raw(&self, mk: &Value, encrypt: bool) -> anyhow::Result<Arc<dyn Keyring>> {
        let cache_key = format!("{encrypt}{mk}");
        if let Some(k) = self
            .cache
            .lock()
            .map_err(|_| anyhow!("poisoned"))?
            .get(&cache_key)
        {
            return Ok(k.clone());
        }
        let ty = mk["type"].as_str().unwrap_or_default();
        if ty == "aws-kms-hierarchy" || ty == "raw-ecdh" {
            let keyring = if ty == "raw-ecdh" {
                self.raw_ecdh(mk)?
            } else {
                self.hierarchy(mk)?
            };
            self.cache
                .lock()
                .map_err(|_| anyhow!("poisoned"))?
                .insert(cache_key, keyring.clone());
            return Ok(keyring);
        }
        if needs_aws(ty) {
            return Err(NeedsAws(format!("key type {ty:?}")).into());
        }
        if ty != "raw" {
            return Err(Skip(format!("key type {ty:?}")).into());
        }
        let name = mk["key"]
            .as_str()
            .ok_or_else(|| anyhow!("master key without a key"))?;
        let key = self.key(name)?;
        let key_name = self.names.get(name).unwrap_or(&key.key_id);
        let namespace = mk["provider-id"]
            .as_str()
            .ok_or_else(|| anyhow!("raw key without provider-id"))?;
        let keyring: Arc<dyn Keyring> = match (&key.material, mk["encryption-algorithm"].as_str()) {
            (Material::Aes(bytes), Some("aes")) => {
                Arc::new(RawAesKeyring::new(namespace, key_name, bytes.clone())?)
            }
            (Material::RsaPrivate(pem), Some("rsa")) => {
                let k = RawRsaKeyring::new(namespace, key_name, padding(mk)?)?
                    .with_private_key_pem(pem)?;
                Arc::new(if encrypt {
                    k.with_public_key_from_private()?
                } else {
                    k
                })
            }
            (Material::RsaPublic(pem), Some("rsa")) => Arc::new(
                RawRsaKeyring::new(namespace, key_name, padding(mk)?)?.with_public_key_pem(pem)?,
            ),
            (Material::Unsupported(what), _) if needs_aws(what.split(' ').next().unwrap_or("")) => {
                return Err(NeedsAws(format!("key type {what:?}")).into())
            }
            (Material::Unsupported(what), _) => {
                return Err(Skip(format!("key type {what:?}")).into())
            }
            (_, alg) => bail!("key {name:?} does not fit encryption algorithm {alg:?}"),
        };
        self.cache
            .lock()
            .map_err(|_| anyhow!("poisoned"))?
            .insert(cache_key, keyring.clone());
        Ok(keyring)
    }

    /// A `raw-ecdh` key description: `schema` `static` (the `sender` key's sender private key
    /// and recipient public key), `ephemeral` (the `recipient` key's public key) or `discovery`
    /// (the `recipient` key's private key), on `ecc-curve`.
    fn raw_ecdh(&self, kd: &Value) -> anyhow::Result<Arc<dyn Keyring>> {
        let curve = ecc_curve(kd)?;
        let schema = kd["schema"].as_str().unwrap_or_default();
        let role = if schema == "static" {
            "sender"
        } else {
            "recipient"
        };
        let name = kd[role]
            .as_str()
            .ok_or_else(|| anyhow!("raw-ecdh description without a {role} key"))?;
        let Material::Ecc {
            sender_private,
            recipient_private,
            recipient_public,
            ..
        } = &self.key(name)?.material
        else {
            bail!("key {name:?} is not an ecc-private key");
        };
        let keyring = match schema {
            "static" => {
                RawEcdhKeyring::builder(curve, RawEcdhScheme::RawPrivateKeyToStaticPublicKey)
                    .sender_private_key(sender_private.as_bytes())
                    .recipient_public_key(recipient_public)
            }
            "ephemeral" => {
                RawEcdhKeyring::builder(curve, RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey)
                    .recipient_public_key(recipient_public)
            }
            "discovery" => RawEcdhKeyring::builder(curve, RawEcdhScheme::PublicKeyDiscovery)
                .recipient_private_key(recipient_private.as_bytes()),
            other => bail!("unknown raw-ecdh schema {other:?}"),
        };
        Ok(Arc::new(keyring.build()?))
    }

    /// An `aws-kms-hierarchy` key description: a hierarchical keyring for the named
    /// `static-branch-key`, answered by an in-memory branch key store.
    fn hierarchy(&self, kd: &Value) -> anyhow::Result<Arc<dyn Keyring>> {
        let name = kd["key"]
            .as_str()
            .ok_or_else(|| anyhow!("aws-kms-hierarchy description without a key"))?;
        let key = self.key(name)?;
        let Material::StaticBranchKey {
            version,
            branch_key,
            beacon_key,
        } = &key.material
        else {
            bail!("key {name:?} is not a static-branch-key");
        };
        let store = StaticBranchKeyStore::new("test-vectors");
        store.insert(BranchKeyMaterials::new(
            key.key_id.clone(),
            version.clone(),
            Default::default(),
            branch_key.clone(),
        ))?;
        if let Some(beacon) = beacon_key {
            store.insert_beacon_key(BranchKeyMaterials::new(
                key.key_id.clone(),
                "",
                Default::default(),
                beacon.clone(),
            ));
        }
        let keyring = HierarchicalKeyring::builder(Arc::new(store))
            .branch_key_id(key.key_id.clone())
            // One store read per runner: the store is in memory and never changes.
            .ttl(std::time::Duration::from_secs(3600))
            .build()?;
        Ok(Arc::new(keyring))
    }

    /// A list of master keys: one keyring, or a multi-keyring whose generator is the first.
    pub(crate) fn master_keys(
        &self,
        mks: &Value,
        encrypt: bool,
    ) -> anyhow::Result<Arc<dyn Keyring>> {
        let list = mks
            .as_array()
            .ok_or_else(|| anyhow!("master-keys is not a list"))?;
        let mut keyrings = list
            .iter()
            .map(|mk| self.raw(mk, encrypt))
            .collect::<anyhow::Result<Vec<_>>>()?;
        match keyrings.len() {
            0 => bail!("no master keys"),
            1 => Ok(keyrings.remove(0)),
            _ => {
                let generator = keyrings.remove(0);
                Ok(Arc::new(MultiKeyring::new(Some(generator), keyrings)?))
            }
        }
    }
}
