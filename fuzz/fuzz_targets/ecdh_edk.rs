//! Raw ECDH unwrapping of arbitrary encrypted data keys (provider info, ciphertext, either ECDH
//! provider ID) by keyrings of every scheme that decrypts, on two curves: never panics, and a
//! key it returns has the suite's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox::{AlgorithmSuite, EncryptedDataKey, EncryptionContext, Keyring};
use sealbox_fuzz::{ecdh_keyrings, runtime};

fuzz_target!(|input: (u8, bool, Vec<u8>, Vec<u8>)| {
    let (suite, kms, provider_info, ciphertext) = input;
    let suite = AlgorithmSuite::ALL[suite as usize % AlgorithmSuite::ALL.len()];
    let provider_id = if kms { "aws-kms-ecdh" } else { "raw-ecdh" };
    let edks = [EncryptedDataKey {
        provider_id: provider_id.into(),
        provider_info,
        ciphertext,
    }];
    for keyring in ecdh_keyrings() {
        let unwrapped =
            runtime().block_on(keyring.unwrap_data_key(suite, &EncryptionContext::new(), &edks));
        if let Ok(key) = unwrapped {
            assert_eq!(key.len(), suite.data_key_len());
        }
    }
});
