//! App Store notifications, looked at before any certificate work.
//!
//! `aloft_inbound` verifies the `x5c` certificate chain of a notification's
//! `signedPayload`, and its `signedTransactionInfo`'s and `signedRenewalInfo`'s only when
//! they carry another chain: one per request as Apple signs them, up to three otherwise,
//! the costliest check of any webhook.
//! [`check`] refuses, before all of them and with the problem named, a body that cannot
//! be a notification Apple signed for this app: a body over [`MAX_BODY_BYTES`]; any of
//! those JWS not compact, not ES256, without exactly three `x5c` certificates of bounded
//! size, or with a signature that is not 64 bytes; a notification for another app when
//! a bundle id is configured. It trusts nothing it reads: what passes is verified in
//! full, as before, so a valid notification meets the same checks and the same answer.

use aloft_inbound::Rejection;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

/// About three times a real notification (three JWS, each carrying three certificates).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;
/// Base64 characters of one `x5c` certificate; Apple's are 800 to 1,500.
const MAX_CERTIFICATE_CHARS: usize = 4096;
/// An ES256 signature is 64 bytes: 86 base64url characters, unpadded.
const SIGNATURE_CHARS: usize = 86;
/// The signed fields of `data` that `aloft_inbound` verifies after the payload.
const NESTED: [&str; 2] = ["signedTransactionInfo", "signedRenewalInfo"];

#[derive(Deserialize)]
struct JwsHeader {
    alg: String,
    #[serde(default)]
    x5c: Vec<Value>,
}

/// `Ok` when `body` has the shape of an App Store notification (for `bundle_id`, when
/// set); otherwise what is wrong with it.
pub(crate) fn check(body: &[u8], bundle_id: Option<&str>) -> Result<(), Rejection> {
    if body.len() > MAX_BODY_BYTES {
        return Err(malformed(format!(
            "the body is over {MAX_BODY_BYTES} bytes"
        )));
    }
    let body: Value =
        serde_json::from_slice(body).map_err(|_| malformed("the body is not JSON".into()))?;
    let signed = body
        .get("signedPayload")
        .ok_or(Rejection::MissingSignature("signedPayload"))?
        .as_str()
        .ok_or_else(|| malformed("signedPayload is not a string".into()))?;
    let payload = jws_shape(signed, "signedPayload")?;
    let payload: Value = decode_json(payload)
        .ok_or_else(|| malformed("signedPayload: the JWS payload is not base64url JSON".into()))?;
    for field in NESTED {
        let Some(nested) = payload.get("data").and_then(|data| data.get(field)) else {
            continue;
        };
        let jws = nested
            .as_str()
            .ok_or_else(|| malformed(format!("{field} is not a string")))?;
        jws_shape(jws, field)?;
    }
    match bundle_id {
        Some(expected) if bundle_id_of(&payload) != Some(expected) => Err(malformed(
            "the notification is for another app (bundleId)".into(),
        )),
        _ => Ok(()),
    }
}

/// `jws` (the value of `field`) as `header.payload.signature` with an ES256 header
/// carrying three bounded certificates and a 64-byte signature: its payload part.
fn jws_shape<'a>(jws: &'a str, field: &str) -> Result<&'a str, Rejection> {
    let wrong = |problem: String| malformed(format!("{field}: {problem}"));
    let mut parts = jws.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(wrong("not a compact JWS (header.payload.signature)".into()));
    };
    let header: JwsHeader = decode_json(header)
        .ok_or_else(|| wrong("the JWS header is not base64url JSON naming its alg".into()))?;
    if header.alg != "ES256" {
        return Err(wrong("the JWS alg is not ES256".into()));
    }
    if header.x5c.len() != 3 {
        let count = header.x5c.len();
        return Err(wrong(format!("x5c must hold 3 certificates, not {count}")));
    }
    let bounded = |cert: &Value| {
        cert.as_str()
            .is_some_and(|cert| !cert.is_empty() && cert.len() <= MAX_CERTIFICATE_CHARS)
    };
    if !header.x5c.iter().all(bounded) {
        return Err(wrong(format!(
            "an x5c certificate is not a string of 1 to {MAX_CERTIFICATE_CHARS} characters"
        )));
    }
    if signature.len() != SIGNATURE_CHARS {
        return Err(wrong("the JWS signature is not 64 bytes (ES256)".into()));
    }
    Ok(payload)
}

/// The app a notification is for, read where `aloft_inbound` reads it: most carry
/// `data`, renewal-extension summaries `summary`, external purchases
/// `externalPurchaseToken`.
fn bundle_id_of(payload: &Value) -> Option<&str> {
    ["data", "summary", "externalPurchaseToken"]
        .into_iter()
        .find_map(|section| payload.get(section)?.get("bundleId")?.as_str())
}

fn malformed(reason: String) -> Rejection {
    Rejection::Malformed(reason)
}

/// `part`, unpadded base64url, decoded and read as JSON.
fn decode_json<T: DeserializeOwned>(part: &str) -> Option<T> {
    serde_json::from_slice(&base64url(part)?).ok()
}

/// Unpadded base64url (RFC 7515, section 2), as JWS parts are written. Lenient about
/// unused trailing bits: the verifier decodes strictly afterwards.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    };
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.as_bytes().chunks(4) {
        let mut group = 0_u32;
        for (i, &c) in chunk.iter().enumerate() {
            group |= u32::from(sextet(c)?) << (18 - 6 * i);
        }
        let [_, first, second, third] = group.to_be_bytes();
        match chunk.len() {
            4 => bytes.extend([first, second, third]),
            3 => bytes.extend([first, second]),
            2 => bytes.push(first),
            _ => return None,
        }
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    fn encode(bytes: &[u8]) -> String {
        let mut text = String::new();
        for chunk in bytes.chunks(3) {
            let group = (chunk.iter().enumerate()).fold(0_u32, |group, (i, &b)| {
                group | (u32::from(b) << (16 - 8 * i))
            });
            for i in 0..=chunk.len() {
                text.push(char::from(
                    ALPHABET[((group >> (18 - 6 * i)) & 63) as usize],
                ));
            }
        }
        text
    }

    fn jws(header: &Value, claims: &Value) -> String {
        let part = |value: &Value| encode(value.to_string().as_bytes());
        format!("{}.{}.{}", part(header), part(claims), "A".repeat(86))
    }

    fn es256() -> Value {
        json!({"alg": "ES256", "x5c": ["MIIB", "MIIC", "MIID"]})
    }

    /// A notification shaped as Apple sends one (signatures not valid, which is beyond
    /// this check).
    fn notification(transaction_header: &Value) -> Vec<u8> {
        let transaction = jws(transaction_header, &json!({"transactionId": "1"}));
        let claims = json!({
            "notificationType": "DID_RENEW",
            "notificationUUID": "5c1a0e2b",
            "signedDate": 1_700_000_000_000_i64,
            "data": {
                "bundleId": "com.example.aloft",
                "signedTransactionInfo": transaction,
                "signedRenewalInfo": jws(&es256(), &json!({"autoRenewStatus": 1})),
            }
        });
        json!({"signedPayload": jws(&es256(), &claims)})
            .to_string()
            .into_bytes()
    }

    fn reason(result: Result<(), Rejection>) -> String {
        match result {
            Err(Rejection::Malformed(reason)) => reason,
            other => panic!("expected a malformed rejection, got {other:?}"),
        }
    }

    #[test]
    fn base64url_decodes_every_length_and_refuses_other_alphabets() {
        for text in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "\u{ff}\u{fe}?>",
        ] {
            assert_eq!(
                base64url(&encode(text.as_bytes())).unwrap(),
                text.as_bytes()
            );
        }
        assert_eq!(base64url("Zm9v+A"), None, "standard base64's +");
        assert_eq!(base64url("Zm9vY"), None, "a lone trailing character");
    }

    #[test]
    fn a_notification_of_the_expected_shape_passes() {
        let body = notification(&es256());
        assert_eq!(check(&body, None), Ok(()));
        assert_eq!(check(&body, Some("com.example.aloft")), Ok(()));
    }

    #[test]
    fn another_apps_notification_is_refused_before_its_chains() {
        let body = notification(&es256());
        let refused = reason(check(&body, Some("com.example.other")));
        assert!(refused.contains("bundleId"), "{refused}");
    }

    #[test]
    fn a_nested_jws_of_the_wrong_shape_is_named() {
        let one_certificate = json!({"alg": "ES256", "x5c": ["MIIB"]});
        let refused = reason(check(&notification(&one_certificate), None));
        assert_eq!(
            refused,
            "signedTransactionInfo: x5c must hold 3 certificates, not 1"
        );
    }

    #[test]
    fn a_signed_payload_of_the_wrong_shape_is_named() {
        let payload = |signed: String| json!({ "signedPayload": signed }).to_string();
        let claims = json!({"data": {}});
        let long = "A".repeat(MAX_CERTIFICATE_CHARS + 1);
        let cases = [
            ("no.dots-enough".to_owned(), "not a compact JWS"),
            ("a.b.c.d".to_owned(), "not a compact JWS"),
            ("!!.e30.sig".to_owned(), "header is not base64url JSON"),
            (jws(&json!({"alg": "HS256"}), &claims), "alg is not ES256"),
            (
                jws(&json!({"alg": "none", "x5c": []}), &claims),
                "not ES256",
            ),
            (
                jws(&json!({"alg": "ES256"}), &claims),
                "3 certificates, not 0",
            ),
            (
                jws(&json!({"alg": "ES256", "x5c": ["a", "b", long]}), &claims),
                "x5c certificate is not a string of 1 to 4096",
            ),
            (
                jws(&json!({"alg": "ES256", "x5c": ["a", "b", 3]}), &claims),
                "x5c certificate is not a string",
            ),
        ];
        for (signed, problem) in cases {
            let refused = reason(check(payload(signed).as_bytes(), None));
            assert!(refused.starts_with("signedPayload: "), "{refused}");
            assert!(refused.contains(problem), "{refused} should name {problem}");
        }
        let short_signature = jws(&es256(), &claims).replace(&"A".repeat(86), "AAAA");
        let refused = reason(check(payload(short_signature).as_bytes(), None));
        assert!(refused.contains("signature is not 64 bytes"), "{refused}");
    }

    #[test]
    fn bodies_that_are_too_large_or_not_json_are_refused() {
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(reason(check(&huge, None)).contains("over 65536 bytes"));
        assert!(reason(check(b"{", None)).contains("not JSON"));
        assert_eq!(
            check(b"{}", None),
            Err(Rejection::MissingSignature("signedPayload"))
        );
    }
}
