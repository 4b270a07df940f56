//! ECDH on the NIST curves P-256, P-384 and P-521, for the key-agreement keyrings (raw ECDH,
//! AWS KMS ECDH).
//!
//! What lives here, above the backends: the curves and their sizes, points in SEC 1 form
//! (compressed and uncompressed) and the `SubjectPublicKeyInfo` DER around them, PEM. The
//! backends (`awslc/ecdh.rs`, `rustcrypto/ecdh.rs`) do the arithmetic: load a private key from
//! PKCS#8 or SEC 1 DER, generate one, check that a point is on its curve, and agree.
//!
//! Every public key is checked when it is built ([`EcPublicKey`] holds only points on its curve,
//! never the point at infinity), so the key agreement never sees an invalid point. Shared
//! secrets are [`SharedSecret`]s: zeroized on drop.

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroizing;

use super::backend::ecdh as imp;
use crate::error::Error;

/// The elliptic curve of an ECDH keyring.
///
/// Parsed from `p256`, `P-256`, `ECC_NIST_P256`, `secp256r1` or `prime256v1` (and likewise for
/// the other two), case-insensitively:
///
/// ```
/// use sealbox::EcdhCurve;
/// assert_eq!("P-384".parse::<EcdhCurve>().unwrap(), EcdhCurve::P384);
/// assert_eq!(EcdhCurve::P521.to_string(), "P-521");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EcdhCurve {
    /// NIST P-256 (secp256r1). KMS: `ECC_NIST_P256`.
    P256,
    /// NIST P-384 (secp384r1). KMS: `ECC_NIST_P384`.
    P384,
    /// NIST P-521 (secp521r1). KMS: `ECC_NIST_P521`.
    P521,
}

/// `id-ecPublicKey` (1.2.840.10045.2.1), the OID's content bytes.
const ID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

impl EcdhCurve {
    /// Every curve, in order of size.
    pub const ALL: [EcdhCurve; 3] = [EcdhCurve::P256, EcdhCurve::P384, EcdhCurve::P521];

    /// The curve's name in the key derivation's fixed info (`p256`, `p384`, `p521`): the Material
    /// Providers Library's curve specification string, bound into every wrapped key.
    pub(crate) fn spec_name(self) -> &'static str {
        match self {
            EcdhCurve::P256 => "p256",
            EcdhCurve::P384 => "p384",
            EcdhCurve::P521 => "p521",
        }
    }

    /// The curve's name in AWS KMS (`ECC_NIST_P256`, ...), as `GetPublicKey` reports it.
    pub fn kms_name(self) -> &'static str {
        match self {
            EcdhCurve::P256 => "ECC_NIST_P256",
            EcdhCurve::P384 => "ECC_NIST_P384",
            EcdhCurve::P521 => "ECC_NIST_P521",
        }
    }

    /// Bytes of a field element (and of the shared secret): 32, 48 or 66.
    pub(crate) fn field_len(self) -> usize {
        match self {
            EcdhCurve::P256 => 32,
            EcdhCurve::P384 => 48,
            EcdhCurve::P521 => 66,
        }
    }

    /// Bytes of a compressed SEC 1 point: 33, 49 or 67.
    pub(crate) fn compressed_len(self) -> usize {
        1 + self.field_len()
    }

    /// Bytes of an uncompressed SEC 1 point: 65, 97 or 133.
    pub(crate) fn uncompressed_len(self) -> usize {
        1 + 2 * self.field_len()
    }

    fn oid(self) -> &'static [u8] {
        match self {
            EcdhCurve::P256 => OID_P256,
            EcdhCurve::P384 => OID_P384,
            EcdhCurve::P521 => OID_P521,
        }
    }

    fn from_oid(oid: &[u8]) -> Option<Self> {
        EcdhCurve::ALL.into_iter().find(|c| c.oid() == oid)
    }
}

impl fmt::Display for EcdhCurve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EcdhCurve::P256 => "P-256",
            EcdhCurve::P384 => "P-384",
            EcdhCurve::P521 => "P-521",
        })
    }
}

impl FromStr for EcdhCurve {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let norm: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match norm.as_str() {
            "p256" | "eccnistp256" | "secp256r1" | "prime256v1" => Ok(EcdhCurve::P256),
            "p384" | "eccnistp384" | "secp384r1" => Ok(EcdhCurve::P384),
            "p521" | "eccnistp521" | "secp521r1" => Ok(EcdhCurve::P521),
            _ => Err(Error::invalid(
                "ECDH curve",
                format!("{s:?} is not P-256, P-384 or P-521"),
            )),
        }
    }
}

/// A shared secret from a key agreement (the x-coordinate, `field_len` bytes). Zeroized on drop.
pub(crate) type SharedSecret = Zeroizing<Vec<u8>>;

/// A public key on a known curve: a point checked to be on the curve and not the point at
/// infinity, held uncompressed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EcPublicKey {
    curve: EcdhCurve,
    /// Uncompressed SEC 1: `04 || x || y`.
    point: Vec<u8>,
}

impl fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: String = self
            .compressed()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        write!(f, "EcPublicKey({} {hex})", self.curve)
    }
}

impl EcPublicKey {
    /// A point in SEC 1 form, compressed (`02`/`03 || x`) or uncompressed (`04 || x || y`).
    /// Fails on a wrong length, the point at infinity, or a point not on `curve`.
    pub(crate) fn from_sec1(curve: EcdhCurve, bytes: &[u8]) -> Result<Self, String> {
        match bytes.first() {
            None => return Err("empty public key".into()),
            Some(0) => return Err("the point at infinity is not a public key".into()),
            Some(2 | 3) if bytes.len() == curve.compressed_len() => {}
            Some(4) if bytes.len() == curve.uncompressed_len() => {}
            Some(2..=4) => {
                return Err(format!(
                    "a {}-byte point is not on {curve} (compressed points are {} bytes, \
                     uncompressed {})",
                    bytes.len(),
                    curve.compressed_len(),
                    curve.uncompressed_len()
                ))
            }
            Some(b) => return Err(format!("point encoding 0x{b:02x} is not SEC 1")),
        }
        let point = imp::uncompressed_point(curve, bytes)
            .map_err(|e| format!("not a point on {curve}: {e}"))?;
        if point.len() != curve.uncompressed_len() || point.first() != Some(&4) {
            return Err(format!("{curve} point decoded to the wrong length"));
        }
        Ok(EcPublicKey { curve, point })
    }

    /// A DER `SubjectPublicKeyInfo` (`id-ecPublicKey` with a named curve): the form the
    /// specification and AWS KMS use. Fails with the curve named if it is another curve.
    pub(crate) fn from_der(curve: EcdhCurve, der: &[u8]) -> Result<Self, Error> {
        let bad = |why: String| Error::invalid("ECDH public key", why);
        let (found, point) =
            parse_spki(der).map_err(|e| bad(format!("not a DER SubjectPublicKeyInfo: {e}")))?;
        if found != curve {
            return Err(bad(format!("a {found} key, but the curve is {curve}")));
        }
        EcPublicKey::from_sec1(curve, point).map_err(bad)
    }

    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo), or DER if `bytes` is not PEM.
    pub(crate) fn from_pem_or_der(curve: EcdhCurve, bytes: &[u8]) -> Result<Self, Error> {
        match pem_block(bytes)? {
            Some((label, der)) if label == "PUBLIC KEY" => EcPublicKey::from_der(curve, &der),
            Some((label, _)) => Err(Error::invalid(
                "ECDH public key",
                format!("a PEM block labelled {label:?}, not \"PUBLIC KEY\""),
            )),
            None => EcPublicKey::from_der(curve, bytes),
        }
    }

    // The methods below that the raw keyring does not call are the AWS KMS ECDH keyring's:
    // `GetPublicKey` answers DER, `DeriveSharedSecret` takes it.
    #[allow(dead_code)]
    pub(crate) fn curve(&self) -> EcdhCurve {
        self.curve
    }

    /// `04 || x || y`.
    #[allow(dead_code)]
    pub(crate) fn uncompressed(&self) -> &[u8] {
        &self.point
    }

    /// `02 || x` or `03 || x` (by the parity of y): the form written into EDKs.
    pub(crate) fn compressed(&self) -> Vec<u8> {
        let n = self.curve.field_len();
        let mut out = Vec::with_capacity(1 + n);
        out.push(2 | (self.point[2 * n] & 1));
        out.extend_from_slice(&self.point[1..=n]);
        out
    }

    /// The DER `SubjectPublicKeyInfo`, uncompressed point (what AWS KMS `DeriveSharedSecret`
    /// takes).
    #[allow(dead_code)]
    pub(crate) fn to_der(&self) -> Vec<u8> {
        let mut algorithm = Vec::new();
        der_tlv(&mut algorithm, 0x06, ID_EC_PUBLIC_KEY);
        der_tlv(&mut algorithm, 0x06, self.curve.oid());
        let mut bits = Vec::with_capacity(1 + self.point.len());
        bits.push(0); // no unused bits
        bits.extend_from_slice(&self.point);
        let mut inner = Vec::new();
        der_tlv(&mut inner, 0x30, &algorithm);
        der_tlv(&mut inner, 0x03, &bits);
        let mut out = Vec::with_capacity(inner.len() + 4);
        der_tlv(&mut out, 0x30, &inner);
        out
    }
}

/// A private key for ECDH, with its public key. The secret stays in the backend's memory
/// (aws-lc's, which it wipes when freed; RustCrypto's `SecretKey`, zeroized on drop).
pub(crate) struct EcPrivateKey {
    inner: imp::PrivateKey,
    public: EcPublicKey,
}

impl fmt::Debug for EcPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcPrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl EcPrivateKey {
    fn from_inner(curve: EcdhCurve, inner: imp::PrivateKey) -> Result<Self, Error> {
        let point = imp::public_point(&inner)
            .map_err(|e| Error::invalid("ECDH private key", e.to_string()))?;
        let public = EcPublicKey::from_sec1(curve, &point)
            .map_err(|e| Error::invalid("ECDH private key", e))?;
        Ok(EcPrivateKey { inner, public })
    }

    /// A DER private key: PKCS#8 `PrivateKeyInfo` or SEC 1 `ECPrivateKey` (RFC 5915).
    pub(crate) fn from_der(curve: EcdhCurve, der: &[u8]) -> Result<Self, Error> {
        // The curve is checked here, for both backends alike: RustCrypto's SEC 1 parser does not
        // compare the key's curve parameters with the curve it is asked for.
        let bad = |why: String| Error::invalid("ECDH private key", why);
        match private_key_curve(der) {
            Ok(Some(found)) if found != curve => {
                return Err(bad(format!(
                    "not a {curve} private key: it is a {found} key"
                )))
            }
            Ok(None) if sec1_scalar_len(der) != Some(curve.field_len()) => {
                return Err(bad(format!(
                    "not a {curve} private key: no curve named and the scalar is not {} bytes",
                    curve.field_len()
                )))
            }
            Err(e) => {
                return Err(bad(format!(
                    "not a {curve} private key in PKCS#8 or SEC 1 DER: {e}"
                )))
            }
            Ok(_) => {}
        }
        let inner = imp::private_key_from_der(curve, der).map_err(|e| {
            Error::invalid(
                "ECDH private key",
                format!("not a {curve} private key in PKCS#8 or SEC 1 DER: {e}"),
            )
        })?;
        EcPrivateKey::from_inner(curve, inner)
    }

    /// A PEM private key (`PRIVATE KEY`, PKCS#8, as the specification asks, or `EC PRIVATE
    /// KEY`, SEC 1), or DER if `bytes` is not PEM.
    pub(crate) fn from_pem_or_der(curve: EcdhCurve, bytes: &[u8]) -> Result<Self, Error> {
        match pem_block(bytes)? {
            Some((label, der)) if label == "PRIVATE KEY" || label == "EC PRIVATE KEY" => {
                EcPrivateKey::from_der(curve, &der)
            }
            Some((label, _)) if label == "ENCRYPTED PRIVATE KEY" => Err(Error::invalid(
                "ECDH private key",
                "encrypted PKCS#8 is not supported: decrypt the key first",
            )),
            Some((label, _)) => Err(Error::invalid(
                "ECDH private key",
                format!("a PEM block labelled {label:?}, not \"PRIVATE KEY\""),
            )),
            None => EcPrivateKey::from_der(curve, bytes),
        }
    }

    /// A fresh key pair (the ephemeral sender key of `EphemeralPrivateKeyToStaticPublicKey`).
    pub(crate) fn generate(curve: EcdhCurve) -> Result<Self, Error> {
        let inner = imp::generate(curve)
            .map_err(|e| Error::invalid("ECDH key generation", e.to_string()))?;
        EcPrivateKey::from_inner(curve, inner)
    }

    pub(crate) fn curve(&self) -> EcdhCurve {
        self.public.curve
    }

    pub(crate) fn public_key(&self) -> &EcPublicKey {
        &self.public
    }

    /// ECDH: the x-coordinate of `self × peer`. Fails if `peer` is on another curve.
    pub(crate) fn agree(&self, peer: &EcPublicKey) -> Result<SharedSecret, String> {
        if peer.curve != self.curve() {
            return Err(format!(
                "a {} public key cannot agree with a {} private key",
                peer.curve,
                self.curve()
            ));
        }
        let secret = imp::agree(&self.inner, self.curve(), &peer.point)
            .map_err(|e| format!("ECDH key agreement failed: {e}"))?;
        if secret.len() != self.curve().field_len() {
            return Err("ECDH shared secret of the wrong length".into());
        }
        Ok(secret)
    }
}

/// A PEM block's label and DER.
type PemBlock = (String, Zeroizing<Vec<u8>>);

/// The first PEM block of `bytes`, or `None` if `bytes` is not PEM.
fn pem_block(bytes: &[u8]) -> Result<Option<PemBlock>, Error> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(None);
    };
    if !text.contains("-----BEGIN ") {
        return Ok(None);
    }
    super::pem::decode(text)
        .map(Some)
        .map_err(|e| Error::invalid("ECDH key", format!("malformed PEM: {e}")))
}

#[allow(dead_code)] // with `to_der`
fn der_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
}

/// One DER TLV with `tag` at the front of `input`: (content, rest). Definite lengths up to
/// 64 KiB, minimal encodings only.
fn der_take(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), String> {
    let (&t, rest) = input.split_first().ok_or("truncated DER")?;
    if t != tag {
        return Err(format!("DER tag 0x{t:02x} where 0x{tag:02x} was expected"));
    }
    let (&first, rest) = rest.split_first().ok_or("truncated DER length")?;
    let (len, rest) = match first {
        n @ 0..=0x7f => (n as usize, rest),
        0x81 => match rest.split_first() {
            Some((&n, rest)) if n >= 0x80 => (n as usize, rest),
            _ => return Err("bad DER length".into()),
        },
        0x82 => match rest {
            [a, b, rest @ ..] if *a != 0 => ((*a as usize) << 8 | *b as usize, rest),
            _ => return Err("bad DER length".into()),
        },
        _ => return Err("unsupported DER length".into()),
    };
    if rest.len() < len {
        return Err("truncated DER".into());
    }
    Ok(rest.split_at(len))
}

/// The curve a private key names: PKCS#8 `PrivateKeyInfo { 0, AlgorithmIdentifier {
/// id-ecPublicKey, namedCurve }, OCTET STRING }` or SEC 1 `ECPrivateKey { 1, OCTET STRING,
/// [0] namedCurve OPTIONAL, ... }`. `None` for a SEC 1 key without parameters.
fn private_key_curve(der: &[u8]) -> Result<Option<EcdhCurve>, String> {
    let (key, trailing) = der_take(der, 0x30)?;
    if !trailing.is_empty() {
        return Err("trailing bytes after the private key".into());
    }
    let (_version, rest) = der_take(key, 0x02)?;
    if let Ok((algorithm, _)) = der_take(rest, 0x30) {
        let (oid, params) = der_take(algorithm, 0x06)?;
        if oid != ID_EC_PUBLIC_KEY {
            return Err("not an elliptic-curve key (the algorithm is not id-ecPublicKey)".into());
        }
        let (curve_oid, _) = der_take(params, 0x06)
            .map_err(|_| "the curve is not given as a named-curve OID".to_owned())?;
        return EcdhCurve::from_oid(curve_oid)
            .map(Some)
            .ok_or_else(|| "the curve is not P-256, P-384 or P-521".into());
    }
    let (_scalar, rest) = der_take(rest, 0x04)?;
    match der_take(rest, 0xa0) {
        Ok((params, _)) => {
            let (curve_oid, _) = der_take(params, 0x06)?;
            EcdhCurve::from_oid(curve_oid)
                .map(Some)
                .ok_or_else(|| "the curve is not P-256, P-384 or P-521".into())
        }
        Err(_) => Ok(None),
    }
}

/// The length of a SEC 1 key's private scalar (the OCTET STRING after the version).
fn sec1_scalar_len(der: &[u8]) -> Option<usize> {
    let (key, _) = der_take(der, 0x30).ok()?;
    let (_, rest) = der_take(key, 0x02).ok()?;
    der_take(rest, 0x04).ok().map(|(scalar, _)| scalar.len())
}

/// `SubjectPublicKeyInfo { AlgorithmIdentifier { id-ecPublicKey, namedCurve }, BIT STRING }`:
/// the curve and the SEC 1 point.
fn parse_spki(der: &[u8]) -> Result<(EcdhCurve, &[u8]), String> {
    let (spki, trailing) = der_take(der, 0x30)?;
    if !trailing.is_empty() {
        return Err("trailing bytes after the SubjectPublicKeyInfo".into());
    }
    let (algorithm, rest) = der_take(spki, 0x30)?;
    let (bits, trailing) = der_take(rest, 0x03)?;
    if !trailing.is_empty() {
        return Err("trailing bytes in the SubjectPublicKeyInfo".into());
    }
    let (oid, params) = der_take(algorithm, 0x06)?;
    if oid != ID_EC_PUBLIC_KEY {
        return Err("not an elliptic-curve key (the algorithm is not id-ecPublicKey)".into());
    }
    let (curve_oid, trailing) = der_take(params, 0x06)
        .map_err(|_| "the curve is not given as a named-curve OID".to_owned())?;
    if !trailing.is_empty() {
        return Err("trailing bytes in the AlgorithmIdentifier".into());
    }
    let curve = EcdhCurve::from_oid(curve_oid)
        .ok_or("the curve is not P-256, P-384 or P-521 (unsupported curve OID)")?;
    match bits.split_first() {
        Some((0, point)) => Ok((curve, point)),
        _ => Err("the public key BIT STRING is empty or has unused bits".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 5903, section 8.1 (P-256): i = initiator's private key, r = responder's; the shared
    /// secret is the x-coordinate of g^ir.
    const I_256: &str = "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433";
    const GIX_256: &str = "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180";
    const GIY_256: &str = "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3";
    const GRX_256: &str = "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63";
    const GRY_256: &str = "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab";
    const GIRX_256: &str = "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de";

    /// A SEC 1 `ECPrivateKey` DER for a P-256 scalar (no optional fields except the curve).
    fn sec1_p256(d: &[u8]) -> Vec<u8> {
        let mut inner = vec![0x02, 0x01, 0x01];
        der_tlv(&mut inner, 0x04, d);
        let mut params = Vec::new();
        der_tlv(&mut params, 0x06, OID_P256);
        der_tlv(&mut inner, 0xa0, &params);
        let mut out = Vec::new();
        der_tlv(&mut out, 0x30, &inner);
        out
    }

    #[test]
    fn rfc_5903_p256_shared_secret_and_point_forms() {
        let private = EcPrivateKey::from_der(EcdhCurve::P256, &sec1_p256(&hex(I_256))).unwrap();
        let gi = [vec![4], hex(GIX_256), hex(GIY_256)].concat();
        assert_eq!(private.public_key().uncompressed(), &gi[..]);
        let gr = [vec![4], hex(GRX_256), hex(GRY_256)].concat();
        let peer = EcPublicKey::from_sec1(EcdhCurve::P256, &gr).unwrap();
        assert_eq!(&private.agree(&peer).unwrap()[..], &hex(GIRX_256)[..]);
        // The compressed form round-trips (y of g^r is odd: prefix 03), and so does the SPKI.
        let compressed = peer.compressed();
        assert_eq!(compressed[0], 3);
        assert_eq!(&compressed[1..], &hex(GRX_256)[..]);
        assert_eq!(
            EcPublicKey::from_sec1(EcdhCurve::P256, &compressed).unwrap(),
            peer
        );
        let spki = peer.to_der();
        assert_eq!(spki.len(), 91);
        assert_eq!(EcPublicKey::from_der(EcdhCurve::P256, &spki).unwrap(), peer);
    }

    #[test]
    fn every_curve_agrees_both_ways_and_sizes_match_the_specification() {
        for (curve, spki_len) in EcdhCurve::ALL.into_iter().zip([91, 120, 158]) {
            let a = EcPrivateKey::generate(curve).unwrap();
            let b = EcPrivateKey::generate(curve).unwrap();
            let ab = a.agree(b.public_key()).unwrap();
            let ba = b.agree(a.public_key()).unwrap();
            assert_eq!(ab, ba);
            assert_eq!(ab.len(), curve.field_len());
            assert_eq!(a.public_key().to_der().len(), spki_len, "{curve}");
            assert_eq!(a.public_key().compressed().len(), curve.compressed_len());
            let back = EcPublicKey::from_sec1(curve, &a.public_key().compressed()).unwrap();
            assert_eq!(&back, a.public_key());
            assert_eq!(curve.to_string().parse::<EcdhCurve>().unwrap(), curve);
            assert_eq!(curve.kms_name().parse::<EcdhCurve>().unwrap(), curve);
        }
    }

    #[test]
    fn hostile_points_are_errors() {
        let curve = EcdhCurve::P256;
        let good = EcPrivateKey::generate(curve).unwrap().public_key().clone();
        // The point at infinity, empty, truncated, unknown prefixes.
        for bad in [
            &[0u8][..],
            &[],
            &good.compressed()[..20],
            &[5; 33],
            &[0x04; 33],
        ] {
            assert!(EcPublicKey::from_sec1(curve, bad).is_err(), "{bad:?}");
        }
        // Not on the curve: change y.
        let mut off = good.uncompressed().to_vec();
        off[64] ^= 1;
        let e = EcPublicKey::from_sec1(curve, &off).unwrap_err();
        assert!(e.contains("not a point on P-256"), "{e}");
        // x with no y on the curve: try x values until one is not a square (about half are).
        let mut found_non_square = false;
        for x in 0u8..16 {
            let mut p = vec![2];
            p.extend_from_slice(&[x; 32]);
            if EcPublicKey::from_sec1(curve, &p).is_err() {
                found_non_square = true;
                break;
            }
        }
        assert!(found_non_square);
        // Wrong curve: a P-384 SPKI offered as P-256, a P-384 point as P-256.
        let p384 = EcPrivateKey::generate(EcdhCurve::P384).unwrap();
        let e = EcPublicKey::from_der(curve, &p384.public_key().to_der()).unwrap_err();
        assert!(e.to_string().contains("a P-384 key"), "{e}");
        assert!(EcPublicKey::from_sec1(curve, &p384.public_key().compressed()).is_err());
        assert!(p384.agree(&good).is_err());
        // Truncated or trailing DER.
        let der = good.to_der();
        assert!(EcPublicKey::from_der(curve, &der[..der.len() - 1]).is_err());
        assert!(EcPublicKey::from_der(curve, &[der.clone(), vec![0]].concat()).is_err());
        assert!(EcPublicKey::from_der(curve, &[]).is_err());
        // Private keys: garbage, another curve's key.
        assert!(EcPrivateKey::from_der(curve, &[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
        assert!(EcPrivateKey::from_pem_or_der(
            curve,
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"
        )
        .is_err());
    }

    #[test]
    fn pem_and_der_private_keys_load_alike() {
        let sec1 = sec1_p256(&hex(I_256));
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&sec1);
        let pem = format!("-----BEGIN EC PRIVATE KEY-----\n{b64}\n-----END EC PRIVATE KEY-----\n");
        let a = EcPrivateKey::from_pem_or_der(EcdhCurve::P256, pem.as_bytes()).unwrap();
        let b = EcPrivateKey::from_pem_or_der(EcdhCurve::P256, &sec1).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        // The wrong curve is named in the error, in both backends.
        let e = EcPrivateKey::from_der(EcdhCurve::P384, &sec1).unwrap_err();
        assert!(e.to_string().contains("it is a P-256 key"), "{e}");
        // Without curve parameters, the scalar's length must fit the curve.
        let mut bare = vec![0x02, 0x01, 0x01];
        der_tlv(&mut bare, 0x04, &hex(I_256));
        let mut no_params = Vec::new();
        der_tlv(&mut no_params, 0x30, &bare);
        let e = EcPrivateKey::from_der(EcdhCurve::P384, &no_params).unwrap_err();
        assert!(e.to_string().contains("not 48 bytes"), "{e}");
        // Trailing bytes.
        assert!(
            EcPrivateKey::from_der(EcdhCurve::P256, &[sec1.clone(), vec![0]].concat()).is_err()
        );
        // The public key as PEM.
        let spki = b64_pem("PUBLIC KEY", &a.public_key().to_der());
        let p = EcPublicKey::from_pem_or_der(EcdhCurve::P256, spki.as_bytes()).unwrap();
        assert_eq!(&p, a.public_key());
        assert!(
            format!("{a:?}").contains("EcPublicKey(P-256 02")
                || format!("{a:?}").contains("EcPublicKey(P-256 03")
        );
    }

    fn b64_pem(label: &str, der: &[u8]) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
    }
}
