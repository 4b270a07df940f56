//! The AWS KMS ML-KEM keyring's EDK parsing (provider info and ciphertext, as its decrypt filter
//! reads them before any KMS call): never panics, accepts only exact lengths, and what parses
//! serializes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox::format::{ml_kem_provider_info, parse_ml_kem_provider_info, split_ml_kem_ciphertext};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // The KEM ciphertext length of ML-KEM-512/768/1024 and a suite's data key length.
    let kem_len = [768, 1088, 1568][usize::from(selector % 3)];
    let key_len = [16, 24, 32][usize::from(selector / 3 % 3)];
    let split = usize::from(selector / 9).min(rest.len());
    let (info, ciphertext) = rest.split_at(split);
    if let Ok(arn) = parse_ml_kem_provider_info(info) {
        assert_eq!(
            ml_kem_provider_info(arn).expect("a parsed ARN serializes"),
            info
        );
    }
    if let Ok(parts) = split_ml_kem_ciphertext(ciphertext, kem_len, key_len) {
        assert_eq!(ciphertext.len(), kem_len + 32 + key_len + 16);
        assert_eq!(parts.kem_ciphertext.len(), kem_len);
        assert_eq!(parts.encrypted_key.len(), key_len);
    } else {
        assert_ne!(ciphertext.len(), kem_len + 32 + key_len + 16);
    }
});
