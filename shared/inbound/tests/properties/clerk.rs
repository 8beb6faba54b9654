//! Clerk, through Svix: `svix-id`, `svix-timestamp`, and `svix-signature` entries
//! `v1,<base64 HMAC of "{id}.{timestamp}.{body}">`.

use aloft_inbound::{Provider, Rejection};
use base64::{Engine, engine::general_purpose::STANDARD};
use http::HeaderMap;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{
    CLERK_KEY, SharedSecrets, TOLERANCE, Tamper, age, any_body, any_json, flip, header_value,
    headers, hmac, is_refused_before_freshness, now, tamper,
};

const SVIX_HEADERS: &[&str] = &["svix-id", "svix-timestamp", "svix-signature"];

/// Svix-like text: ids, times, and space-separated `v1,<base64>` entries among junk.
fn svix_like() -> impl Strategy<Value = String> + Clone {
    let entry = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| format!("v1,{}", STANDARD.encode(b))),
        "[A-Za-z0-9+/=]{0,48}".prop_map(|b| format!("v1,{b}")),
        "v[0-9],[ -~]{0,10}",
        any::<i64>().prop_map(|t| t.to_string()),
        "msg_[A-Za-z0-9]{0,24}",
        "[ -~]{0,16}",
    ];
    prop::collection::vec(entry, 0..5).prop_map(|entries| entries.join(" "))
}

/// A message id as Svix sends it: visible ASCII.
fn message_id() -> impl Strategy<Value = String> {
    "[!-~]{1,32}"
}

/// A Clerk event: any type and data.
fn event() -> impl Strategy<Value = Value> {
    (any::<String>(), any_json())
        .prop_map(|(kind, data)| json!({"type": kind, "object": "event", "data": data}))
}

fn signature(id: &str, t: i64, body: &[u8]) -> Vec<u8> {
    let t = t.to_string();
    hmac(CLERK_KEY, &[id.as_bytes(), b".", t.as_bytes(), b".", body])
}

fn signed(id: &str, t: i64, signature: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("svix-id", header_value(id));
    headers.insert("svix-timestamp", header_value(&t.to_string()));
    let entry = format!("v1,{}", STANDARD.encode(signature));
    headers.insert("svix-signature", header_value(&entry));
    headers
}

#[test]
fn clerk_refuses_any_request_svix_did_not_sign_before_looking_at_the_time() {
    let f = SharedSecrets::new();
    let headers = headers(SVIX_HEADERS, svix_like());
    proptest!(|(headers in headers, body in any_body(), now in any::<i64>())| {
        let result = f.verify(Provider::Clerk, &headers, &body, now);

        prop_assert!(is_refused_before_freshness(&result), "{result:?}");
        // Headers are read in order: the first absent one is named, one that is not
        // visible ASCII is malformed.
        for name in SVIX_HEADERS {
            match headers.get(*name).map(|value| value.to_str().is_ok()) {
                None => prop_assert_eq!(&result, &Err(Rejection::MissingSignature(name))),
                Some(false) => prop_assert!(matches!(result, Err(Rejection::Malformed(_)))),
                Some(true) => continue,
            }
            break;
        }
    });
}

#[test]
fn clerk_signed_event_verifies_whole_and_only_while_fresh() {
    let f = SharedSecrets::new();
    proptest!(|(id in message_id(), event in event(), now in now(), age in age())| {
        let body = event.to_string().into_bytes();
        let t = now - age;
        let headers = signed(&id, t, &signature(&id, t, &body));

        let result = f.verify(Provider::Clerk, &headers, &body, now);

        if age.abs() > TOLERANCE {
            prop_assert_eq!(result, Err(Rejection::Stale));
        } else {
            let verified = result.unwrap();
            prop_assert_eq!((verified.provider, &verified.id), (Provider::Clerk, &id));
            prop_assert_eq!(&verified.kind, &event["type"]);
            prop_assert_eq!(verified.created, t);
            prop_assert_eq!(verified.payload, event);
        }
    });
}

#[test]
fn clerk_event_changed_after_signing_is_a_bad_signature() {
    let f = SharedSecrets::new();
    proptest!(|(id in message_id(), event in event(), now in now(), tamper in tamper(true))| {
        let body = event.to_string().into_bytes();
        let mut signature = signature(&id, now, &body);
        let (mut sent_id, mut sent_body, mut t) = (id.clone(), body.clone(), now);
        match tamper {
            Tamper::Body(i, mask) => sent_body = flip(&body, i, mask),
            Tamper::Signature(i, mask) => signature = flip(&signature, i, mask),
            Tamper::Timestamp(delta) => t += delta,
            Tamper::MessageId(other) => {
                prop_assume!(other != id);
                sent_id = other;
            }
        }

        let result = f.verify(Provider::Clerk, &signed(&sent_id, t, &signature), &sent_body, now);

        prop_assert_eq!(result, Err(Rejection::BadSignature));
    });
}
