//! The DER wrappers that turn PKCS#1 RSA keys into the PKCS#8 and SubjectPublicKeyInfo forms
//! aws-lc loads (the PEM decoder itself is `crypto/pem.rs`, shared with the other backend).

use zeroize::Zeroizing;

pub(super) use crate::crypto::pem::decode;

/// `AlgorithmIdentifier { rsaEncryption, NULL }`.
const RSA_ALGORITHM_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

fn put_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    put_len(out, content.len());
    out.extend_from_slice(content);
}

/// PKCS#8 `PrivateKeyInfo` around a PKCS#1 `RSAPrivateKey`.
pub(super) fn pkcs8_from_pkcs1(pkcs1: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut inner = Zeroizing::new(Vec::with_capacity(pkcs1.len() + 32));
    inner.extend_from_slice(&[0x02, 0x01, 0x00]); // version 0
    inner.extend_from_slice(&RSA_ALGORITHM_ID);
    tlv(&mut inner, 0x04, pkcs1);
    let mut out = Zeroizing::new(Vec::with_capacity(inner.len() + 4));
    tlv(&mut out, 0x30, &inner);
    out
}

/// `SubjectPublicKeyInfo` around a PKCS#1 `RSAPublicKey`.
pub(super) fn spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(pkcs1.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(pkcs1);
    let mut inner = RSA_ALGORITHM_ID.to_vec();
    tlv(&mut inner, 0x03, &bits);
    let mut out = Vec::with_capacity(inner.len() + 4);
    tlv(&mut out, 0x30, &inner);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        let mut out = Vec::new();
        put_len(&mut out, 5);
        put_len(&mut out, 0x80);
        put_len(&mut out, 0x1234);
        assert_eq!(out, [5, 0x81, 0x80, 0x82, 0x12, 0x34]);
    }
}
