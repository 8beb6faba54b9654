//! Supabase database webhooks: the shared secret sent as `Authorization: Bearer`.

use aloft_inbound::{Provider, Rejection};
use http::HeaderMap;
use proptest::{prelude::*, sample::Index};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    SUPABASE_SECRET, SharedSecrets, any_body, any_json, header_value, headers,
    is_refused_before_freshness,
};

/// `Authorization`-like text: schemes and tokens, and the secret with one character
/// changed.
fn authorization_like() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        "(Bearer|bearer|BEARER|Basic|Token)( {0,2})[ -~]{0,40}",
        (any::<Index>(), "[!-~]").prop_map(|(i, c)| {
            let mut secret = SUPABASE_SECRET.to_owned();
            let at = i.index(secret.len());
            secret.replace_range(at..=at, &c);
            format!("Bearer {secret}")
        }),
    ]
}

/// The bearer token of `headers`, as the scheme reads it.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A change of `auth.users`: any type and rows.
fn users_change() -> impl Strategy<Value = Value> {
    let kind = "INSERT|UPDATE|DELETE|[A-Z]{0,8}";
    let schema = prop::option::of(Just("auth"));
    (kind, schema, any_json(), prop::option::of(any_json())).prop_map(
        |(kind, schema, record, old)| {
            json!({"type": kind, "table": "users", "schema": schema, "record": record,
                   "old_record": old})
        },
    )
}

#[test]
fn supabase_refuses_anything_but_its_secret() {
    let f = SharedSecrets::new();
    let headers = headers(&["authorization"], authorization_like());
    proptest!(|(headers in headers, change in users_change(), now in any::<i64>())| {
        let token = bearer_token(&headers);
        prop_assume!(token != Some(SUPABASE_SECRET));

        let result = f.verify(Provider::Supabase, &headers, change.to_string().as_bytes(), now);

        prop_assert!(is_refused_before_freshness(&result), "{result:?}");
        if token.is_some() {
            prop_assert_eq!(result, Err(Rejection::BadSignature));
        }
    });
}

#[test]
fn supabase_secret_admits_the_change_named_by_the_hash_of_its_exact_body() {
    let f = SharedSecrets::new();
    let authorization = ("(?i)bearer", " {0,3}")
        .prop_map(|(scheme, padding)| format!("{scheme} {SUPABASE_SECRET}{padding}"));
    proptest!(|(authorization in authorization, change in users_change(), other in any_body())| {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", header_value(&authorization));
        let body = change.to_string();

        let event = f.verify(Provider::Supabase, &headers, body.as_bytes(), 0).unwrap();

        prop_assert_eq!(&event.id, &hex::encode(Sha256::digest(body.as_bytes())));
        prop_assert_eq!(&event.kind, &change["type"]);
        prop_assert_eq!(event.payload, change);
        // The secret is right, so nothing else is a bad signature; a body that is not a
        // change of auth.users is malformed.
        let result = f.verify(Provider::Supabase, &headers, &other, 0);
        prop_assert!(matches!(result, Ok(_) | Err(Rejection::Malformed(_))), "{result:?}");
    });
}
