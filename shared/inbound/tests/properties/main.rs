//! Properties of every webhook scheme on arbitrary input: a request its provider did not
//! sign is refused with a [`Rejection`] (never a panic, never an event), a payload signed
//! the provider's way verifies and comes back whole, and changing any signed part of it
//! afterwards is refused as a bad signature.
//!
//! `PROPTEST_CASES` sets the cases per property: proptest's 256 by default (`make unit`),
//! 10,000 in `make properties`.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

mod apple;
mod clerk;
mod google;
mod stripe;
mod supabase;

use aloft_config::Env;
use aloft_inbound::{InboundConfig, Provider, Rejection, VerifiedEvent, Verifier};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::{prelude::*, sample::Index};
use sha2::Sha256;
use tokio::runtime::Runtime;

const STRIPE_SECRET: &str = "whsec_test_0123456789abcdefghijklmnopqrstuv";
const CLERK_KEY: &[u8] = b"clerk-signing-key-0123456789abcdef";
const SUPABASE_SECRET: &str = "supabase-webhook-secret-0123456789";
/// `WEBHOOK_TOLERANCE_SECONDS`' default.
const TOLERANCE: i64 = 300;

/// A verifier of the providers configured by a shared secret, and a runtime to ask it.
struct SharedSecrets {
    rt: Runtime,
    verifier: Verifier,
}

impl SharedSecrets {
    fn new() -> Self {
        let clerk = format!("whsec_{}", STANDARD.encode(CLERK_KEY));
        let env = Env::from_pairs([
            ("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
            ("CLERK_WEBHOOK_SECRET", clerk.as_str()),
            ("SUPABASE_WEBHOOK_SECRET", SUPABASE_SECRET),
        ]);
        Self {
            rt: runtime(),
            verifier: Verifier::new(InboundConfig::from_env(&env).unwrap()).unwrap(),
        }
    }

    fn verify(
        &self,
        provider: Provider,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<VerifiedEvent, Rejection> {
        self.rt
            .block_on(self.verifier.verify(provider, headers, body, now))
    }
}

/// Runs the verifier's futures; none of them needs more than one thread.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// HMAC-SHA256 of `parts` joined, as Stripe and Svix sign.
fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// A refusal made before the timestamp is looked at: an unsigned request learns nothing
/// about the freshness check.
fn is_refused_before_freshness(result: &Result<VerifiedEvent, Rejection>) -> bool {
    matches!(
        result,
        Err(Rejection::BadSignature | Rejection::Malformed(_) | Rejection::MissingSignature(_))
    )
}

/// What a request may be changed in after it was signed.
#[derive(Debug, Clone)]
enum Tamper {
    Body(Index, u8),
    Signature(Index, u8),
    /// Another timestamp, still within the tolerance: only the signature can catch it.
    Timestamp(i64),
    /// Another message id (Svix signs it too).
    MessageId(String),
}

/// The changes to try; `signs_id` when the scheme signs a message id.
fn tamper(signs_id: bool) -> BoxedStrategy<Tamper> {
    let common = prop_oneof![
        (any::<Index>(), 1_u8..).prop_map(|(i, m)| Tamper::Body(i, m)),
        (any::<Index>(), 1_u8..).prop_map(|(i, m)| Tamper::Signature(i, m)),
        (-TOLERANCE..TOLERANCE)
            .prop_filter("another time", |d| *d != 0)
            .prop_map(Tamper::Timestamp),
    ];
    if signs_id {
        prop_oneof![3 => common, 1 => "[!-~]{1,24}".prop_map(Tamper::MessageId)].boxed()
    } else {
        common.boxed()
    }
}

/// A time far from the limits of `i64`, so `now ± tolerance` is still a time.
fn now() -> impl Strategy<Value = i64> {
    -(1_i64 << 40)..(1_i64 << 40)
}

/// How long before `now` a request was signed: inside the tolerance or past it.
fn age() -> impl Strategy<Value = i64> {
    -3 * TOLERANCE..3 * TOLERANCE
}

/// Any bytes a header value may hold on the wire: tab, visible ASCII, space and obs-text.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![Just(b'\t'), 0x20_u8..=0x7e, 0x80_u8..=0xff];
    prop::collection::vec(byte, 0..80)
}

/// A header value from text made of visible ASCII and spaces.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_bytes(text.as_bytes()).unwrap()
}

/// Headers named `names`, each either absent, arbitrary bytes, or `shaped` (text close to
/// what the scheme expects, so the parser gets past its first checks).
fn headers(
    names: &'static [&'static str],
    shaped: impl Strategy<Value = String> + Clone,
) -> impl Strategy<Value = HeaderMap> {
    let value = prop_oneof![
        header_bytes().prop_map(|bytes| HeaderValue::from_bytes(&bytes).unwrap()),
        shaped.prop_map(|text| header_value(&text)),
    ];
    prop::collection::vec(prop::option::of(value), names.len()).prop_map(move |values| {
        let mut headers = HeaderMap::new();
        for (name, value) in names.iter().zip(values) {
            if let Some(value) = value {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        headers
    })
}

/// Any body: raw bytes, most of them not even UTF-8.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

/// `bytes` with the byte at `index` xor-ed with `mask` (non-zero: it always changes).
fn flip(bytes: &[u8], index: Index, mask: u8) -> Vec<u8> {
    let mut changed = bytes.to_vec();
    if !changed.is_empty() {
        changed[index.index(bytes.len())] ^= mask;
    }
    changed
}

/// A JSON value of any shape (numbers are integers: floats need not round-trip exactly).
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}
