//! JWS signed by the App Store: ES256, with the signing certificate chain in the `x5c`
//! header as `[leaf, intermediate, root]`. The chain is checked up to the configured Apple
//! root only (the root inside `x5c` is ignored: anyone can put a root there), the leaf and
//! intermediate must carry Apple's App Store marker extensions, and the signature is
//! checked with the leaf's key. A chain checked once in a request is not checked again
//! for the next JWS presenting the very same `x5c` (a notification nests two).

use std::{slice, time::Duration};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;
use webpki::{EndEntityCert, KeyUsage, aws_lc_rs as algorithms};
use x509_cert::{
    Certificate,
    der::{Decode, oid::ObjectIdentifier},
};

use crate::Rejection;

/// Algorithms Apple's CAs sign certificates with (the G3 root and WWDR G6 use P-384).
const CHAIN_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    algorithms::ECDSA_P256_SHA256,
    algorithms::ECDSA_P256_SHA384,
    algorithms::ECDSA_P384_SHA256,
    algorithms::ECDSA_P384_SHA384,
];

/// id-kp-codeSigning. Apple's App Store certificates have no extended key usage, which
/// `required_if_present` accepts; webpki needs a purpose named all the same, and this is
/// the one that fits a certificate that signs data, should an EKU ever appear.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Marks the App Store's signing certificate. Without this check any certificate under
/// Apple's root (an Apple Pay merchant certificate, say, whose key a developer holds)
/// could sign notifications. Apple's own libraries check the same two extensions.
const APP_STORE_SIGNING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113635.100.6.11.1");
/// Marks Apple's Worldwide Developer Relations intermediate CA.
const WWDR_INTERMEDIATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113635.100.6.2.1");

#[derive(Deserialize)]
struct JwsHeader {
    alg: String,
    #[serde(default)]
    x5c: Vec<String>,
}

/// A chain one JWS presented and that checked out: its `x5c` entries as sent, and the
/// leaf they vouch for. Valid only for the root and time it was checked at, so it lives
/// for one request.
pub(crate) struct VerifiedChain {
    x5c: Vec<String>,
    leaf: CertificateDer<'static>,
}

/// The payload of `jws` as JSON, once its chain and signature check out at `now_unix`.
///
/// `verified` carries the chain of an earlier JWS of the same request: a JWS presenting
/// the very same `x5c` only has its signature checked, with that leaf. Any other `x5c` is
/// checked in full and takes its place, so JWS that all present one chain check it once.
pub(crate) fn verify(
    jws: &str,
    root: &TrustAnchor<'_>,
    now_unix: i64,
    verified: &mut Option<VerifiedChain>,
) -> Result<Value, Rejection> {
    let not_a_jws = || Rejection::malformed("signed data is not a compact JWS");
    let (signing_input, signature) = jws.rsplit_once('.').ok_or_else(not_a_jws)?;
    let (header, payload) = signing_input.split_once('.').ok_or_else(not_a_jws)?;
    let header: JwsHeader = decode_json(header, "the JWS header")?;
    if header.alg != "ES256" {
        return Err(Rejection::BadSignature);
    }
    let chain = match verified.take() {
        Some(chain) if chain.x5c == header.x5c => chain,
        _ => verify_x5c(header.x5c, root, now_unix)?,
    };
    let chain = verified.insert(chain);
    let leaf = EndEntityCert::try_from(&chain.leaf)
        .map_err(|_| Rejection::malformed("the x5c leaf is not a certificate"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Rejection::malformed("the JWS signature is not base64url"))?;
    let signature = der_signature(&signature).ok_or(Rejection::BadSignature)?;
    leaf.verify_signature(
        algorithms::ECDSA_P256_SHA256,
        signing_input.as_bytes(),
        &signature,
    )
    .map_err(|_| Rejection::BadSignature)?;
    decode_json(payload, "the JWS payload")
}

/// `x5c` once it chains up to `root` at `now_unix` and carries Apple's markers.
fn verify_x5c(
    x5c: Vec<String>,
    root: &TrustAnchor<'_>,
    now_unix: i64,
) -> Result<VerifiedChain, Rejection> {
    let chain = x5c
        .iter()
        .map(|cert| STANDARD.decode(cert).map(CertificateDer::from))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Rejection::malformed("x5c holds something other than base64"))?;
    let [leaf_der, intermediate, _root_in_x5c] = chain.as_slice() else {
        return Err(Rejection::BadSignature);
    };
    let leaf = EndEntityCert::try_from(leaf_der)
        .map_err(|_| Rejection::malformed("the x5c leaf is not a certificate"))?;
    #[cfg(test)]
    CHAIN_VERIFICATIONS.with(|count| count.set(count.get() + 1));
    verify_chain(&leaf, intermediate, root, now_unix)?;
    if !has_extension(leaf_der, APP_STORE_SIGNING)
        || !has_extension(intermediate, WWDR_INTERMEDIATE)
    {
        return Err(Rejection::BadSignature);
    }
    Ok(VerifiedChain {
        leaf: leaf_der.clone(),
        x5c,
    })
}

#[cfg(test)]
thread_local! {
    /// Chains checked on this thread, so tests running beside each other keep their counts
    /// apart.
    static CHAIN_VERIFICATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many chains this thread has checked so far.
#[cfg(test)]
pub(crate) fn chain_verifications() -> usize {
    CHAIN_VERIFICATIONS.with(std::cell::Cell::get)
}

fn verify_chain(
    leaf: &EndEntityCert<'_>,
    intermediate: &CertificateDer<'_>,
    root: &TrustAnchor<'_>,
    now_unix: i64,
) -> Result<(), Rejection> {
    let now = UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(now_unix).unwrap_or_default(),
    ));
    leaf.verify_for_usage(
        CHAIN_ALGORITHMS,
        slice::from_ref(root),
        slice::from_ref(intermediate),
        now,
        KeyUsage::required_if_present(EKU_CODE_SIGNING),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| match e {
        webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
            Rejection::Stale
        }
        _ => Rejection::BadSignature,
    })
}

/// Whether the certificate carries extension `oid` (webpki checked it parses already).
fn has_extension(der: &CertificateDer<'_>, oid: ObjectIdentifier) -> bool {
    Certificate::from_der(der.as_ref()).is_ok_and(|cert| {
        cert.tbs_certificate()
            .extensions()
            .is_some_and(|extensions| extensions.iter().any(|e| e.extn_id == oid))
    })
}

fn decode_json<T: DeserializeOwned>(part: &str, what: &str) -> Result<T, Rejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejection::Malformed(format!("{what} is not base64url")))?;
    serde_json::from_slice(&bytes).map_err(|_| Rejection::Malformed(format!("{what} is not JSON")))
}

/// A JWS carries an ES256 signature as `r ‖ s`, 32 bytes each; webpki verifies the DER
/// form, `SEQUENCE { INTEGER r, INTEGER s }`.
fn der_signature(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let (r, s) = raw.split_at(32);
    let (r, s) = (der_integer(r)?, der_integer(s)?);
    let mut der = vec![0x30, u8::try_from(r.len() + s.len()).ok()?];
    der.extend(r);
    der.extend(s);
    Some(der)
}

/// An unsigned big-endian number as a DER INTEGER: no redundant leading zeros, and one
/// zero byte before a leading byte whose top bit is set (which would read as negative).
fn der_integer(unsigned: &[u8]) -> Option<Vec<u8>> {
    let mut digits: Vec<u8> = unsigned.iter().copied().skip_while(|&b| b == 0).collect();
    if digits.first().is_none_or(|&b| b & 0x80 != 0) {
        digits.insert(0, 0);
    }
    let mut der = vec![0x02, u8::try_from(digits.len()).ok()?];
    der.extend(digits);
    Some(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A time Apple's 2021 App Store signing certificate was valid.
    const APRIL_2023: i64 = 1_681_312_846;

    /// Apple's production chain as base64 DER: root, intermediate, leaf.
    fn production_chain() -> [&'static str; 3] {
        include_str!("../tests/fixtures/apple-production-chain.txt")
            .split_whitespace()
            .collect::<Vec<_>>()
            .try_into()
            .unwrap()
    }

    /// An ES256 JWS presenting `x5c`, its signature bytes made by no key.
    fn unsigned_jws(x5c: &[&str]) -> String {
        let header = serde_json::json!({"alg": "ES256", "x5c": x5c}).to_string();
        let parts: [&[u8]; 3] = [header.as_bytes(), b"{}", &[1; 64]];
        parts.map(|part| URL_SAFE_NO_PAD.encode(part)).join(".")
    }

    #[test]
    fn der_integers_are_minimal_and_positive() {
        assert_eq!(der_integer(&[0, 0, 0x12]), Some(vec![0x02, 0x01, 0x12]));
        assert_eq!(der_integer(&[0, 0x80]), Some(vec![0x02, 0x02, 0x00, 0x80]));
        assert_eq!(der_integer(&[0, 0]), Some(vec![0x02, 0x01, 0x00]));
    }

    #[test]
    fn der_signature_wraps_r_and_s_in_a_sequence() {
        let mut raw = [0x01; 64];
        raw[32] = 0xff;
        let der = der_signature(&raw).unwrap();
        assert_eq!(&der[..4], &[0x30, 69, 0x02, 32]);
        assert_eq!(&der[36..39], &[0x02, 33, 0x00]);
        assert_eq!(der_signature(&raw[..63]), None);
    }

    /// Apple's production chain (Apple Root CA - G3, WWDR G6, the 2021 App Store signing
    /// certificate): the algorithms, key usage and marker checks above accept the real
    /// thing, at a time the leaf was valid, and call it stale after it expired.
    #[test]
    fn apple_production_chain_verifies_up_to_the_real_root() {
        let [root, intermediate, leaf] =
            production_chain().map(|b64| CertificateDer::from(STANDARD.decode(b64).unwrap()));
        let anchor = webpki::anchor_from_trusted_cert(&root).unwrap();
        let end_entity = EndEntityCert::try_from(&leaf).unwrap();
        assert_eq!(
            verify_chain(&end_entity, &intermediate, &anchor, APRIL_2023),
            Ok(())
        );
        assert!(has_extension(&leaf, APP_STORE_SIGNING));
        assert!(has_extension(&intermediate, WWDR_INTERMEDIATE));
        assert!(!has_extension(&intermediate, APP_STORE_SIGNING));
        let october_2023 = 1_696_118_400;
        assert_eq!(
            verify_chain(&end_entity, &intermediate, &anchor, october_2023),
            Err(Rejection::Stale)
        );
    }

    /// Apple's chain presented again skips the chain check but never the signature (no key
    /// of ours signs for Apple's leaf); other entries, even only another ignored root, are
    /// checked anew.
    #[test]
    fn chain_seen_earlier_in_the_request_is_not_checked_again() {
        let [root, intermediate, leaf] = production_chain();
        let root_der = CertificateDer::from(STANDARD.decode(root).unwrap());
        let anchor = webpki::anchor_from_trusted_cert(&root_der).unwrap();
        let apple = unsigned_jws(&[leaf, intermediate, root]);
        let other_root = unsigned_jws(&[leaf, intermediate, intermediate]);
        let mut verified = None;
        let before = chain_verifications();

        let results = [&apple, &apple, &other_root, &other_root]
            .map(|jws| verify(jws, &anchor, APRIL_2023, &mut verified));

        assert!(
            results.iter().all(|r| *r == Err(Rejection::BadSignature)),
            "{results:?}"
        );
        assert_eq!(chain_verifications() - before, 2);
    }
}
