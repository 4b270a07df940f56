//! The AWS KMS RSA keyring: data keys wrapped locally with the public half of an asymmetric KMS
//! RSA key, unwrapped by KMS `Decrypt` (ESDK specification `aws-kms-rsa-keyring.md`, and the
//! Material Providers Library's `AwsKmsRsaKeyring`, which fixes the bytes).
//!
//! The RSA plaintext is `SHA-384(serialized encryption context) || data key`: RSA-OAEP does not
//! bind the context, so the keyring binds it itself, and KMS `Decrypt` is called without one.
//! Only unsigned algorithm suites are allowed (the specification says so): with a signing suite
//! the public key that verifies the message would be in the context, and a KMS RSA key is meant
//! for producers that hold no secret at all.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::EncryptionAlgorithmSpec;
use aws_sdk_kms::Client;
use zeroize::Zeroizing;

use super::{call_failed, grant_tokens, mrk_match, require_key_arn, KmsArn};
use crate::crypto::{
    ct_eq, public_key_from_pem, rsa_encrypt, rsa_modulus_bits, sha384, RsaPadding, RsaPublicKey,
};
use crate::error::{Error, KeyringError, UnwrapError};
use crate::format::{serialize_encryption_context, EncryptedDataKey, EncryptionContext};
use crate::keyring::{Keyring, Skip};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// The provider ID of encrypted data keys that [`KmsRsaKeyring`] wraps.
pub const RSA_PROVIDER_ID: &str = "aws-kms-rsa";

/// The smallest RSA modulus the keyring accepts, in bits: the 48-byte context digest and a 32-byte
/// data key do not fit under OAEP in a 1024-bit key, and KMS has no RSA key smaller than 2048.
const MIN_MODULUS_BITS: usize = 2048;

/// Length of the encryption context digest (SHA-384) in front of the data key.
const DIGEST_LEN: usize = 48;

/// The RSA encryption algorithms of AWS KMS that [`KmsRsaKeyring`] can use: the two OAEP
/// variants KMS defines (`RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KmsRsaAlgorithm {
    /// `RSAES_OAEP_SHA_1`: OAEP with SHA-1 and MGF1-SHA-1.
    OaepSha1,
    /// `RSAES_OAEP_SHA_256`: OAEP with SHA-256 and MGF1-SHA-256.
    OaepSha256,
}

impl KmsRsaAlgorithm {
    fn padding(self) -> RsaPadding {
        match self {
            KmsRsaAlgorithm::OaepSha1 => RsaPadding::OaepSha1,
            KmsRsaAlgorithm::OaepSha256 => RsaPadding::OaepSha256,
        }
    }

    fn kms(self) -> EncryptionAlgorithmSpec {
        match self {
            KmsRsaAlgorithm::OaepSha1 => EncryptionAlgorithmSpec::RsaesOaepSha1,
            KmsRsaAlgorithm::OaepSha256 => EncryptionAlgorithmSpec::RsaesOaepSha256,
        }
    }

    /// The KMS name of the algorithm, `RSAES_OAEP_SHA_1` or `RSAES_OAEP_SHA_256`.
    pub fn kms_name(self) -> &'static str {
        match self {
            KmsRsaAlgorithm::OaepSha1 => "RSAES_OAEP_SHA_1",
            KmsRsaAlgorithm::OaepSha256 => "RSAES_OAEP_SHA_256",
        }
    }
}

/// Wraps data keys with the public key of an asymmetric AWS KMS RSA key (`RSA_2048`, `RSA_3072`,
/// `RSA_4096`, key usage `ENCRYPT_DECRYPT`) and unwraps them with KMS `Decrypt`.
///
/// Encrypting needs only the public key ([`with_public_key_pem`](Self::with_public_key_pem)),
/// no AWS credentials and no KMS call: a producer can hold nothing secret. Decrypting needs a KMS
/// client ([`with_client`](Self::with_client)) allowed to call `kms:Decrypt` on the key. The
/// public key must be the KMS key's own (`GetPublicKey`); nothing checks that on encrypt, and a
/// wrong one makes messages that KMS cannot decrypt.
///
/// Only algorithm suites without a signature can be used (for example
/// [`AlgorithmSuite::Aes256GcmHkdfSha512Commit`]); encrypting or decrypting with a signing suite
/// fails with a message that says so.
///
/// ```no_run
/// # async fn f(public_key_pem: &str) -> Result<(), sealbox::Error> {
/// use sealbox::{AlgorithmSuite, Client, DefaultCmm, EncryptionContext, KmsRsaAlgorithm, KmsRsaKeyring};
///
/// let arn = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// // The producer: the public key only.
/// let producer = KmsRsaKeyring::new(arn, KmsRsaAlgorithm::OaepSha256)?
///     .with_public_key_pem(public_key_pem)?;
/// let client = Client::builder()
///     .algorithm_suite(AlgorithmSuite::Aes256GcmHkdfSha512Commit)
///     .build()?;
/// let message = client
///     .encrypt(&DefaultCmm::new(producer), b"secret", &EncryptionContext::new())
///     .await?;
/// // The consumer: KMS Decrypt.
/// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let consumer = KmsRsaKeyring::new(arn, KmsRsaAlgorithm::OaepSha256)?
///     .with_client(aws_sdk_kms::Client::new(&config));
/// let decrypted = client.decrypt(&DefaultCmm::new(consumer), &message).await?;
/// # Ok(()) }
/// ```
pub struct KmsRsaKeyring {
    key_arn: String,
    parsed: KmsArn,
    algorithm: KmsRsaAlgorithm,
    public: Option<RsaPublicKey>,
    client: Option<Client>,
    grant_tokens: Vec<String>,
    label: String,
}

impl std::fmt::Debug for KmsRsaKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Grant tokens are bearer credentials: count them, do not print them.
        f.debug_struct("KmsRsaKeyring")
            .field("key_arn", &self.key_arn)
            .field("algorithm", &self.algorithm)
            .field("can_encrypt", &self.public.is_some())
            .field("can_decrypt", &self.client.is_some())
            .field("grant_tokens", &self.grant_tokens.len())
            .finish()
    }
}

impl KmsRsaKeyring {
    /// A keyring for the KMS RSA key `key_arn` with `algorithm`; add the public key to encrypt and
    /// a client to decrypt.
    ///
    /// `key_arn` must be a key ARN: a key ID, an alias or an alias ARN is rejected with
    /// [`Error::Config`] (the ARN goes into each encrypted data key, and decrypting matches on it).
    pub fn new(key_arn: &str, algorithm: KmsRsaAlgorithm) -> Result<Self, Error> {
        let parsed = require_key_arn(RSA_PROVIDER_ID, key_arn)?;
        Ok(KmsRsaKeyring {
            key_arn: key_arn.to_owned(),
            parsed,
            algorithm,
            public: None,
            client: None,
            grant_tokens: Vec::new(),
            label: format!("{RSA_PROVIDER_ID} {key_arn}"),
        })
    }

    /// Add the KMS key's public key (PEM, SubjectPublicKeyInfo as KMS `GetPublicKey` returns it in
    /// DER, or PKCS#1), needed to encrypt. The modulus must have at least 2048 bits.
    pub fn with_public_key_pem(mut self, pem: &str) -> Result<Self, Error> {
        let key = public_key_from_pem(pem)?;
        let bits = rsa_modulus_bits(&key);
        if bits < MIN_MODULUS_BITS {
            return Err(Error::invalid(
                "RSA public key",
                format!(
                    "the key has a {bits}-bit modulus; the AWS KMS RSA keyring needs at least \
                     {MIN_MODULUS_BITS} bits"
                ),
            ));
        }
        self.public = Some(key);
        Ok(self)
    }

    /// Add the KMS client, needed to decrypt.
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Send these grant tokens with every KMS call.
    pub fn with_grant_tokens<I, S>(mut self, tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.grant_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// The configured key ARN.
    pub fn key_arn(&self) -> &str {
        &self.key_arn
    }

    fn signing_suite(&self, suite: AlgorithmSuite) -> Option<String> {
        suite.signature().map(|_| {
            format!(
                "the AWS KMS RSA keyring cannot be used with suite {suite}, which signs; choose \
                 an algorithm suite without a signature (such as 0x0478)"
            )
        })
    }

    fn matches(&self, edk: &EncryptedDataKey) -> Result<(), Skip> {
        if edk.provider_id != RSA_PROVIDER_ID {
            return Err(Skip::Provider {
                found: edk.provider_id.clone(),
                expected: RSA_PROVIDER_ID.to_owned(),
            });
        }
        let s = std::str::from_utf8(&edk.provider_info)
            .map_err(|_| Skip::Other("KMS RSA provider info is not UTF-8".into()))?;
        let arn = KmsArn::parse_key(s).map_err(Skip::Other)?;
        if mrk_match(&arn, &self.parsed) {
            Ok(())
        } else {
            Err(Skip::KeyName {
                found: s.to_owned(),
                expected: self.key_arn.clone(),
            })
        }
    }

    async fn unwrap_one(
        &self,
        client: &Client,
        suite: AlgorithmSuite,
        digest: &[u8; DIGEST_LEN],
        edk: &EncryptedDataKey,
    ) -> Result<DataKey, KeyringError> {
        let bad = |why: String| KeyringError::new(&self.label, why);
        let out = client
            .decrypt()
            .key_id(&self.key_arn)
            .ciphertext_blob(Blob::new(edk.ciphertext.clone()))
            .encryption_algorithm(self.algorithm.kms())
            .set_grant_tokens(grant_tokens(&self.grant_tokens))
            .send()
            .await
            .map_err(|e| call_failed(&self.label, "Decrypt", &self.key_arn, e))?;
        if out.key_id.as_deref() != Some(self.key_arn.as_str()) {
            return Err(bad(format!(
                "KMS Decrypt answered for key {:?}, not {}",
                out.key_id, self.key_arn
            )));
        }
        // The SDK hands the plaintext over in a plain Vec; move it into a zeroizing buffer at once.
        let plaintext = Zeroizing::new(
            out.plaintext
                .ok_or_else(|| bad("KMS Decrypt response has no Plaintext".into()))?
                .into_inner(),
        );
        if plaintext.len() != DIGEST_LEN + suite.data_key_len() {
            return Err(bad(format!(
                "KMS Decrypt returned {} bytes; the context digest and a data key of suite \
                 {suite} are {}",
                plaintext.len(),
                DIGEST_LEN + suite.data_key_len()
            )));
        }
        let (found, key) = plaintext.split_at(DIGEST_LEN);
        if !ct_eq(found, digest) {
            return Err(bad(
                "the encryption context does not match the one the data key was wrapped with"
                    .into(),
            ));
        }
        Ok(DataKey::new(Zeroizing::new(key.to_vec())))
    }
}

/// SHA-384 of the serialized encryption context: what the keyring binds the data key to.
fn context_digest(ec: &EncryptionContext) -> Result<[u8; DIGEST_LEN], Error> {
    Ok(sha384(&[&serialize_encryption_context(ec)?]))
}

#[async_trait]
impl Keyring for KmsRsaKeyring {
    /// RSA-OAEP with the public key, locally: no KMS call.
    async fn wrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        if let Some(why) = self.signing_suite(suite) {
            return Err(KeyringError::new(&self.label, why));
        }
        let public = self.public.as_ref().ok_or_else(|| {
            KeyringError::new(
                &self.label,
                "no public key to encrypt with (add it with with_public_key_pem)",
            )
        })?;
        let digest = context_digest(encryption_context)
            .map_err(|e| KeyringError::new(&self.label, e.to_string()))?;
        let mut plaintext = Zeroizing::new(Vec::with_capacity(DIGEST_LEN + data_key.len()));
        plaintext.extend_from_slice(&digest);
        plaintext.extend_from_slice(data_key.as_bytes());
        let ciphertext = rsa_encrypt(public, self.algorithm.padding(), &plaintext)
            .map_err(|e| KeyringError::new(&self.label, e))?;
        Ok(vec![EncryptedDataKey {
            provider_id: RSA_PROVIDER_ID.to_owned(),
            provider_info: self.key_arn.as_bytes().to_vec(),
            ciphertext,
        }])
    }

    /// One KMS `Decrypt` call (with the configured algorithm) per matching EDK until one yields a
    /// data key bound to this encryption context.
    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        let mut errors = UnwrapError::default();
        let refusal = if let Some(why) = self.signing_suite(suite) {
            Some(why)
        } else if self.client.is_none() {
            Some("no KMS client to decrypt with (add it with with_client)".to_owned())
        } else {
            None
        };
        let digest = match context_digest(encryption_context) {
            Ok(d) => d,
            Err(e) => {
                for i in 0..edks.len() {
                    errors.push(i, &self.label, e.to_string());
                }
                return Err(errors);
            }
        };
        for (i, edk) in edks.iter().enumerate() {
            if let Err(skip) = self.matches(edk) {
                errors.push(i, &self.label, skip);
                continue;
            }
            let client = match (&refusal, &self.client) {
                (None, Some(client)) => client,
                (Some(why), _) => {
                    errors.push(i, &self.label, why.clone());
                    continue;
                }
                (None, None) => unreachable!("a missing client is a refusal"),
            };
            match self.unwrap_one(client, suite, &digest, edk).await {
                Ok(key) => return Ok(key),
                Err(e) => errors.push(i, &self.label, e),
            }
        }
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn configuration_is_checked() {
        assert!(KmsRsaKeyring::new("alias/x", KmsRsaAlgorithm::OaepSha256).is_err());
        let k = KmsRsaKeyring::new(ARN, KmsRsaAlgorithm::OaepSha1).unwrap();
        assert!(k
            .with_public_key_pem(include_str!("../../../tests/data/rsa-2048-private.pem"))
            .is_err());
        let k = KmsRsaKeyring::new(ARN, KmsRsaAlgorithm::OaepSha1)
            .unwrap()
            .with_public_key_pem(include_str!("../../../tests/data/rsa-2048-public.pem"))
            .unwrap();
        assert!(format!("{k:?}").contains("can_encrypt: true"));
    }

    #[tokio::test]
    async fn signing_suites_and_missing_keys_fail_with_clear_errors() {
        let k = KmsRsaKeyring::new(ARN, KmsRsaAlgorithm::OaepSha256)
            .unwrap()
            .with_public_key_pem(include_str!("../../../tests/data/rsa-2048-public.pem"))
            .unwrap();
        let ec = EncryptionContext::new();
        let err = k
            .generate_data_key(AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384, &ec)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("which signs"), "{err}");
        let (_, edks) = k
            .generate_data_key(AlgorithmSuite::Aes256GcmHkdfSha512Commit, &ec)
            .await
            .unwrap();
        assert_eq!(edks[0].provider_id, RSA_PROVIDER_ID);
        assert_eq!(edks[0].provider_info, ARN.as_bytes());
        assert_eq!(edks[0].ciphertext.len(), 256);
        // No client: the EDK is recognized, and the reason is recorded.
        let err = k
            .unwrap_data_key(AlgorithmSuite::Aes256GcmHkdfSha512Commit, &ec, &edks)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no KMS client"), "{err}");
        let no_public = KmsRsaKeyring::new(ARN, KmsRsaAlgorithm::OaepSha256).unwrap();
        let err = no_public
            .generate_data_key(AlgorithmSuite::Aes256GcmHkdfSha512Commit, &ec)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no public key"), "{err}");
    }
}
