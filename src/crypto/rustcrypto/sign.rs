//! ECDSA on P-256 and P-384 with the `p256` and `p384` crates.

use p256::ecdsa::signature::{DigestSigner, DigestVerifier};
use sha2::{Digest, Sha256, Sha384};

use crate::suite::SignatureAlgorithm;

/// A running hash of the message.
#[derive(Clone)]
pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
}

impl Hasher {
    pub(crate) fn new(algorithm: SignatureAlgorithm) -> Self {
        match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => Hasher::Sha256(Sha256::new()),
            SignatureAlgorithm::EcdsaP384Sha384 => Hasher::Sha384(Sha384::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
        }
    }
}

/// The private scalars zeroize on drop.
#[derive(Clone)]
pub(crate) enum SigningKeyInner {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl SigningKeyInner {
    pub(crate) fn generate(algorithm: SignatureAlgorithm) -> Self {
        let mut rng = rand::rngs::OsRng;
        match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                SigningKeyInner::P256(p256::ecdsa::SigningKey::random(&mut rng))
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                SigningKeyInner::P384(p384::ecdsa::SigningKey::random(&mut rng))
            }
        }
    }

    pub(crate) fn algorithm(&self) -> SignatureAlgorithm {
        match self {
            SigningKeyInner::P256(_) => SignatureAlgorithm::EcdsaP256Sha256,
            SigningKeyInner::P384(_) => SignatureAlgorithm::EcdsaP384Sha384,
        }
    }

    /// The SEC1 compressed public point.
    pub(crate) fn public_key_compressed(&self) -> Vec<u8> {
        match self {
            SigningKeyInner::P256(k) => {
                k.verifying_key().to_encoded_point(true).as_bytes().to_vec()
            }
            SigningKeyInner::P384(k) => {
                k.verifying_key().to_encoded_point(true).as_bytes().to_vec()
            }
        }
    }

    /// The DER signature of the hashed message; `None` if the hash does not match the key.
    pub(crate) fn sign_digest(&self, hasher: Hasher) -> Option<Vec<u8>> {
        Some(match (self, hasher) {
            (SigningKeyInner::P256(k), Hasher::Sha256(h)) => {
                let sig: p256::ecdsa::Signature = k.try_sign_digest(h).ok()?;
                sig.to_der().as_bytes().to_vec()
            }
            (SigningKeyInner::P384(k), Hasher::Sha384(h)) => {
                let sig: p384::ecdsa::Signature = k.try_sign_digest(h).ok()?;
                sig.to_der().as_bytes().to_vec()
            }
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) enum VerifyingKeyInner {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl VerifyingKeyInner {
    /// Parse a SEC1 point (compressed or not) on the algorithm's curve.
    pub(crate) fn from_sec1(algorithm: SignatureAlgorithm, bytes: &[u8]) -> Option<Self> {
        Some(match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                VerifyingKeyInner::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).ok()?)
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                VerifyingKeyInner::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(bytes).ok()?)
            }
        })
    }

    pub(crate) fn algorithm(&self) -> SignatureAlgorithm {
        match self {
            VerifyingKeyInner::P256(_) => SignatureAlgorithm::EcdsaP256Sha256,
            VerifyingKeyInner::P384(_) => SignatureAlgorithm::EcdsaP384Sha384,
        }
    }

    /// Whether `der` (a DER signature) signs the hashed message.
    pub(crate) fn verify_digest(&self, hasher: Hasher, der: &[u8]) -> bool {
        match (self, hasher) {
            (VerifyingKeyInner::P256(k), Hasher::Sha256(h)) => {
                p256::ecdsa::Signature::from_der(der)
                    .map(|s| k.verify_digest(h, &s).is_ok())
                    .unwrap_or(false)
            }
            (VerifyingKeyInner::P384(k), Hasher::Sha384(h)) => {
                p384::ecdsa::Signature::from_der(der)
                    .map(|s| k.verify_digest(h, &s).is_ok())
                    .unwrap_or(false)
            }
            _ => false,
        }
    }
}
