//! Raw ECDH unwrapping of mutated EDKs: a valid EDK for each keyring (discovery on P-256 and
//! P-384, static on P-256) with bytes of its provider info or wrapped key overwritten at any
//! offset (points off the curve, wrong lengths, tampered salts and tags), or replaced whole, or
//! under the KMS ECDH provider ID. Never panics; the unmodified EDK unwraps, and any key that
//! comes out has the suite's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox::{EncryptionContext, Keyring};
use sealbox_fuzz::{ecdh_cases, runtime, ECDH_SUITE};

fuzz_target!(|input: (u8, u8, u16, Vec<u8>)| {
    let (case, mode, at, bytes) = input;
    let (keyring, valid) = &ecdh_cases()[case as usize % ecdh_cases().len()];
    let mut edk = valid.clone();
    let field = if mode & 1 == 0 {
        &mut edk.provider_info
    } else {
        &mut edk.ciphertext
    };
    if mode & 2 == 0 {
        let at = (at as usize) % (field.len() + 1);
        for (i, b) in bytes.iter().enumerate() {
            match field.get_mut(at + i) {
                Some(x) => *x = *b,
                None => field.push(*b),
            }
        }
    } else {
        *field = bytes;
    }
    if mode & 4 != 0 {
        edk.provider_id = "aws-kms-ecdh".into();
    }
    let edks = [edk];
    let result =
        runtime().block_on(keyring.unwrap_data_key(ECDH_SUITE, &EncryptionContext::new(), &edks));
    match result {
        Ok(key) => assert_eq!(key.len(), ECDH_SUITE.data_key_len()),
        Err(e) => assert!(edks[0] != *valid, "the valid EDK failed: {e}"),
    }
});
