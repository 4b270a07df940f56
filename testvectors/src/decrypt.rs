//! Decrypt runner: awses-decrypt manifests v1 to v5 and the legacy Python manifest.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use sealbox::{
    Client, CommitmentPolicy, DecryptOptions, DefaultCmm, EncryptionContext, Keyring,
    MaterialsManager, MultiKeyring, PendingMessage, RawAesKeyring, RawRsaKeyring,
    RequiredEncryptionContextCmm, RsaPadding,
};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::{
    count_skip, load_keys, manifest_kind, needs_aws, read_json, resolve, KeyringFactory, NeedsAws,
    Report, Skip,
};

/// How a test gets its materials.
enum Cmm {
    Default(Arc<dyn Keyring>),
    /// Required keys: given, or (`None`) the reproduced keys that the header does not store.
    RequiredContext(Arc<dyn Keyring>, Option<Vec<String>>),
}

enum Expect {
    Plaintext(PathBuf),
    Error(String),
}

struct Case {
    ciphertext: PathBuf,
    expect: Expect,
    cmm: Cmm,
    reproduced: Option<EncryptionContext>,
    unsigned_only: bool,
}

type Cases = Vec<(String, anyhow::Result<Case>)>;

/// Decrypt every test of `manifest` (an awses-decrypt manifest, v1 to v5, or the Python ESDK
/// 1.3.0 `ciphertext.manifest`), sixteen at a time, with a client that reads every suite.
///
/// An error means the manifest itself could not be read; a test that fails is in
/// [`Report::failed`].
pub async fn decrypt_manifest(manifest: &Path) -> anyhow::Result<Report> {
    let v = read_json(manifest)?;
    let base = manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let cases = match manifest_kind(&v) {
        (t, n) if t == "awses-decrypt" && (1..=5).contains(&n) => awses_cases(&v, &base, n)?,
        (t, _) if t == "ciphertext" => legacy_cases(&v, &base)?,
        (t, n) => bail!("unsupported manifest type {t:?} version {n}"),
    };
    let client = Client::builder()
        .commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
        .build()?;
    let mut report = Report::default();
    let mut tasks = tokio::task::JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    for (id, case) in cases {
        let case = match case {
            Ok(c) => c,
            Err(e) if count_skip(&mut report, &e) => continue,
            Err(e) => {
                report.failed.push((id, format!("{e:#}")));
                continue;
            }
        };
        let client = client.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire().await;
            let result = run_case(&client, &case).await;
            (id, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (id, result) = joined.map_err(|e| anyhow!("test task failed: {e}"))?;
        match result {
            Ok(()) => report.passed += 1,
            Err(e) => report.failed.push((id, format!("{e:#}"))),
        }
    }
    report.failed.sort();
    Ok(report)
}

async fn run_case(client: &Client, case: &Case) -> anyhow::Result<()> {
    let message = std::fs::read(&case.ciphertext)
        .with_context(|| format!("cannot read {}", case.ciphertext.display()))?;
    let outcome = decrypt(client, case, &message).await;
    match (&case.expect, outcome) {
        (Expect::Plaintext(path), Ok(plaintext)) => {
            let expected =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if plaintext == expected {
                Ok(())
            } else {
                bail!("plaintext differs from {}", path.display())
            }
        }
        (Expect::Plaintext(_), Err(e)) => Err(e),
        (Expect::Error(_), Err(_)) => Ok(()),
        (Expect::Error(what), Ok(_)) => bail!("decrypted, but the test expects an error ({what})"),
    }
}

async fn decrypt(client: &Client, case: &Case, message: &[u8]) -> anyhow::Result<Vec<u8>> {
    // The header, read through the streaming API, for the required keys it does not store.
    let pending = PendingMessage::read(client, message)?;
    let cmm: Arc<dyn MaterialsManager> = match &case.cmm {
        Cmm::Default(k) => Arc::new(DefaultCmm::from_arc(k.clone())),
        Cmm::RequiredContext(k, keys) => {
            let stored = &pending.header().encryption_context;
            let required = match keys {
                Some(keys) => keys.clone(),
                None => case
                    .reproduced
                    .iter()
                    .flat_map(|ec| ec.keys())
                    .filter(|k| !stored.contains_key(*k))
                    .cloned()
                    .collect(),
            };
            let inner = Arc::new(DefaultCmm::from_arc(k.clone()));
            if required.is_empty() {
                inner
            } else {
                Arc::new(RequiredEncryptionContextCmm::new(inner, required)?)
            }
        }
    };
    if case.unsigned_only {
        // "streaming-unsigned-only": the streaming API with signed messages refused.
        let mut options = DecryptOptions::new().unsigned_only(true);
        if let Some(ec) = &case.reproduced {
            options = options.reproduced_context(ec.clone());
        }
        let mut reader = pending.decrypt(client, cmm.as_ref(), &options).await?;
        let mut plaintext = Vec::new();
        reader.read_to_end(&mut plaintext)?;
        return Ok(plaintext);
    }
    let out = match &case.reproduced {
        Some(ec) => {
            client
                .decrypt_with(
                    &cmm,
                    message,
                    &DecryptOptions::new().reproduced_context(ec.clone()),
                )
                .await?
        }
        None => client.decrypt(&cmm, message).await?,
    };
    Ok(out.plaintext)
}

fn context(v: &Value) -> anyhow::Result<Option<EncryptionContext>> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .ok_or_else(|| anyhow!("context value of {k:?} is not a string"))?;
                Ok((k.clone(), v.to_owned()))
            })
            .collect::<anyhow::Result<_>>()
            .map(Some),
        _ => bail!("encryption context is not an object"),
    }
}

fn awses_cases(v: &Value, base: &Path, version: u64) -> anyhow::Result<Cases> {
    let keys_uri = v["keys"]
        .as_str()
        .ok_or_else(|| anyhow!("manifest names no keys file"))?;
    let factory = KeyringFactory::new(load_keys(&resolve(base, keys_uri))?);
    let tests = v["tests"]
        .as_object()
        .ok_or_else(|| anyhow!("manifest has no tests"))?;
    let mut cases: Cases = tests
        .iter()
        .map(|(id, t)| {
            let case = if version == 5 {
                v5_case(&factory, base, t)
            } else {
                v1_to_v4_case(&factory, base, t, version)
            };
            (id.clone(), case)
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(cases)
}

fn v1_to_v4_case(f: &KeyringFactory, base: &Path, t: &Value, version: u64) -> anyhow::Result<Case> {
    let ciphertext = resolve(
        base,
        t["ciphertext"]
            .as_str()
            .ok_or_else(|| anyhow!("no ciphertext"))?,
    );
    let expect = if version == 1 {
        Expect::Plaintext(resolve(
            base,
            t["plaintext"]
                .as_str()
                .ok_or_else(|| anyhow!("no plaintext"))?,
        ))
    } else if let Some(p) = t["result"]["output"]["plaintext"].as_str() {
        Expect::Plaintext(resolve(base, p))
    } else if let Some(e) = t["result"].get("error") {
        Expect::Error(
            e["error-description"]
                .as_str()
                .unwrap_or("error")
                .to_owned(),
        )
    } else {
        bail!("test has neither an output nor an error")
    };
    let keyring = f.master_keys(&t["master-keys"], false)?;
    let cmm = match t["cmm"].as_str() {
        None | Some("Default") => Cmm::Default(keyring),
        Some("RequiredEncryptionContext") => Cmm::RequiredContext(keyring, None),
        Some(other) => return Err(Skip(format!("materials manager {other:?}")).into()),
    };
    Ok(Case {
        ciphertext,
        expect,
        cmm,
        reproduced: context(&t["encryption-context"])?,
        unsigned_only: t["decryption-method"].as_str() == Some("streaming-unsigned-only"),
    })
}

fn v5_case(f: &KeyringFactory, base: &Path, t: &Value) -> anyhow::Result<Case> {
    let s = t.get("decryption-scenario").unwrap_or(t);
    let ciphertext = resolve(
        base,
        s["ciphertext"]
            .as_str()
            .ok_or_else(|| anyhow!("no ciphertext"))?,
    );
    let negative = s["type"].as_str().is_some_and(|ty| ty.contains("negative"))
        || s.get("errorDescription").is_some()
        || s.get("error").is_some();
    let expect = if negative {
        Expect::Error(
            s["errorDescription"]
                .as_str()
                .unwrap_or("negative test")
                .to_owned(),
        )
    } else {
        let r = s["result"].as_str().or_else(|| s["plaintext"].as_str());
        Expect::Plaintext(resolve(base, r.ok_or_else(|| anyhow!("no result"))?))
    };
    let kd = &s["decryptKeyDescription"];
    let cmm = if kd["type"].as_str() == Some("required-encryption-context-cmm") {
        let keys = kd["requiredEncryptionContextKeys"]
            .as_array()
            .ok_or_else(|| anyhow!("no requiredEncryptionContextKeys"))?
            .iter()
            .map(|k| {
                k.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("bad required key"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Cmm::RequiredContext(key_description(f, &kd["underlying"])?, Some(keys))
    } else {
        Cmm::Default(key_description(f, kd)?)
    };
    Ok(Case {
        ciphertext,
        expect,
        cmm,
        reproduced: context(&s["reproduced-encryption-context"])?,
        unsigned_only: s["decryption-method"].as_str() == Some("streaming-unsigned-only"),
    })
}

/// A v5 keyring description: raw, multi-keyring, or a type sealbox skips.
fn key_description(f: &KeyringFactory, kd: &Value) -> anyhow::Result<Arc<dyn Keyring>> {
    match kd["type"].as_str() {
        Some("raw") | Some("aws-kms-hierarchy") | Some("raw-ecdh") => f.raw(kd, false),
        Some("multi-keyring") => {
            let generator = match &kd["generator"] {
                Value::Null => None,
                g => Some(key_description(f, g)?),
            };
            let children = kd["childKeyrings"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|k| key_description(f, k))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
                .transpose()?
                .unwrap_or_default();
            Ok(Arc::new(MultiKeyring::new(generator, children)?))
        }
        // The asymmetric KMS keyrings (and the symmetric ones): the description is read, and the
        // test reported as needing AWS KMS rather than failing the manifest.
        Some(ty) if needs_aws(ty) => {
            let wants_key = !matches!(ty, "aws-kms-mrk-aware-discovery" | "aws-kms-ecdh");
            if wants_key && kd["key"].as_str().is_none() {
                bail!("{ty} key description without a key");
            }
            if ty == "aws-kms-rsa"
                && !matches!(
                    kd["encryption-algorithm"].as_str(),
                    Some("RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256")
                )
            {
                bail!("aws-kms-rsa key description without RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256");
            }
            Err(NeedsAws(format!("keyring type {ty:?}")).into())
        }
        other => Err(Skip(format!("keyring type {other:?}")).into()),
    }
}

/// The Python 1.3.0 `ciphertext.manifest` format.
fn legacy_cases(v: &Value, base: &Path) -> anyhow::Result<Cases> {
    let keys = &v["test_keys"];
    let material = |alg: &str, bits: &str| -> anyhow::Result<String> {
        let k = &keys[alg][bits];
        let lines = k["key"]
            .as_array()
            .ok_or_else(|| anyhow!("no {alg} {bits} key"))?;
        Ok(lines
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(k["line_separator"].as_str().unwrap_or("")))
    };
    let mut cases = Cases::new();
    let tests = v["test_cases"]
        .as_array()
        .ok_or_else(|| anyhow!("no test_cases"))?;
    for t in tests {
        let ct = t["ciphertext"]["filename"].as_str().unwrap_or_default();
        let case = (|| -> anyhow::Result<Case> {
            let suite_id = u16::from_str_radix(t["algorithm"].as_str().unwrap_or_default(), 16)?;
            let suite = sealbox::AlgorithmSuite::from_id(suite_id)
                .ok_or_else(|| anyhow!("unknown suite {suite_id:04x}"))?;
            let mut keyrings: Vec<Arc<dyn Keyring>> = Vec::new();
            for mk in t["master_keys"]
                .as_array()
                .ok_or_else(|| anyhow!("no master_keys"))?
            {
                if mk["decryptable"].as_bool() != Some(true) {
                    continue;
                }
                let ns = mk["provider_id"].as_str().unwrap_or_default();
                match mk["encryption_algorithm"].as_str() {
                    Some("AES") => {
                        let bits = (suite.data_key_len() * 8).to_string();
                        let key = base64_decode(&material("AES", &bits)?)?;
                        keyrings.push(Arc::new(RawAesKeyring::new(
                            ns,
                            &format!("AES.{bits}.."),
                            key,
                        )?));
                    }
                    Some("RSA") => {
                        let bits = mk["key_bits"].as_u64().unwrap_or(2048).to_string();
                        let alg = mk["padding_algorithm"].as_str().unwrap_or_default();
                        let hash = mk["padding_hash"].as_str().unwrap_or_default();
                        let padding = match (alg, hash) {
                            ("PKCS1", _) => RsaPadding::Pkcs1,
                            ("OAEP-MGF1", "SHA-1") => RsaPadding::OaepSha1,
                            ("OAEP-MGF1", "SHA-256") => RsaPadding::OaepSha256,
                            _ => bail!("unknown padding {alg} {hash}"),
                        };
                        let name = format!("RSA.{bits}.{alg}.{hash}");
                        keyrings.push(Arc::new(
                            RawRsaKeyring::new(ns, &name, padding)?
                                .with_private_key_pem(&material("RSA", &bits)?)?,
                        ));
                    }
                    other => return Err(Skip(format!("master key type {other:?}")).into()),
                }
            }
            let generator = keyrings
                .pop()
                .ok_or_else(|| anyhow!("no decryptable master key"))?;
            let keyring: Arc<dyn Keyring> = if keyrings.is_empty() {
                generator
            } else {
                Arc::new(MultiKeyring::new(Some(generator), keyrings)?)
            };
            Ok(Case {
                ciphertext: base.join("..").join(ct),
                expect: Expect::Plaintext(
                    base.join("..")
                        .join(t["plaintext"]["filename"].as_str().unwrap_or_default()),
                ),
                cmm: Cmm::Default(keyring),
                reproduced: None,
                unsigned_only: false,
            })
        })();
        cases.push((ct.to_owned(), case));
    }
    Ok(cases)
}

fn base64_decode(s: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    use base64::Engine as _;
    Ok(Zeroizing::new(
        base64::engine::general_purpose::STANDARD.decode(s.trim())?,
    ))
}
