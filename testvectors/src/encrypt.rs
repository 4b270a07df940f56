//! Encrypt runner: an awses-decrypt v2 set from an awses-encrypt manifest, so that other ESDKs
//! can check what sealbox writes.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use rand::RngCore;
use sealbox::{AlgorithmSuite, Client, CommitmentPolicy, DefaultCmm, EncryptionContext};
use serde_json::{json, Map, Value};

use crate::{load_keys, manifest_kind, read_json, resolve, KeyringFactory, Material, Report, Skip};

/// Encrypt every raw-key, framed test of the awses-encrypt manifest (v1, v2) `manifest` with
/// fresh random plaintexts, and write an awses-decrypt v2 set into `outdir`: `manifest.json`,
/// `keys.json`, `ciphertexts/`, `plaintexts/`. Non-framed tests (which the specification no
/// longer lets an encryptor write) and tests with other keys are skipped.
///
/// An error means the manifest could not be read or the set could not be written; a test that
/// fails is in [`Report::failed`] and left out of the set.
pub async fn encrypt_manifest(manifest: &Path, outdir: &Path) -> anyhow::Result<Report> {
    let v = read_json(manifest)?;
    match manifest_kind(&v) {
        (t, n) if t == "awses-encrypt" && (n == 1 || n == 2) => {}
        (t, n) => bail!("not an awses-encrypt v1/v2 manifest: {t:?} version {n}"),
    }
    let base = manifest.parent().unwrap_or(Path::new("."));
    let keys_path = resolve(
        base,
        v["keys"]
            .as_str()
            .ok_or_else(|| anyhow!("manifest names no keys file"))?,
    );
    let keys = load_keys(&keys_path)?;

    // RSA public and private keys share one key name, so that what the public key wrapped the
    // private key unwraps: "rsa-4096-private" and "rsa-4096-public" both write "rsa-4096".
    let mut names = HashMap::new();
    let mut private_of = HashMap::new();
    for (name, key) in &keys {
        if let Material::RsaPublic(_) = key.material {
            let stem = name.trim_end_matches("-public");
            let private = format!("{stem}-private");
            if matches!(
                keys.get(&private).map(|k| &k.material),
                Some(Material::RsaPrivate(_))
            ) {
                names.insert(name.clone(), stem.to_owned());
                names.insert(private.clone(), stem.to_owned());
                private_of.insert(name.clone(), private);
            }
        }
    }
    let factory = KeyringFactory::new(keys).with_names(names.clone());

    std::fs::create_dir_all(outdir.join("ciphertexts"))?;
    std::fs::create_dir_all(outdir.join("plaintexts"))?;
    let mut plaintexts = HashMap::new();
    for (name, size) in v["plaintexts"]
        .as_object()
        .ok_or_else(|| anyhow!("no plaintexts"))?
    {
        let size = size
            .as_u64()
            .ok_or_else(|| anyhow!("plaintext size of {name} is not a number"))?;
        let mut data = vec![0u8; size as usize];
        rand::thread_rng().fill_bytes(&mut data);
        std::fs::write(outdir.join("plaintexts").join(name), &data)?;
        plaintexts.insert(name.clone(), data);
    }

    let tests = v["tests"]
        .as_object()
        .ok_or_else(|| anyhow!("manifest has no tests"))?;
    let mut ids: Vec<&String> = tests.keys().collect();
    ids.sort();
    let mut report = Report::default();
    let mut out_tests = Map::new();
    for id in ids {
        let t = &tests[id];
        match encrypt_one(&factory, &plaintexts, t, outdir, id).await {
            Ok(()) => {
                let decrypt_keys: Vec<Value> = t["master-keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|mk| {
                        let mut mk = mk.clone();
                        // Decrypting needs the private half of an RSA pair.
                        if let Some(private) = mk["key"].as_str().and_then(|k| private_of.get(k)) {
                            mk["key"] = json!(private);
                        }
                        // An ephemeral sender keeps no key: the recipient decrypts by discovery.
                        if mk["type"] == "raw-ecdh" && mk["schema"] == "ephemeral" {
                            mk["schema"] = json!("discovery");
                        }
                        mk
                    })
                    .collect();
                out_tests.insert(
                    id.clone(),
                    json!({
                        "ciphertext": format!("file://ciphertexts/{id}"),
                        "master-keys": decrypt_keys,
                        "result": {"output": {"plaintext": format!("file://plaintexts/{}", t["plaintext"].as_str().unwrap_or_default())}},
                    }),
                );
                report.passed += 1;
            }
            Err(e) if crate::count_skip(&mut report, &e) => {}
            Err(e) => report.failed.push((id.clone(), format!("{e:#}"))),
        }
    }

    // The keys manifest, with RSA pairs under their shared name.
    let mut keys_json = read_json(&keys_path)?;
    if let Some(obj) = keys_json["keys"].as_object_mut() {
        for (name, shared) in &names {
            if let Some(k) = obj.get_mut(name) {
                k["key-id"] = json!(shared);
            }
        }
    }
    keys_json["manifest"] = json!({"type": "keys", "version": 3});
    std::fs::write(
        outdir.join("keys.json"),
        serde_json::to_vec_pretty(&keys_json)?,
    )?;
    let manifest = json!({
        "manifest": {"type": "awses-decrypt", "version": 2},
        "client": {"name": "sealbox", "version": env!("CARGO_PKG_VERSION")},
        "keys": "file://keys.json",
        "tests": out_tests,
    });
    std::fs::write(
        outdir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )
    .context("cannot write manifest.json")?;
    Ok(report)
}

async fn encrypt_one(
    factory: &KeyringFactory,
    plaintexts: &HashMap<String, Vec<u8>>,
    t: &Value,
    outdir: &Path,
    id: &str,
) -> anyhow::Result<()> {
    let frame = t["frame-size"]
        .as_u64()
        .ok_or_else(|| anyhow!("no frame-size"))?;
    if frame == 0 {
        // The current specification forbids writing non-framed messages.
        return Err(Skip("non-framed".into()).into());
    }
    let suite_id = u16::from_str_radix(t["algorithm"].as_str().unwrap_or_default(), 16)?;
    let suite =
        AlgorithmSuite::from_id(suite_id).ok_or_else(|| anyhow!("unknown suite {suite_id:04x}"))?;
    let keyring = factory.master_keys(&t["master-keys"], true)?;
    let plaintext = plaintexts
        .get(t["plaintext"].as_str().unwrap_or_default())
        .ok_or_else(|| anyhow!("unknown plaintext"))?;
    let ec: EncryptionContext = t["encryption-context"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                v.as_str()
                    .ok_or_else(|| anyhow!("bad context value"))?
                    .to_owned(),
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let policy = if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    };
    let client = Client::builder()
        .commitment_policy(policy)
        .algorithm_suite(suite)
        .frame_length(u32::try_from(frame)?)
        .build()?;
    let message = client
        .encrypt(&DefaultCmm::from_arc(keyring), plaintext, &ec)
        .await?;
    std::fs::write(outdir.join("ciphertexts").join(id), message)?;
    Ok(())
}
