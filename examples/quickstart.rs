//! Encrypt and decrypt a message with a raw AES keyring: no AWS account needed.
//!
//! Run with `cargo run --release --example quickstart`.

use sealbox::{Client, DefaultCmm, EncryptionContext, RawAesKeyring};
use zeroize::Zeroizing;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), sealbox::Error> {
    // In production the wrapping key comes from a key store; here it is random.
    let mut wrapping_key = Zeroizing::new(vec![0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut wrapping_key);
    let keyring = RawAesKeyring::new("quickstart", "demo-key", wrapping_key)?;
    let cmm = DefaultCmm::new(keyring);
    let client = Client::new();

    let mut context = EncryptionContext::new();
    context.insert("purpose".into(), "quickstart".into());
    context.insert("tenant".into(), "example-co".into());

    let plaintext = b"The quick brown fox jumps over the lazy dog.".repeat(200);
    let message = client.encrypt(&cmm, &plaintext, &context).await?;
    let header = sealbox::format::parse_header(&message, &Default::default())?.0;
    println!(
        "encrypted {} bytes into a {}-byte message",
        plaintext.len(),
        message.len()
    );
    println!(
        "  suite {} ({:?}), message format v{}, {} frame(s) of {} bytes",
        header.suite,
        header.suite,
        header.version,
        plaintext.len().div_ceil(header.frame_length as usize),
        header.frame_length
    );
    for edk in &header.encrypted_data_keys {
        println!("  data key wrapped by provider {:?}", edk.provider_id);
    }

    let decrypted = client.decrypt(&cmm, &message).await?;
    assert_eq!(decrypted.plaintext, plaintext);
    println!(
        "decrypted {} bytes: plaintext matches",
        decrypted.plaintext.len()
    );
    println!("  encryption context:");
    for (k, v) in &decrypted.encryption_context {
        println!("    {k} = {v}");
    }

    // Tampering is detected: flip one bit in the last frame.
    let mut tampered = message.clone();
    let i = tampered.len() - 200;
    tampered[i] ^= 1;
    match client.decrypt(&cmm, &tampered).await {
        Ok(_) => println!("tampered message decrypted (this must never happen)"),
        Err(e) => println!("tampered message rejected: {e}"),
    }
    Ok(())
}
