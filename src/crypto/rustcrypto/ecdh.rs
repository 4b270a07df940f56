//! ECDH with the RustCrypto curves `p256`, `p384` and `p521`. `SecretKey` zeroizes itself on
//! drop, and so does the shared secret the crates return.

use elliptic_curve::pkcs8::DecodePrivateKey;
use elliptic_curve::sec1::ToEncodedPoint;
use zeroize::Zeroizing;

use crate::crypto::ecdh::EcdhCurve;

/// The curve crates share one `elliptic_curve` (0.13): name it through one of them.
use p256::elliptic_curve;

pub(crate) enum PrivateKey {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
}

/// `$body` with `$krate` naming the curve's crate and `$variant` its `PrivateKey` variant.
macro_rules! with_curve {
    ($curve:expr, $krate:ident, $variant:ident => $body:expr) => {
        match $curve {
            EcdhCurve::P256 => {
                use p256 as $krate;
                #[allow(unused_imports)]
                use PrivateKey::P256 as $variant;
                $body
            }
            EcdhCurve::P384 => {
                use p384 as $krate;
                #[allow(unused_imports)]
                use PrivateKey::P384 as $variant;
                $body
            }
            EcdhCurve::P521 => {
                use p521 as $krate;
                #[allow(unused_imports)]
                use PrivateKey::P521 as $variant;
                $body
            }
        }
    };
}

/// PKCS#8 `PrivateKeyInfo` (whose curve must be `curve`) or SEC 1 `ECPrivateKey`.
pub(crate) fn private_key_from_der(curve: EcdhCurve, der: &[u8]) -> Result<PrivateKey, String> {
    with_curve!(curve, c, Variant => {
        c::SecretKey::from_pkcs8_der(der)
            .or_else(|_| c::SecretKey::from_sec1_der(der))
            .map(Variant)
            .map_err(|e| e.to_string())
    })
}

pub(crate) fn generate(curve: EcdhCurve) -> Result<PrivateKey, String> {
    let mut rng = rand::rngs::OsRng;
    with_curve!(curve, c, Variant => Ok(Variant(c::SecretKey::random(&mut rng))))
}

/// The uncompressed SEC 1 public point of `key`.
pub(crate) fn public_point(key: &PrivateKey) -> Result<Vec<u8>, String> {
    Ok(match key {
        PrivateKey::P256(k) => k.public_key().to_encoded_point(false).as_bytes().to_vec(),
        PrivateKey::P384(k) => k.public_key().to_encoded_point(false).as_bytes().to_vec(),
        PrivateKey::P521(k) => k.public_key().to_encoded_point(false).as_bytes().to_vec(),
    })
}

/// Check a SEC 1 point (compressed or uncompressed: on the curve, not the identity) and return
/// it uncompressed.
pub(crate) fn uncompressed_point(curve: EcdhCurve, sec1: &[u8]) -> Result<Vec<u8>, String> {
    with_curve!(curve, c, _Variant => {
        let key = c::PublicKey::from_sec1_bytes(sec1).map_err(|_| "invalid point".to_owned())?;
        Ok(key.to_encoded_point(false).as_bytes().to_vec())
    })
}

/// ECDH with a checked uncompressed peer point: the shared x-coordinate.
pub(crate) fn agree(
    key: &PrivateKey,
    curve: EcdhCurve,
    peer: &[u8],
) -> Result<Zeroizing<Vec<u8>>, String> {
    let bad = |_| "invalid point".to_owned();
    let secret = match (key, curve) {
        (PrivateKey::P256(k), EcdhCurve::P256) => {
            let peer = p256::PublicKey::from_sec1_bytes(peer).map_err(bad)?;
            let s = p256::ecdh::diffie_hellman(k.to_nonzero_scalar(), peer.as_affine());
            Zeroizing::new(s.raw_secret_bytes().to_vec())
        }
        (PrivateKey::P384(k), EcdhCurve::P384) => {
            let peer = p384::PublicKey::from_sec1_bytes(peer).map_err(bad)?;
            let s = p384::ecdh::diffie_hellman(k.to_nonzero_scalar(), peer.as_affine());
            Zeroizing::new(s.raw_secret_bytes().to_vec())
        }
        (PrivateKey::P521(k), EcdhCurve::P521) => {
            let peer = p521::PublicKey::from_sec1_bytes(peer).map_err(bad)?;
            let s = p521::ecdh::diffie_hellman(k.to_nonzero_scalar(), peer.as_affine());
            Zeroizing::new(s.raw_secret_bytes().to_vec())
        }
        _ => return Err("the private key is on another curve".into()),
    };
    Ok(secret)
}
