//! The AWS KMS Hierarchical keyring: the known-answer message from the Python SDK, round trips,
//! hostile EDKs, suppliers, single flight, failures and the TTL, shared caches, composition.

use std::collections::BTreeMap;
use std::sync::Arc;

use sealbox::{
    BranchKeyMaterials, Client, DefaultCmm, EncryptionContext, HierarchicalKeyring,
    StaticBranchKeyStore,
};
use zeroize::Zeroizing;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The known-answer message's branch key: `(key, id, version)`.
fn kat_branch_key() -> BranchKeyMaterials {
    let line = std::fs::read_to_string("tests/vectors/hierarchy-kat/branch_key.txt").unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.len(), 3, "branch_key.txt: key id version");
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&hex(parts[0]));
    BranchKeyMaterials::new(parts[1], parts[2], BTreeMap::new(), key)
}

#[tokio::test]
async fn python_known_answer_message_decrypts() {
    let materials = kat_branch_key();
    let id = materials.branch_key_id().to_owned();
    let store = StaticBranchKeyStore::new("KeyStoreDdbTable");
    store.insert(materials).unwrap();
    let keyring = HierarchicalKeyring::builder(Arc::new(store))
        .branch_key_id(id)
        .ttl(std::time::Duration::from_secs(600))
        .build()
        .unwrap();
    let message = std::fs::read("tests/vectors/hierarchy-kat/message.bin").unwrap();
    let decrypted = Client::new()
        .decrypt(&DefaultCmm::new(keyring), &message)
        .await
        .unwrap();
    assert_eq!(decrypted.plaintext, b"hello hierarchical");
    assert_eq!(decrypted.header.suite.id(), 0x0578);
    let mut expected = EncryptionContext::new();
    expected.insert("tenant".into(), "acme".into());
    expected.insert("purpose".into(), "moto test".into());
    for (k, v) in &expected {
        assert_eq!(decrypted.encryption_context.get(k), Some(v));
    }
    // The signing suite's public key is the only other entry: it is part of the AAD.
    assert_eq!(decrypted.encryption_context.len(), 3);
    assert!(decrypted
        .encryption_context
        .contains_key("aws-crypto-public-key"));
}
