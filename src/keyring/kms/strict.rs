//! The strict KMS keyrings: one named key, for encrypt and decrypt.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;

use super::{
    call_failed, check_response, edk_arn, grant_tokens, kms_context, mrk_match, require_key_arn,
    KmsArn, PROVIDER_ID,
};
use crate::error::{Error, KeyringError, UnwrapError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::keyring::{Keyring, Skip};
use crate::materials::DataKey;
use crate::suite::AlgorithmSuite;

/// What the two strict keyrings share; they differ only in how an EDK's ARN must match.
struct Strict {
    client: Client,
    key_arn: String,
    parsed: KmsArn,
    grant_tokens: Vec<String>,
    label: String,
    mrk_aware: bool,
}

impl std::fmt::Debug for Strict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Grant tokens are bearer credentials: count them, do not print them.
        let name = if self.mrk_aware {
            "KmsMrkKeyring"
        } else {
            "KmsKeyring"
        };
        f.debug_struct(name)
            .field("key_arn", &self.key_arn)
            .field("mrk_aware", &self.mrk_aware)
            .field("grant_tokens", &self.grant_tokens.len())
            .finish_non_exhaustive()
    }
}

impl Strict {
    fn new(client: Client, key_arn: &str, mrk_aware: bool) -> Result<Self, Error> {
        let kind = if mrk_aware { "aws-kms-mrk" } else { "aws-kms" };
        let parsed = require_key_arn(kind, key_arn)?;
        Ok(Strict {
            client,
            key_arn: key_arn.to_owned(),
            parsed,
            grant_tokens: Vec::new(),
            label: format!("{kind} {key_arn}"),
            mrk_aware,
        })
    }

    fn matches(&self, edk: &EncryptedDataKey) -> Result<(), Skip> {
        let (s, arn) = edk_arn(edk)?;
        let ok = if self.mrk_aware {
            mrk_match(&arn, &self.parsed)
        } else {
            s == self.key_arn
        };
        if ok {
            Ok(())
        } else {
            Err(Skip::KeyName {
                found: s.to_owned(),
                expected: self.key_arn.clone(),
            })
        }
    }

    fn edk(&self, key_id: String, ciphertext: Option<Blob>) -> Result<EncryptedDataKey, String> {
        let ciphertext = ciphertext
            .ok_or("KMS response has no CiphertextBlob")?
            .into_inner();
        Ok(EncryptedDataKey {
            provider_id: PROVIDER_ID.to_owned(),
            provider_info: key_id.into_bytes(),
            ciphertext,
        })
    }

    async fn generate(
        &self,
        suite: AlgorithmSuite,
        ec: &EncryptionContext,
    ) -> Result<(DataKey, Vec<EncryptedDataKey>), KeyringError> {
        let bytes = i32::try_from(suite.data_key_len()).expect("data keys are at most 32 bytes");
        let mut out = self
            .client
            .generate_data_key()
            .key_id(&self.key_arn)
            .number_of_bytes(bytes)
            .set_encryption_context(kms_context(ec))
            .set_grant_tokens(grant_tokens(&self.grant_tokens))
            .send()
            .await
            .map_err(|e| call_failed(&self.label, "GenerateDataKey", &self.key_arn, e))?;
        let bad = |why: String| KeyringError::new(&self.label, why);
        let (key_id, key) =
            check_response(suite, out.key_id.as_deref(), out.plaintext.take()).map_err(bad)?;
        let key = key.ok_or_else(|| bad("KMS GenerateDataKey response has no Plaintext".into()))?;
        let edk = self.edk(key_id, out.ciphertext_blob.take()).map_err(bad)?;
        Ok((key, vec![edk]))
    }

    async fn wrap(
        &self,
        suite: AlgorithmSuite,
        ec: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        // The SDK takes the plaintext as a plain Vec, which is not zeroized when the request is
        // dropped; its API offers nothing better.
        let mut out = self
            .client
            .encrypt()
            .key_id(&self.key_arn)
            .plaintext(Blob::new(data_key.as_bytes().to_vec()))
            .set_encryption_context(kms_context(ec))
            .set_grant_tokens(grant_tokens(&self.grant_tokens))
            .send()
            .await
            .map_err(|e| call_failed(&self.label, "Encrypt", &self.key_arn, e))?;
        let bad = |why: String| KeyringError::new(&self.label, why);
        let (key_id, _) = check_response(suite, out.key_id.as_deref(), None).map_err(bad)?;
        Ok(vec![self
            .edk(key_id, out.ciphertext_blob.take())
            .map_err(bad)?])
    }

    async fn unwrap(
        &self,
        suite: AlgorithmSuite,
        ec: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        let mut errors = UnwrapError::default();
        for (i, edk) in edks.iter().enumerate() {
            if let Err(skip) = self.matches(edk) {
                errors.push(i, &self.label, skip);
                continue;
            }
            // Always the configured ARN, never the EDK's: for an MRK that is the local replica,
            // and KMS then also refuses a ciphertext made under any other key.
            let result = self
                .client
                .decrypt()
                .key_id(&self.key_arn)
                .ciphertext_blob(Blob::new(edk.ciphertext.clone()))
                .set_encryption_context(kms_context(ec))
                .set_grant_tokens(grant_tokens(&self.grant_tokens))
                .send()
                .await;
            let mut out = match result {
                Ok(out) => out,
                Err(e) => {
                    errors.push(
                        i,
                        &self.label,
                        call_failed(&self.label, "Decrypt", &self.key_arn, e),
                    );
                    continue;
                }
            };
            match check_response(suite, out.key_id.as_deref(), out.plaintext.take()) {
                Ok((key_id, _)) if key_id != self.key_arn => errors.push(
                    i,
                    &self.label,
                    format!(
                        "KMS Decrypt answered for key {key_id}, not {}",
                        self.key_arn
                    ),
                ),
                Ok((_, Some(key))) => return Ok(key),
                Ok((_, None)) => {
                    errors.push(i, &self.label, "KMS Decrypt response has no Plaintext")
                }
                Err(why) => errors.push(i, &self.label, why),
            }
        }
        Err(errors)
    }
}

macro_rules! strict_keyring {
    ($name:ident, $mrk:literal, $doc:literal) => {
        #[doc = $doc]
        pub struct $name(Strict);

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl $name {
            /// A keyring for the KMS key `key_arn`, called through `client`.
            ///
            /// `key_arn` must be a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`): a key ID, an
            /// alias or an alias ARN is rejected with [`Error::Config`], because the keyring
            /// recognizes its encrypted data keys on decrypt by the key ARN stored in them.
            pub fn new(client: Client, key_arn: &str) -> Result<Self, Error> {
                Strict::new(client, key_arn, $mrk).map($name)
            }

            /// Send these grant tokens with every KMS call.
            pub fn with_grant_tokens<I, S>(mut self, tokens: I) -> Self
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                self.0.grant_tokens = tokens.into_iter().map(Into::into).collect();
                self
            }

            /// The configured key ARN.
            pub fn key_arn(&self) -> &str {
                &self.0.key_arn
            }
        }

        #[async_trait]
        impl Keyring for $name {
            /// One `GenerateDataKey` call: KMS makes the data key.
            async fn generate_data_key(
                &self,
                suite: AlgorithmSuite,
                encryption_context: &EncryptionContext,
            ) -> Result<(DataKey, Vec<EncryptedDataKey>), KeyringError> {
                self.0.generate(suite, encryption_context).await
            }

            /// One `Encrypt` call (the keyring is a child of a multi-keyring).
            async fn wrap_data_key(
                &self,
                suite: AlgorithmSuite,
                encryption_context: &EncryptionContext,
                data_key: &DataKey,
            ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
                self.0.wrap(suite, encryption_context, data_key).await
            }

            /// One `Decrypt` call per matching EDK until one succeeds.
            async fn unwrap_data_key(
                &self,
                suite: AlgorithmSuite,
                encryption_context: &EncryptionContext,
                edks: &[EncryptedDataKey],
            ) -> Result<DataKey, UnwrapError> {
                self.0.unwrap(suite, encryption_context, edks).await
            }
        }
    };
}

strict_keyring!(
    KmsKeyring,
    false,
    "The strict AWS KMS keyring: encrypts under one KMS key and decrypts only the encrypted data \
keys of exactly that key ARN.

Encrypt calls `GenerateDataKey` (as a multi-keyring's generator) or `Encrypt` (as a child);
decrypt calls `Decrypt` with the configured key ARN and checks that KMS answered for that key.

```no_run
# async fn f() -> Result<(), sealbox::Error> {
use sealbox::KmsKeyring;
use sealbox::{Client, DefaultCmm, EncryptionContext};

let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
let keyring = KmsKeyring::new(
    aws_sdk_kms::Client::new(&config),
    \"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\",
)?;
let cmm = DefaultCmm::new(keyring);
let message = Client::new().encrypt(&cmm, b\"secret\", &EncryptionContext::new()).await?;
# Ok(()) }
```"
);

strict_keyring!(
    KmsMrkKeyring,
    true,
    "The multi-Region-key-aware strict KMS keyring: like [`KmsKeyring`], but on decrypt it also \
accepts encrypted data keys made under any replica of its multi-Region key (`mrk-…`) in another \
region, and decrypts them with its own (local) replica.

For a single-Region key it behaves exactly like [`KmsKeyring`]. Give it the ARN of the replica in
the client's region:

```no_run
# async fn f() -> Result<(), sealbox::Error> {
use sealbox::KmsMrkKeyring;

let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
    .region(\"eu-west-1\")
    .load()
    .await;
let keyring = KmsMrkKeyring::new(
    aws_sdk_kms::Client::new(&config),
    \"arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab\",
)?;
# Ok(()) }
```"
);
