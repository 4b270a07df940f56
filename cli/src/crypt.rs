//! `sealbox encrypt` and `sealbox decrypt`: stream files or standard input and output.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use sealbox::{
    AlgorithmSuite, CachingCmm, Client, CommitmentPolicy, DefaultCmm, EncryptionContext, Keyring,
    LruMaterialsCache, MaterialsManager, MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding,
};

use crate::batch::{self, Engine, MetadataSink, Mode, Overwrite, PlanArgs};
use zeroize::Zeroizing;

/// Where the key comes from, and the input and output.
#[derive(Args, Debug)]
pub(crate) struct Common {
    /// Input: a file, a directory (with -r), a glob, or - for standard input.
    #[arg(short, long, default_value = "-")]
    input: String,
    /// Output: a file, an existing directory, or - for standard output. A file is written under
    /// a temporary name and renamed only when the operation succeeded.
    #[arg(short, long, default_value = "-")]
    output: String,
    /// A raw AES wrapping key: a file holding exactly 16, 24 or 32 bytes.
    #[arg(long, value_name = "PATH")]
    aes_key_file: Option<PathBuf>,
    /// An RSA key in PEM: public (SPKI) to encrypt, private (PKCS#8) to decrypt.
    #[arg(long, value_name = "PEM")]
    rsa_key: Option<PathBuf>,
    /// An AWS KMS key: ARN, key ID or alias; repeatable (the first generates the data key, each
    /// wraps it). The client comes from the standard AWS configuration (region, credentials,
    /// AWS_ENDPOINT_URL) and --aws-region, --aws-profile.
    #[cfg(feature = "kms")]
    #[arg(long, value_name = "ARN")]
    kms_key: Vec<String>,
    /// The AWS region of the AWS clients this command makes (--kms-key keys given by ID or
    /// alias, --discovery, the key store's table); a key given by ARN is called in the region
    /// its ARN names. Default: the AWS configuration's.
    #[cfg(feature = "kms")]
    #[arg(long, value_name = "REGION")]
    aws_region: Option<String>,
    /// A named profile of the AWS configuration files, for every AWS client of this command: its
    /// region and its credentials (over the environment's).
    #[cfg(feature = "kms")]
    #[arg(long, value_name = "NAME")]
    aws_profile: Option<String>,
    /// Decrypt: with whatever KMS key a message names (multi-Region aware, in the configured
    /// region or --aws-region), limited by --discovery-account.
    #[cfg(feature = "kms")]
    #[arg(long, conflicts_with = "kms_key")]
    discovery: bool,
    /// With --discovery: only keys of this AWS account (repeatable); needs --discovery-partition.
    #[cfg(feature = "kms")]
    #[arg(long, value_name = "ID", requires_all = ["discovery", "discovery_partition"])]
    discovery_account: Vec<String>,
    /// With --discovery-account: the accounts' partition (aws, aws-cn, aws-us-gov).
    #[cfg(feature = "kms")]
    #[arg(long, value_name = "NAME", requires = "discovery_account")]
    discovery_partition: Option<String>,
    /// Raw ECDH: your private key (PEM or DER, PKCS#8 or SEC 1). With --ecdh-public-key, the
    /// static scheme (encrypt and decrypt); alone, public-key discovery (decrypt only).
    #[arg(long, value_name = "PATH", requires = "ecdh_curve")]
    ecdh_private_key: Option<PathBuf>,
    /// Raw ECDH: the other party's public key (PEM or DER SubjectPublicKeyInfo). Alone, an
    /// ephemeral sender key per message (encrypt only).
    #[arg(long, value_name = "PATH", requires = "ecdh_curve")]
    ecdh_public_key: Option<PathBuf>,
    /// Raw ECDH curve: p256, p384 or p521.
    #[arg(long, value_name = "CURVE")]
    ecdh_curve: Option<String>,
    /// An AWS KMS RSA key ARN (the AWS KMS RSA keyring, unsigned suites only, e.g. --suite 0478):
    /// encrypt locally with --rsa-public-key, decrypt with KMS Decrypt. --rsa-padding picks
    /// oaep-sha1 or oaep-sha256.
    #[cfg(feature = "kms")]
    #[arg(long, value_name = "ARN")]
    kms_rsa_key: Option<String>,
    /// An AWS KMS ECDH key (key agreement key) ID or ARN, on --ecdh-curve: with --ecdh-public-key
    /// (the other party's), KmsPrivateKeyToStaticPublicKey (encrypt and decrypt); alone,
    /// KmsPublicKeyDiscovery (decrypt what was sent to this key).
    #[cfg(feature = "kms")]
    #[arg(
        long,
        value_name = "ARN",
        requires = "ecdh_curve",
        conflicts_with = "ecdh_private_key"
    )]
    kms_ecdh_key: Option<String>,
    /// The public key of --kms-rsa-key in PEM (as KMS GetPublicKey gives it, in PEM).
    #[cfg(feature = "kms")]
    #[arg(long, value_name = "PEM", requires = "kms_rsa_key")]
    rsa_public_key: Option<PathBuf>,
    /// An AWS KMS ML-KEM key ARN (the AWS KMS ML-KEM keyring): encapsulate with KMS Encapsulate,
    /// or locally with --ml-kem-public-key; decrypt with KMS Decapsulate.
    #[cfg(feature = "kms")]
    #[arg(long, value_name = "ARN")]
    kms_ml_kem_key: Option<String>,
    /// The ML-KEM parameter set of --kms-ml-kem-key: 512, 768 or 1024.
    #[cfg(feature = "kms")]
    #[arg(
        long,
        value_name = "SET",
        default_value = "768",
        requires = "kms_ml_kem_key"
    )]
    ml_kem_parameter_set: String,
    /// The public key of --kms-ml-kem-key, DER SubjectPublicKeyInfo or PEM: encapsulate locally.
    #[cfg(feature = "kms")]
    #[arg(long, value_name = "PATH", requires = "kms_ml_kem_key")]
    ml_kem_public_key: Option<PathBuf>,
    /// A hierarchical keyring's branch key ID, read from the key store that --key-store and
    /// --key-store-kms-key name (the AWS clients as for --kms-key).
    #[cfg(feature = "hierarchy")]
    #[arg(long, value_name = "ID", requires_all = ["key_store", "key_store_kms_key"])]
    branch_key_id: Option<String>,
    /// The hierarchical keyring's key store: its DynamoDB table.
    #[cfg(feature = "hierarchy")]
    #[arg(long, value_name = "TABLE", requires = "branch_key_id")]
    key_store: Option<String>,
    /// The KMS key ARN that wraps the key store's branch keys.
    #[cfg(feature = "hierarchy")]
    #[arg(long, value_name = "ARN", requires = "branch_key_id")]
    key_store_kms_key: Option<String>,
    /// The key store's logical name (default: the table name).
    #[cfg(feature = "hierarchy")]
    #[arg(long, value_name = "NAME", requires = "branch_key_id")]
    logical_key_store_name: Option<String>,
    /// RSA padding: pkcs1, oaep-sha1, oaep-sha256, oaep-sha384, oaep-sha512.
    #[arg(long, default_value = "oaep-sha256")]
    rsa_padding: String,
    /// Key namespace (provider ID) of a raw key.
    #[arg(long, default_value = "sealbox")]
    key_namespace: String,
    /// Key name of a raw key.
    #[arg(long)]
    key_name: Option<String>,
    /// Encryption context entry key=value; repeatable. On decrypt, the entries must match the
    /// message (and supply required entries it does not store).
    #[arg(short = 'c', long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
    /// Commitment policy: require (default), require-encrypt-allow-decrypt, forbid.
    #[arg(long, default_value = "require")]
    policy: String,
    /// Never draw a progress bar, print no summary.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    files: FileArgs,
}

/// Directories, output names, metadata, caching: the batch engine's settings.
#[derive(Args, Debug)]
pub(crate) struct FileArgs {
    /// Process directories given as input, and the files under them.
    #[arg(short, long)]
    recursive: bool,
    /// Added to each output file name made in an output directory (default .encrypted or
    /// .decrypted).
    #[arg(long, value_name = "SUFFIX")]
    suffix: Option<String>,
    /// Keep existing output files (and skip their sources) rather than replacing them.
    #[arg(long)]
    no_overwrite: bool,
    /// Ask on the terminal before replacing an existing output file.
    #[arg(long, conflicts_with = "no_overwrite")]
    interactive: bool,
    /// Append one JSON record per file (aws-encryption-cli's fields) to FILE, or - for standard
    /// output.
    #[arg(long, value_name = "FILE")]
    metadata_output: Option<PathBuf>,
    /// Truncate the metadata file first rather than append.
    #[arg(long, requires = "metadata_output")]
    overwrite_metadata: bool,
    /// The input is base64 (whitespace ignored).
    #[arg(long)]
    base64_input: bool,
    /// Write the output in base64.
    #[arg(long)]
    base64_output: bool,
    /// Standard output: write nothing before the whole message verified (holds it in memory).
    #[arg(short, long)]
    buffer: bool,
    /// Files in flight at once (default: 4 per CPU).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Cache data keys across files: at most this many entries. Needs --cache-max-age.
    #[arg(long, value_name = "N", requires = "cache_max_age")]
    cache_capacity: Option<usize>,
    /// Cached materials are used for at most this many seconds.
    #[arg(long, value_name = "SECONDS", requires = "cache_capacity")]
    cache_max_age: Option<f64>,
    /// A cached data key encrypts at most this many messages.
    #[arg(long, value_name = "N", requires = "cache_capacity")]
    cache_max_messages: Option<u64>,
    /// A cached data key encrypts at most this many bytes.
    #[arg(long, value_name = "BYTES", requires = "cache_capacity")]
    cache_max_bytes: Option<u64>,
}

/// `sealbox encrypt`.
#[derive(Args, Debug)]
pub(crate) struct EncryptArgs {
    #[command(flatten)]
    common: Common,
    /// Algorithm suite: its ID in hex, e.g. 0478 (default 0578), or its ESDK name.
    #[arg(long)]
    suite: Option<String>,
    /// Plaintext bytes per frame.
    #[arg(long, default_value_t = sealbox::DEFAULT_FRAME_LENGTH)]
    frame_length: u32,
}

/// `sealbox decrypt`.
#[derive(Args, Debug)]
pub(crate) struct DecryptArgs {
    #[command(flatten)]
    common: Common,
    /// Refuse signed messages right after the header, so that no released plaintext ever
    /// depends on a signature not yet checked.
    #[arg(long)]
    unsigned_only: bool,
    /// Refuse messages with more encrypted data keys than this, before any key is tried
    /// (default: no limit).
    #[arg(long, value_name = "N")]
    max_encrypted_data_keys: Option<u16>,
    /// Refuse frames longer than this many bytes; decryption holds one frame in memory
    /// (default: 64 MiB).
    #[arg(long, value_name = "BYTES")]
    max_frame_length: Option<u32>,
    /// Refuse headers longer than this many bytes (default: 1 MiB).
    #[arg(long, value_name = "BYTES")]
    max_header_length: Option<usize>,
}

pub(crate) fn parse_context(pairs: &[String]) -> anyhow::Result<EncryptionContext> {
    pairs
        .iter()
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| anyhow!("context entry {p:?} is not key=value"))?;
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn parse_padding(s: &str) -> anyhow::Result<RsaPadding> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "pkcs1" => RsaPadding::Pkcs1,
        "oaep-sha1" => RsaPadding::OaepSha1,
        "oaep-sha256" => RsaPadding::OaepSha256,
        "oaep-sha384" => RsaPadding::OaepSha384,
        "oaep-sha512" => RsaPadding::OaepSha512,
        other => bail!("unknown RSA padding {other:?}"),
    })
}

fn parse_policy(s: &str) -> anyhow::Result<CommitmentPolicy> {
    Ok(match s {
        "require" => CommitmentPolicy::RequireEncryptRequireDecrypt,
        "require-encrypt-allow-decrypt" => CommitmentPolicy::RequireEncryptAllowDecrypt,
        "forbid" => CommitmentPolicy::ForbidEncryptAllowDecrypt,
        other => bail!("unknown commitment policy {other:?}"),
    })
}

/// The keyring the flags describe (several keys make a multi-keyring).
fn keyring(
    rt: &tokio::runtime::Runtime,
    c: &Common,
    encrypt: bool,
) -> anyhow::Result<Arc<dyn Keyring>> {
    let mut keyrings: Vec<Arc<dyn Keyring>> = Vec::new();
    #[cfg(feature = "kms")]
    if !c.kms_key.is_empty() || c.discovery {
        let spec = crate::kms_keys::KmsSpec {
            keys: c.kms_key.clone(),
            discovery: c.discovery,
            accounts: c.discovery_account.clone(),
            partition: c.discovery_partition.clone(),
            region: c.aws_region.clone(),
            profile: c.aws_profile.clone(),
        };
        keyrings.extend(crate::kms_keys::keyrings(rt.handle(), &[spec])?);
    }
    #[cfg(feature = "kms")]
    keyrings.extend(crate::kms_keyrings::asymmetric(rt, c.kms_asymmetric())?);
    #[cfg(feature = "hierarchy")]
    if let (Some(id), Some(table), Some(arn)) =
        (&c.branch_key_id, &c.key_store, &c.key_store_kms_key)
    {
        let store = rt.block_on(crate::keystore::open(&crate::keystore::StoreArgs {
            key_store: table.clone(),
            key_store_kms_key: arn.clone(),
            logical_key_store_name: c.logical_key_store_name.clone(),
            aws_region: c.aws_region.clone(),
            aws_profile: c.aws_profile.clone(),
        }))?;
        // One process, one message: the TTL only bounds how long the branch key is held.
        let keyring = sealbox::HierarchicalKeyring::builder(Arc::new(store))
            .branch_key_id(id)
            .ttl(std::time::Duration::from_secs(60))
            .build()?;
        keyrings.push(Arc::new(keyring));
    }
    #[cfg(not(feature = "kms"))]
    let _ = rt;
    if let Some(path) = &c.aes_key_file {
        let key = Zeroizing::new(
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        let name = c.key_name.clone().unwrap_or_else(|| file_stem(path));
        keyrings.push(Arc::new(RawAesKeyring::new(&c.key_namespace, &name, key)?));
    }
    if let Some(path) = &c.rsa_key {
        let pem = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        );
        let name = c.key_name.clone().unwrap_or_else(|| file_stem(path));
        let k = RawRsaKeyring::new(&c.key_namespace, &name, parse_padding(&c.rsa_padding)?)?;
        let k = if pem.contains("PRIVATE KEY") {
            let k = k.with_private_key_pem(&pem)?;
            if encrypt {
                k.with_public_key_from_private()?
            } else {
                k
            }
        } else {
            k.with_public_key_pem(&pem)?
        };
        keyrings.push(Arc::new(k));
    }
    if let Some(keyring) = ecdh_keyring(c)? {
        keyrings.push(keyring);
    }
    match keyrings.len() {
        0 => bail!(
            "no key given: use --aes-key-file, --rsa-key, --ecdh-private-key/--ecdh-public-key, \
             --kms-key, --kms-rsa-key, --kms-ecdh-key, --kms-ml-kem-key or --branch-key-id"
        ),
        1 => Ok(keyrings.remove(0)),
        _ => {
            let generator = keyrings.remove(0);
            Ok(Arc::new(MultiKeyring::new(Some(generator), keyrings)?))
        }
    }
}

#[cfg(feature = "kms")]
impl Common {
    fn kms_asymmetric(&self) -> crate::kms_keyrings::AsymmetricArgs<'_> {
        crate::kms_keyrings::AsymmetricArgs {
            rsa_key: self.kms_rsa_key.as_deref(),
            rsa_public_key: self.rsa_public_key.as_deref(),
            rsa_padding: &self.rsa_padding,
            ml_kem_key: self.kms_ml_kem_key.as_deref(),
            ml_kem_parameter_set: &self.ml_kem_parameter_set,
            ml_kem_public_key: self.ml_kem_public_key.as_deref(),
            ecdh_key: self.kms_ecdh_key.as_deref(),
            ecdh_public_key: self.ecdh_public_key.as_deref(),
            ecdh_curve: self.ecdh_curve.as_deref(),
            region: self.aws_region.as_deref(),
            profile: self.aws_profile.as_deref(),
        }
    }
}

/// The raw ECDH keyring of --ecdh-private-key / --ecdh-public-key, its scheme chosen by which
/// keys are given.
fn ecdh_keyring(c: &Common) -> anyhow::Result<Option<Arc<dyn Keyring>>> {
    // With --kms-ecdh-key, --ecdh-public-key is the KMS ECDH keyring's peer (kms_keyrings.rs).
    #[cfg(feature = "kms")]
    if c.kms_ecdh_key.is_some() {
        return Ok(None);
    }
    let read = |path: &PathBuf| {
        std::fs::read(path)
            .map(Zeroizing::new)
            .with_context(|| format!("cannot read {}", path.display()))
    };
    let (private, public) = match (&c.ecdh_private_key, &c.ecdh_public_key) {
        (None, None) => return Ok(None),
        (private, public) => (
            private.as_ref().map(read).transpose()?,
            public.as_ref().map(read).transpose()?,
        ),
    };
    let curve: sealbox::EcdhCurve = c
        .ecdh_curve
        .as_deref()
        .ok_or_else(|| anyhow!("--ecdh-curve is required with an ECDH key"))?
        .parse()?;
    use sealbox::{RawEcdhKeyring, RawEcdhScheme};
    let builder = match (&private, &public) {
        (Some(private), Some(public)) => {
            RawEcdhKeyring::builder(curve, RawEcdhScheme::RawPrivateKeyToStaticPublicKey)
                .sender_private_key(private)
                .recipient_public_key(public)
        }
        (None, Some(public)) => {
            RawEcdhKeyring::builder(curve, RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey)
                .recipient_public_key(public)
        }
        (Some(private), None) => RawEcdhKeyring::builder(curve, RawEcdhScheme::PublicKeyDiscovery)
            .recipient_private_key(private),
        (None, None) => return Ok(None),
    };
    Ok(Some(Arc::new(builder.build()?)))
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".into())
}

fn client(common: &Common, suite: Option<&str>, frame_length: u32) -> anyhow::Result<Client> {
    let mut b = Client::builder()
        .commitment_policy(parse_policy(&common.policy)?)
        .frame_length(frame_length);
    if let Some(s) = suite {
        // A hex ID (0478) or the ESDK's name (AES_256_GCM_HKDF_SHA512_COMMIT_KEY).
        let suite = match batch::metadata::suite_by_name(s) {
            Some(suite) => suite,
            None => {
                let id = u16::from_str_radix(s.trim_start_matches("0x"), 16)
                    .with_context(|| format!("bad suite {s:?}"))?;
                AlgorithmSuite::from_id(id).ok_or_else(|| anyhow!("unknown suite {s}"))?
            }
        };
        b = b.algorithm_suite(suite);
    }
    Ok(b.build()?)
}

/// The materials manager: the keyring's, under a caching manager shared by every file when
/// --cache-capacity is given.
fn materials(
    rt: &tokio::runtime::Runtime,
    c: &Common,
    encrypt: bool,
) -> anyhow::Result<Arc<dyn MaterialsManager>> {
    let cmm = DefaultCmm::from_arc(keyring(rt, c, encrypt)?);
    let f = &c.files;
    let (Some(capacity), Some(max_age)) = (f.cache_capacity, f.cache_max_age) else {
        return Ok(Arc::new(cmm));
    };
    if !(max_age.is_finite() && max_age > 0.0) {
        bail!("--cache-max-age must be a positive number of seconds");
    }
    let mut b = CachingCmm::builder(cmm)
        .cache(LruMaterialsCache::new(capacity)?)
        .max_age(Duration::from_secs_f64(max_age));
    if let Some(n) = f.cache_max_messages {
        b = b.max_messages(n);
    }
    if let Some(n) = f.cache_max_bytes {
        b = b.max_bytes(n);
    }
    Ok(Arc::new(b.build()?))
}

/// Plan the files and run them on the batch engine. Set-up errors (a bad option, an unreadable
/// key, an input that does not exist) exit 2; a failed or skipped file exits 1.
fn run(
    rt: &tokio::runtime::Runtime,
    c: &Common,
    mode: Mode,
    client: Client,
    reproduce_context: bool,
) -> anyhow::Result<ExitCode> {
    let f = &c.files;
    // The keys first, as aws-encryption-cli does: a bad key is reported before a bad path.
    let cmm = materials(rt, c, mode == Mode::Encrypt)?;
    let items = batch::plan(&PlanArgs {
        mode,
        input: &c.input,
        output: &c.output,
        recursive: f.recursive,
        suffix: f.suffix.as_deref(),
        overwrite: if f.no_overwrite {
            Overwrite::Never
        } else if f.interactive {
            Overwrite::Ask
        } else {
            Overwrite::Always
        },
        metadata: f.metadata_output.as_deref().and_then(|p| p.to_str()),
        quiet: c.quiet,
    })?;
    let metadata = f
        .metadata_output
        .as_deref()
        .map(|m| MetadataSink::open(m, f.overwrite_metadata))
        .transpose()?;
    let engine = Engine {
        mode,
        client,
        cmm,
        context: parse_context(&c.context)?,
        required_keys: Vec::new(),
        reproduce_context,
        buffer: f.buffer,
        decode_input: f.base64_input,
        encode_output: f.base64_output,
        metadata,
        jobs: f.jobs.unwrap_or_else(batch::default_jobs),
        progress: !c.quiet,
        summary: !c.quiet && items.len() > 1,
        made_dirs: Default::default(),
    };
    Ok(engine.run(rt.handle(), items).code())
}

pub(crate) fn encrypt(
    rt: &tokio::runtime::Runtime,
    args: &EncryptArgs,
) -> anyhow::Result<ExitCode> {
    let c = &args.common;
    let client = client(c, args.suite.as_deref(), args.frame_length)?;
    run(rt, c, Mode::Encrypt, client, false)
}

pub(crate) fn decrypt(
    rt: &tokio::runtime::Runtime,
    args: &DecryptArgs,
) -> anyhow::Result<ExitCode> {
    let c = &args.common;
    let mut client = Client::builder()
        .commitment_policy(parse_policy(&c.policy)?)
        .max_header_length(
            args.max_header_length
                .unwrap_or(sealbox::format::DEFAULT_MAX_HEADER_LENGTH),
        );
    if let Some(n) = args.max_encrypted_data_keys {
        client = client.max_encrypted_data_keys(n);
    }
    if let Some(n) = args.max_frame_length {
        client = client.max_frame_length(n);
    }
    let mode = if args.unsigned_only {
        Mode::DecryptUnsigned
    } else {
        Mode::Decrypt
    };
    // -c here is the reproduced context: entries must match, and supply required ones.
    run(rt, c, mode, client.build()?, true)
}
