//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`, each `v1` an
//! HMAC-SHA256 of `"{t}.{raw body}"` keyed with the whole `whsec_...` string. Several `v1`
//! appear while a secret is being rolled; `v0` (test-mode legacy) is ignored.

use http::HeaderMap;
use serde::Deserialize;

use crate::{
    Provider, Rejection, Secret, VerifiedEvent,
    request::{fields, header, is_fresh, json_body},
    shared_secret::any_hmac_matches,
};

const HEADER: &str = "stripe-signature";

#[derive(Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
}

pub(crate) fn verify(
    secret: &Secret,
    tolerance: u64,
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<VerifiedEvent, Rejection> {
    let signature = parse_header(header(headers, HEADER)?)?;
    let signed = [signature.timestamp.as_bytes(), b".", body];
    if !any_hmac_matches(secret.expose(), &signed, signature.v1) {
        return Err(Rejection::BadSignature);
    }
    if !is_fresh(signature.sent_at, now_unix, tolerance) {
        return Err(Rejection::Stale);
    }
    let payload = json_body(body)?;
    let event: StripeEvent = fields(&payload, "a Stripe event with id, type and created")?;
    Ok(VerifiedEvent {
        provider: Provider::Stripe,
        id: event.id,
        kind: event.kind,
        created: event.created,
        payload,
    })
}

struct SignatureHeader<'a> {
    /// `t` exactly as sent: it is part of the signed text.
    timestamp: &'a str,
    sent_at: i64,
    /// The `v1` signatures that are hex; one that is not cannot match anyway.
    v1: Vec<Vec<u8>>,
}

fn parse_header(value: &str) -> Result<SignatureHeader<'_>, Rejection> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    let mut any_v1 = false;
    for item in value.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) if timestamp.is_none() => timestamp = Some(t),
            Some(("v1", hex_signature)) => {
                any_v1 = true;
                signatures.extend(hex::decode(hex_signature).ok());
            }
            _ => {}
        }
    }
    let timestamp =
        timestamp.ok_or_else(|| Rejection::malformed("stripe-signature has no t= timestamp"))?;
    let sent_at = timestamp
        .parse()
        .map_err(|_| Rejection::malformed("stripe-signature t= is not a unix time"))?;
    if !any_v1 {
        return Err(Rejection::malformed(
            "stripe-signature has no v1= signature",
        ));
    }
    Ok(SignatureHeader {
        timestamp,
        sent_at,
        v1: signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_keeps_the_first_timestamp_and_every_v1() {
        let header = parse_header("t=12,v1=00ff,v0=aa,t=13,v1=zz,v1=01").unwrap();
        assert_eq!((header.timestamp, header.sent_at), ("12", 12));
        assert_eq!(header.v1, vec![vec![0x00, 0xff], vec![0x01]]);
    }

    #[test]
    fn header_without_timestamp_or_v1_is_malformed() {
        for value in ["garbage", "v1=00", "t=12", "t=12,v0=00", "t=soon,v1=00"] {
            assert!(
                matches!(parse_header(value), Err(Rejection::Malformed(_))),
                "{value}"
            );
        }
    }
}
