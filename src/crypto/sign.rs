//! ECDSA message signatures (P-256/SHA-256 and P-384/SHA-384) over header and body.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::{DigestSigner, DigestVerifier};
use sha2::{Digest, Sha256, Sha384};

use crate::error::Error;
use crate::suite::SignatureAlgorithm;

/// A message signing key. The private scalar zeroizes on drop; `Debug` prints no secret.
#[derive(Clone)]
pub struct SigningKey(SigningInner);

#[derive(Clone)]
enum SigningInner {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// A fresh random key for `algorithm`.
    pub fn generate(algorithm: SignatureAlgorithm) -> Self {
        let mut rng = rand::rngs::OsRng;
        SigningKey(match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                SigningInner::P256(p256::ecdsa::SigningKey::random(&mut rng))
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                SigningInner::P384(p384::ecdsa::SigningKey::random(&mut rng))
            }
        })
    }

    /// The signature algorithm of this key.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self.0 {
            SigningInner::P256(_) => SignatureAlgorithm::EcdsaP256Sha256,
            SigningInner::P384(_) => SignatureAlgorithm::EcdsaP384Sha384,
        }
    }

    /// The public key as the `aws-crypto-public-key` context value: base64 of the compressed point.
    pub fn public_key_base64(&self) -> String {
        let point = match &self.0 {
            SigningInner::P256(k) => k.verifying_key().to_encoded_point(true).as_bytes().to_vec(),
            SigningInner::P384(k) => k.verifying_key().to_encoded_point(true).as_bytes().to_vec(),
        };
        B64.encode(point)
    }
}

/// A message verification key, read from the `aws-crypto-public-key` context entry.
#[derive(Clone, Debug)]
pub struct VerifyingKey(VerifyingInner);

#[derive(Clone, Debug)]
enum VerifyingInner {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl VerifyingKey {
    /// Parse the base64 compressed point of the context entry.
    pub fn from_base64(algorithm: SignatureAlgorithm, value: &str) -> Result<Self, Error> {
        let bad =
            || Error::EncryptionContext("aws-crypto-public-key is not a valid public key".into());
        let bytes = B64.decode(value).map_err(|_| bad())?;
        Ok(VerifyingKey(match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => VerifyingInner::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes).map_err(|_| bad())?,
            ),
            SignatureAlgorithm::EcdsaP384Sha384 => VerifyingInner::P384(
                p384::ecdsa::VerifyingKey::from_sec1_bytes(&bytes).map_err(|_| bad())?,
            ),
        }))
    }
}

/// A running hash of the message. Signing and verification both hash the header and body as they
/// pass, so that neither needs the whole message at once.
#[derive(Clone)]
enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
}

impl Hasher {
    fn new(algorithm: SignatureAlgorithm) -> Self {
        match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => Hasher::Sha256(Sha256::new()),
            SignatureAlgorithm::EcdsaP384Sha384 => Hasher::Sha384(Sha384::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
        }
    }
}

/// Signs a message as it is written.
pub(crate) struct Signer {
    key: SigningKey,
    hasher: Hasher,
}

impl Signer {
    pub(crate) fn new(key: SigningKey) -> Self {
        let hasher = Hasher::new(key.algorithm());
        Signer { key, hasher }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// The DER signature of everything hashed so far.
    pub(crate) fn finish(self) -> Result<Vec<u8>, Error> {
        let fail = |_| Error::Config("ECDSA signing failed".into());
        Ok(match (&self.key.0, self.hasher) {
            (SigningInner::P256(k), Hasher::Sha256(h)) => {
                let sig: p256::ecdsa::Signature = k.try_sign_digest(h).map_err(fail)?;
                sig.to_der().as_bytes().to_vec()
            }
            (SigningInner::P384(k), Hasher::Sha384(h)) => {
                let sig: p384::ecdsa::Signature = k.try_sign_digest(h).map_err(fail)?;
                sig.to_der().as_bytes().to_vec()
            }
            _ => return Err(Error::Config("signing key does not match its hash".into())),
        })
    }
}

/// Verifies a message's signature as it is read.
pub(crate) struct Verifier {
    key: VerifyingKey,
    hasher: Hasher,
}

impl Verifier {
    pub(crate) fn new(key: VerifyingKey) -> Self {
        let hasher = match key.0 {
            VerifyingInner::P256(_) => Hasher::new(SignatureAlgorithm::EcdsaP256Sha256),
            VerifyingInner::P384(_) => Hasher::new(SignatureAlgorithm::EcdsaP384Sha384),
        };
        Verifier { key, hasher }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// Check the DER signature (any DER length is accepted) against everything hashed so far.
    pub(crate) fn verify(self, der: &[u8]) -> Result<(), Error> {
        let ok = match (&self.key.0, self.hasher) {
            (VerifyingInner::P256(k), Hasher::Sha256(h)) => p256::ecdsa::Signature::from_der(der)
                .map(|s| k.verify_digest(h, &s).is_ok())
                .unwrap_or(false),
            (VerifyingInner::P384(k), Hasher::Sha384(h)) => p384::ecdsa::Signature::from_der(der)
                .map(|s| k.verify_digest(h, &s).is_ok())
                .unwrap_or(false),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::SignatureInvalid)
        }
    }
}
