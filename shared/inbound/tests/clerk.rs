//! Clerk webhooks through Svix's scheme, with signatures made the way Svix makes them.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_config::Env;
use aloft_inbound::{InboundConfig, Provider, Rejection, VerifiedEvent, Verifier};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;

const KEY: &[u8] = b"clerk-signing-key-0123456789abcdef";
const NOW: i64 = 1_700_000_000;
const MESSAGE_ID: &str = "msg_2bDzvGS3pEj4c7fS0qHx";
const BODY: &str =
    r#"{"type":"user.created","object":"event","data":{"id":"user_29w83sxmDNGwOuEthce5gg56FcC"}}"#;

fn verifier() -> Verifier {
    let secret = format!("whsec_{}", STANDARD.encode(KEY));
    let env = Env::from_pairs([("CLERK_WEBHOOK_SECRET", secret.as_str())]);
    Verifier::new(InboundConfig::from_env(&env).unwrap()).unwrap()
}

/// A `v1,` entry as Svix computes it: base64 HMAC-SHA256 of `"{id}.{timestamp}.{body}"`.
fn v1(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn svix_headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("svix-id", id.to_owned()),
        ("svix-timestamp", timestamp.to_string()),
        ("svix-signature", signature.to_owned()),
    ] {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    headers
}

async fn verify(headers: &HeaderMap, body: &str) -> Result<VerifiedEvent, Rejection> {
    verifier()
        .verify(Provider::Clerk, headers, body.as_bytes(), NOW)
        .await
}

#[tokio::test]
async fn valid_signature_yields_the_clerk_event() {
    let sent = NOW - 5;
    let headers = svix_headers(MESSAGE_ID, sent, &v1(KEY, MESSAGE_ID, sent, BODY));

    let event = verify(&headers, BODY).await.unwrap();

    assert_eq!(event.provider, Provider::Clerk);
    assert_eq!(event.id, MESSAGE_ID);
    assert_eq!(event.kind, "user.created");
    assert_eq!(event.created, sent);
    assert_eq!(
        event.payload["data"]["id"],
        "user_29w83sxmDNGwOuEthce5gg56FcC"
    );
}

#[tokio::test]
async fn any_matching_v1_entry_is_enough() {
    let signatures = format!(
        "v1,{} {}",
        STANDARD.encode([7_u8; 32]),
        v1(KEY, MESSAGE_ID, NOW, BODY)
    );
    let headers = svix_headers(MESSAGE_ID, NOW, &signatures);

    assert!(verify(&headers, BODY).await.is_ok());
}

#[tokio::test]
async fn signature_with_another_key_is_a_bad_signature() {
    let headers = svix_headers(MESSAGE_ID, NOW, &v1(b"another key", MESSAGE_ID, NOW, BODY));

    assert_eq!(verify(&headers, BODY).await, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn signature_for_another_message_id_is_a_bad_signature() {
    let headers = svix_headers("msg_other", NOW, &v1(KEY, MESSAGE_ID, NOW, BODY));

    assert_eq!(verify(&headers, BODY).await, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn old_timestamp_is_stale_even_with_a_valid_signature() {
    let sent = NOW - 3600;
    let headers = svix_headers(MESSAGE_ID, sent, &v1(KEY, MESSAGE_ID, sent, BODY));

    assert_eq!(verify(&headers, BODY).await, Err(Rejection::Stale));
}

#[tokio::test]
async fn signature_without_a_v1_entry_is_malformed() {
    let bare = v1(KEY, MESSAGE_ID, NOW, BODY).replace("v1,", "");
    let headers = svix_headers(MESSAGE_ID, NOW, &bare);

    assert!(matches!(
        verify(&headers, BODY).await,
        Err(Rejection::Malformed(_))
    ));
}

#[tokio::test]
async fn missing_svix_headers_are_named() {
    let complete = svix_headers(MESSAGE_ID, NOW, &v1(KEY, MESSAGE_ID, NOW, BODY));
    for name in ["svix-id", "svix-timestamp", "svix-signature"] {
        let mut headers = complete.clone();
        headers.remove(name);
        assert_eq!(
            verify(&headers, BODY).await,
            Err(Rejection::MissingSignature(name))
        );
    }
}
