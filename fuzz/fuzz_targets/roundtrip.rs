//! Differential: random plaintext, context, suite and frame length encrypt (one-shot and
//! streamed) and decrypt back (one-shot and streamed); one flipped bit or one cut anywhere makes
//! decryption fail.
#![no_main]

use std::io::Write;

use libfuzzer_sys::{arbitrary, fuzz_target};
use sealbox::{AlgorithmSuite, EncryptionContext, PlaintextLength};
use sealbox_fuzz::{client_for, cmm, decrypt_client, runtime, stream_decrypt};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    suite: u8,
    frame_length: u16,
    context: Vec<(String, String)>,
    plaintext: Vec<u8>,
    write_step: u8,
    read_step: u8,
    flip: u32,
    cut: u32,
}

fuzz_target!(|input: Input| {
    let suite = AlgorithmSuite::ALL[input.suite as usize % AlgorithmSuite::ALL.len()];
    let frame_length = u32::from(input.frame_length % 2048) + 1;
    let client = client_for(suite, frame_length);
    let context: EncryptionContext = input
        .context
        .into_iter()
        .filter(|(k, _)| !k.starts_with("aws-crypto-"))
        .take(8)
        .collect();
    let plaintext = input.plaintext;

    let message = runtime()
        .block_on(client.encrypt(cmm(), &plaintext, &context))
        .expect("encrypts");
    let reader = decrypt_client(1 << 20);
    let decrypted = runtime()
        .block_on(reader.decrypt(cmm(), &message))
        .expect("decrypts");
    assert_eq!(decrypted.plaintext, plaintext);
    assert_eq!(decrypted.header.suite, suite);
    for (k, v) in &context {
        assert_eq!(decrypted.encryption_context.get(k), Some(v));
    }
    let (released, result) = stream_decrypt(&reader, &message, input.read_step as usize + 1);
    result.expect("stream decrypts");
    assert_eq!(released, plaintext);

    // The streaming writer, in uneven writes, writes what one-shot decryption reads.
    let encryptor = runtime()
        .block_on(client.encryptor(cmm(), &context, PlaintextLength::Unknown))
        .expect("encryptor");
    let mut writer = encryptor.into_writer(Vec::new());
    for chunk in plaintext.chunks(input.write_step as usize + 1) {
        writer.write_all(chunk).expect("writes");
    }
    let streamed = writer.finish().expect("finishes");
    let again = runtime()
        .block_on(reader.decrypt(cmm(), &streamed))
        .expect("decrypts the streamed message");
    assert_eq!(again.plaintext, plaintext);

    // Every bit is authenticated, and every prefix is incomplete.
    let bit = input.flip as usize % (message.len() * 8);
    let mut flipped = message.clone();
    flipped[bit / 8] ^= 1 << (bit % 8);
    assert!(
        runtime().block_on(reader.decrypt(cmm(), &flipped)).is_err(),
        "bit {bit} flipped"
    );
    let cut = input.cut as usize % message.len();
    assert!(
        runtime()
            .block_on(reader.decrypt(cmm(), &message[..cut]))
            .is_err(),
        "cut at {cut}"
    );
});
