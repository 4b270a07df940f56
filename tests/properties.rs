//! Property tests: random plaintexts, contexts, frame lengths and suites round-trip; any single
//! flipped bit or any truncation makes decryption fail.

use proptest::prelude::*;
use sealbox::{AlgorithmSuite, DefaultCmm, EncryptionContext, RawAesKeyring};
use zeroize::Zeroizing;

mod common;
use common::client_for;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn cmm() -> DefaultCmm {
    DefaultCmm::new(RawAesKeyring::new("prop", "key", Zeroizing::new(vec![42; 32])).unwrap())
}

fn suite() -> impl Strategy<Value = AlgorithmSuite> {
    prop::sample::select(AlgorithmSuite::ALL.to_vec())
}

fn context() -> impl Strategy<Value = EncryptionContext> {
    prop::collection::btree_map("[a-zA-Z0-9_\\-ключ\u{0}]{1,12}", ".{0,20}", 0..4)
        .prop_filter("reserved prefix", |ec| {
            ec.keys().all(|k| !k.starts_with("aws-crypto-"))
        })
}

/// A message for the mutation properties: small, multi-frame.
fn message() -> impl Strategy<Value = (AlgorithmSuite, u32, Vec<u8>, EncryptionContext)> {
    (
        suite(),
        1u32..64,
        prop::collection::vec(any::<u8>(), 0..200),
        context(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn round_trips(
        suite in suite(),
        frame_length in 1u32..700,
        plaintext in prop::collection::vec(any::<u8>(), 0..3000),
        ec in context(),
    ) {
        let rt = runtime();
        let (cmm, client) = (cmm(), client_for(suite, frame_length));
        let message = rt.block_on(client.encrypt(&cmm, &plaintext, &ec)).unwrap();
        let out = rt.block_on(client.decrypt(&cmm, &message)).unwrap();
        prop_assert_eq!(out.plaintext, plaintext);
        prop_assert_eq!(out.header.suite, suite);
        prop_assert_eq!(out.header.frame_length, frame_length);
        for (k, v) in &ec {
            prop_assert_eq!(out.encryption_context.get(k), Some(v));
        }
    }

    /// The in-place calls move every frame by the header and the frames' overhead: frames
    /// shorter than that gap are sealed and opened straight onto their place, longer ones
    /// (while the gap is still short) from a copy. Short frames and long contexts move the most.
    #[test]
    fn in_place_encrypt_round_trips(
        suite in suite(),
        frame_length in prop_oneof![1u32..64, 64u32..2048],
        plaintext in prop::collection::vec(any::<u8>(), 0..6000),
        ec in context(),
    ) {
        let rt = runtime();
        let (cmm, client) = (cmm(), client_for(suite, frame_length));
        let mut buffer = plaintext.clone();
        rt.block_on(client.encrypt_in_place(&cmm, &ec, &mut buffer)).unwrap();
        let copied = rt.block_on(client.encrypt(&cmm, &plaintext, &ec)).unwrap();
        if suite.signature().is_none() {
            prop_assert_eq!(buffer.len(), copied.len());
        }
        let out = rt.block_on(client.decrypt(&cmm, &buffer)).unwrap();
        prop_assert_eq!(&out.plaintext, &plaintext);
        // In place back: the first frames overlap their plaintext's place, the later ones not.
        rt.block_on(client.decrypt_in_place(&cmm, &mut buffer)).unwrap();
        prop_assert_eq!(buffer, plaintext);
    }

    #[test]
    fn any_flipped_bit_fails((suite, frame_length, plaintext, ec) in message(), bit in any::<prop::sample::Index>()) {
        let rt = runtime();
        let (cmm, client) = (cmm(), client_for(suite, frame_length));
        let mut message = rt.block_on(client.encrypt(&cmm, &plaintext, &ec)).unwrap();
        let i = bit.index(message.len() * 8);
        message[i / 8] ^= 1 << (i % 8);
        let result = rt.block_on(client.decrypt(&cmm, &message));
        prop_assert!(result.is_err(), "bit {} of {} flipped, suite {}, still decrypted", i, message.len() * 8, suite);
    }

    #[test]
    fn any_truncation_fails((suite, frame_length, plaintext, ec) in message(), cut in any::<prop::sample::Index>()) {
        let rt = runtime();
        let (cmm, client) = (cmm(), client_for(suite, frame_length));
        let message = rt.block_on(client.encrypt(&cmm, &plaintext, &ec)).unwrap();
        let len = cut.index(message.len());
        let result = rt.block_on(client.decrypt(&cmm, &message[..len]));
        prop_assert!(result.is_err(), "truncated to {} of {} bytes, still decrypted", len, message.len());
    }
}
