//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC of "{t}.{body}">`.

use aloft_inbound::{Provider, Rejection};
use http::HeaderMap;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{
    STRIPE_SECRET, SharedSecrets, TOLERANCE, Tamper, age, any_body, any_json, flip, header_value,
    headers, hmac, is_refused_before_freshness, now, tamper,
};

/// `Stripe-Signature`-like text: `t=`, `v1=`, `v0=` items and junk, comma-separated.
fn stripe_like() -> impl Strategy<Value = String> + Clone {
    let item = prop_oneof![
        any::<i64>().prop_map(|t| format!("t={t}")),
        "[0-9]{0,12}".prop_map(|t| format!("t={t}")),
        "[0-9a-fA-F]{0,70}".prop_map(|hex| format!("v1={hex}")),
        "[0-9a-f]{64}".prop_map(|hex| format!("v0={hex}")),
        "[ -~]{0,16}",
    ];
    prop::collection::vec(item, 0..6).prop_map(|items| items.join(","))
}

/// A Stripe event: any id, type, time and data.
fn event() -> impl Strategy<Value = Value> {
    let fields = (any::<String>(), any::<String>(), any::<i64>(), any_json());
    fields.prop_map(|(id, kind, created, data)| {
        json!({"id": id, "type": kind, "created": created, "data": data})
    })
}

fn signature(t: i64, body: &[u8]) -> Vec<u8> {
    hmac(
        STRIPE_SECRET.as_bytes(),
        &[t.to_string().as_bytes(), b".", body],
    )
}

fn signed(t: i64, signature: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = format!("t={t},v1={}", hex::encode(signature));
    headers.insert("stripe-signature", header_value(&value));
    headers
}

#[test]
fn stripe_refuses_any_request_it_did_not_sign_before_looking_at_the_time() {
    let f = SharedSecrets::new();
    let headers = headers(&["stripe-signature"], stripe_like());
    proptest!(|(headers in headers, body in any_body(), now in any::<i64>())| {
        let result = f.verify(Provider::Stripe, &headers, &body, now);

        prop_assert!(is_refused_before_freshness(&result), "{result:?}");
        if headers.is_empty() {
            prop_assert_eq!(result, Err(Rejection::MissingSignature("stripe-signature")));
        }
    });
}

#[test]
fn stripe_signed_event_verifies_whole_and_only_while_fresh() {
    let f = SharedSecrets::new();
    proptest!(|(event in event(), now in now(), age in age())| {
        let body = event.to_string().into_bytes();
        let t = now - age;

        let result = f.verify(Provider::Stripe, &signed(t, &signature(t, &body)), &body, now);

        if age.abs() > TOLERANCE {
            prop_assert_eq!(result, Err(Rejection::Stale));
        } else {
            let verified = result.unwrap();
            prop_assert_eq!(verified.provider, Provider::Stripe);
            prop_assert_eq!(&verified.id, &event["id"]);
            prop_assert_eq!(&verified.kind, &event["type"]);
            prop_assert_eq!(&verified.created, &event["created"]);
            prop_assert_eq!(verified.payload, event);
        }
    });
}

#[test]
fn stripe_signature_covers_the_raw_bytes_whatever_they_are() {
    let f = SharedSecrets::new();
    proptest!(|(body in any_body(), now in now())| {
        let result = f.verify(Provider::Stripe, &signed(now, &signature(now, &body)), &body, now);

        // Past the signature, all that is left to refuse is a body that is not an event.
        prop_assert!(matches!(result, Ok(_) | Err(Rejection::Malformed(_))), "{result:?}");
    });
}

#[test]
fn stripe_event_changed_after_signing_is_a_bad_signature() {
    let f = SharedSecrets::new();
    proptest!(|(event in event(), now in now(), tamper in tamper(false))| {
        let body = event.to_string().into_bytes();
        let mut signature = signature(now, &body);
        let (mut sent_body, mut t) = (body.clone(), now);
        match tamper {
            Tamper::Body(i, mask) => sent_body = flip(&body, i, mask),
            Tamper::Signature(i, mask) => signature = flip(&signature, i, mask),
            Tamper::Timestamp(delta) => t += delta,
            Tamper::MessageId(_) => unreachable!("Stripe signs no message id"),
        }

        let result = f.verify(Provider::Stripe, &signed(t, &signature), &sent_body, now);

        prop_assert_eq!(result, Err(Rejection::BadSignature));
    });
}
