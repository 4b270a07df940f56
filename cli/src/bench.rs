//! `sealbox bench`: sealbox's throughput next to the raw primitives of its own crypto backend,
//! measured in the same run, one JSON object per line.
//!
//! Everything runs on one thread (a current-thread runtime for the async materials calls) and is
//! timed by that thread's CPU time (where the platform has it; the wall clock elsewhere): on a
//! shared machine the wall clock also counts the time other processes had the CPU. Each figure
//! and its baseline are timed in alternating runs after a warm-up, so that both see the same
//! conditions, and the best run of each is reported: noise only ever slows a run down.

use std::cell::RefCell;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use anyhow::{bail, Context as _};
use clap::Args;
use rand::RngCore;
use sealbox::{
    AlgorithmSuite, BranchKeyMaterials, CachingCmm, Client, DefaultCmm, EncryptionContext,
    HierarchicalKeyring, RawAesKeyring, StaticBranchKeyStore,
};
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
    /// Size of the bulk message in MiB (default 64; 1 with --quick).
    #[arg(long, value_name = "MIB")]
    bulk_mib: Option<usize>,
    /// Time the bulk figures with the copying calls (`encrypt_into`, `decrypt_into`: plaintext
    /// and message in separate buffers) instead of the in-place ones.
    #[arg(long)]
    copying: bool,
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
const NAMES: [&str; 8] = [
    "bulk_encrypt",
    "bulk_decrypt",
    "small_cached_encrypt",
    "small_cached_decrypt",
    "sign_encrypt",
    "verify_decrypt",
    "hierarchy_encrypt",
    "hierarchy_decrypt",
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
    let timing = Timing {
        bulk_len: args.bulk_mib.map_or(timing.bulk_len, |m| m.max(1) << 20),
        ..timing
    };
    let want = |name: &str| args.only.is_empty() || args.only.iter().any(|n| n == name);
    figures(&runtime, backend, &*baselines, timing, &want, args.copying)?;
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
    outln!("{line}");
}

/// CPU time of the calling thread.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The wall clock, where the thread's CPU time is not at hand.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn cpu_now() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// Time `f`.
fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = cpu_now();
    let out = f();
    (out, cpu_now().saturating_sub(start))
}

/// One thing to time: it returns how many units (bytes, messages) it processed and how long the
/// part that counts took.
type Op<'a> = &'a mut dyn FnMut() -> Result<(u64, Duration)>;

/// The best rate (units per second) of each of `ops`, timed in alternating runs of at least
/// `timing.run` each, after a warm-up of each.
fn best_rates(timing: Timing, ops: &mut [Op<'_>]) -> Result<Vec<f64>> {
    for op in ops.iter_mut() {
        let start = Instant::now();
        while start.elapsed() < timing.warmup {
            op()?;
        }
    }
    let mut best = vec![0f64; ops.len()];
    for _ in 0..timing.runs {
        for (op, best) in ops.iter_mut().zip(&mut best) {
            let (mut units, mut spent) = (0u64, Duration::ZERO);
            while spent < timing.run {
                let (n, d) = op()?;
                units += n;
                spent += d.max(Duration::from_nanos(1));
            }
            *best = best.max(units as f64 / spent.as_secs_f64());
        }
    }
    Ok(best)
}

/// Run `f` on `rt` and time it.
fn timed<T>(
    rt: &Runtime,
    f: impl Future<Output = Result<T, sealbox::Error>>,
) -> Result<(T, Duration)> {
    let (out, spent) = time(|| rt.block_on(f));
    Ok((out?, spent))
}

/// Read one byte of every cache line of `flush`, which is larger than the caches.
fn flush_caches(flush: &[u8]) {
    let x = flush.iter().step_by(64).fold(0u8, |a, b| a ^ b);
    std::hint::black_box(x);
}

/// A batch of small operations, timed together so that the clock is read once per batch.
fn small_batch<T, Fut>(rt: &Runtime, mut op: impl FnMut() -> Fut) -> Result<(u64, Duration)>
where
    Fut: Future<Output = Result<T, sealbox::Error>>,
{
    const BATCH: u64 = 64;
    let ((), spent) = timed(rt, async {
        for _ in 0..BATCH {
            std::hint::black_box(op().await?);
        }
        Ok(())
    })?;
    Ok((BATCH, spent))
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
    copying: bool,
) -> Result<()> {
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
    // number of bytes in 4 KiB chunks, in place. sealbox encrypts and decrypts in place too
    // (`encrypt_in_place`, `decrypt_in_place`), so both sides move the same bytes through
    // memory, and they use the same buffer: two buffers differ in where their pages sit in
    // physical memory, and with two the ratio spread about twice as wide from run to run. The
    // buffer is reused (a fresh 64 MiB allocation would add the kernel's page faults to every
    // run), and before every timed run the caches are flushed by reading a buffer twice its size,
    // so that no run starts with its data in cache after an untimed preparation.
    let len = timing.bulk_len as u64;
    let bulk = want("bulk_encrypt") || want("bulk_decrypt");
    let size = if bulk { timing.bulk_len } else { 0 };
    let mut plaintext = vec![0u8; size];
    rng.fill_bytes(&mut plaintext);
    let flush = vec![1u8; 2 * size];
    let mut tags = Vec::new();
    let mut message = Vec::new();
    if bulk {
        // Decrypting needs a message even when only bulk_decrypt is asked for.
        rt.block_on(committing.encrypt_into(&cmm, &plaintext, &context, &mut message))?;
    }
    let work = RefCell::new(Vec::with_capacity(message.len() + 4096));
    let mut out = Vec::with_capacity(if copying { message.len() + 4096 } else { 0 });
    if want("bulk_encrypt") {
        let rates = best_rates(
            timing,
            &mut [
                &mut || {
                    let mut work = work.borrow_mut();
                    work.clear();
                    work.extend_from_slice(&plaintext);
                    flush_caches(&flush);
                    let ((), spent) = time(|| baselines.aes_gcm_seal(&mut work, FRAME, &mut tags));
                    Ok((len, spent))
                },
                &mut || {
                    let mut work = work.borrow_mut();
                    let work = &mut *work;
                    work.clear();
                    work.extend_from_slice(&plaintext);
                    flush_caches(&flush);
                    let ((), spent) = if copying {
                        out.clear();
                        let r = timed(rt, committing.encrypt_into(&cmm, work, &context, &mut out));
                        std::mem::swap(work, &mut out);
                        r?
                    } else {
                        timed(rt, committing.encrypt_in_place(&cmm, &context, work))?
                    };
                    Ok((len, spent))
                },
            ],
        )?;
        if rt
            .block_on(committing.decrypt(&cmm, &work.borrow()))?
            .plaintext
            != plaintext
        {
            bail!("bulk encrypt wrote a message that does not decrypt to its plaintext");
        }
        emit(
            backend,
            "bulk_encrypt",
            mb(rates[1]),
            "MB/s",
            Some(mb(rates[0])),
        );
    }
    if want("bulk_decrypt") {
        let rates = best_rates(
            timing,
            &mut [
                &mut || {
                    let mut work = work.borrow_mut();
                    work.clear();
                    work.extend_from_slice(&plaintext);
                    baselines.aes_gcm_seal(&mut work, FRAME, &mut tags);
                    flush_caches(&flush);
                    let (ok, spent) = time(|| baselines.aes_gcm_open(&mut work, FRAME, &tags));
                    if !ok {
                        bail!("the baseline AES-GCM open failed");
                    }
                    Ok((len, spent))
                },
                &mut || {
                    let mut work = work.borrow_mut();
                    let work = &mut *work;
                    work.clear();
                    work.extend_from_slice(&message);
                    flush_caches(&flush);
                    let spent = if copying {
                        out.clear();
                        let r = timed(rt, committing.decrypt_into(&cmm, work, &mut out));
                        std::mem::swap(work, &mut out);
                        r?.1
                    } else {
                        timed(rt, committing.decrypt_in_place(&cmm, work))?.1
                    };
                    Ok((len, spent))
                },
            ],
        )?;
        if *work.borrow() != plaintext {
            bail!("bulk decrypt returned the wrong plaintext");
        }
        emit(
            backend,
            "bulk_decrypt",
            mb(rates[1]),
            "MB/s",
            Some(mb(rates[0])),
        );
    }
    drop((plaintext, message, work, out, flush));

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
        let mut encrypt = || small_batch(rt, || client.encrypt(&cmm, &small, &context));
        let mut decrypt = || small_batch(rt, || client.decrypt(&cmm, &one));
        let mut sign = || Ok((1u64, baselines.ecdsa_p384_sign(&small)));
        let mut verify = || Ok((1u64, baselines.ecdsa_p384_verify(&small)));
        for (name, op, baseline) in [
            (enc_name, &mut encrypt as Op<'_>, &mut sign as Op<'_>),
            (dec_name, &mut decrypt, &mut verify),
        ] {
            if !want(name) {
                continue;
            }
            if signed {
                let rates = best_rates(timing, &mut [baseline, op])?;
                emit(backend, name, rates[1], "messages/s", Some(rates[0]));
            } else {
                let rates = best_rates(timing, &mut [op])?;
                emit(backend, name, rates[0], "messages/s", None);
            }
        }
    }
    let stats = cmm.stats();
    if stats.misses > 4 {
        bail!("the cache was not warm: {stats:?}");
    }
    hierarchy_figures(rt, backend, &committing, &small, &context, timing, want)
}

/// The hierarchical keyring with a warm branch-key cache (every message still gets a fresh data
/// key, wrapped under a key derived from the branch key with a fresh salt), against the same
/// messages through a raw AES keyring: what the branch-key derivation costs per message. No
/// data-key caching on either side.
fn hierarchy_figures(
    rt: &Runtime,
    backend: &str,
    client: &Client,
    small: &[u8],
    context: &EncryptionContext,
    timing: Timing,
    want: &dyn Fn(&str) -> bool,
) -> Result<()> {
    if !want("hierarchy_encrypt") && !want("hierarchy_decrypt") {
        return Ok(());
    }
    let raw = DefaultCmm::new(RawAesKeyring::new(
        "bench",
        "key",
        Zeroizing::new(vec![0x5a; 32]),
    )?);
    let store = StaticBranchKeyStore::new("bench");
    store.insert(BranchKeyMaterials::new(
        "bench-branch-key",
        "e9ce18a3-edb5-4272-9f86-1cacb7997ff6",
        Default::default(),
        Zeroizing::new([0x5b; 32]),
    ))?;
    let keyring = HierarchicalKeyring::builder(std::sync::Arc::new(store))
        .branch_key_id("bench-branch-key")
        .ttl(Duration::from_secs(3600))
        .build()?;
    let cache = keyring.cache().clone();
    let hierarchy = DefaultCmm::new(keyring);
    let raw_one = rt.block_on(client.encrypt(&raw, small, context))?;
    let hierarchy_one = rt.block_on(client.encrypt(&hierarchy, small, context))?;
    if rt
        .block_on(client.decrypt(&hierarchy, &hierarchy_one))?
        .plaintext
        != small
    {
        bail!("the hierarchical keyring's message does not decrypt to its plaintext");
    }
    if want("hierarchy_encrypt") {
        let rates = best_rates(
            timing,
            &mut [
                &mut || small_batch(rt, || client.encrypt(&raw, small, context)),
                &mut || small_batch(rt, || client.encrypt(&hierarchy, small, context)),
            ],
        )?;
        emit(
            backend,
            "hierarchy_encrypt",
            rates[1],
            "messages/s",
            Some(rates[0]),
        );
    }
    if want("hierarchy_decrypt") {
        let rates = best_rates(
            timing,
            &mut [
                &mut || small_batch(rt, || client.decrypt(&raw, &raw_one)),
                &mut || small_batch(rt, || client.decrypt(&hierarchy, &hierarchy_one)),
            ],
        )?;
        emit(
            backend,
            "hierarchy_decrypt",
            rates[1],
            "messages/s",
            Some(rates[0]),
        );
    }
    // One read of the active branch key and one of its version: the cache stayed warm.
    let stats = cache.stats();
    if stats.misses > 2 {
        bail!("the branch-key cache was not warm: {stats:?}");
    }
    Ok(())
}

/// The backends' own primitives, called directly (not through sealbox).
mod baseline {
    use std::time::Duration;

    /// Raw primitives of one backend.
    pub(super) trait Baselines {
        /// AES-256-GCM-seal `buf` in place in `chunk`-byte pieces, keeping the tags.
        fn aes_gcm_seal(&self, buf: &mut [u8], chunk: usize, tags: &mut Vec<[u8; 16]>);
        /// AES-256-GCM-open `buf` in place in `chunk`-byte pieces; whether all tags verified.
        fn aes_gcm_open(&self, buf: &mut [u8], chunk: usize, tags: &[[u8; 16]]) -> bool;
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
        super::time(f).1
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
        }

        fn nonce(i: usize) -> [u8; 12] {
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&(i as u64).to_be_bytes());
            n
        }

        impl Baselines for RustCrypto {
            fn aes_gcm_seal(&self, buf: &mut [u8], chunk: usize, tags: &mut Vec<[u8; 16]>) {
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

            fn aes_gcm_open(&self, buf: &mut [u8], chunk: usize, tags: &[[u8; 16]]) -> bool {
                let mut ok = true;
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
                ok
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
        }

        fn nonce(i: usize) -> Nonce {
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&(i as u64).to_be_bytes());
            Nonce::assume_unique_for_key(n)
        }

        impl Baselines for AwsLc {
            fn aes_gcm_seal(&self, buf: &mut [u8], chunk: usize, tags: &mut Vec<[u8; 16]>) {
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

            fn aes_gcm_open(&self, buf: &mut [u8], chunk: usize, tags: &[[u8; 16]]) -> bool {
                let mut ok = true;
                for (i, c) in buf.chunks_mut(chunk).enumerate() {
                    ok &= self
                        .aead
                        .open_in_place_separate_tag(nonce(i), Aad::empty(), &tags[i], c)
                        .is_ok();
                }
                ok
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
