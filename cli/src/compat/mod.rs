//! The `aws-encryption-cli` compatible mode: when `sealbox`'s first argument is `-e/--encrypt`,
//! `-d/--decrypt` or `--decrypt-unsigned` (or an `@file`), the arguments are read as
//! `aws-encryption-cli` 4.3.0 reads them and run on sealbox's engine, with its defaults, output
//! names, metadata records and exit codes: 0 success, 1 failure, 2 usage error. Where sealbox
//! chose to differ (docs/cli.md, "Differences"), the reason is there.

mod args;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use sealbox::{
    CachingCmm, Client, CommitmentPolicy, DefaultCmm, EncryptionContext, Keyring,
    LruMaterialsCache, MaterialsManager, MultiKeyring,
};

use crate::batch::{self, metadata, Engine, Mode, Overwrite, PlanArgs};
use crate::kms_keys::KmsSpec;
use args::{Opt, Takes, UsageError};

/// Whether `argv` (without the program name) is an `aws-encryption-cli` command line.
pub(crate) fn is_compat(argv: &[String]) -> bool {
    matches!(
        argv.first().map(String::as_str),
        Some("-e" | "--encrypt" | "-d" | "--decrypt" | "--decrypt-unsigned")
    ) || argv.first().is_some_and(|a| a.starts_with('@'))
}

const ONCE: Takes = Takes::One { once: true };

/// Every option of aws-encryption-cli 4.3.0 (`arg_parsing.py`).
const OPTS: &[Opt] = &[
    Opt {
        names: &["--version"],
        dest: "version",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["-e", "--encrypt"],
        dest: "encrypt",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["-d", "--decrypt"],
        dest: "decrypt",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["--decrypt-unsigned"],
        dest: "decrypt-unsigned",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["-S", "--suppress-metadata"],
        dest: "suppress-metadata",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["--metadata-output"],
        dest: "metadata-output",
        takes: Takes::One { once: false },
    },
    Opt {
        names: &["--overwrite-metadata"],
        dest: "overwrite-metadata",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["-w", "--wrapping-keys"],
        dest: "wrapping-keys",
        takes: Takes::OneOrMore { append: true },
    },
    Opt {
        names: &["--commitment-policy"],
        dest: "commitment-policy",
        takes: Takes::One { once: false },
    },
    Opt {
        names: &["--caching"],
        dest: "caching",
        takes: Takes::OneOrMore { append: false },
    },
    Opt {
        names: &["-b", "--buffer"],
        dest: "buffer",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["-i", "--input"],
        dest: "input",
        takes: ONCE,
    },
    Opt {
        names: &["-o", "--output"],
        dest: "output",
        takes: ONCE,
    },
    Opt {
        names: &["--encode"],
        dest: "encode",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["--decode"],
        dest: "decode",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["-c", "--encryption-context"],
        dest: "encryption-context",
        takes: Takes::OneOrMore { append: false },
    },
    Opt {
        names: &["--required-encryption-context-keys"],
        dest: "required-encryption-context-keys",
        takes: Takes::OneOrMore { append: false },
    },
    Opt {
        names: &["--algorithm"],
        dest: "algorithm",
        takes: ONCE,
    },
    Opt {
        names: &["--frame-length"],
        dest: "frame-length",
        takes: ONCE,
    },
    Opt {
        names: &["--max-length"],
        dest: "max-length",
        takes: ONCE,
    },
    Opt {
        names: &["--max-encrypted-data-keys"],
        dest: "max-encrypted-data-keys",
        takes: ONCE,
    },
    Opt {
        names: &["--suffix"],
        dest: "suffix",
        takes: Takes::Optional,
    },
    Opt {
        names: &["--interactive"],
        dest: "interactive",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["--no-overwrite"],
        dest: "no-overwrite",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["-r", "-R", "--recursive"],
        dest: "recursive",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["-v"],
        dest: "verbosity",
        takes: Takes::Nothing,
    },
    Opt {
        names: &["-q", "--quiet"],
        dest: "quiet",
        takes: Takes::Nothing,
    },
    // sealbox's own: files in flight at once.
    Opt {
        names: &["--jobs"],
        dest: "jobs",
        takes: ONCE,
    },
];

const USAGE: &str = "usage: sealbox [-h] (--version | [-e | -d | --decrypt-unsigned]) \
(-S | --metadata-output METADATA_OUTPUT) [--overwrite-metadata] -w WRAPPING_KEYS [WRAPPING_KEYS ...] \
[--commitment-policy {forbid-encrypt-allow-decrypt,require-encrypt-allow-decrypt,require-encrypt-require-decrypt}] \
[--caching CACHING [CACHING ...]] [-b] -i INPUT -o OUTPUT [--encode] [--decode] \
[-c ENCRYPTION_CONTEXT [ENCRYPTION_CONTEXT ...]] [--algorithm ALGORITHM] [--frame-length FRAME_LENGTH] \
[--max-length MAX_LENGTH] [--max-encrypted-data-keys MAX_ENCRYPTED_DATA_KEYS] [--suffix [SUFFIX]] \
[--interactive] [--no-overwrite] [-r] [-v] [-q] [--jobs N]";

const HELP: &str = "\
aws-encryption-cli compatible mode (aws-encryption-sdk-cli 4.3.0): the same arguments, outputs,
metadata records and exit codes (0 success, 1 failure, 2 usage error). See docs/cli.md.

Decrypting to standard output (-o -) without -b/--buffer writes each frame's plaintext as soon as
that frame verifies. If the message then fails (a later frame, a truncation, or the signature of a
signed message, checked only at the end), what was already written is NOT authenticated: sealbox
exits 1 and says so; discard the output. With -b/--buffer, or with -o FILE (written under a
temporary name, renamed only on success), nothing is released before the whole message verified.";

fn usage_error(message: &str) -> ExitCode {
    eprintln!("{USAGE}\nsealbox: error: {message}");
    ExitCode::from(2)
}

fn failure(message: &str) -> ExitCode {
    eprintln!("sealbox: {message}");
    ExitCode::from(1)
}

/// A request `aws-encryption-cli` refuses after parsing (exit 1), or on parsing (exit 2).
enum Refusal {
    Usage(String),
    Failure(String),
}

impl From<UsageError> for Refusal {
    fn from(e: UsageError) -> Self {
        Refusal::Usage(e.0)
    }
}

/// `key=value` words into a map of lists, in order (`_parse_kwargs`).
fn kwargs(words: &[String]) -> Result<Vec<(String, String)>, Refusal> {
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(Refusal::Usage(
                "Argument parameter must follow the format \"key=value\"".into(),
            )),
        })
        .collect()
}

/// The first value of each key (`_collapse_config`).
fn collapse(pairs: &[(String, String)]) -> EncryptionContext {
    let mut m = EncryptionContext::new();
    for (k, v) in pairs {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    m
}

fn pseudobool(v: &str) -> Result<bool, Refusal> {
    match v.to_ascii_lowercase().as_str() {
        "false" | "f" | "0" | "no" | "n" => Ok(false),
        "true" | "t" | "1" | "yes" | "y" => Ok(true),
        _ => Err(Refusal::Usage(format!(
            "Value {v} could not be parsed as true or false"
        ))),
    }
}

/// One `-w` group into a KMS key group (`_process_wrapping_key_provider_configs`).
fn wrapping_keys(words: &[String], encrypt: bool) -> Result<KmsSpec, Refusal> {
    let pairs = kwargs(words)?;
    let all = |k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let providers = all("provider");
    if providers.len() > 1 {
        return Err(Refusal::Usage(format!(
            "You must provide exactly one \"provider\" for each wrapping key provider configuration. {} provided",
            providers.len()
        )));
    }
    let provider = providers.first().map_or("aws-kms", String::as_str);
    let has_discovery = ["discovery", "discovery-account", "discovery-partition"]
        .iter()
        .any(|k| pairs.iter().any(|(key, _)| key == k));
    let keys = all("key");
    if provider != "aws-kms" && provider != "aws-encryption-sdk-cli::aws-kms" {
        if has_discovery {
            return Err(Refusal::Usage(
                "Discovery attributes are supported only for AWS KMS wrapping keys".into(),
            ));
        }
        if keys.is_empty() {
            return Err(Refusal::Usage("At least one \"key\" must be provided for each wrapping key provider configuration".into()));
        }
        let name = provider.rsplit("::").next().unwrap_or(provider);
        return Err(Refusal::Failure(format!(
            "Requested master key provider not found: \"{name}\""
        )));
    }
    if encrypt && has_discovery {
        return Err(Refusal::Usage(
            "Discovery attributes are supported only on decryption for AWS KMS keys".into(),
        ));
    }
    if encrypt && keys.is_empty() {
        return Err(Refusal::Usage(
            "At least one \"key\" must be provided for each wrapping key provider configuration"
                .into(),
        ));
    }
    let accounts = all("discovery-account");
    let partitions = all("discovery-partition");
    let discovery = match all("discovery").first() {
        None => {
            if !accounts.is_empty() || !partitions.is_empty() {
                return Err(Refusal::Usage("Discovery-account and discovery-partition are valid only when the discovery attribute is set to true".into()));
            }
            false
        }
        Some(v) => {
            let d = pseudobool(v)?;
            if !d && (!accounts.is_empty() || !partitions.is_empty()) {
                return Err(Refusal::Usage("Discovery-account and discovery-partition are valid only when the discovery attribute is set to true".into()));
            }
            if d {
                if !accounts.is_empty() && partitions.is_empty() {
                    return Err(Refusal::Usage("When specifying discovery-account, you must also specify discovery-partition".into()));
                }
                if !partitions.is_empty() && accounts.is_empty() {
                    return Err(Refusal::Usage("When specifying discovery-partition, you must also specify discovery-account".into()));
                }
                if partitions.len() > 1 {
                    return Err(Refusal::Usage(
                        "You can only specify discovery-partition once".into(),
                    ));
                }
            }
            d
        }
    };
    if discovery && !keys.is_empty() {
        return Err(Refusal::Usage(
            "If discovery is true (enabled), you cannot specify wrapping keys".into(),
        ));
    }
    if !discovery && keys.is_empty() {
        return Err(Refusal::Usage(
            "When discovery is false (disabled), you must specify at least one wrapping key".into(),
        ));
    }
    let one = |k: &str, what: &str| -> Result<Option<String>, Refusal> {
        let v = all(k);
        if v.len() > 1 {
            return Err(Refusal::Failure(format!(
                "Only one {what} may be specified per master key provider configuration. {} provided.",
                v.len()
            )));
        }
        Ok(v.into_iter().next())
    };
    let known = [
        "provider",
        "key",
        "region",
        "profile",
        "discovery",
        "discovery-account",
        "discovery-partition",
    ];
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(Refusal::Failure(format!(
            "Encountered unexpected error: increase verbosity to see details.\nTypeError(\"unexpected keyword argument '{k}'\")"
        )));
    }
    Ok(KmsSpec {
        keys,
        region: one("region", "region")?,
        profile: one("profile", "profile")?,
        discovery,
        accounts,
        partition: partitions.into_iter().next(),
    })
}

/// The caching settings (`_process_caching_config`): capacity and max_age required.
struct Caching {
    capacity: usize,
    max_age: Duration,
    max_messages: Option<u64>,
    max_bytes: Option<u64>,
}

fn caching(words: &[String]) -> Result<Caching, Refusal> {
    let c = collapse(&kwargs(words)?);
    if !c.contains_key("capacity") || !c.contains_key("max_age") {
        return Err(Refusal::Usage(
            "If enabling caching, both \"capacity\" and \"max_age\" are required".into(),
        ));
    }
    if let Some(k) = c.keys().find(|k| {
        ![
            "capacity",
            "max_age",
            "max_messages_encrypted",
            "max_bytes_encrypted",
        ]
        .contains(&k.as_str())
    }) {
        return Err(Refusal::Usage(format!(
            "Invalid caching configuration key: \"{k}\""
        )));
    }
    let int = |k: &str| -> Result<Option<u64>, Refusal> {
        c.get(k)
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    Refusal::Failure(format!("invalid literal for int() with base 10: '{v}'"))
                })
            })
            .transpose()
    };
    let max_age: f64 = c["max_age"].trim().parse().map_err(|_| {
        Refusal::Failure(format!(
            "could not convert string to float: '{}'",
            c["max_age"]
        ))
    })?;
    if !(max_age.is_finite() && max_age > 0.0) {
        return Err(Refusal::Failure(
            "max_age cannot be less than or equal to 0".into(),
        ));
    }
    Ok(Caching {
        capacity: int("capacity")?.unwrap_or(0) as usize,
        max_age: Duration::from_secs_f64(max_age),
        max_messages: int("max_messages_encrypted")?,
        max_bytes: int("max_bytes_encrypted")?,
    })
}

/// Run an `aws-encryption-cli` command line.
pub(crate) fn run(argv: &[String]) -> ExitCode {
    if argv.iter().any(|a| a == "-h" || a == "--help") {
        crate::write_out(format_args!("{USAGE}\n\n{HELP}\n"));
        return ExitCode::SUCCESS;
    }
    match run_inner(argv) {
        Ok(code) => code,
        Err(Refusal::Usage(m)) => usage_error(&m),
        Err(Refusal::Failure(m)) => failure(&m),
    }
}

fn int_arg(p: &args::Parsed, dest: &str, flag: &str) -> Result<Option<i64>, Refusal> {
    p.one(dest)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| Refusal::Usage(format!("argument {flag}: invalid int value: '{v}'")))
        })
        .transpose()
}

fn run_inner(argv: &[String]) -> Result<ExitCode, Refusal> {
    let argv = args::expand_files(argv, 0)?;
    // `-encrypt` for `--encrypt`: argparse is given these as decoys to catch the typo.
    for a in &argv {
        if !a.starts_with("--") && a.len() > 2 {
            let long = format!("-{a}");
            if OPTS.iter().any(|o| o.names.contains(&long.as_str())) {
                return Err(Refusal::Usage(format!(
                    "Found invalid argument \"{a}\". Did you mean \"-{a}\"?"
                )));
            }
        }
    }
    let p = args::parse(OPTS, &argv)?;
    let actions: Vec<&str> = ["encrypt", "decrypt", "decrypt-unsigned"]
        .into_iter()
        .filter(|a| p.has(a))
        .collect();
    if p.has("version") {
        if !actions.is_empty() {
            return Err(Refusal::Usage(
                "argument --version: not allowed with argument -e/--encrypt".into(),
            ));
        }
        crate::write_out(format_args!(
            "sealbox/{} (aws-encryption-sdk-cli/4.3.0 compatible)\n",
            env!("CARGO_PKG_VERSION")
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mode = match actions.as_slice() {
        ["encrypt"] => Mode::Encrypt,
        ["decrypt"] => Mode::Decrypt,
        ["decrypt-unsigned"] => Mode::DecryptUnsigned,
        [] => return Err(Refusal::Usage("one of the arguments --version -e/--encrypt -d/--decrypt --decrypt-unsigned is required".into())),
        _ => return Err(Refusal::Usage("argument -d/--decrypt: not allowed with argument -e/--encrypt".into())),
    };
    let encrypt = mode == Mode::Encrypt;
    if p.has("suppress-metadata") && p.has("metadata-output") {
        return Err(Refusal::Usage(
            "argument --metadata-output: not allowed with argument -S/--suppress-metadata".into(),
        ));
    }
    let mut missing = Vec::new();
    if !p.has("suppress-metadata") && !p.has("metadata-output") {
        return Err(Refusal::Usage(
            "one of the arguments -S/--suppress-metadata --metadata-output is required".into(),
        ));
    }
    for (dest, flag) in [
        ("wrapping-keys", "-w/--wrapping-keys"),
        ("input", "-i/--input"),
        ("output", "-o/--output"),
    ] {
        if !p.has(dest) {
            missing.push(flag);
        }
    }
    if !missing.is_empty() {
        return Err(Refusal::Usage(format!(
            "the following arguments are required: {}",
            missing.join(", ")
        )));
    }
    let policy = match p.given.get("commitment-policy").and_then(|v| v.last()).and_then(|(_, v)| v.first()).map(String::as_str) {
        None | Some("require-encrypt-require-decrypt") => CommitmentPolicy::RequireEncryptRequireDecrypt,
        Some("require-encrypt-allow-decrypt") => CommitmentPolicy::RequireEncryptAllowDecrypt,
        Some("forbid-encrypt-allow-decrypt") => CommitmentPolicy::ForbidEncryptAllowDecrypt,
        Some(v) => return Err(Refusal::Usage(format!(
            "argument --commitment-policy: invalid choice: '{v}' (choose from 'forbid-encrypt-allow-decrypt', 'require-encrypt-allow-decrypt', 'require-encrypt-require-decrypt')"
        ))),
    };
    let suite = match p.one("algorithm") {
        None => None,
        Some(name) => Some(metadata::suite_by_name(name).ok_or_else(|| {
            Refusal::Usage(format!("argument --algorithm: invalid choice: '{name}'"))
        })?),
    };
    let frame_length = int_arg(&p, "frame-length", "--frame-length")?;
    let max_length = int_arg(&p, "max-length", "--max-length")?;
    let max_edks = int_arg(&p, "max-encrypted-data-keys", "--max-encrypted-data-keys")?;
    let jobs = int_arg(&p, "jobs", "--jobs")?;
    // Processed after parsing, as parse_args does: these refusals are usage errors too.
    if p.has("required-encryption-context-keys") {
        return Err(Refusal::Usage(
            "--required-encryption-context-keys cannot be manually provided".into(),
        ));
    }
    let specs = p
        .groups("wrapping-keys")
        .into_iter()
        .map(|g| wrapping_keys(g, encrypt))
        .collect::<Result<Vec<_>, _>>()?;
    let (context, required_keys) = match p.many("encryption-context") {
        None => (EncryptionContext::new(), Vec::new()),
        Some(words) if encrypt => (collapse(&kwargs(words)?), Vec::new()),
        Some(words) => {
            let (pairs, keys): (Vec<&String>, Vec<&String>) =
                words.iter().partition(|w| w.contains('='));
            let pairs: Vec<String> = pairs.into_iter().cloned().collect();
            (
                collapse(&kwargs(&pairs)?),
                keys.into_iter().cloned().collect(),
            )
        }
    };
    let caching = p.many("caching").map(caching).transpose()?;
    let quiet = p.has("quiet");
    let verbose = p.count("verbosity") > 0;

    // cli(): the materials manager, then the client, then the request (all failures exit 1).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Refusal::Failure(format!("cannot start the async runtime: {e}")))?;
    let rt = runtime.handle();
    let cmm =
        materials(rt, &specs, caching.as_ref()).map_err(|e| Refusal::Failure(format!("{e:#}")))?;
    let mut b = Client::builder().commitment_policy(policy);
    if let Some(s) = suite {
        b = b.algorithm_suite(s);
    }
    if let Some(n) = frame_length {
        // The Python ESDK's rule (a multiple of the AES block size, which it counts in bits: 128),
        // so that a command line the reference refuses is refused here too.
        if n < 0 || n % 128 != 0 || n > i64::from(u32::MAX) {
            return Err(Refusal::Failure(
                "Frame size must be a non-negative multiple of the block size of the crypto algorithm: 128".into(),
            ));
        }
        if n == 0 {
            return Err(Refusal::Failure(
                "--frame-length 0 asks for a non-framed message, which sealbox does not write (docs/cli.md)".into(),
            ));
        }
        b = b.frame_length(n as u32);
    }
    if let Some(n) = max_length {
        let n =
            u32::try_from(n).map_err(|_| Refusal::Failure(format!("invalid max length {n}")))?;
        b = b.max_frame_length(n);
    }
    if let Some(n) = max_edks {
        let n = u16::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
            Refusal::Failure(format!(
                "max_encrypted_data_keys cannot be less than 1: {n}"
            ))
        })?;
        b = b.max_encrypted_data_keys(n);
    }
    let client = b.build().map_err(|e| Refusal::Failure(format!("{e}")))?;

    let input = p.one("input").unwrap_or("-");
    let output = p.one("output").unwrap_or("-");
    let metadata_target = p
        .given
        .get("metadata-output")
        .and_then(|v| v.last())
        .and_then(|(_, v)| v.first())
        .cloned();
    if let Some(m) = &metadata_target {
        if m != "-" {
            let parent = std::path::absolute(m)
                .ok()
                .and_then(|a| a.parent().map(Path::to_path_buf));
            if !parent.is_some_and(|d| d.is_dir()) {
                return Err(Refusal::Usage(
                    "Parent directory for requested metdata file does not exist.".into(),
                ));
            }
        }
    }
    let overwrite = if p.has("no-overwrite") {
        Overwrite::Never
    } else if p.has("interactive") {
        Overwrite::Ask
    } else {
        Overwrite::Always
    };
    let items = batch::plan(&PlanArgs {
        mode,
        input,
        output,
        recursive: p.has("recursive"),
        suffix: p.one("suffix"),
        overwrite,
        metadata: metadata_target.as_deref(),
        quiet,
    })
    .map_err(|e| Refusal::Failure(format!("{e:#}")))?;
    let metadata = metadata_target
        .as_deref()
        .map(|m| batch::MetadataSink::open(Path::new(m), p.has("overwrite-metadata")))
        .transpose()
        .map_err(|e| Refusal::Failure(format!("{e:#}")))?;
    let engine = Engine {
        mode,
        client,
        cmm,
        context,
        required_keys,
        reproduce_context: false,
        buffer: p.has("buffer"),
        decode_input: p.has("decode"),
        encode_output: p.has("encode"),
        metadata,
        jobs: jobs.map_or_else(batch::default_jobs, |n| n.max(1) as usize),
        progress: !quiet,
        // aws-encryption-cli prints nothing on success: cron mails whatever a job prints, so the
        // summary appears on a terminal or with -v only.
        summary: !quiet
            && (verbose || std::io::IsTerminal::is_terminal(&std::io::stderr()))
            && items.len() > 1,
        made_dirs: Default::default(),
    };
    let outcome = engine.run(rt, items);
    Ok(outcome.code())
}

/// The keyrings of the `-w` groups (the first key generates), under a caching manager with
/// `--caching`.
fn materials(
    rt: &tokio::runtime::Handle,
    specs: &[KmsSpec],
    caching: Option<&Caching>,
) -> anyhow::Result<Arc<dyn MaterialsManager>> {
    let mut keyrings = crate::kms_keys::keyrings(rt, specs)?;
    let keyring: Arc<dyn Keyring> = match keyrings.len() {
        0 => return Err(anyhow!("No wrapping key provider configuration found")),
        1 => keyrings.remove(0),
        _ => {
            let generator = keyrings.remove(0);
            Arc::new(MultiKeyring::new(Some(generator), keyrings)?)
        }
    };
    let cmm = DefaultCmm::from_arc(keyring);
    let Some(c) = caching else {
        return Ok(Arc::new(cmm));
    };
    let mut b = CachingCmm::builder(cmm)
        .cache(LruMaterialsCache::new(c.capacity)?)
        .max_age(c.max_age);
    if let Some(n) = c.max_messages {
        b = b.max_messages(n);
    }
    if let Some(n) = c.max_bytes {
        b = b.max_bytes(n);
    }
    Ok(Arc::new(b.build()?))
}
