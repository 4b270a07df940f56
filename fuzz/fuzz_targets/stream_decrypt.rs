//! Streaming decryption, fed a few bytes at a time: never panics, ends in the same verdict as
//! one-shot decryption, and never releases anything but a prefix of the real plaintext.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox_fuzz::{cmm, decrypt_client, runtime, stream_decrypt};

fuzz_target!(|input: &[u8]| {
    let Some((&first, data)) = input.split_first() else {
        return;
    };
    // The first byte says how the stream is cut: 1 to 256 bytes per read.
    let step = first as usize + 1;
    let client = decrypt_client(1 << 20);
    let one_shot = runtime().block_on(client.decrypt(cmm(), data));
    let (released, streamed) = stream_decrypt(&client, data, step);
    match (&one_shot, &streamed) {
        (Ok(d), Ok(())) => assert!(released == d.plaintext, "stream and one-shot disagree"),
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => panic!("one-shot decrypts, the stream fails: {e}"),
        (Err(e), Ok(())) => panic!("the stream decrypts, one-shot fails: {e}"),
    }
});
