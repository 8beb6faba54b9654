//! Stripe's `Stripe-Signature` scheme, with signatures made the way Stripe makes them.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_config::Env;
use aloft_inbound::{InboundConfig, Provider, Rejection, VerifiedEvent, Verifier};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;

const SECRET: &str = "whsec_test_0123456789abcdefghijklmnopqrstuv";
const NOW: i64 = 1_700_000_000;
const BODY: &str = r#"{"id":"evt_1OaBc","object":"event","type":"checkout.session.completed","created":1699999990,"data":{"object":{"id":"cs_test_1"}}}"#;

fn verifier() -> Verifier {
    let env = Env::from_pairs([("STRIPE_WEBHOOK_SECRET", SECRET)]);
    Verifier::new(InboundConfig::from_env(&env).unwrap()).unwrap()
}

/// `v1` as Stripe computes it: hex HMAC-SHA256 of `"{t}.{body}"` keyed with the secret.
fn v1(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn signature_header(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("Stripe-Signature", HeaderValue::from_str(value).unwrap());
    headers
}

async fn verify(headers: &HeaderMap, body: &str) -> Result<VerifiedEvent, Rejection> {
    verifier()
        .verify(Provider::Stripe, headers, body.as_bytes(), NOW)
        .await
}

#[tokio::test]
async fn valid_signature_yields_the_stripe_event() {
    let t = NOW - 10;
    let headers = signature_header(&format!("t={t},v1={}", v1(SECRET, t, BODY)));

    let event = verify(&headers, BODY).await.unwrap();

    assert_eq!(event.provider, Provider::Stripe);
    assert_eq!(event.id, "evt_1OaBc");
    assert_eq!(event.kind, "checkout.session.completed");
    assert_eq!(event.created, 1_699_999_990);
    assert_eq!(event.payload["data"]["object"]["id"], "cs_test_1");
}

#[tokio::test]
async fn any_matching_v1_is_enough_while_a_secret_is_rolled() {
    let t = NOW;
    let old = v1("whsec_the_old_secret", t, BODY);
    let headers = signature_header(&format!(
        "t={t},v1={old},v1={},v0=deadbeef",
        v1(SECRET, t, BODY)
    ));

    assert!(verify(&headers, BODY).await.is_ok());
}

#[tokio::test]
async fn signature_with_another_secret_is_a_bad_signature() {
    let headers = signature_header(&format!("t={NOW},v1={}", v1("whsec_wrong", NOW, BODY)));

    assert_eq!(verify(&headers, BODY).await, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn altered_body_is_a_bad_signature() {
    let headers = signature_header(&format!("t={NOW},v1={}", v1(SECRET, NOW, BODY)));
    let altered = BODY.replace("evt_1OaBc", "evt_forged");

    assert_eq!(
        verify(&headers, &altered).await,
        Err(Rejection::BadSignature)
    );
}

#[tokio::test]
async fn old_timestamp_is_stale_even_with_a_valid_signature() {
    let t = NOW - 301;
    let headers = signature_header(&format!("t={t},v1={}", v1(SECRET, t, BODY)));

    assert_eq!(verify(&headers, BODY).await, Err(Rejection::Stale));
}

#[tokio::test]
async fn garbage_header_is_malformed() {
    for value in ["garbage", "t=abc,v1=00", &format!("t={NOW}")] {
        let result = verify(&signature_header(value), BODY).await;
        assert!(
            matches!(result, Err(Rejection::Malformed(_))),
            "{value}: {result:?}"
        );
    }
}

#[tokio::test]
async fn missing_header_is_a_missing_signature() {
    assert_eq!(
        verify(&HeaderMap::new(), BODY).await,
        Err(Rejection::MissingSignature("stripe-signature"))
    );
}

#[tokio::test]
async fn signed_body_that_is_not_an_event_is_malformed() {
    let body = r#"{"hello":"world"}"#;
    let headers = signature_header(&format!("t={NOW},v1={}", v1(SECRET, NOW, body)));

    assert!(matches!(
        verify(&headers, body).await,
        Err(Rejection::Malformed(_))
    ));
}
