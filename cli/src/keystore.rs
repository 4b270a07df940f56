//! `sealbox keystore`: administer a hierarchical keyring's branch key store on DynamoDB.
//!
//! The DynamoDB and KMS clients come from the standard AWS configuration (region, credentials,
//! `AWS_ENDPOINT_URL`) and `--aws-region`, `--aws-profile`, as for `--kms-key`; the KMS client
//! calls the region of the KMS key's ARN. What other tools read is the last line of standard
//! output: the branch key ID for `create-key`, the new version for `version-key`. Failures exit
//! 1, usage errors (a bad ARN, a missing context) 2.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use sealbox::{DynamoDbKeyStore, KeyStoreError, KmsConfiguration};

/// `sealbox keystore ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum KeystoreCommand {
    /// Create the key store's DynamoDB table (or check that an existing table is one); prints
    /// the table's ARN.
    Create(StoreArgs),
    /// Create a branch key; the last line of output is its ID.
    CreateKey(CreateKeyArgs),
    /// Rotate a branch key: a new version becomes active (old ones still decrypt); the last
    /// line of output is the new version.
    VersionKey(VersionKeyArgs),
}

/// Which key store.
#[derive(Args, Debug, Clone)]
pub(crate) struct StoreArgs {
    /// The key store's DynamoDB table.
    #[arg(long = "key-store", value_name = "TABLE")]
    pub(crate) key_store: String,
    /// The KMS key ARN that wraps the branch keys.
    #[arg(long = "key-store-kms-key", value_name = "ARN")]
    pub(crate) key_store_kms_key: String,
    /// The logical key store name bound into every branch key (default: the table name).
    #[arg(long, value_name = "NAME")]
    pub(crate) logical_key_store_name: Option<String>,
    /// The AWS region of the table (default: the AWS configuration's); the KMS key is called in
    /// the region its ARN names.
    #[arg(long, value_name = "REGION")]
    pub(crate) aws_region: Option<String>,
    /// A named profile of the AWS configuration files: its region and its credentials (over
    /// the environment's).
    #[arg(long, value_name = "NAME")]
    pub(crate) aws_profile: Option<String>,
}

/// `sealbox keystore create-key`.
#[derive(Args, Debug)]
pub(crate) struct CreateKeyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The branch key ID (default: a random UUID). A chosen ID needs at least one -c entry.
    #[arg(long, value_name = "ID")]
    branch_key_id: Option<String>,
    /// Custom encryption context entry key=value bound to the branch key; repeatable.
    #[arg(short = 'c', long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
}

/// `sealbox keystore version-key`.
#[derive(Args, Debug)]
pub(crate) struct VersionKeyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The branch key to rotate.
    #[arg(long, value_name = "ID")]
    branch_key_id: String,
}

/// The key store the flags describe, on clients from the standard AWS configuration and
/// `--aws-region`, `--aws-profile`.
pub(crate) async fn open(args: &StoreArgs) -> Result<DynamoDbKeyStore, KeyStoreError> {
    let config =
        crate::kms_keys::aws_config(args.aws_region.as_deref(), args.aws_profile.as_deref()).await;
    let store = DynamoDbKeyStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        crate::kms_keys::kms_client(&config, &args.key_store_kms_key),
        &args.key_store,
        KmsConfiguration::KeyArn(args.key_store_kms_key.clone()),
    )?;
    match &args.logical_key_store_name {
        Some(name) => store.with_logical_key_store_name(name),
        None => Ok(store),
    }
}

pub(crate) fn run(rt: &tokio::runtime::Runtime, command: &KeystoreCommand) -> ExitCode {
    let result = rt.block_on(async {
        match command {
            KeystoreCommand::Create(store) => open(store).await?.create_key_store().await,
            KeystoreCommand::CreateKey(args) => {
                let context = crate::crypt::parse_context(&args.context)
                    .map_err(|e| KeyStoreError::Config(e.to_string()))?;
                open(&args.store)
                    .await?
                    .create_key(args.branch_key_id.as_deref(), &context)
                    .await
            }
            KeystoreCommand::VersionKey(args) => {
                open(&args.store)
                    .await?
                    .version_key(&args.branch_key_id)
                    .await
            }
        }
    });
    match result {
        Ok(line) => {
            outln!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sealbox: keystore: {}", error_chain(&e));
            match e {
                KeyStoreError::Config(_) => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}

/// The error and its sources, so that the service's own code (AccessDeniedException,
/// ResourceNotFoundException ...) is shown.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
