//! PEM armour: the DER inside a PEM block, and its label. Shared by both backends (the aws-lc
//! RSA loader, the ECDH key parsing of either backend).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use zeroize::Zeroizing;

/// The DER inside the first PEM block of `pem`, and the block's label.
pub(crate) fn decode(pem: &str) -> Result<(String, Zeroizing<Vec<u8>>), String> {
    let begin = pem.find("-----BEGIN ").ok_or("no -----BEGIN line")?;
    let rest = &pem[begin + 11..];
    let label_end = rest.find("-----").ok_or("malformed BEGIN line")?;
    let label = &rest[..label_end];
    let body = &rest[label_end + 5..];
    let end_line = format!("-----END {label}-----");
    let end = body.find(&end_line).ok_or("no matching -----END line")?;
    let b64: Zeroizing<String> = Zeroizing::new(
        body[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect(),
    );
    let der = B64
        .decode(b64.as_bytes())
        .map_err(|_| "invalid base64 in the PEM body")?;
    Ok((label.to_owned(), Zeroizing::new(der)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_labels_and_errors() {
        let (label, der) =
            decode("junk\n-----BEGIN X Y-----\nAAEC\nAw==\n-----END X Y-----\n").unwrap();
        assert_eq!(label, "X Y");
        assert_eq!(&der[..], &[0, 1, 2, 3]);
        assert!(decode("-----BEGIN A-----\nAAEC\n-----END B-----").is_err());
        assert!(decode("-----BEGIN A-----\n!!!!\n-----END A-----").is_err());
        assert!(decode("no pem").is_err());
    }
}
