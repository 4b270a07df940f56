//! Known-answer vectors from the Python ESDK's test resources: v2 key-commitment vectors (five of
//! which must fail) and v1 messages under the "null" and "counting" test keys.

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sealbox::{
    AlgorithmSuite, Client, CommitmentPolicy, DataKey, DefaultCmm, EncryptedDataKey,
    EncryptionContext, Error, Keyring, KeyringError, UnwrapError,
};
use serde_json::Value;

/// A keyring that "unwraps" every EDK to a data key it computes from the suite: the way the
/// vectors were made, with the data key given rather than wrapped.
#[derive(Debug)]
struct FixedKey(fn(AlgorithmSuite) -> Vec<u8>);

#[async_trait]
impl Keyring for FixedKey {
    async fn wrap_data_key(
        &self,
        _: AlgorithmSuite,
        _: &EncryptionContext,
        _: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        Err(KeyringError::new("fixed", "decrypt only"))
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        _: &EncryptionContext,
        _: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        Ok(DataKey::from_slice(&(self.0)(suite)))
    }
}

fn load(name: &str) -> Value {
    let path = format!(
        "{}/tests/vectors/python-kats/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect("JSON")
}

thread_local! {
    static DEK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[tokio::test(flavor = "current_thread")]
async fn commitment_vectors() {
    let v = load("commitment-test-vectors.json");
    let tests = v["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 46);
    let client = Client::new();
    let (mut ok, mut rejected) = (0, 0);
    for t in tests {
        let message = B64.decode(t["ciphertext"].as_str().unwrap()).unwrap();
        let dek = B64.decode(t["decrypted-dek"].as_str().unwrap()).unwrap();
        DEK.with(|d| *d.borrow_mut() = dek);
        let cmm = DefaultCmm::new(FixedKey(|_| DEK.with(|d| d.borrow().clone())));
        let result = client.decrypt(&cmm, &message).await;
        let comment = t["comment"].as_str().unwrap_or_default();
        if t["status"].as_bool().unwrap() {
            let out = result.unwrap_or_else(|e| panic!("{comment}: {e}"));
            let expected: String = t["plaintext-frames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            assert_eq!(out.plaintext, expected.as_bytes(), "{comment}");
            let ec: EncryptionContext =
                serde_json::from_value(t["encryption-context"].clone()).unwrap();
            for (k, val) in ec {
                assert_eq!(out.encryption_context.get(&k), Some(&val), "{comment}");
            }
            ok += 1;
        } else {
            assert!(
                matches!(result, Err(Error::CommitmentMismatch)),
                "{comment}: expected a commitment failure, got {result:?}"
            );
            rejected += 1;
        }
    }
    assert_eq!((ok, rejected), (41, 5));
}

#[tokio::test(flavor = "current_thread")]
async fn null_and_counting_key_vectors() {
    let v = load("decrypt_oracle_vectors.json");
    let client = Client::builder()
        .commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
        .build()
        .unwrap();
    let null = DefaultCmm::new(FixedKey(|s| vec![0; s.data_key_len()]));
    let counting = DefaultCmm::new(FixedKey(|s| (1..=s.data_key_len() as u8).collect()));
    let mut passed = 0;
    for t in v.as_array().unwrap() {
        let cmm = match t["key-type"].as_str().unwrap() {
            "null" => &null,
            "test_counting" => &counting,
            _ => continue, // aws-kms: needs AWS itself
        };
        let message = B64.decode(t["ciphertext"].as_str().unwrap()).unwrap();
        let out = client.decrypt(cmm, &message).await.unwrap();
        assert_eq!(
            out.plaintext,
            B64.decode(t["plaintext"].as_str().unwrap()).unwrap()
        );
        assert_eq!(
            format!("{:04x}", out.header.suite.id()),
            t["algorithm-suite"].as_str().unwrap()
        );
        passed += 1;
    }
    assert_eq!(passed, 18);
}
