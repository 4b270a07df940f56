//! ECDSA on P-256 and P-384 with aws-lc, over a digest computed as the message streams.

use std::sync::Arc;

use aws_lc_rs::digest::{self, Context};
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ParsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_ASN1_SIGNING,
};

use crate::suite::SignatureAlgorithm;

/// A running hash of the message.
#[derive(Clone)]
pub(crate) struct Hasher(Context);

impl Hasher {
    pub(crate) fn new(algorithm: SignatureAlgorithm) -> Self {
        Hasher(Context::new(match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => &digest::SHA256,
            SignatureAlgorithm::EcdsaP384Sha384 => &digest::SHA384,
        }))
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
}

/// The key pair lives in aws-lc's memory and is shared between clones (cached materials hand out
/// clones); aws-lc wipes it when the last clone drops.
#[derive(Clone)]
pub(crate) struct SigningKeyInner {
    algorithm: SignatureAlgorithm,
    key: Arc<EcdsaKeyPair>,
}

impl SigningKeyInner {
    pub(crate) fn generate(algorithm: SignatureAlgorithm) -> Self {
        let signing = match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
            SignatureAlgorithm::EcdsaP384Sha384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
        };
        // Key generation fails only if aws-lc cannot allocate or its RNG fails, both fatal.
        #[allow(clippy::expect_used)]
        let key = EcdsaKeyPair::generate(signing).expect("aws-lc ECDSA key generation");
        SigningKeyInner {
            algorithm,
            key: Arc::new(key),
        }
    }

    pub(crate) fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// The SEC1 compressed public point.
    pub(crate) fn public_key_compressed(&self) -> Vec<u8> {
        let point: Result<EcPublicKeyCompressedBin<'static>, _> =
            self.key.public_key().as_be_bytes();
        point.map(|p| p.as_ref().to_vec()).unwrap_or_default()
    }

    /// The DER signature of the hashed message; `None` if the hash does not match the key.
    pub(crate) fn sign_digest(&self, hasher: Hasher) -> Option<Vec<u8>> {
        let digest = hasher.0.finish();
        self.key
            .sign_digest(&digest)
            .ok()
            .map(|sig| sig.as_ref().to_vec())
    }
}

/// A parsed public key: the point is decompressed and checked once, not at every verification.
#[derive(Clone, Debug)]
pub(crate) struct VerifyingKeyInner {
    algorithm: SignatureAlgorithm,
    key: ParsedPublicKey,
}

impl VerifyingKeyInner {
    /// Parse a SEC1 point (compressed or not) on the algorithm's curve.
    pub(crate) fn from_sec1(algorithm: SignatureAlgorithm, bytes: &[u8]) -> Option<Self> {
        // aws-lc would also take a DER SubjectPublicKeyInfo; the context value is a SEC1 point.
        if !matches!(bytes.first(), Some(2..=4)) {
            return None;
        }
        let verification = match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => &ECDSA_P256_SHA256_ASN1,
            SignatureAlgorithm::EcdsaP384Sha384 => &ECDSA_P384_SHA384_ASN1,
        };
        let key = ParsedPublicKey::new(verification, bytes).ok()?;
        Some(VerifyingKeyInner { algorithm, key })
    }

    pub(crate) fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// Whether `der` (a DER signature) signs the hashed message.
    pub(crate) fn verify_digest(&self, hasher: Hasher, der: &[u8]) -> bool {
        let digest = hasher.0.finish();
        self.key.verify_digest_sig(&digest, der).is_ok()
    }
}
