//! Encryption-context parsing: never panics, allocates no more than the input, and what parses
//! serializes (canonically sorted) to a string of the same length that parses to the same map.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox::format::{parse_encryption_context, serialize_encryption_context};

fuzz_target!(|data: &[u8]| {
    if let Ok(ec) = parse_encryption_context(data) {
        let bytes: usize = ec.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(bytes <= data.len());
        if data.len() <= u16::MAX as usize {
            let again = serialize_encryption_context(&ec).expect("a parsed context serializes");
            assert_eq!(again.len(), data.len());
            assert_eq!(
                parse_encryption_context(&again).expect("canonical form parses"),
                ec
            );
            // Serializing is canonical: a second round trip changes nothing.
            assert_eq!(
                serialize_encryption_context(&ec).expect("serializes"),
                again
            );
        }
    }
});
