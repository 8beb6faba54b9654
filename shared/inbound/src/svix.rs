//! Clerk, which delivers through Svix: headers `svix-id`, `svix-timestamp` and
//! `svix-signature` (space-separated `v1,<base64>` entries), each signature an
//! HMAC-SHA256 of `"{svix-id}.{svix-timestamp}.{raw body}"` keyed with the decoded secret.

use base64::{Engine, engine::general_purpose::STANDARD};
use http::HeaderMap;
use serde::Deserialize;

use crate::{
    Provider, Rejection, Secret, VerifiedEvent,
    request::{fields, header, is_fresh, json_body},
    shared_secret::any_hmac_matches,
};

#[derive(Deserialize)]
struct ClerkEvent {
    #[serde(rename = "type")]
    kind: String,
}

pub(crate) fn verify(
    key: &Secret,
    tolerance: u64,
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<VerifiedEvent, Rejection> {
    let id = header(headers, "svix-id")?;
    let timestamp = header(headers, "svix-timestamp")?;
    let signatures = v1_signatures(header(headers, "svix-signature")?)?;
    let sent_at: i64 = timestamp
        .parse()
        .map_err(|_| Rejection::malformed("svix-timestamp is not a unix time"))?;
    let signed = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
    if !any_hmac_matches(key.expose(), &signed, signatures) {
        return Err(Rejection::BadSignature);
    }
    if !is_fresh(sent_at, now_unix, tolerance) {
        return Err(Rejection::Stale);
    }
    let payload = json_body(body)?;
    let event: ClerkEvent = fields(&payload, "a Clerk event with a type")?;
    Ok(VerifiedEvent {
        provider: Provider::Clerk,
        id: id.to_owned(),
        kind: event.kind,
        created: sent_at,
        payload,
    })
}

/// The decoded `v1` signatures. Other versions are skipped (Svix may add schemes); a
/// header with no `v1` entry at all is malformed.
fn v1_signatures(value: &str) -> Result<Vec<Vec<u8>>, Rejection> {
    let mut any_v1 = false;
    let mut signatures = Vec::new();
    for entry in value.split_whitespace() {
        if let Some(encoded) = entry.strip_prefix("v1,") {
            any_v1 = true;
            signatures.extend(STANDARD.decode(encoded).ok());
        }
    }
    if any_v1 {
        Ok(signatures)
    } else {
        Err(Rejection::malformed("svix-signature has no v1, entry"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_v1_entry_is_kept_and_others_skipped() {
        let signatures = v1_signatures("v1a,AAAA v1,AQI= v2,AwQ= v1,!! v1,BQY=").unwrap();
        assert_eq!(signatures, vec![vec![1, 2], vec![5, 6]]);
    }

    #[test]
    fn header_without_v1_entry_is_malformed() {
        for value in ["", "AQI=", "v2,AQI=", "v1:AQI="] {
            assert!(
                matches!(v1_signatures(value), Err(Rejection::Malformed(_))),
                "{value}"
            );
        }
    }
}
