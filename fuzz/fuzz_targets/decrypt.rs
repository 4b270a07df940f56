//! One-shot decryption with a fixed keyring: never panics, never returns plaintext for a message
//! that does not verify, and agrees with itself under a reproduced context.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox::DecryptOptions;
use sealbox_fuzz::{cmm, decrypt_client, runtime};

fuzz_target!(|data: &[u8]| {
    let client = decrypt_client(1 << 20);
    let result = runtime().block_on(client.decrypt(cmm(), data));
    if let Ok(decrypted) = &result {
        assert!(decrypted.plaintext.len() <= data.len());
        // The stored context is part of the full context.
        for (k, v) in &decrypted.header.encryption_context {
            assert_eq!(decrypted.encryption_context.get(k), Some(v));
        }
        // Supplying the context it carries changes nothing.
        let again = runtime()
            .block_on(client.decrypt_with(
                cmm(),
                data,
                &DecryptOptions::new().reproduced_context(decrypted.encryption_context.clone()),
            ))
            .expect("decrypts again with its own context");
        assert_eq!(again.plaintext, decrypted.plaintext);
        // One byte more is trailing data.
        let mut longer = data.to_vec();
        longer.push(0);
        assert!(runtime().block_on(client.decrypt(cmm(), &longer)).is_err());
    }
});
