//! The AWS KMS ECDH keyring (ESDK specification `aws-kms-ecdh-keyring.md`): ECDH with an AWS
//! KMS key agreement key (KMS `DeriveSharedSecret`), on the key-agreement core that the raw ECDH
//! keyring shares (`keyring/ecdh`: fixed info, derivation, wrapping, EDK layout), so that either
//! keyring reads what the other writes, as in the Material Providers Library.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyAgreementAlgorithmSpec, KeyUsageType};
use aws_sdk_kms::Client;
use zeroize::Zeroizing;

use super::{call_failed, grant_tokens};
use crate::crypto::{EcPublicKey, EcdhCurve};
use crate::error::{Error, KeyringError, UnwrapError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::keyring::ecdh::{
    fixed_info, unwrap, wrap, ProviderInfo, KMS_ECDH_PROVIDER_ID, RAW_ECDH_PROVIDER_ID,
};
use crate::keyring::{Keyring, Skip};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// The key-agreement schemes of [`KmsEcdhKeyring`].
#[derive(Debug)]
enum Scheme {
    /// `KmsPrivateKeyToStaticPublicKey`: our KMS key and a peer's static public key; encrypts and
    /// decrypts.
    Static {
        sender_key: String,
        sender: EcPublicKey,
        recipient: EcPublicKey,
    },
    /// `KmsPublicKeyDiscovery`: decrypts whatever was sent to our KMS key, from any sender.
    Discovery {
        recipient_key: String,
        recipient: EcPublicKey,
    },
}

/// The AWS KMS ECDH keyring: wraps data keys under a key derived from an ECDH shared secret that
/// KMS computes (`DeriveSharedSecret`) with an asymmetric KMS key of key usage `KEY_AGREEMENT`
/// (`ECC_NIST_P256`, `ECC_NIST_P384`, `ECC_NIST_P521`).
///
/// Two schemes, as in the Material Providers Library:
///
/// * [`kms_private_key_to_static_public_key`](KmsEcdhKeyringBuilder::kms_private_key_to_static_public_key):
///   our KMS key and the other party's public key; encrypts (`aws-kms-ecdh` EDKs) and decrypts
///   messages exchanged between the two, written by either side and by either the KMS or the
///   raw ECDH keyring.
/// * [`kms_public_key_discovery`](KmsEcdhKeyringBuilder::kms_public_key_discovery): decrypts any
///   message whose recipient is our KMS key, from any sender; cannot encrypt.
///
/// Building the keyring calls KMS `GetPublicKey` for our key (unless its public key is given)
/// and checks that the key is for key agreement on the configured curve.
///
/// ```no_run
/// # async fn f(recipient_public_key_der: &[u8]) -> Result<(), sealbox::Error> {
/// use sealbox::{EcdhCurve, KmsEcdhKeyring};
///
/// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let keyring = KmsEcdhKeyring::builder(aws_sdk_kms::Client::new(&config), EcdhCurve::P256)
///     .kms_private_key_to_static_public_key(
///         "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
///         recipient_public_key_der,
///     )
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
pub struct KmsEcdhKeyring {
    client: Client,
    curve: EcdhCurve,
    scheme: Scheme,
    grant_tokens: Vec<String>,
    label: String,
}

impl std::fmt::Debug for KmsEcdhKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, key) = match &self.scheme {
            Scheme::Static { sender_key, .. } => ("KmsPrivateKeyToStaticPublicKey", sender_key),
            Scheme::Discovery { recipient_key, .. } => ("KmsPublicKeyDiscovery", recipient_key),
        };
        f.debug_struct("KmsEcdhKeyring")
            .field("curve", &self.curve)
            .field("scheme", &scheme)
            .field("kms_key", key)
            .field("grant_tokens", &self.grant_tokens.len())
            .finish()
    }
}

/// Builds a [`KmsEcdhKeyring`]: pick one scheme, then [`build`](Self::build).
#[derive(Debug)]
pub struct KmsEcdhKeyringBuilder {
    client: Client,
    curve: EcdhCurve,
    kms_key: Option<String>,
    peer_public_key: Option<Vec<u8>>,
    own_public_key: Option<Vec<u8>>,
    discovery: bool,
    grant_tokens: Vec<String>,
}

impl KmsEcdhKeyring {
    /// A builder for a keyring on `curve` that calls KMS through `client`.
    pub fn builder(client: Client, curve: EcdhCurve) -> KmsEcdhKeyringBuilder {
        KmsEcdhKeyringBuilder {
            client,
            curve,
            kms_key: None,
            peer_public_key: None,
            own_public_key: None,
            discovery: false,
            grant_tokens: Vec::new(),
        }
    }
}

impl KmsEcdhKeyringBuilder {
    /// `KmsPrivateKeyToStaticPublicKey`: `sender_kms_key` (our KMS key agreement key, a key ID or
    /// ARN) and the recipient's public key in DER `SubjectPublicKeyInfo`.
    pub fn kms_private_key_to_static_public_key(
        mut self,
        sender_kms_key: &str,
        recipient_public_key_der: &[u8],
    ) -> Self {
        self.kms_key = Some(sender_kms_key.to_owned());
        self.peer_public_key = Some(recipient_public_key_der.to_vec());
        self.discovery = false;
        self
    }

    /// `KmsPublicKeyDiscovery`: decrypt with `recipient_kms_key` (our KMS key agreement key)
    /// whatever any sender wrote to it.
    pub fn kms_public_key_discovery(mut self, recipient_kms_key: &str) -> Self {
        self.kms_key = Some(recipient_kms_key.to_owned());
        self.peer_public_key = None;
        self.discovery = true;
        self
    }

    /// Our KMS key's public key (DER `SubjectPublicKeyInfo`), to spare the `GetPublicKey` call
    /// on [`build`](Self::build). It must be that key's: nothing checks it.
    pub fn kms_public_key(mut self, der: &[u8]) -> Self {
        self.own_public_key = Some(der.to_vec());
        self
    }

    /// Send these grant tokens with every KMS call.
    pub fn grant_tokens<I, S>(mut self, tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.grant_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// The keyring. Calls KMS `GetPublicKey` for our key unless
    /// [`kms_public_key`](Self::kms_public_key) gave it, and fails with [`Error::Config`] when no
    /// scheme was picked, a public key does not parse or is on another curve, or KMS says the key
    /// is not for key agreement on this curve; with [`Error::Keyring`] when the call fails.
    pub async fn build(self) -> Result<KmsEcdhKeyring, Error> {
        let curve = self.curve;
        let kms_key = self.kms_key.ok_or_else(|| {
            Error::invalid(
                "AWS KMS ECDH keyring",
                "no key agreement scheme: call kms_private_key_to_static_public_key or \
                 kms_public_key_discovery",
            )
        })?;
        if kms_key.is_empty() {
            return Err(Error::invalid("KMS key ID", "the KMS key ID is empty"));
        }
        let label = format!("{KMS_ECDH_PROVIDER_ID} {kms_key}");
        let own = match self.own_public_key {
            Some(der) => EcPublicKey::from_der(curve, &der)?,
            None => {
                get_public_key(&self.client, curve, &kms_key, &self.grant_tokens, &label).await?
            }
        };
        let scheme = match (self.discovery, self.peer_public_key) {
            (true, _) => Scheme::Discovery {
                recipient_key: kms_key,
                recipient: own,
            },
            (false, Some(peer)) => Scheme::Static {
                sender_key: kms_key,
                sender: own,
                recipient: EcPublicKey::from_der(curve, &peer)?,
            },
            (false, None) => unreachable!("the static scheme sets the recipient's key"),
        };
        Ok(KmsEcdhKeyring {
            client: self.client,
            curve,
            scheme,
            grant_tokens: self.grant_tokens,
            label,
        })
    }
}

/// Our KMS key's public key, checked as the specification asks: key usage `KEY_AGREEMENT`, and
/// the key spec of the configured curve.
async fn get_public_key(
    client: &Client,
    curve: EcdhCurve,
    key: &str,
    tokens: &[String],
    label: &str,
) -> Result<EcPublicKey, Error> {
    let out = client
        .get_public_key()
        .key_id(key)
        .set_grant_tokens(grant_tokens(tokens))
        .send()
        .await
        .map_err(|e| Error::Keyring(call_failed(label, "GetPublicKey", key, e)))?;
    if out.key_usage() != Some(&KeyUsageType::KeyAgreement) {
        return Err(Error::invalid(
            "KMS key",
            format!(
                "{key} has key usage {:?}; the AWS KMS ECDH keyring needs KEY_AGREEMENT",
                out.key_usage().map(|u| u.as_str())
            ),
        ));
    }
    let spec = out.key_spec().map(|s| s.as_str());
    if spec != Some(curve.kms_name()) {
        return Err(Error::invalid(
            "KMS key",
            format!(
                "{key} has key spec {spec:?}; the keyring is configured for {}",
                curve.kms_name()
            ),
        ));
    }
    let der = out
        .public_key()
        .ok_or_else(|| Error::invalid("KMS key", "KMS GetPublicKey response has no PublicKey"))?;
    EcPublicKey::from_der(curve, der.as_ref())
}

impl KmsEcdhKeyring {
    /// KMS `DeriveSharedSecret` with `key` and the peer's public key.
    async fn derive(
        &self,
        key: &str,
        peer: &EcPublicKey,
    ) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
        let out = self
            .client
            .derive_shared_secret()
            .key_id(key)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(peer.to_der()))
            .set_grant_tokens(grant_tokens(&self.grant_tokens))
            .send()
            .await
            .map_err(|e| call_failed(&self.label, "DeriveSharedSecret", key, e))?;
        // Into a zeroizing buffer at once (the SDK's own copies are beyond our reach).
        let secret = Zeroizing::new(
            out.shared_secret
                .ok_or_else(|| {
                    KeyringError::new(
                        &self.label,
                        "KMS DeriveSharedSecret response has no SharedSecret",
                    )
                })?
                .into_inner(),
        );
        if secret.len() != self.curve.field_len() {
            return Err(KeyringError::new(
                &self.label,
                format!(
                    "KMS DeriveSharedSecret returned {} bytes; a {} shared secret is {}",
                    secret.len(),
                    self.curve,
                    self.curve.field_len()
                ),
            ));
        }
        Ok(secret)
    }

    /// Whether an EDK is ours: the KMS key to derive with, the peer's point, and the provider info.
    fn matches(&self, edk: &EncryptedDataKey) -> Result<(&str, EcPublicKey, ProviderInfo), Skip> {
        if edk.provider_id != KMS_ECDH_PROVIDER_ID && edk.provider_id != RAW_ECDH_PROVIDER_ID {
            return Err(Skip::Provider {
                found: edk.provider_id.clone(),
                expected: KMS_ECDH_PROVIDER_ID.into(),
            });
        }
        let info = ProviderInfo::parse(self.curve, &edk.provider_info).map_err(Skip::Other)?;
        // Both points must be on the curve, not just the one the agreement uses.
        let sender = EcPublicKey::from_sec1(self.curve, &info.sender)
            .map_err(|e| Skip::Other(format!("sender public key: {e}")))?;
        let recipient = EcPublicKey::from_sec1(self.curve, &info.recipient)
            .map_err(|e| Skip::Other(format!("recipient public key: {e}")))?;
        match &self.scheme {
            Scheme::Discovery {
                recipient_key,
                recipient: ours,
            } => {
                if recipient != *ours {
                    return Err(Skip::Other(
                        "the EDK's recipient public key is not this keyring's KMS key".into(),
                    ));
                }
                Ok((recipient_key, sender, info))
            }
            Scheme::Static {
                sender_key,
                sender: ours,
                recipient: theirs,
            } => {
                // Written by us to them, or by them (either keyring) to us.
                let ok = (sender == *ours && recipient == *theirs)
                    || (sender == *theirs && recipient == *ours);
                if !ok {
                    return Err(Skip::Other(
                        "the EDK's sender and recipient public keys are not this keyring's".into(),
                    ));
                }
                Ok((sender_key, theirs.clone(), info))
            }
        }
    }
}

#[async_trait]
impl Keyring for KmsEcdhKeyring {
    /// One KMS `DeriveSharedSecret` call, then the key-agreement wrap (`aws-kms-ecdh` EDK).
    async fn wrap_data_key(
        &self,
        _suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        let Scheme::Static {
            sender_key,
            sender,
            recipient,
        } = &self.scheme
        else {
            return Err(KeyringError::new(
                &self.label,
                "KmsPublicKeyDiscovery cannot encrypt: use KmsPrivateKeyToStaticPublicKey",
            ));
        };
        let info = ProviderInfo {
            sender: sender.compressed(),
            recipient: recipient.compressed(),
        };
        let fixed = fixed_info(self.curve, &info, encryption_context)
            .map_err(|e| KeyringError::new(&self.label, e.to_string()))?;
        let secret = self.derive(sender_key, recipient).await?;
        let ciphertext =
            wrap(&secret, &fixed, data_key).map_err(|e| KeyringError::new(&self.label, e))?;
        Ok(vec![EncryptedDataKey {
            provider_id: KMS_ECDH_PROVIDER_ID.to_owned(),
            provider_info: info.serialize(),
            ciphertext,
        }])
    }

    /// One KMS `DeriveSharedSecret` call per matching EDK until one unwraps.
    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        let mut errors = UnwrapError::default();
        for (i, edk) in edks.iter().enumerate() {
            let (key, peer, info) = match self.matches(edk) {
                Ok(found) => found,
                Err(skip) => {
                    errors.push(i, &self.label, skip);
                    continue;
                }
            };
            let fixed = match fixed_info(self.curve, &info, encryption_context) {
                Ok(fixed) => fixed,
                Err(e) => {
                    errors.push(i, &self.label, e.to_string());
                    continue;
                }
            };
            let secret = match self.derive(key, &peer).await {
                Ok(secret) => secret,
                Err(e) => {
                    errors.push(i, &self.label, e);
                    continue;
                }
            };
            match unwrap(&secret, &fixed, &edk.ciphertext, suite) {
                Ok(key) => return Ok(key),
                Err(e) => errors.push(i, &self.label, e),
            }
        }
        Err(errors)
    }
}
