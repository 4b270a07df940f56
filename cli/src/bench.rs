//! `sealbox bench`: sealbox's throughput next to the raw primitives of its own crypto backend,
//! measured in the same run, one JSON object per line.
//!
//! Every figure is timed in several runs after a warm-up, and the best run is reported: on a
//! shared machine noise only ever slows a run down, so the best run is the one closest to what
//! the code can do. Baselines are timed the same way, right before the figures they divide.
//! Everything runs on one thread (a current-thread runtime for the async materials calls).

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rand::RngCore;
use sealbox::{AlgorithmSuite, CachingCmm, Client, EncryptionContext, RawAesKeyring};
use serde_json::json;
use tokio::runtime::Runtime;
use zeroize::Zeroizing;

/// `sealbox bench`.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// The crypto backend to measure: rustcrypto or aws-lc. The backend is chosen when sealbox
    /// is built (`--features aws-lc`); this only checks that the binary has the one you expect.
    #[arg(long)]
    backend: Option<String>,
    /// A short smoke run (1 MiB bulk message, a few milliseconds per figure): checks that every
    /// figure runs, measures nothing worth reporting.
    #[arg(long)]
    quick: bool,
    /// Only these figures (comma-separated names, e.g. `small_cached_encrypt`): for profiling.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// How long to time things.
#[derive(Clone, Copy)]
struct Timing {
    warmup: Duration,
    run: Duration,
    runs: u32,
    bulk_len: usize,
}

/// Every figure, in the order they are printed.
const NAMES: [&str; 6] = [
    "bulk_encrypt",
    "bulk_decrypt",
    "small_cached_encrypt",
    "small_cached_decrypt",
    "sign_encrypt",
    "verify_decrypt",
];
const FRAME: usize = 4096;
const SMALL: usize = 1024;

pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let backend = sealbox::crypto_backend();
    if let Some(wanted) = &args.backend {
        if wanted != backend {
            bail!(
                "this sealbox was built with the {backend} crypto backend, not {wanted}: \
                 build it with `cargo build --release -p sealbox-cli{}`",
                match wanted.as_str() {
                    "aws-lc" => " --features aws-lc",
                    "aws-lc-fips" => " --features fips",
                    _ => "",
                }
            );
        }
    }
    let baselines = baseline::for_backend(backend)?;
    let timing = if args.quick {
        Timing {
            warmup: Duration::from_millis(2),
            run: Duration::from_millis(5),
            runs: 1,
            bulk_len: 1 << 20,
        }
    } else {
        Timing {
            warmup: Duration::from_millis(300),
            run: Duration::from_millis(400),
            runs: 5,
            bulk_len: 64 << 20,
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the async runtime")?;
    for name in &args.only {
        if !NAMES.contains(&name.as_str()) {
            bail!(
                "no figure named {name:?}; the figures are {}",
                NAMES.join(", ")
            );
        }
    }
    let want = |name: &str| args.only.is_empty() || args.only.iter().any(|n| n == name);
    figures(&runtime, backend, &*baselines, timing, &want)?;
    Ok(ExitCode::SUCCESS)
}

fn emit(backend: &str, name: &str, value: f64, unit: &str, baseline: Option<f64>) {
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let line = json!({
        "name": name,
        "value": round(value),
        "unit": unit,
        "baseline": baseline.map(round),
        "ratio": baseline.map(|b| ((value / b) * 1000.0).round() / 1000.0),
        "backend": backend,
    });
    println!("{line}");
}

/// The best rate of `runs` runs of `op`, each repeated for at least `timing.run`; `op` returns
/// how many units (bytes, messages) it processed and how long the part that counts took.
fn best_rate(
    timing: Timing,
    mut op: impl FnMut() -> anyhow::Result<(u64, Duration)>,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    while start.elapsed() < timing.warmup {
        op()?;
    }
    let mut best = 0f64;
    for _ in 0..timing.runs {
        let (mut units, mut spent) = (0u64, Duration::ZERO);
        while spent < timing.run {
            let (n, d) = op()?;
            units += n;
            spent += d;
        }
        best = best.max(units as f64 / spent.as_secs_f64());
    }
    Ok(best)
}

/// Run `f` on `rt` and time it.
fn timed<T>(
    rt: &Runtime,
    f: impl Future<Output = Result<T, sealbox::Error>>,
) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    let out = rt.block_on(f)?;
    Ok((out, start.elapsed()))
}

/// A batch of small operations, timed together so that the clock is read once per batch.
fn small_batch<T, Fut>(rt: &Runtime, mut op: impl FnMut() -> Fut) -> anyhow::Result<(u64, Duration)>
where
    Fut: Future<Output = Result<T, sealbox::Error>>,
{
    const BATCH: u64 = 64;
    let start = Instant::now();
    rt.block_on(async {
        for _ in 0..BATCH {
            std::hint::black_box(op().await?);
        }
        Ok::<_, sealbox::Error>(())
    })?;
    Ok((BATCH, start.elapsed()))
}

fn cached_cmm() -> anyhow::Result<CachingCmm> {
    let keyring = RawAesKeyring::new("bench", "key", Zeroizing::new(vec![0x5a; 32]))?;
    Ok(CachingCmm::builder_with_keyring(keyring)
        .max_age(Duration::from_secs(3600))
        .build()?)
}

fn context() -> EncryptionContext {
    let mut c = EncryptionContext::new();
    c.insert("purpose".into(), "sealbox bench".into());
    c
}

fn figures(
    rt: &Runtime,
    backend: &str,
    baselines: &dyn baseline::Baselines,
    timing: Timing,
    want: &dyn Fn(&str) -> bool,
) -> anyhow::Result<()> {
    let mut rng = rand::thread_rng();
    let context = context();
    let cmm = cached_cmm()?;
    let committing = Client::builder()
        .algorithm_suite(AlgorithmSuite::Aes256GcmHkdfSha512Commit)
        .build()?;
    let signing = Client::builder()
        .algorithm_suite(AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384)
        .build()?;
    let mb = |bytes_per_s: f64| bytes_per_s / 1e6;

    // Bulk: one message of `bulk_len` bytes in 4 KiB frames, against AES-GCM over the same
    // number of bytes in 4 KiB chunks, in place.
    let len = timing.bulk_len as u64;
    let bulk = want("bulk_encrypt") || want("bulk_decrypt");
    let mut buf = vec![0u8; if bulk { timing.bulk_len } else { 0 }];
    rng.fill_bytes(&mut buf);
    let plaintext = buf.clone();
    // The message and plaintext buffers are reused, as the baseline's buffer is: a fresh 64 MiB
    // allocation would add the kernel's page faults to every run.
    let mut message = Vec::new();
    if bulk {
        // Decrypting needs a message even when only bulk_decrypt is asked for.
        rt.block_on(committing.encrypt_into(&cmm, &plaintext, &context, &mut message))?;
    }
    if want("bulk_encrypt") {
        let seal = best_rate(timing, || {
            let start = Instant::now();
            baselines.aes_gcm_seal(&mut buf, FRAME);
            Ok((len, start.elapsed()))
        })?;
        let mut out = Vec::new();
        let encrypt = best_rate(timing, || {
            out.clear();
            let ((), spent) = timed(
                rt,
                committing.encrypt_into(&cmm, &plaintext, &context, &mut out),
            )?;
            Ok((len, spent))
        })?;
        emit(backend, "bulk_encrypt", mb(encrypt), "MB/s", Some(mb(seal)));
    }

    let mut decrypted = Vec::new();
    if want("bulk_decrypt") {
        let open = best_rate(timing, || {
            Ok((len, baselines.aes_gcm_open(&mut buf, FRAME)))
        })?;
        let decrypt = best_rate(timing, || {
            decrypted.clear();
            let (_, spent) = timed(rt, committing.decrypt_into(&cmm, &message, &mut decrypted))?;
            Ok((len, spent))
        })?;
        if decrypted != plaintext {
            bail!("bulk decrypt returned the wrong plaintext");
        }
        emit(backend, "bulk_decrypt", mb(decrypt), "MB/s", Some(mb(open)));
    }
    drop((buf, plaintext, message, decrypted));

    // Small messages with a warm cache: every message after the first reuses the data key (and,
    // signed, the signing key; decrypting, the verification key).
    let small = vec![0x42u8; SMALL];
    for (client, enc_name, dec_name, signed) in [
        (
            &committing,
            "small_cached_encrypt",
            "small_cached_decrypt",
            false,
        ),
        (&signing, "sign_encrypt", "verify_decrypt", true),
    ] {
        let one = rt.block_on(client.encrypt(&cmm, &small, &context))?;
        if want(enc_name) {
            let baseline = if signed {
                Some(best_rate(timing, || {
                    Ok((1, baselines.ecdsa_p384_sign(&small)))
                })?)
            } else {
                None
            };
            let enc = best_rate(timing, || {
                small_batch(rt, || client.encrypt(&cmm, &small, &context))
            })?;
            emit(backend, enc_name, enc, "messages/s", baseline);
        }
        if want(dec_name) {
            let baseline = if signed {
                Some(best_rate(timing, || {
                    Ok((1, baselines.ecdsa_p384_verify(&small)))
                })?)
            } else {
                None
            };
            let dec = best_rate(timing, || small_batch(rt, || client.decrypt(&cmm, &one)))?;
            emit(backend, dec_name, dec, "messages/s", baseline);
        }
    }
    let stats = cmm.stats();
    if stats.misses > 4 {
        bail!("the cache was not warm: {stats:?}");
    }
    Ok(())
}

/// The backends' own primitives, called directly (not through sealbox).
mod baseline {
    use std::time::{Duration, Instant};

    /// Raw primitives of one backend.
    pub(super) trait Baselines {
        /// AES-256-GCM-seal `buf` in place in `chunk`-byte pieces.
        fn aes_gcm_seal(&self, buf: &mut [u8], chunk: usize);
        /// AES-256-GCM-open `buf` in place in `chunk`-byte pieces; returns the time the opens
        /// took (sealing them first is not counted).
        fn aes_gcm_open(&self, buf: &mut [u8], chunk: usize) -> Duration;
        /// Hash `message` with SHA-384 and sign it with ECDSA P-384; returns the time taken.
        fn ecdsa_p384_sign(&self, message: &[u8]) -> Duration;
        /// Verify a P-384 signature over `message` with a parsed public key; returns the time
        /// taken.
        fn ecdsa_p384_verify(&self, message: &[u8]) -> Duration;
    }

    pub(super) fn for_backend(backend: &str) -> anyhow::Result<Box<dyn Baselines>> {
        match backend {
            "rustcrypto" => Ok(Box::new(rustcrypto::RustCrypto::new())),
            #[cfg(feature = "aws-lc")]
            "aws-lc" | "aws-lc-fips" => Ok(Box::new(awslc::AwsLc::new()?)),
            other => anyhow::bail!(
                "sealbox uses the {other} crypto backend, but this sealbox CLI was built without \
                 its baselines: build it with `cargo build --release -p sealbox-cli --features \
                 aws-lc` (the CLI's feature, which turns on the library's)"
            ),
        }
    }

    fn time(f: impl FnOnce()) -> Duration {
        let start = Instant::now();
        f();
        start.elapsed()
    }

    mod rustcrypto {
        // aes-gcm 0.10 exposes generic-array 0.14, deprecated in favour of 1.x.
        #![allow(deprecated)]

        use aes_gcm::aead::generic_array::GenericArray;
        use aes_gcm::aead::{AeadInPlace, KeyInit};
        use aes_gcm::Aes256Gcm;
        use p384::ecdsa::signature::{DigestSigner, DigestVerifier};
        use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
        use sha2::{Digest, Sha384};

        use super::{time, Baselines, Duration};

        pub(in super::super) struct RustCrypto {
            aead: Aes256Gcm,
            signing: SigningKey,
            verifying: VerifyingKey,
        }

        impl RustCrypto {
            pub(in super::super) fn new() -> Self {
                let signing = SigningKey::random(&mut rand::rngs::OsRng);
                RustCrypto {
                    aead: Aes256Gcm::new(&[0x11; 32].into()),
                    verifying: *signing.verifying_key(),
                    signing,
                }
            }

            fn seal(&self, buf: &mut [u8], chunk: usize, tags: &mut Vec<[u8; 16]>) {
                tags.clear();
                for (i, c) in buf.chunks_mut(chunk).enumerate() {
                    let nonce = nonce(i);
                    let tag = self
                        .aead
                        .encrypt_in_place_detached(GenericArray::from_slice(&nonce), b"", c)
                        .unwrap_or_default();
                    tags.push(tag.into());
                }
            }
        }

        fn nonce(i: usize) -> [u8; 12] {
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&(i as u64).to_be_bytes());
            n
        }

        impl Baselines for RustCrypto {
            fn aes_gcm_seal(&self, buf: &mut [u8], chunk: usize) {
                let mut tags = Vec::with_capacity(buf.len() / chunk + 1);
                self.seal(buf, chunk, &mut tags);
            }

            fn aes_gcm_open(&self, buf: &mut [u8], chunk: usize) -> Duration {
                let mut tags = Vec::with_capacity(buf.len() / chunk + 1);
                self.seal(buf, chunk, &mut tags);
                let mut ok = true;
                let spent = time(|| {
                    for (i, c) in buf.chunks_mut(chunk).enumerate() {
                        let nonce = nonce(i);
                        ok &= self
                            .aead
                            .decrypt_in_place_detached(
                                GenericArray::from_slice(&nonce),
                                b"",
                                c,
                                GenericArray::from_slice(&tags[i]),
                            )
                            .is_ok();
                    }
                });
                assert!(ok, "baseline AES-GCM open failed");
                spent
            }

            fn ecdsa_p384_sign(&self, message: &[u8]) -> Duration {
                time(|| {
                    let sig: Signature = self.signing.sign_digest(Sha384::new_with_prefix(message));
                    std::hint::black_box(sig);
                })
            }

            fn ecdsa_p384_verify(&self, message: &[u8]) -> Duration {
                let sig: Signature = self.signing.sign_digest(Sha384::new_with_prefix(message));
                let mut ok = false;
                let spent = time(|| {
                    ok = self
                        .verifying
                        .verify_digest(Sha384::new_with_prefix(message), &sig)
                        .is_ok();
                });
                assert!(ok, "baseline ECDSA verify failed");
                spent
            }
        }
    }

    #[cfg(feature = "aws-lc")]
    mod awslc {
        use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{
            EcdsaKeyPair, KeyPair, ParsedPublicKey, ECDSA_P384_SHA384_ASN1,
            ECDSA_P384_SHA384_ASN1_SIGNING,
        };

        use super::{time, Baselines, Duration};

        pub(in super::super) struct AwsLc {
            aead: LessSafeKey,
            signing: EcdsaKeyPair,
            verifying: ParsedPublicKey,
            rng: SystemRandom,
        }

        impl AwsLc {
            pub(in super::super) fn new() -> anyhow::Result<Self> {
                let err = |_| anyhow::anyhow!("aws-lc refused a baseline key");
                let signing =
                    EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).map_err(err)?;
                let verifying =
                    ParsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, signing.public_key().as_ref())
                        .map_err(|_| anyhow::anyhow!("aws-lc refused a baseline public key"))?;
                Ok(AwsLc {
                    aead: LessSafeKey::new(
                        UnboundKey::new(&AES_256_GCM, &[0x11; 32]).map_err(err)?,
                    ),
                    signing,
                    verifying,
                    rng: SystemRandom::new(),
                })
            }

            fn seal(&self, buf: &mut [u8], chunk: usize, tags: &mut Vec<[u8; 16]>) {
                tags.clear();
                for (i, c) in buf.chunks_mut(chunk).enumerate() {
                    let mut tag = [0u8; 16];
                    if let Ok(t) = self
                        .aead
                        .seal_in_place_separate_tag(nonce(i), Aad::empty(), c)
                    {
                        tag.copy_from_slice(t.as_ref());
                    }
                    tags.push(tag);
                }
            }
        }

        fn nonce(i: usize) -> Nonce {
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&(i as u64).to_be_bytes());
            Nonce::assume_unique_for_key(n)
        }

        impl Baselines for AwsLc {
            fn aes_gcm_seal(&self, buf: &mut [u8], chunk: usize) {
                let mut tags = Vec::with_capacity(buf.len() / chunk + 1);
                self.seal(buf, chunk, &mut tags);
            }

            fn aes_gcm_open(&self, buf: &mut [u8], chunk: usize) -> Duration {
                let mut tags = Vec::with_capacity(buf.len() / chunk + 1);
                self.seal(buf, chunk, &mut tags);
                let mut ok = true;
                let spent = time(|| {
                    for (i, c) in buf.chunks_mut(chunk).enumerate() {
                        ok &= self
                            .aead
                            .open_in_place_separate_tag(nonce(i), Aad::empty(), &tags[i], c)
                            .is_ok();
                    }
                });
                assert!(ok, "baseline AES-GCM open failed");
                spent
            }

            fn ecdsa_p384_sign(&self, message: &[u8]) -> Duration {
                time(|| {
                    // `sign` hashes the message with SHA-384 first.
                    std::hint::black_box(self.signing.sign(&self.rng, message).ok());
                })
            }

            fn ecdsa_p384_verify(&self, message: &[u8]) -> Duration {
                let sig = self.signing.sign(&self.rng, message).ok();
                let sig = sig.as_ref().map(|s| s.as_ref()).unwrap_or_default();
                let mut ok = false;
                let spent = time(|| {
                    ok = self.verifying.verify_sig(message, sig).is_ok();
                });
                assert!(ok, "baseline ECDSA verify failed");
                spent
            }
        }
    }
}
