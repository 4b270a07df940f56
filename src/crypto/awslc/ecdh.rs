//! ECDH with aws-lc (`agreement`). aws-lc checks every point it parses (on the curve, not the
//! point at infinity) and wipes private keys when it frees them.

use aws_lc_rs::agreement::{self, UnparsedPublicKey, ECDH_P256, ECDH_P384, ECDH_P521};
use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPublicKeyUncompressedBin};
use aws_lc_rs::signature::{
    self, ParsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ECDSA_P521_SHA512_ASN1,
};
use zeroize::Zeroizing;

use crate::crypto::ecdh::EcdhCurve;

pub(crate) type PrivateKey = agreement::PrivateKey;

fn algorithm(curve: EcdhCurve) -> &'static agreement::Algorithm {
    match curve {
        EcdhCurve::P256 => &ECDH_P256,
        EcdhCurve::P384 => &ECDH_P384,
        EcdhCurve::P521 => &ECDH_P521,
    }
}

/// PKCS#8 `PrivateKeyInfo` or SEC 1 `ECPrivateKey`; aws-lc refuses a key of another curve.
pub(crate) fn private_key_from_der(curve: EcdhCurve, der: &[u8]) -> Result<PrivateKey, String> {
    PrivateKey::from_private_key_der(algorithm(curve), der).map_err(|e| e.to_string())
}

pub(crate) fn generate(curve: EcdhCurve) -> Result<PrivateKey, String> {
    PrivateKey::generate(algorithm(curve)).map_err(|_| "aws-lc could not generate a key".into())
}

/// The uncompressed SEC 1 public point of `key`.
pub(crate) fn public_point(key: &PrivateKey) -> Result<Vec<u8>, String> {
    let public = key
        .compute_public_key()
        .map_err(|_| "aws-lc could not compute the public key")?;
    let bytes: EcPublicKeyUncompressedBin<'_> = public
        .as_be_bytes()
        .map_err(|_| "aws-lc could not encode the public key")?;
    Ok(bytes.as_ref().to_vec())
}

/// Check a SEC 1 point (compressed or uncompressed) and return it uncompressed. aws-lc's SPKI
/// encoder always writes the uncompressed point, last in the DER.
pub(crate) fn uncompressed_point(curve: EcdhCurve, sec1: &[u8]) -> Result<Vec<u8>, String> {
    let alg: &'static dyn signature::VerificationAlgorithm = match curve {
        EcdhCurve::P256 => &ECDSA_P256_SHA256_ASN1,
        EcdhCurve::P384 => &ECDSA_P384_SHA384_ASN1,
        EcdhCurve::P521 => &ECDSA_P521_SHA512_ASN1,
    };
    let parsed = ParsedPublicKey::new(alg, sec1).map_err(|e| e.to_string())?;
    let der = parsed
        .as_der()
        .map_err(|_| "aws-lc could not encode the point")?;
    let der = der.as_ref();
    let n = curve.uncompressed_len();
    if der.len() < n {
        return Err("aws-lc encoded the point too short".into());
    }
    Ok(der[der.len() - n..].to_vec())
}

/// ECDH with a checked uncompressed peer point: the shared x-coordinate.
pub(crate) fn agree(
    key: &PrivateKey,
    curve: EcdhCurve,
    peer: &[u8],
) -> Result<Zeroizing<Vec<u8>>, String> {
    agreement::agree(
        key,
        UnparsedPublicKey::new(algorithm(curve), peer),
        "aws-lc refused the point".to_owned(),
        |secret| Ok(Zeroizing::new(secret.to_vec())),
    )
}
