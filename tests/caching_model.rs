//! The caching manager's thresholds against a simple model: for any sequence of requests (sizes,
//! contexts, times), the manager makes exactly the model's number of underlying calls, and its
//! statistics agree. Runs on tokio's paused clock.

mod caching_support;

use std::time::Duration;

use caching_support::{ctx, CountingKeyring};
use proptest::prelude::*;
use sealbox::EncryptionRequest;
use sealbox::{
    AlgorithmSuite, CachingCmm, Client, CommitmentPolicy, DefaultCmm, EncryptionContext,
    MaterialsManager, RawAesKeyring,
};
use zeroize::Zeroizing;

#[derive(Clone, Copy, Debug)]
enum Step {
    /// Encrypt `len` bytes (None: length unknown) under context `ec`.
    Encrypt { ec: usize, len: Option<u64> },
    /// Decrypt the prepared message `msg`.
    Decrypt { msg: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..2usize, prop::option::weighted(0.9, 0u64..700))
            .prop_map(|(ec, len)| Step::Encrypt { ec, len }),
        2 => (0..2usize).prop_map(|msg| Step::Decrypt { msg }),
    ]
}

/// The ESDK's rules, written as plainly as possible. Times in milliseconds.
#[derive(Default, Debug)]
struct Model {
    encrypt: [Option<(u64, u64, u64)>; 2], // (obtained at, messages, bytes)
    decrypt: [Option<u64>; 2],             // obtained at
    calls: u64,
    hits: u64,
    bypasses: u64,
}

impl Model {
    fn run(&mut self, now: u64, step: Step, max_age: u64, max_messages: u64, max_bytes: u64) {
        match step {
            Step::Encrypt { len: None, .. } => {
                self.calls += 1;
                self.bypasses += 1;
            }
            Step::Encrypt { len: Some(n), .. } if n > max_bytes => {
                self.calls += 1;
                self.bypasses += 1;
            }
            Step::Encrypt { ec, len: Some(n) } => match &mut self.encrypt[ec] {
                Some((at, m, b))
                    if now - *at <= max_age && *m < max_messages && *b + n <= max_bytes =>
                {
                    *m += 1;
                    *b += n;
                    self.hits += 1;
                }
                slot => {
                    *slot = Some((now, 1, n));
                    self.calls += 1;
                }
            },
            Step::Decrypt { msg } => match &mut self.decrypt[msg] {
                Some(at) if now - *at <= max_age => self.hits += 1,
                slot => {
                    *slot = Some(now);
                    self.calls += 1;
                }
            },
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn underlying_calls_match_the_model(
        // Small times, in milliseconds, so that ages land exactly on the limit and just past it.
        max_age in 1u64..40,
        max_messages in 1u64..6,
        max_bytes in 1u64..1500,
        steps in prop::collection::vec((step(), prop_oneof![3 => 0u64..4, 2 => 0u64..30]), 1..60),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let keyring = CountingKeyring::new();
            let cmm = CachingCmm::builder_with_keyring(keyring.clone())
                .max_age(Duration::from_millis(max_age))
                .max_messages(max_messages)
                .max_bytes(max_bytes)
                .build()
                .unwrap();
            // Two messages to decrypt, written under the same wrapping key without the cache.
            let writer = DefaultCmm::new(
                RawAesKeyring::new("counting", "key", Zeroizing::new(vec![42u8; 32])).unwrap(),
            );
            let mut messages = Vec::new();
            for i in 0..2 {
                messages.push(
                    Client::new()
                        .encrypt(&writer, b"m", &ctx(&[("m", &i.to_string())]))
                        .await
                        .unwrap(),
                );
            }
            let contexts = [EncryptionContext::new(), ctx(&[("tenant", "b")])];

            let mut model = Model::default();
            let mut now = 0;
            for (step, advance) in steps {
                tokio::time::advance(Duration::from_millis(advance)).await;
                now += advance;
                model.run(now, step, max_age, max_messages, max_bytes);
                match step {
                    Step::Encrypt { ec, len } => {
                        let mut r = EncryptionRequest::new(
                            contexts[ec].clone(),
                            CommitmentPolicy::default(),
                        );
                        r.suite = Some(AlgorithmSuite::Aes256GcmHkdfSha512Commit);
                        r.plaintext_length = len;
                        cmm.get_encryption_materials(&r).await.unwrap();
                    }
                    Step::Decrypt { msg } => {
                        Client::new().decrypt(&cmm, &messages[msg]).await.unwrap();
                    }
                }
                prop_assert_eq!(
                    keyring.generates() + keyring.unwraps(),
                    model.calls,
                    "after {:?} at {} ms: {:?}",
                    step,
                    now,
                    model
                );
            }
            let stats = cmm.stats();
            prop_assert_eq!(stats.underlying_calls, model.calls);
            prop_assert_eq!(stats.hits, model.hits);
            prop_assert_eq!(stats.bypasses(), model.bypasses);
            prop_assert_eq!(stats.misses, model.calls - model.bypasses);
            Ok(())
        })?;
    }
}
