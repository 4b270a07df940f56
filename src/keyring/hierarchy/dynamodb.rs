//! The branch key store on DynamoDB (cargo feature `hierarchy`): the AWS Encryption SDKs' key
//! store, item for item.
//!
//! # The contract
//!
//! * **The same table as the other SDKs.** Items, attributes and KMS encryption contexts are the
//!   specification's (`framework/branch-key-store.md`), so a branch key created by the Python,
//!   Java or .NET Material Providers Library is read here, and one created here is read there.
//!   Three items per branch key at creation (`branch:version:<v>`, `branch:ACTIVE`,
//!   `beacon:ACTIVE`), one more per rotation; nothing is ever deleted.
//! * **Every attribute is authenticated.** Reading an item rebuilds its KMS encryption context
//!   from every attribute but `enc` (plus `tablename`, the logical key store name, which the item
//!   does not store), and KMS `Decrypt` checks it: an item with any attribute changed, read
//!   through the wrong logical name, or wrapped under another KMS key, is refused with
//!   [`KeyStoreError::Invalid`] naming the branch key and what failed.
//! * **Reads are consistent.** Every `GetItem` is a strongly consistent read, so encrypting
//!   right after a create or a rotation sees the new version.
//! * **Rotation is optimistic.** `version_key` replaces the active item only if its `enc` is
//!   still the one it read: of two concurrent rotations exactly one wins, the other gets
//!   [`KeyStoreError::Conflict`] and writes nothing.
//! * **Errors keep their cause.** A failed DynamoDB or KMS call is a
//!   [`KeyStoreError::Service`] whose source is the SDK's `SdkError` (throttling, access denied,
//!   ...); the SDK's own retry configuration applies to every call (the default retries
//!   throttling).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TableDescription, TransactWriteItem,
};
use aws_sdk_kms::primitives::Blob;
use zeroize::Zeroizing;

use super::store::{BranchKeyMaterials, BranchKeyStore, KeyStoreError};
use crate::error::BoxError;
use crate::keyring::kms::{mrk_match, KmsArn};

// Attribute names and values of the items [BKS Record Format; MPL Structure.dfy].
const BRANCH_KEY_ID: &str = "branch-key-id";
const TYPE: &str = "type";
const CREATE_TIME: &str = "create-time";
const HIERARCHY_VERSION: &str = "hierarchy-version";
const TABLE_NAME: &str = "tablename";
const KMS_ARN: &str = "kms-arn";
const ENC: &str = "enc";
const VERSION: &str = "version";
const CUSTOM_PREFIX: &str = "aws-crypto-ec:";
const VERSION_PREFIX: &str = "branch:version:";
const ACTIVE_TYPE: &str = "branch:ACTIVE";
const BEACON_TYPE: &str = "beacon:ACTIVE";
/// The only hierarchy version sealbox reads and writes (version 2 wraps keys differently).
const HIERARCHY_V1: &str = "1";

// Condition expressions of the writes, with the attribute names aliased (they contain `-`).
const ID_ALIAS: &str = "#BranchKeyIdentifierField";
const ENC_ALIAS: &str = "#Enc";
const NOT_EXISTS: &str = "attribute_not_exists(#BranchKeyIdentifierField)";
const EXISTS_AND_UNCHANGED: &str = "attribute_exists(#BranchKeyIdentifierField) AND #Enc = :encOld";

/// How long `create_key_store` waits for a table it created to become active.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// Which KMS key(s) a [`DynamoDbKeyStore`] uses to wrap and unwrap branch keys.
///
/// Only the two ARN configurations can create and rotate branch keys; the discovery ones only
/// read, with the key named in each item.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KmsConfiguration {
    /// Exactly this key (a key ARN, not an alias): an item must name it, character for character.
    KeyArn(String),
    /// This key or any replica of it: an item naming a multi-Region key that differs only in
    /// region is read with the configured ARN (single-Region keys must match exactly).
    MrkKeyArn(String),
    /// Whatever key each item names (read only).
    Discovery,
    /// Whatever key each item names, a multi-Region key taken in this region (read only).
    MrDiscovery {
        /// The region in which multi-Region keys are used.
        region: String,
    },
}

/// The configuration, checked once: the ARN parsed where there is one.
#[derive(Clone, Debug)]
enum Kms {
    KeyArn(String),
    MrkKeyArn(String, KmsArn),
    Discovery,
    MrDiscovery(String),
}

impl Kms {
    fn from_configuration(config: &KmsConfiguration) -> Result<Kms, KeyStoreError> {
        let arn = |s: &str| {
            KmsArn::parse_key(s).map_err(|why| {
                KeyStoreError::Config(format!(
                    "the key store's KMS key must be a key ARN \
                     (arn:PARTITION:kms:REGION:ACCOUNT:key/ID): {why}"
                ))
            })
        };
        Ok(match config {
            KmsConfiguration::KeyArn(s) => {
                arn(s)?;
                Kms::KeyArn(s.clone())
            }
            KmsConfiguration::MrkKeyArn(s) => Kms::MrkKeyArn(s.clone(), arn(s)?),
            KmsConfiguration::Discovery => Kms::Discovery,
            KmsConfiguration::MrDiscovery { region } => {
                if region.is_empty() {
                    return Err(KeyStoreError::Config(
                        "the multi-Region discovery configuration needs a region".into(),
                    ));
                }
                Kms::MrDiscovery(region.clone())
            }
        })
    }

    /// The configured ARN: what creating and rotating use. Discovery stores cannot write.
    fn write_arn(&self, operation: &str) -> Result<&str, KeyStoreError> {
        match self {
            Kms::KeyArn(arn) | Kms::MrkKeyArn(arn, _) => Ok(arn),
            Kms::Discovery | Kms::MrDiscovery(_) => Err(KeyStoreError::Config(format!(
                "{operation} needs a key store configured with a KMS key ARN; \
                 a discovery key store only reads"
            ))),
        }
    }

    /// The key ID for KMS calls on an item whose `kms-arn` is `item_arn`, or why the item's key
    /// is not this store's [BKS "AWS Key ARN Compatibility", "AWS KMS Branch Key Decryption"].
    fn key_for_item(&self, item_arn: &str) -> Result<String, String> {
        match self {
            Kms::KeyArn(arn) => {
                if item_arn == arn {
                    Ok(arn.clone())
                } else {
                    Err(format!(
                        "its kms-arn {item_arn:?} is not the key store's KMS key {arn:?}"
                    ))
                }
            }
            Kms::MrkKeyArn(arn, parsed) => {
                let theirs = KmsArn::parse_key(item_arn)
                    .map_err(|why| format!("its kms-arn is not a KMS key ARN: {why}"))?;
                if mrk_match(parsed, &theirs) {
                    Ok(arn.clone())
                } else {
                    Err(format!(
                        "its kms-arn {item_arn:?} is neither the key store's KMS key {arn:?} \
                         nor a replica of it"
                    ))
                }
            }
            Kms::Discovery => {
                KmsArn::parse_key(item_arn)
                    .map_err(|why| format!("its kms-arn is not a KMS key ARN: {why}"))?;
                Ok(item_arn.to_owned())
            }
            Kms::MrDiscovery(region) => {
                let theirs = KmsArn::parse_key(item_arn)
                    .map_err(|why| format!("its kms-arn is not a KMS key ARN: {why}"))?;
                Ok(if theirs.is_mrk() {
                    theirs.in_region(region).to_string()
                } else {
                    item_arn.to_owned()
                })
            }
        }
    }
}

/// The AWS Encryption SDKs' branch key store on a DynamoDB table (cargo feature `hierarchy`).
///
/// Built from clients you configure the usual way (`aws_config::load_defaults`), so the SDK's
/// credentials, region, endpoint (`AWS_ENDPOINT_URL`), retry and timeout settings apply:
///
/// ```no_run
/// # async fn f() -> Result<(), sealbox::KeyStoreError> {
/// use std::collections::BTreeMap;
/// use sealbox::{BranchKeyStore, DynamoDbKeyStore, KmsConfiguration};
///
/// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let store = DynamoDbKeyStore::new(
///     aws_sdk_dynamodb::Client::new(&config),
///     aws_sdk_kms::Client::new(&config),
///     "KeyStoreTable",
///     KmsConfiguration::KeyArn("arn:aws:kms:us-east-1:111122223333:key/...".into()),
/// )?;
/// store.create_key_store().await?; // once: creates the table, or checks an existing one
/// let context = BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]);
/// let id = store.create_key(Some("acme"), &context).await?;
/// let active = store.get_active_branch_key(&id).await?;
/// let new_version = store.version_key(&id).await?; // rotate
/// # let _ = (active, new_version);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DynamoDbKeyStore {
    ddb: aws_sdk_dynamodb::Client,
    kms_client: aws_sdk_kms::Client,
    table_name: String,
    logical_name: String,
    configuration: KmsConfiguration,
    kms: Kms,
    grant_tokens: Vec<String>,
}

impl fmt::Debug for DynamoDbKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoDbKeyStore")
            .field("table_name", &self.table_name)
            .field("logical_key_store_name", &self.logical_name)
            .field("kms_configuration", &self.configuration)
            .field("grant_tokens", &self.grant_tokens.len())
            .finish_non_exhaustive()
    }
}

impl DynamoDbKeyStore {
    /// A key store on the table `table_name` (its physical name), with branch keys wrapped as
    /// `kms` says. The logical key store name defaults to the table name.
    ///
    /// Fails on a table name DynamoDB would refuse (3 to 255 of `A-Z a-z 0-9 _ - .`) and on a
    /// KMS configuration that is not a key ARN (aliases included).
    pub fn new(
        ddb: aws_sdk_dynamodb::Client,
        kms_client: aws_sdk_kms::Client,
        table_name: impl Into<String>,
        kms: KmsConfiguration,
    ) -> Result<Self, KeyStoreError> {
        let table_name = table_name.into();
        let valid_name = (3..=255).contains(&table_name.len())
            && table_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid_name {
            return Err(KeyStoreError::Config(format!(
                "{table_name:?} is not a DynamoDB table name (3 to 255 characters of \
                 A-Z a-z 0-9 _ - .)"
            )));
        }
        Ok(DynamoDbKeyStore {
            ddb,
            kms_client,
            logical_name: table_name.clone(),
            table_name,
            kms: Kms::from_configuration(&kms)?,
            configuration: kms,
            grant_tokens: Vec::new(),
        })
    }

    /// The logical key store name, bound into every item's KMS encryption context (as
    /// `tablename`). Keep it when a table is restored under another physical name; every SDK
    /// reading the table must use the same one.
    pub fn with_logical_key_store_name(
        mut self,
        name: impl Into<String>,
    ) -> Result<Self, KeyStoreError> {
        let name = name.into();
        if name.is_empty() {
            return Err(KeyStoreError::Config(
                "the logical key store name must not be empty".into(),
            ));
        }
        self.logical_name = name;
        Ok(self)
    }

    /// Grant tokens for every KMS call.
    pub fn with_grant_tokens<I, S>(mut self, tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.grant_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// The physical table name.
    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// The KMS configuration.
    pub fn kms_configuration(&self) -> &KmsConfiguration {
        &self.configuration
    }

    /// Create the key store's table (`branch-key-id` partition key and `type` sort key, both
    /// strings, on-demand billing) and wait until it is active; or, if the table exists, check
    /// that its key schema is a key store's. Returns the table's ARN.
    pub async fn create_key_store(&self) -> Result<String, KeyStoreError> {
        let described = self
            .ddb
            .describe_table()
            .table_name(&self.table_name)
            .send()
            .await;
        match described {
            Ok(out) => {
                let table = out
                    .table()
                    .ok_or_else(|| self.table_error("DescribeTable returned no table", None))?;
                self.check_schema(table)?;
                self.table_arn(table)
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                self.create_table().await
            }
            Err(err) => Err(self.table_error("DynamoDB DescribeTable failed", Some(err.into()))),
        }
    }

    async fn create_table(&self) -> Result<String, KeyStoreError> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| {
            self.table_error("cannot build the CreateTable request", Some(e.into()))
        };
        let created = self
            .ddb
            .create_table()
            .table_name(&self.table_name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(BRANCH_KEY_ID)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(TYPE)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(BRANCH_KEY_ID)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(TYPE)
                    .key_type(KeyType::Range)
                    .build()
                    .map_err(build)?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| self.table_error("DynamoDB CreateTable failed", Some(e.into())))?;
        let table = created
            .table_description()
            .ok_or_else(|| self.table_error("CreateTable returned no table description", None))?;
        self.check_schema(table)?;
        let arn = self.table_arn(table)?;
        // A new table takes a while to become writable in AWS (at once in local servers): wait,
        // so that creating a branch key right after works.
        self.ddb
            .wait_until_table_exists()
            .table_name(&self.table_name)
            .wait(TABLE_ACTIVE_TIMEOUT)
            .await
            .map_err(|e| self.table_error("the new table did not become active", Some(e.into())))?;
        Ok(arn)
    }

    /// The key schema must include the key store's [BKS KeySchema; MPL CreateKeyStoreTable.dfy:
    /// attribute definitions and key schema are supersets of the expected ones].
    fn check_schema(&self, table: &TableDescription) -> Result<(), KeyStoreError> {
        let has_key = |name: &str, kind: KeyType| {
            table
                .key_schema()
                .iter()
                .any(|k| k.attribute_name() == name && *k.key_type() == kind)
        };
        let has_string = |name: &str| {
            table.attribute_definitions().iter().any(|a| {
                a.attribute_name() == name && *a.attribute_type() == ScalarAttributeType::S
            })
        };
        if has_key(BRANCH_KEY_ID, KeyType::Hash)
            && has_key(TYPE, KeyType::Range)
            && has_string(BRANCH_KEY_ID)
            && has_string(TYPE)
        {
            return Ok(());
        }
        let found: Vec<String> = table
            .key_schema()
            .iter()
            .map(|k| format!("{} {}", k.attribute_name(), k.key_type().as_str()))
            .collect();
        Err(self.table_error(
            &format!(
                "not a key store table: its key schema is [{}], a key store needs \
                 branch-key-id (string) as the partition (HASH) key and type (string) as the \
                 sort (RANGE) key",
                found.join(", ")
            ),
            None,
        ))
    }

    fn table_arn(&self, table: &TableDescription) -> Result<String, KeyStoreError> {
        table
            .table_arn()
            .map(str::to_owned)
            .ok_or_else(|| self.table_error("DynamoDB returned no table ARN", None))
    }

    fn table_error(&self, reason: &str, source: Option<BoxError>) -> KeyStoreError {
        KeyStoreError::Table {
            table: self.table_name.clone(),
            reason: reason.to_owned(),
            source,
        }
    }

    /// Create a branch key: its first version (active) and its beacon key, written in one
    /// transaction that fails if the ID is taken. Returns the branch key ID.
    ///
    /// `branch_key_id` defaults to a fresh version 4 UUID; an explicit ID needs a non-empty
    /// `encryption_context` (as in every SDK), which is bound into all the branch key's items
    /// (as `aws-crypto-ec:` attributes) and returned with its materials. Needs a store configured
    /// with a KMS key ARN.
    pub async fn create_key(
        &self,
        branch_key_id: Option<&str>,
        encryption_context: &BTreeMap<String, String>,
    ) -> Result<String, KeyStoreError> {
        let arn = self.kms.write_arn("creating a branch key")?.to_owned();
        let id = match branch_key_id {
            Some("") => {
                return Err(KeyStoreError::Config(
                    "the branch key ID must not be empty".into(),
                ))
            }
            Some(_) if encryption_context.is_empty() => {
                return Err(KeyStoreError::Config(
                    "a branch key with a chosen ID needs a custom encryption context \
                     (as in every AWS Encryption SDK)"
                        .into(),
                ))
            }
            Some(id) => id.to_owned(),
            None => new_uuid(),
        };
        let version = new_uuid();
        let decrypt_only = decrypt_only_context(
            &id,
            &version,
            &timestamp_now(),
            &self.logical_name,
            &arn,
            encryption_context,
        );
        let active = active_context(&decrypt_only);
        let beacon = beacon_context(&decrypt_only);

        let version_enc = self.generate(&id, &arn, &decrypt_only).await?;
        let active_enc = self
            .re_encrypt(&id, &arn, version_enc.clone(), &decrypt_only, &active)
            .await?;
        let beacon_enc = self.generate(&id, &arn, &beacon).await?;

        let puts = [
            self.put(&decrypt_only, version_enc, NOT_EXISTS, None),
            self.put(&active, active_enc, NOT_EXISTS, None),
            self.put(&beacon, beacon_enc, NOT_EXISTS, None),
        ];
        self.transact(&id, puts, "a branch key with this ID already exists")
            .await?;
        Ok(id)
    }

    /// Rotate a branch key: a new version becomes active; the old ones stay, for decrypting
    /// what they wrapped. Returns the new version (a UUID).
    ///
    /// The active item is read (consistently), authenticated by KMS (`ReEncrypt` to itself) and
    /// replaced only if it is still the one read: of concurrent rotations one wins and the
    /// others fail with [`KeyStoreError::Conflict`]. The item's `kms-arn` is kept as it is.
    /// Needs a store configured with a KMS key ARN.
    pub async fn version_key(&self, branch_key_id: &str) -> Result<String, KeyStoreError> {
        let arn = self.kms.write_arn("rotating a branch key")?.to_owned();
        let item = self.read(branch_key_id, ItemKind::Active).await?;
        self.kms_key_for(&item)?;
        // Authenticate the item without learning the key: ReEncrypt under the same context.
        self.re_encrypt(
            branch_key_id,
            &arn,
            item.enc.clone(),
            &item.context,
            &item.context,
        )
        .await?;

        let version = new_uuid();
        let decrypt_only = next_version_context(&item.context, &version, &timestamp_now());
        let active = active_context(&decrypt_only);
        let version_enc = self.generate(branch_key_id, &arn, &decrypt_only).await?;
        let active_enc = self
            .re_encrypt(
                branch_key_id,
                &arn,
                version_enc.clone(),
                &decrypt_only,
                &active,
            )
            .await?;
        let puts = [
            self.put(&decrypt_only, version_enc, NOT_EXISTS, None),
            self.put(&active, active_enc, EXISTS_AND_UNCHANGED, Some(item.enc)),
        ];
        self.transact(
            branch_key_id,
            puts,
            "its active version changed while it was being rotated (a concurrent rotation \
             won); nothing was written",
        )
        .await?;
        Ok(version)
    }

    /// The key ID for KMS calls on `item`, or why its key is not this store's.
    fn kms_key_for(&self, item: &Item) -> Result<String, KeyStoreError> {
        self.kms
            .key_for_item(&item.kms_arn)
            .map_err(|why| KeyStoreError::Invalid {
                branch_key_id: item.branch_key_id.clone(),
                reason: format!("item {:?}: {why}", item.sort_key),
                source: None,
            })
    }

    /// Read one item, consistently, and check that it is a well-formed key store item of the
    /// kind asked for.
    async fn read(&self, branch_key_id: &str, kind: ItemKind<'_>) -> Result<Item, KeyStoreError> {
        if branch_key_id.is_empty() {
            return Err(KeyStoreError::Config(
                "the branch key ID must not be empty".into(),
            ));
        }
        let sort_key = kind.sort_key();
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table_name)
            .key(BRANCH_KEY_ID, AttributeValue::S(branch_key_id.to_owned()))
            .key(TYPE, AttributeValue::S(sort_key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| service(branch_key_id, "DynamoDB GetItem", e))?;
        let Some(attributes) = out.item.filter(|i| !i.is_empty()) else {
            return Err(KeyStoreError::NotFound {
                branch_key_id: branch_key_id.to_owned(),
                version: match kind {
                    ItemKind::Version(v) => Some(v.to_owned()),
                    ItemKind::Active | ItemKind::Beacon => None,
                },
            });
        };
        Item::parse(&attributes, &self.logical_name, branch_key_id, &sort_key).map_err(|why| {
            KeyStoreError::Invalid {
                branch_key_id: branch_key_id.to_owned(),
                reason: format!("item {sort_key:?} is not a valid key store item: {why}"),
                source: None,
            }
        })
    }

    /// Read an item and have KMS decrypt (and so authenticate) it.
    async fn read_and_decrypt(
        &self,
        branch_key_id: &str,
        kind: ItemKind<'_>,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        let item = self.read(branch_key_id, kind).await?;
        let key_id = self.kms_key_for(&item)?;
        let out = self
            .kms_client
            .decrypt()
            .key_id(&key_id)
            .ciphertext_blob(Blob::new(item.enc.clone()))
            .set_encryption_context(Some(item.context.clone()))
            .set_grant_tokens(self.tokens())
            .send()
            .await
            .map_err(|err| {
                let refused = err.as_service_error().is_some_and(|e| {
                    e.is_invalid_ciphertext_exception() || e.is_incorrect_key_exception()
                });
                if refused {
                    not_authentic(&item, err.into())
                } else {
                    service(branch_key_id, "KMS Decrypt", err)
                }
            })?;
        // Out of the SDK's Vec into zeroizing memory at once.
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        let key: [u8; 32] =
            plaintext
                .as_slice()
                .try_into()
                .map_err(|_| KeyStoreError::Invalid {
                    branch_key_id: branch_key_id.to_owned(),
                    reason: format!(
                        "item {:?}: KMS Decrypt returned {} bytes, a branch key has 32",
                        item.sort_key,
                        plaintext.len()
                    ),
                    source: None,
                })?;
        Ok(BranchKeyMaterials::new(
            item.branch_key_id,
            item.version.unwrap_or_default(),
            item.custom,
            Zeroizing::new(key),
        ))
    }

    fn tokens(&self) -> Option<Vec<String>> {
        (!self.grant_tokens.is_empty()).then(|| self.grant_tokens.clone())
    }

    /// KMS `GenerateDataKeyWithoutPlaintext`: 32 bytes under `arn`, bound to `context`.
    async fn generate(
        &self,
        branch_key_id: &str,
        arn: &str,
        context: &HashMap<String, String>,
    ) -> Result<Vec<u8>, KeyStoreError> {
        let out = self
            .kms_client
            .generate_data_key_without_plaintext()
            .key_id(arn)
            .number_of_bytes(32)
            .set_encryption_context(Some(context.clone()))
            .set_grant_tokens(self.tokens())
            .send()
            .await
            .map_err(|e| service(branch_key_id, "KMS GenerateDataKeyWithoutPlaintext", e))?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| KeyStoreError::Invalid {
                branch_key_id: branch_key_id.to_owned(),
                reason: "KMS GenerateDataKeyWithoutPlaintext returned no ciphertext".into(),
                source: None,
            })
    }

    /// KMS `ReEncrypt` from `from` to `to`, both under `arn`: KMS checks the source context
    /// (authenticating an item) without the key leaving KMS.
    async fn re_encrypt(
        &self,
        branch_key_id: &str,
        arn: &str,
        ciphertext: Vec<u8>,
        from: &HashMap<String, String>,
        to: &HashMap<String, String>,
    ) -> Result<Vec<u8>, KeyStoreError> {
        let out = self
            .kms_client
            .re_encrypt()
            .ciphertext_blob(Blob::new(ciphertext))
            .source_key_id(arn)
            .set_source_encryption_context(Some(from.clone()))
            .destination_key_id(arn)
            .set_destination_encryption_context(Some(to.clone()))
            .set_grant_tokens(self.tokens())
            .send()
            .await
            .map_err(|err| {
                let refused = err.as_service_error().is_some_and(|e| {
                    e.is_invalid_ciphertext_exception() || e.is_incorrect_key_exception()
                });
                if refused {
                    KeyStoreError::Invalid {
                        branch_key_id: branch_key_id.to_owned(),
                        reason: format!(
                            "item {:?} did not authenticate: KMS ReEncrypt refused its \
                             encryption context (an attribute was changed, or the wrong KMS \
                             key or logical key store name)",
                            from.get(TYPE).map_or("", String::as_str)
                        ),
                        source: Some(err.into()),
                    }
                } else {
                    service(branch_key_id, "KMS ReEncrypt", err)
                }
            })?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| KeyStoreError::Invalid {
                branch_key_id: branch_key_id.to_owned(),
                reason: "KMS ReEncrypt returned no ciphertext".into(),
                source: None,
            })
    }

    /// A conditional PUT of the item for `context` with `enc`.
    fn put(
        &self,
        context: &HashMap<String, String>,
        enc: Vec<u8>,
        condition: &str,
        old_enc: Option<Vec<u8>>,
    ) -> Result<TransactWriteItem, aws_sdk_dynamodb::error::BuildError> {
        let mut put = Put::builder()
            .table_name(&self.table_name)
            .set_item(Some(item_attributes(context, enc)))
            .condition_expression(condition)
            .expression_attribute_names(ID_ALIAS, BRANCH_KEY_ID);
        if let Some(old) = old_enc {
            put = put
                .expression_attribute_names(ENC_ALIAS, ENC)
                .expression_attribute_values(":encOld", AttributeValue::B(Blob::new(old)));
        }
        Ok(TransactWriteItem::builder().put(put.build()?).build())
    }

    /// One `TransactWriteItems` with these PUTs; a failed condition is a conflict.
    async fn transact<const N: usize>(
        &self,
        branch_key_id: &str,
        puts: [Result<TransactWriteItem, aws_sdk_dynamodb::error::BuildError>; N],
        conflict: &str,
    ) -> Result<(), KeyStoreError> {
        let items = puts
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KeyStoreError::Service {
                branch_key_id: branch_key_id.to_owned(),
                operation: "DynamoDB TransactWriteItems",
                source: e.into(),
            })?;
        let result = self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                let condition_failed = match err.as_service_error() {
                    Some(
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                            e,
                        ),
                    ) => e
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")),
                    _ => false,
                };
                if condition_failed {
                    Err(KeyStoreError::Conflict {
                        branch_key_id: branch_key_id.to_owned(),
                        reason: conflict.to_owned(),
                    })
                } else {
                    Err(service(branch_key_id, "DynamoDB TransactWriteItems", err))
                }
            }
        }
    }
}

#[async_trait]
impl BranchKeyStore for DynamoDbKeyStore {
    fn logical_key_store_name(&self) -> &str {
        &self.logical_name
    }

    async fn get_active_branch_key(
        &self,
        branch_key_id: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        self.read_and_decrypt(branch_key_id, ItemKind::Active).await
    }

    async fn get_branch_key_version(
        &self,
        branch_key_id: &str,
        version: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        if version.is_empty() {
            return Err(KeyStoreError::Config(
                "the branch key version must not be empty".into(),
            ));
        }
        self.read_and_decrypt(branch_key_id, ItemKind::Version(version))
            .await
    }

    async fn get_beacon_key(
        &self,
        branch_key_id: &str,
    ) -> Result<BranchKeyMaterials, KeyStoreError> {
        self.read_and_decrypt(branch_key_id, ItemKind::Beacon).await
    }
}

fn service<E>(branch_key_id: &str, operation: &'static str, err: SdkError<E>) -> KeyStoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    KeyStoreError::Service {
        branch_key_id: branch_key_id.to_owned(),
        operation,
        source: err.into(),
    }
}

fn not_authentic(item: &Item, source: BoxError) -> KeyStoreError {
    KeyStoreError::Invalid {
        branch_key_id: item.branch_key_id.clone(),
        reason: format!(
            "item {:?} did not authenticate: KMS Decrypt refused its encryption context (an \
             attribute was changed, or the wrong KMS key or logical key store name)",
            item.sort_key
        ),
        source: Some(source),
    }
}

/// Which item of a branch key.
#[derive(Clone, Copy, Debug)]
enum ItemKind<'a> {
    Active,
    Version(&'a str),
    Beacon,
}

impl ItemKind<'_> {
    fn sort_key(&self) -> String {
        match self {
            ItemKind::Active => ACTIVE_TYPE.to_owned(),
            ItemKind::Version(v) => format!("{VERSION_PREFIX}{v}"),
            ItemKind::Beacon => BEACON_TYPE.to_owned(),
        }
    }
}

/// A key store item, checked for form (not yet authenticated).
#[derive(Debug, PartialEq, Eq)]
struct Item {
    branch_key_id: String,
    sort_key: String,
    kms_arn: String,
    enc: Vec<u8>,
    /// The KMS encryption context: every attribute but `enc`, as strings, and `tablename`.
    context: HashMap<String, String>,
    /// The version UUID of a branch key item (from `type`, or `version` for the active item);
    /// `None` for the beacon key.
    version: Option<String>,
    /// The custom encryption context, without its `aws-crypto-ec:` prefix.
    custom: BTreeMap<String, String>,
}

impl Item {
    /// Check an item read for (`branch_key_id`, `sort_key`) the way the MPL does
    /// (`BranchKeyItem?` in its Structure.dfy), and build its KMS encryption context.
    fn parse(
        attributes: &HashMap<String, AttributeValue>,
        logical_name: &str,
        branch_key_id: &str,
        sort_key: &str,
    ) -> Result<Item, String> {
        let mut context = HashMap::with_capacity(attributes.len() + 1);
        let mut enc = None;
        for (name, value) in attributes {
            match (name.as_str(), value) {
                (ENC, AttributeValue::B(b)) => enc = Some(b.as_ref().to_vec()),
                (ENC, _) => return Err("enc is not a binary attribute".into()),
                (HIERARCHY_VERSION, AttributeValue::N(n)) => {
                    if n != HIERARCHY_V1 {
                        return Err(format!(
                            "hierarchy-version {n} is not supported (sealbox reads version 1)"
                        ));
                    }
                    context.insert(name.clone(), n.clone());
                }
                (HIERARCHY_VERSION, _) => {
                    return Err("hierarchy-version is not a number attribute".into())
                }
                (TABLE_NAME, _) => {
                    return Err("it has a tablename attribute, which is reserved".into())
                }
                (_, AttributeValue::S(s)) => {
                    context.insert(name.clone(), s.clone());
                }
                (_, _) => return Err(format!("attribute {name:?} is not a string")),
            }
        }
        let enc = enc.ok_or("it has no enc attribute")?;
        let get = |name: &str| {
            context
                .get(name)
                .cloned()
                .ok_or_else(|| format!("it has no {name} attribute"))
        };
        get(HIERARCHY_VERSION)?;
        get(CREATE_TIME)?;
        let kms_arn = get(KMS_ARN)?;
        let id = get(BRANCH_KEY_ID)?;
        let kind = get(TYPE)?;
        if id != branch_key_id || kind != sort_key {
            return Err(format!(
                "asked for ({branch_key_id:?}, {sort_key:?}), DynamoDB returned ({id:?}, {kind:?})"
            ));
        }
        let version_attr = context.get(VERSION);
        let version = match (kind.as_str(), version_attr) {
            (ACTIVE_TYPE, Some(v)) => Some(
                v.strip_prefix(VERSION_PREFIX)
                    .filter(|rest| !rest.is_empty())
                    .ok_or_else(|| {
                        format!("its version {v:?} does not start with {VERSION_PREFIX:?}")
                    })?
                    .to_owned(),
            ),
            (ACTIVE_TYPE, None) => return Err("the active item has no version attribute".into()),
            (_, Some(_)) => return Err("only the active item has a version attribute".into()),
            (BEACON_TYPE, None) => None,
            (other, None) => match other.strip_prefix(VERSION_PREFIX) {
                Some(rest) if !rest.is_empty() => Some(rest.to_owned()),
                _ => return Err(format!("its type {other:?} is not a key store item type")),
            },
        };
        let custom = context
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(CUSTOM_PREFIX)
                    .map(|k| (k.to_owned(), v.clone()))
            })
            .collect();
        context.insert(TABLE_NAME.to_owned(), logical_name.to_owned());
        Ok(Item {
            branch_key_id: id,
            sort_key: kind,
            kms_arn,
            enc,
            context,
            version,
            custom,
        })
    }
}

/// The KMS encryption context of a new version's DECRYPT_ONLY item [BKS "DECRYPT_ONLY Encryption
/// Context"; MPL `DecryptOnlyBranchKeyEncryptionContext`].
fn decrypt_only_context(
    branch_key_id: &str,
    version: &str,
    timestamp: &str,
    logical_name: &str,
    kms_arn: &str,
    custom: &BTreeMap<String, String>,
) -> HashMap<String, String> {
    let mut context: HashMap<String, String> = custom
        .iter()
        .map(|(k, v)| (format!("{CUSTOM_PREFIX}{k}"), v.clone()))
        .collect();
    context.insert(BRANCH_KEY_ID.into(), branch_key_id.into());
    context.insert(TYPE.into(), format!("{VERSION_PREFIX}{version}"));
    context.insert(CREATE_TIME.into(), timestamp.into());
    context.insert(TABLE_NAME.into(), logical_name.into());
    context.insert(KMS_ARN.into(), kms_arn.into());
    context.insert(HIERARCHY_VERSION.into(), HIERARCHY_V1.into());
    context
}

/// The ACTIVE item's context: the DECRYPT_ONLY one with `type` moved to `version`.
fn active_context(decrypt_only: &HashMap<String, String>) -> HashMap<String, String> {
    let mut context = decrypt_only.clone();
    let version = context.insert(TYPE.into(), ACTIVE_TYPE.into());
    context.insert(VERSION.into(), version.unwrap_or_default());
    context
}

/// The beacon key's context: the DECRYPT_ONLY one with `type` = `beacon:ACTIVE`.
fn beacon_context(decrypt_only: &HashMap<String, String>) -> HashMap<String, String> {
    let mut context = decrypt_only.clone();
    context.insert(TYPE.into(), BEACON_TYPE.into());
    context
}

/// A rotation's new DECRYPT_ONLY context: the active item's, every other attribute kept
/// [MPL `NewVersionFromActiveBranchKeyEncryptionContext`].
fn next_version_context(
    active: &HashMap<String, String>,
    version: &str,
    timestamp: &str,
) -> HashMap<String, String> {
    let mut context = active.clone();
    context.remove(VERSION);
    context.insert(TYPE.into(), format!("{VERSION_PREFIX}{version}"));
    context.insert(CREATE_TIME.into(), timestamp.into());
    context
}

/// The DynamoDB item for a KMS encryption context: every entry but `tablename` as a string,
/// `hierarchy-version` as a number, and `enc`.
fn item_attributes(
    context: &HashMap<String, String>,
    enc: Vec<u8>,
) -> HashMap<String, AttributeValue> {
    let mut item: HashMap<String, AttributeValue> = context
        .iter()
        .filter(|(k, _)| k.as_str() != TABLE_NAME)
        .map(|(k, v)| {
            let value = if k == HIERARCHY_VERSION {
                AttributeValue::N(v.clone())
            } else {
                AttributeValue::S(v.clone())
            };
            (k.clone(), value)
        })
        .collect();
    item.insert(ENC.into(), AttributeValue::B(Blob::new(enc)));
    item
}

/// A random (version 4) UUID in its 36-character form.
fn new_uuid() -> String {
    let mut b = [0u8; 16];
    crate::crypto::random_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    format_uuid(&b)
}

fn format_uuid(b: &[u8; 16]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Now, as the key store writes `create-time`: ISO 8601 in UTC to the microsecond.
fn timestamp_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_timestamp(since.as_secs(), since.subsec_micros())
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for `secs` seconds and `micros` microseconds after the epoch.
fn format_timestamp(secs: u64, micros: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), for years >= 1970.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-west-2:658956600833:key/b3537ef1-d8dc-4780-9f5a-55776cbb2f7f";
    const MRK_W2: &str =
        "arn:aws:kms:us-west-2:658956600833:key/mrk-80bd8ecdcd4342aebd84b7dc9da498a7";
    const MRK_E1: &str =
        "arn:aws:kms:us-east-1:658956600833:key/mrk-80bd8ecdcd4342aebd84b7dc9da498a7";

    fn kms(config: KmsConfiguration) -> Kms {
        Kms::from_configuration(&config).expect("valid configuration")
    }

    // moto cannot create or use branch keys under multi-Region keys (its ciphertext keeps 36
    // bytes of key ID, an mrk- ID has 40), so the multi-Region rules are tested here, on the
    // function that picks the KMS key for an item.

    #[test]
    fn key_arn_configuration_needs_the_exact_arn() {
        let k = kms(KmsConfiguration::KeyArn(KEY.into()));
        assert_eq!(k.key_for_item(KEY).as_deref(), Ok(KEY));
        let other_region = KEY.replace("us-west-2", "us-east-1");
        assert!(k.key_for_item(&other_region).is_err());
        // Even a replica of a configured multi-Region key is another key here.
        let k = kms(KmsConfiguration::KeyArn(MRK_W2.into()));
        assert_eq!(k.key_for_item(MRK_W2).as_deref(), Ok(MRK_W2));
        let err = k.key_for_item(MRK_E1).unwrap_err();
        assert!(err.contains("is not the key store's KMS key"), "{err}");
    }

    #[test]
    fn mrk_configuration_accepts_replicas_and_calls_kms_with_the_configured_arn() {
        let k = kms(KmsConfiguration::MrkKeyArn(MRK_W2.into()));
        assert_eq!(k.key_for_item(MRK_E1).as_deref(), Ok(MRK_W2));
        assert_eq!(k.key_for_item(MRK_W2).as_deref(), Ok(MRK_W2));
        // Another account, another ID, or a single-Region key in another region: refused.
        for other in [
            MRK_E1.replace("658956600833", "111122223333"),
            MRK_E1.replace("mrk-80", "mrk-81"),
            KEY.to_owned(),
            "not an arn".to_owned(),
        ] {
            assert!(k.key_for_item(&other).is_err(), "{other} accepted");
        }
        // A single-Region key in an MRK configuration: only itself.
        let k = kms(KmsConfiguration::MrkKeyArn(KEY.into()));
        assert_eq!(k.key_for_item(KEY).as_deref(), Ok(KEY));
        assert!(k
            .key_for_item(&KEY.replace("us-west-2", "us-east-1"))
            .is_err());
    }

    #[test]
    fn discovery_uses_the_items_key_and_mr_discovery_moves_mrks_to_its_region() {
        let k = kms(KmsConfiguration::Discovery);
        assert_eq!(k.key_for_item(MRK_W2).as_deref(), Ok(MRK_W2));
        assert_eq!(k.key_for_item(KEY).as_deref(), Ok(KEY));
        assert!(k
            .key_for_item("arn:aws:kms:us-west-2:658956600833:alias/x")
            .is_err());
        let k = kms(KmsConfiguration::MrDiscovery {
            region: "us-east-1".into(),
        });
        assert_eq!(k.key_for_item(MRK_W2).as_deref(), Ok(MRK_E1));
        // Single-Region keys keep their region.
        assert_eq!(k.key_for_item(KEY).as_deref(), Ok(KEY));
        assert!(k.key_for_item("alias/x").is_err());
    }

    #[test]
    fn configurations_are_checked_and_only_arn_stores_write() {
        for bad in [
            KmsConfiguration::KeyArn("alias/x".into()),
            KmsConfiguration::KeyArn("arn:aws:kms:us-west-2:658956600833:alias/x".into()),
            KmsConfiguration::MrkKeyArn("mrk-80bd8ecdcd4342aebd84b7dc9da498a7".into()),
            KmsConfiguration::MrDiscovery { region: "".into() },
        ] {
            assert!(
                matches!(Kms::from_configuration(&bad), Err(KeyStoreError::Config(_))),
                "{bad:?} accepted"
            );
        }
        assert!(kms(KmsConfiguration::KeyArn(KEY.into()))
            .write_arn("x")
            .is_ok());
        assert!(kms(KmsConfiguration::MrkKeyArn(MRK_W2.into()))
            .write_arn("x")
            .is_ok());
        assert!(kms(KmsConfiguration::Discovery).write_arn("x").is_err());
        assert!(kms(KmsConfiguration::MrDiscovery {
            region: "us-east-1".into()
        })
        .write_arn("x")
        .is_err());
    }

    fn custom() -> BTreeMap<String, String> {
        BTreeMap::from([("department".to_owned(), "admin".to_owned())])
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    #[test]
    fn contexts_are_the_specifications() {
        let v = "83eec007-5659-4554-bf11-699b90f41ac6";
        let ts = "2023-06-03T19:03:29.358000Z";
        let decrypt_only = decrypt_only_context("bk", v, ts, "logical", KEY, &custom());
        let expected: HashMap<String, String> = [
            ("branch-key-id", "bk"),
            (
                "type",
                "branch:version:83eec007-5659-4554-bf11-699b90f41ac6",
            ),
            ("create-time", ts),
            ("tablename", "logical"),
            ("kms-arn", KEY),
            ("hierarchy-version", "1"),
            ("aws-crypto-ec:department", "admin"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(decrypt_only, expected);

        let active = active_context(&decrypt_only);
        assert_eq!(active["type"], "branch:ACTIVE");
        assert_eq!(active["version"], format!("branch:version:{v}"));
        assert_eq!(active.len(), decrypt_only.len() + 1);

        let beacon = beacon_context(&decrypt_only);
        assert_eq!(beacon["type"], "beacon:ACTIVE");
        assert!(!beacon.contains_key("version"));

        let next = next_version_context(&active, "new", "later");
        assert_eq!(next["type"], "branch:version:new");
        assert_eq!(next["create-time"], "later");
        assert!(!next.contains_key("version"));
        assert_eq!(next["aws-crypto-ec:department"], "admin");
        assert_eq!(next["kms-arn"], KEY);
    }

    #[test]
    fn items_round_trip_through_their_context() {
        let decrypt_only = decrypt_only_context("bk", "v1", "t", "logical", KEY, &custom());
        let active = active_context(&decrypt_only);
        let attributes = item_attributes(&active, vec![1, 2, 3]);
        assert!(!attributes.contains_key("tablename"));
        assert_eq!(
            attributes["hierarchy-version"],
            AttributeValue::N("1".into())
        );
        assert_eq!(
            attributes["enc"],
            AttributeValue::B(Blob::new(vec![1, 2, 3]))
        );
        let item = Item::parse(&attributes, "logical", "bk", "branch:ACTIVE").expect("valid");
        assert_eq!(item.context, active);
        assert_eq!(item.version.as_deref(), Some("v1"));
        assert_eq!(item.custom, custom());
        assert_eq!(item.enc, vec![1, 2, 3]);
        // The logical name comes from the store, not the item.
        let other = Item::parse(&attributes, "other", "bk", "branch:ACTIVE").expect("valid");
        assert_eq!(other.context["tablename"], "other");

        let version = Item::parse(
            &item_attributes(&decrypt_only, vec![9]),
            "logical",
            "bk",
            "branch:version:v1",
        )
        .expect("valid");
        assert_eq!(version.version.as_deref(), Some("v1"));
        let beacon = Item::parse(
            &item_attributes(&beacon_context(&decrypt_only), vec![9]),
            "logical",
            "bk",
            "beacon:ACTIVE",
        )
        .expect("valid");
        assert_eq!(beacon.version, None);
    }

    #[test]
    fn unknown_string_attributes_are_authenticated_too() {
        let decrypt_only = decrypt_only_context("bk", "v1", "t", "logical", KEY, &custom());
        let mut attributes = item_attributes(&decrypt_only, vec![1]);
        attributes.insert("note".into(), s("added later"));
        let item = Item::parse(&attributes, "logical", "bk", "branch:version:v1").expect("valid");
        assert_eq!(item.context["note"], "added later");
        assert!(!item.custom.contains_key("note"));
    }

    #[test]
    fn malformed_items_are_refused_with_the_reason() {
        let decrypt_only = decrypt_only_context("bk", "v1", "t", "logical", KEY, &custom());
        let active = item_attributes(&active_context(&decrypt_only), vec![1]);
        type Change = Box<dyn Fn(&mut HashMap<String, AttributeValue>)>;
        let cases: Vec<(&str, Change, &str)> = vec![
            ("no enc", Box::new(|i| drop(i.remove("enc"))), "no enc"),
            (
                "enc as a string",
                Box::new(|i| drop(i.insert("enc".into(), s("x")))),
                "enc is not",
            ),
            (
                "no kms-arn",
                Box::new(|i| drop(i.remove("kms-arn"))),
                "no kms-arn",
            ),
            (
                "no create-time",
                Box::new(|i| drop(i.remove("create-time"))),
                "no create-time",
            ),
            (
                "hierarchy-version as a string",
                Box::new(|i| drop(i.insert("hierarchy-version".into(), s("1")))),
                "not a number",
            ),
            (
                "hierarchy-version 2",
                Box::new(|i| {
                    drop(i.insert("hierarchy-version".into(), AttributeValue::N("2".into())))
                }),
                "not supported",
            ),
            (
                "a stored tablename",
                Box::new(|i| drop(i.insert("tablename".into(), s("logical")))),
                "reserved",
            ),
            (
                "a number attribute",
                Box::new(|i| drop(i.insert("count".into(), AttributeValue::N("3".into())))),
                "not a string",
            ),
            (
                "no version",
                Box::new(|i| drop(i.remove("version"))),
                "no version",
            ),
            (
                "a bad version",
                Box::new(|i| drop(i.insert("version".into(), s("v1")))),
                "does not start",
            ),
            (
                "another branch key",
                Box::new(|i| drop(i.insert("branch-key-id".into(), s("other")))),
                "returned",
            ),
        ];
        for (what, change, expected) in cases {
            let mut item = active.clone();
            change(&mut item);
            let err = Item::parse(&item, "logical", "bk", "branch:ACTIVE").unwrap_err();
            assert!(err.contains(expected), "{what}: {err}");
        }
        // A version on a DECRYPT_ONLY item, and a type that is no key store type.
        let mut version = item_attributes(&decrypt_only, vec![1]);
        version.insert("version".into(), s("branch:version:v1"));
        assert!(Item::parse(&version, "logical", "bk", "branch:version:v1")
            .unwrap_err()
            .contains("only the active item"));
        let mut odd = item_attributes(&decrypt_only, vec![1]);
        odd.insert("type".into(), s("branch:version:"));
        assert!(Item::parse(&odd, "logical", "bk", "branch:version:")
            .unwrap_err()
            .contains("not a key store item type"));
    }

    #[test]
    fn timestamps_are_iso_8601_utc_to_the_microsecond() {
        assert_eq!(format_timestamp(0, 0), "1970-01-01T00:00:00.000000Z");
        // The reference's example, 2026-12-05T12:09:40.084837Z.
        assert_eq!(
            format_timestamp(1_796_472_580, 84_837),
            "2026-12-05T12:09:40.084837Z"
        );
        // Leap day, and the last microsecond of a year.
        assert_eq!(
            format_timestamp(951_782_400, 1),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(
            format_timestamp(1_704_067_199, 999_999),
            "2023-12-31T23:59:59.999999Z"
        );
        let now = timestamp_now();
        assert_eq!(now.len(), 27, "{now}");
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn uuids_are_version_4() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        for u in [&a, &b] {
            assert_eq!(u.len(), 36);
            let parts: Vec<&str> = u.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{u}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{u}");
        }
        assert_eq!(
            format_uuid(&[0x0d, 0xc8, 0x57, 0x0a, 0, 1, 0x42, 3, 0x84, 5, 6, 7, 8, 9, 0xa, 0xb]),
            "0dc8570a-0001-4203-8405-060708090a0b"
        );
    }
}
