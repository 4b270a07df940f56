//! The hierarchical keyring with its DynamoDB key store: create the key store and one branch key
//! per tenant, encrypt for two tenants through a branch key ID supplier, rotate one tenant's
//! branch key, and decrypt everything.
//!
//! ```text
//! cargo run --features hierarchy --example hierarchical -- [--table NAME] [--kms-key ARN]
//! ```
//!
//! The DynamoDB and KMS clients come from the standard AWS configuration. No AWS account is
//! needed with a local server: with `AWS_ENDPOINT_URL` pointing at `moto_server` (and dummy
//! credentials and a region set), the example makes its own KMS key there (alias
//! `alias/sealbox-hierarchical-example`, reused by later runs) when `--kms-key` is not given. Against AWS, give `--kms-key` (the example never creates a KMS key there) and a table
//! name you may create; the table uses on-demand billing.
//!
//! `--tenant NAME=BRANCH_KEY_ID` (repeatable) uses existing branch keys instead of creating
//! them, and `--write-messages DIR` writes each tenant's message and plaintext there
//! (`NAME.msg`, `NAME.txt`): scripts/interop_hierarchy.py has the Python ESDK decrypt them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sealbox::{
    BoxError, BranchKeyIdSupplier, Client, DefaultCmm, DynamoDbKeyStore, EncryptionContext,
    HierarchicalKeyring, KeyStoreError, KmsConfiguration,
};

/// Each message's branch key is its tenant's: the `tenant` entry of its encryption context.
#[derive(Debug)]
struct TenantSupplier {
    branch_keys: BTreeMap<String, String>,
}

#[async_trait]
impl BranchKeyIdSupplier for TenantSupplier {
    async fn branch_key_id(&self, context: &EncryptionContext) -> Result<String, BoxError> {
        let tenant = context
            .get("tenant")
            .ok_or("the encryption context names no tenant")?;
        self.branch_keys
            .get(tenant)
            .cloned()
            .ok_or_else(|| format!("no branch key for tenant {tenant:?}").into())
    }
}

struct Args {
    table: String,
    kms_key: Option<String>,
    tenants: Vec<(String, String)>,
    write_messages: Option<std::path::PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        table: "sealbox-hierarchical-example".into(),
        kms_key: None,
        tenants: Vec::new(),
        write_messages: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--table" => a.table = value()?,
            "--kms-key" => a.kms_key = Some(value()?),
            "--tenant" => {
                let v = value()?;
                let (name, id) = v
                    .split_once('=')
                    .ok_or("--tenant takes NAME=BRANCH_KEY_ID")?;
                a.tenants.push((name.into(), id.into()));
            }
            "--write-messages" => a.write_messages = Some(value()?.into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

/// On a local server: the example's KMS key, made on the first run and found again by its alias
/// afterwards (the branch keys in the table are wrapped under it).
async fn local_key(kms: &aws_sdk_kms::Client) -> Result<String, Box<dyn std::error::Error>> {
    const ALIAS: &str = "alias/sealbox-hierarchical-example";
    if let Ok(found) = kms.describe_key().key_id(ALIAS).send().await {
        if let Some(arn) = found.key_metadata().and_then(|m| m.arn()) {
            return Ok(arn.to_owned());
        }
    }
    let key = kms.create_key().send().await?;
    let arn = key
        .key_metadata()
        .and_then(|m| m.arn())
        .ok_or("CreateKey returned no ARN")?
        .to_owned();
    kms.create_alias()
        .alias_name(ALIAS)
        .target_key_id(&arn)
        .send()
        .await?;
    Ok(arn)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let kms = aws_sdk_kms::Client::new(&config);
    let kms_key = match args.kms_key {
        Some(arn) => arn,
        None if std::env::var_os("AWS_ENDPOINT_URL").is_some() => local_key(&kms).await?,
        None => {
            return Err("give --kms-key ARN (or point AWS_ENDPOINT_URL at a local server)".into())
        }
    };

    // 1. The key store: the table (created once, validated afterwards) and the KMS key that
    //    wraps its branch keys.
    let store = Arc::new(DynamoDbKeyStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        kms,
        &args.table,
        KmsConfiguration::KeyArn(kms_key),
    )?);
    let table_arn = store.create_key_store().await?;
    println!("key store: {table_arn}");

    // 2. One branch key per tenant, bound to its tenant by a custom encryption context.
    let mut branch_keys = BTreeMap::new();
    if args.tenants.is_empty() {
        for tenant in ["acme", "globex"] {
            let context = BTreeMap::from([("tenant".to_owned(), tenant.to_owned())]);
            let id = match store.create_key(Some(tenant), &context).await {
                Ok(id) => id,
                // Made by an earlier run.
                Err(KeyStoreError::Conflict { branch_key_id, .. }) => branch_key_id,
                Err(e) => return Err(e.into()),
            };
            branch_keys.insert(tenant.to_owned(), id);
        }
    } else {
        branch_keys.extend(args.tenants.iter().cloned());
    }
    println!("branch keys: {branch_keys:?}");

    // 3. One keyring for all tenants: the supplier picks the branch key; each is read from
    //    DynamoDB and decrypted by KMS once per TTL, then wraps data keys locally.
    let keyring = HierarchicalKeyring::builder(store.clone())
        .branch_key_id_supplier(Arc::new(TenantSupplier {
            branch_keys: branch_keys.clone(),
        }))
        .ttl(Duration::from_secs(300))
        .build()?;
    let cmm = DefaultCmm::new(keyring);
    let client = Client::new();

    let mut messages = Vec::new();
    for tenant in branch_keys.keys() {
        let context = EncryptionContext::from([("tenant".to_owned(), tenant.clone())]);
        let plaintext = format!("a record of {tenant}").into_bytes();
        let message = client.encrypt(&cmm, &plaintext, &context).await?;
        println!("{tenant}: {} bytes encrypted", message.len());
        messages.push((tenant.clone(), plaintext, message));
    }

    // 4. Rotate the first tenant's branch key. Messages written before keep decrypting (the old
    //    version stays in the table); the keyring uses the new version once its cached active
    //    key expires, and a fresh keyring at once.
    let (first, _, _) = &messages[0];
    let first_key = &branch_keys[first];
    let new_version = store.version_key(first_key).await?;
    println!("{first}: branch key rotated to version {new_version}");

    // 5. Decrypt everything (the keyring fetches each version a message names).
    for (tenant, plaintext, message) in &messages {
        let decrypted = client.decrypt(&cmm, message).await?;
        assert_eq!(&decrypted.plaintext, plaintext);
        assert_eq!(decrypted.encryption_context["tenant"], *tenant);
        println!("{tenant}: decrypted");
    }

    if let Some(dir) = &args.write_messages {
        std::fs::create_dir_all(dir)?;
        for (tenant, plaintext, message) in &messages {
            std::fs::write(dir.join(format!("{tenant}.msg")), message)?;
            std::fs::write(dir.join(format!("{tenant}.txt")), plaintext)?;
        }
        println!("messages written to {}", dir.display());
    }
    Ok(())
}
