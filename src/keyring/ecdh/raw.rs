//! The raw ECDH keyring: ECDH between local keys, then the shared key-agreement wrapping.

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{fixed_info, unwrap, wrap, ProviderInfo, KMS_ECDH_PROVIDER_ID, RAW_ECDH_PROVIDER_ID};
use crate::crypto::{EcPrivateKey, EcPublicKey, EcdhCurve};
use crate::error::{Error, KeyringError, UnwrapError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::keyring::{Keyring, Skip};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// How a [`RawEcdhKeyring`] agrees on a key: the three key-agreement schemes of the
/// specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RawEcdhScheme {
    /// The sender's static private key and the recipient's public key. Encrypts and decrypts:
    /// either party can configure it (the recipient with its own private key and the sender's
    /// public key), and messages either one writes are readable by both.
    RawPrivateKeyToStaticPublicKey,
    /// A fresh key pair per data key and the recipient's public key. Encrypts only: a producer
    /// that holds no private key at all.
    EphemeralPrivateKeyToStaticPublicKey,
    /// The recipient's private key. Decrypts only, any message addressed to that key, from any
    /// sender (raw or AWS KMS ECDH).
    PublicKeyDiscovery,
}

impl RawEcdhScheme {
    fn name(self) -> &'static str {
        match self {
            RawEcdhScheme::RawPrivateKeyToStaticPublicKey => "RawPrivateKeyToStaticPublicKey",
            RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey => {
                "EphemeralPrivateKeyToStaticPublicKey"
            }
            RawEcdhScheme::PublicKeyDiscovery => "PublicKeyDiscovery",
        }
    }
}

enum Keys {
    Static {
        sender: EcPrivateKey,
        recipient: EcPublicKey,
    },
    Ephemeral {
        recipient: EcPublicKey,
    },
    Discovery {
        recipient: EcPrivateKey,
    },
}

/// Wraps data keys under a key agreed by ECDH (P-256, P-384 or P-521), as the AWS Encryption
/// SDKs' raw ECDH keyring does: interoperable with theirs in all three schemes.
///
/// Keys are PEM or DER: private keys PKCS#8 (`PRIVATE KEY`, the specification's form) or SEC 1
/// (`EC PRIVATE KEY`), public keys `SubjectPublicKeyInfo` (`PUBLIC KEY`).
///
/// ```
/// # fn main() -> Result<(), sealbox::Error> {
/// use sealbox::{EcdhCurve, RawEcdhKeyring, RawEcdhScheme};
/// # let recipient_public = include_bytes!("../../../tests/data/ecdh-p256-public.pem");
/// // A producer that holds only the recipient's public key.
/// let keyring = RawEcdhKeyring::builder(EcdhCurve::P256, RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey)
///     .recipient_public_key(recipient_public)
///     .build()?;
/// # let _ = keyring;
/// # Ok(())
/// # }
/// ```
pub struct RawEcdhKeyring {
    curve: EcdhCurve,
    scheme: RawEcdhScheme,
    keys: Keys,
    /// The recipient's compressed point, as EDKs name it.
    recipient: Vec<u8>,
    /// The static sender's compressed point (`RawPrivateKeyToStaticPublicKey`).
    sender: Option<Vec<u8>>,
    label: String,
}

impl std::fmt::Debug for RawEcdhKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        f.debug_struct("RawEcdhKeyring")
            .field("curve", &self.curve)
            .field("scheme", &self.scheme)
            .field("recipient", &hex(&self.recipient))
            .field("sender", &self.sender.as_deref().map(hex))
            .finish_non_exhaustive()
    }
}

/// Builds a [`RawEcdhKeyring`]: the curve, the scheme, and exactly the keys the scheme uses.
pub struct RawEcdhKeyringBuilder {
    curve: EcdhCurve,
    scheme: RawEcdhScheme,
    sender_private: Option<Zeroizing<Vec<u8>>>,
    recipient_public: Option<Vec<u8>>,
    recipient_private: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for RawEcdhKeyringBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawEcdhKeyringBuilder")
            .field("curve", &self.curve)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl RawEcdhKeyringBuilder {
    /// The sender's static private key (PEM or DER), for `RawPrivateKeyToStaticPublicKey`.
    pub fn sender_private_key(mut self, key: &[u8]) -> Self {
        self.sender_private = Some(Zeroizing::new(key.to_vec()));
        self
    }

    /// The recipient's public key (PEM or DER `SubjectPublicKeyInfo`), for
    /// `RawPrivateKeyToStaticPublicKey` and `EphemeralPrivateKeyToStaticPublicKey`.
    pub fn recipient_public_key(mut self, key: &[u8]) -> Self {
        self.recipient_public = Some(key.to_vec());
        self
    }

    /// The recipient's private key (PEM or DER), for `PublicKeyDiscovery`.
    pub fn recipient_private_key(mut self, key: &[u8]) -> Self {
        self.recipient_private = Some(Zeroizing::new(key.to_vec()));
        self
    }

    /// Parse and check the keys (each on the curve, none the point at infinity). Fails if the
    /// scheme lacks a key it needs or was given one it does not use.
    pub fn build(self) -> Result<RawEcdhKeyring, Error> {
        let curve = self.curve;
        let scheme = self.scheme;
        let unused = |what: &str| {
            Error::invalid(
                "raw ECDH keyring",
                format!("{} does not use {what}", scheme.name()),
            )
        };
        let missing = |what: &str| {
            Error::invalid(
                "raw ECDH keyring",
                format!("{} needs {what}", scheme.name()),
            )
        };
        let keys = match scheme {
            RawEcdhScheme::RawPrivateKeyToStaticPublicKey => {
                if self.recipient_private.is_some() {
                    return Err(unused("a recipient private key"));
                }
                let sender = self
                    .sender_private
                    .ok_or_else(|| missing("the sender's private key"))?;
                let recipient = self
                    .recipient_public
                    .ok_or_else(|| missing("the recipient's public key"))?;
                Keys::Static {
                    sender: EcPrivateKey::from_pem_or_der(curve, &sender)?,
                    recipient: EcPublicKey::from_pem_or_der(curve, &recipient)?,
                }
            }
            RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey => {
                if self.sender_private.is_some() {
                    return Err(unused("a sender private key"));
                }
                if self.recipient_private.is_some() {
                    return Err(unused("a recipient private key"));
                }
                let recipient = self
                    .recipient_public
                    .ok_or_else(|| missing("the recipient's public key"))?;
                Keys::Ephemeral {
                    recipient: EcPublicKey::from_pem_or_der(curve, &recipient)?,
                }
            }
            RawEcdhScheme::PublicKeyDiscovery => {
                if self.sender_private.is_some() {
                    return Err(unused("a sender private key"));
                }
                if self.recipient_public.is_some() {
                    return Err(unused(
                        "a recipient public key (it is derived from the private key)",
                    ));
                }
                let recipient = self
                    .recipient_private
                    .ok_or_else(|| missing("the recipient's private key"))?;
                Keys::Discovery {
                    recipient: EcPrivateKey::from_pem_or_der(curve, &recipient)?,
                }
            }
        };
        let (recipient, sender) = match &keys {
            Keys::Static { sender, recipient } => (
                recipient.compressed(),
                Some(sender.public_key().compressed()),
            ),
            Keys::Ephemeral { recipient } => (recipient.compressed(), None),
            Keys::Discovery { recipient } => (recipient.public_key().compressed(), None),
        };
        Ok(RawEcdhKeyring {
            label: format!("raw-ecdh {curve} {}", scheme.name()),
            curve,
            scheme,
            keys,
            recipient,
            sender,
        })
    }
}

impl RawEcdhKeyring {
    /// A builder for a keyring on `curve` with `scheme`; add the keys the scheme uses.
    pub fn builder(curve: EcdhCurve, scheme: RawEcdhScheme) -> RawEcdhKeyringBuilder {
        RawEcdhKeyringBuilder {
            curve,
            scheme,
            sender_private: None,
            recipient_public: None,
            recipient_private: None,
        }
    }

    /// The curve.
    pub fn curve(&self) -> EcdhCurve {
        self.curve
    }

    /// The key-agreement scheme.
    pub fn scheme(&self) -> RawEcdhScheme {
        self.scheme
    }

    /// Why this keyring cannot use `edk` (not an ECDH EDK, or not for its keys), or the shared
    /// secret and fixed info to unwrap it with.
    fn secret_for(
        &self,
        edk: &EncryptedDataKey,
        encryption_context: &EncryptionContext,
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), Skip> {
        if edk.provider_id != RAW_ECDH_PROVIDER_ID && edk.provider_id != KMS_ECDH_PROVIDER_ID {
            return Err(Skip::Provider {
                found: edk.provider_id.clone(),
                expected: RAW_ECDH_PROVIDER_ID.into(),
            });
        }
        let info = ProviderInfo::parse(self.curve, &edk.provider_info).map_err(Skip::Other)?;
        // Which of the EDK's points is the other party's, and which private key is ours.
        let (private, peer) = match &self.keys {
            Keys::Ephemeral { .. } => {
                return Err(Skip::Other(
                    "EphemeralPrivateKeyToStaticPublicKey cannot decrypt".into(),
                ))
            }
            Keys::Discovery { recipient } => {
                if info.recipient != self.recipient {
                    return Err(Skip::Other(
                        "the EDK's recipient public key is not this keyring's".into(),
                    ));
                }
                (recipient, &info.sender)
            }
            Keys::Static { sender, .. } => {
                let ours = self.sender.as_deref().unwrap_or_default();
                if info.sender == ours && info.recipient == self.recipient {
                    (sender, &info.recipient)
                } else if info.sender == self.recipient && info.recipient == ours {
                    (sender, &info.sender)
                } else {
                    return Err(Skip::Other(
                        "the EDK's sender and recipient public keys are not this keyring's".into(),
                    ));
                }
            }
        };
        // Both points must be on the curve (the specification checks both), not just the one
        // the agreement uses.
        let sender_point = EcPublicKey::from_sec1(self.curve, &info.sender)
            .map_err(|e| Skip::Other(format!("sender public key: {e}")))?;
        let recipient_point = EcPublicKey::from_sec1(self.curve, &info.recipient)
            .map_err(|e| Skip::Other(format!("recipient public key: {e}")))?;
        let peer = if *peer == info.sender {
            sender_point
        } else {
            recipient_point
        };
        let secret = private.agree(&peer).map_err(Skip::Other)?;
        let fixed = fixed_info(self.curve, &info, encryption_context)
            .map_err(|e| Skip::Other(e.to_string()))?;
        Ok((secret, fixed))
    }
}

#[async_trait]
impl Keyring for RawEcdhKeyring {
    async fn wrap_data_key(
        &self,
        _suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        let fail = |e: String| KeyringError::new(&self.label, e);
        let ephemeral;
        let (private, recipient) = match &self.keys {
            Keys::Static { sender, recipient } => (sender, recipient),
            Keys::Ephemeral { recipient } => {
                ephemeral = EcPrivateKey::generate(self.curve).map_err(|e| fail(e.to_string()))?;
                (&ephemeral, recipient)
            }
            Keys::Discovery { .. } => {
                return Err(fail("PublicKeyDiscovery cannot encrypt".into()));
            }
        };
        let info = ProviderInfo {
            sender: private.public_key().compressed(),
            recipient: self.recipient.clone(),
        };
        let secret = private.agree(recipient).map_err(fail)?;
        let fixed =
            fixed_info(self.curve, &info, encryption_context).map_err(|e| fail(e.to_string()))?;
        let ciphertext = wrap(&secret, &fixed, data_key).map_err(fail)?;
        Ok(vec![EncryptedDataKey {
            provider_id: RAW_ECDH_PROVIDER_ID.into(),
            provider_info: info.serialize(),
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
        if let Keys::Ephemeral { .. } = self.keys {
            errors.push(
                0,
                &self.label,
                "EphemeralPrivateKeyToStaticPublicKey cannot decrypt",
            );
            return Err(errors);
        }
        for (i, edk) in edks.iter().enumerate() {
            let (secret, fixed) = match self.secret_for(edk, encryption_context) {
                Ok(found) => found,
                Err(skip) => {
                    errors.push(i, &self.label, skip);
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
