//! ECDSA message signatures (P-256/SHA-256 and P-384/SHA-384) over header and body.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::backend::sign::{Hasher, SigningKeyInner, VerifyingKeyInner};
use crate::error::{ConfigError, ContextError, Error};
use crate::suite::SignatureAlgorithm;

/// A message signing key. The private scalar is wiped when the key is dropped; `Debug` prints no
/// secret. Cloning is cheap (the aws-lc backend shares the key).
#[derive(Clone)]
pub struct SigningKey(SigningKeyInner);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// A fresh random key for `algorithm`.
    pub fn generate(algorithm: SignatureAlgorithm) -> Self {
        SigningKey(SigningKeyInner::generate(algorithm))
    }

    /// The signature algorithm of this key.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }

    /// The public key as the `aws-crypto-public-key` context value: base64 of the compressed point.
    pub fn public_key_base64(&self) -> String {
        B64.encode(self.0.public_key_compressed())
    }
}

/// A message verification key, read from the `aws-crypto-public-key` context entry.
#[derive(Clone, Debug)]
pub struct VerifyingKey(VerifyingKeyInner);

impl VerifyingKey {
    /// Parse the base64 compressed point of the context entry.
    pub fn from_base64(algorithm: SignatureAlgorithm, value: &str) -> Result<Self, Error> {
        let bad = || Error::EncryptionContext(ContextError::InvalidPublicKey);
        let bytes = B64.decode(value).map_err(|_| bad())?;
        VerifyingKeyInner::from_sec1(algorithm, &bytes)
            .map(VerifyingKey)
            .ok_or_else(bad)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }
}

/// Signs a message as it is written: the header and body are hashed as they pass, so that the
/// whole message is never needed at once.
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
        self.key
            .0
            .sign_digest(self.hasher)
            .ok_or_else(|| Error::Config(ConfigError::Internal("ECDSA signing failed")))
    }
}

/// Verifies a message's signature as it is read.
pub(crate) struct Verifier {
    key: VerifyingKey,
    hasher: Hasher,
}

impl Verifier {
    pub(crate) fn new(key: VerifyingKey) -> Self {
        let hasher = Hasher::new(key.algorithm());
        Verifier { key, hasher }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// Check the DER signature against everything hashed so far.
    pub(crate) fn verify(self, der: &[u8]) -> Result<(), Error> {
        if self.key.0.verify_digest(self.hasher, der) {
            Ok(())
        } else {
            Err(Error::SignatureInvalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_reject_tampering() {
        for alg in [
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureAlgorithm::EcdsaP384Sha384,
        ] {
            let key = SigningKey::generate(alg);
            let b64 = key.public_key_base64();
            // A compressed point: 1 + 32 or 1 + 48 bytes.
            let len = B64.decode(&b64).unwrap().len();
            assert_eq!(
                len,
                if alg == SignatureAlgorithm::EcdsaP256Sha256 {
                    33
                } else {
                    49
                }
            );
            let mut s = Signer::new(key.clone());
            s.update(b"header");
            s.update(b"body");
            let sig = s.finish().unwrap();
            let vk = VerifyingKey::from_base64(alg, &b64).unwrap();
            let mut v = Verifier::new(vk.clone());
            v.update(b"headerbody");
            v.verify(&sig).unwrap();
            let mut v = Verifier::new(vk);
            v.update(b"headerbodY");
            assert!(v.verify(&sig).is_err());
        }
        let p256 = SigningKey::generate(SignatureAlgorithm::EcdsaP256Sha256).public_key_base64();
        assert!(VerifyingKey::from_base64(SignatureAlgorithm::EcdsaP384Sha384, &p256).is_err());
        assert!(VerifyingKey::from_base64(SignatureAlgorithm::EcdsaP256Sha256, "AAAA").is_err());
    }
}
