//! Supabase database webhooks on `auth.users`, authenticated by a shared bearer secret.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_config::Env;
use aloft_inbound::{InboundConfig, Provider, Rejection, VerifiedEvent, Verifier};
use http::{HeaderMap, HeaderValue};
use serde_json::json;

const SECRET: &str = "supabase-webhook-secret-0123456789";
const NOW: i64 = 1_700_000_000;

fn verifier() -> Verifier {
    let env = Env::from_pairs([("SUPABASE_WEBHOOK_SECRET", SECRET)]);
    Verifier::new(InboundConfig::from_env(&env).unwrap()).unwrap()
}

fn authorization(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("Authorization", HeaderValue::from_str(value).unwrap());
    headers
}

fn insert_body() -> Vec<u8> {
    json!({
        "type": "INSERT",
        "table": "users",
        "schema": "auth",
        "record": {"id": "8d0fd2b3-9ca0-4a8f-8d1c-6f4b3d8c2a10", "email": "ada@example.com",
                   "updated_at": "2023-11-14T22:13:10.123456+00:00"},
        "old_record": null
    })
    .to_string()
    .into_bytes()
}

async fn verify(headers: &HeaderMap, body: &[u8]) -> Result<VerifiedEvent, Rejection> {
    verifier()
        .verify(Provider::Supabase, headers, body, NOW)
        .await
}

#[tokio::test]
async fn right_secret_yields_the_table_change() {
    let body = insert_body();

    let event = verify(&authorization(&format!("Bearer {SECRET}")), &body)
        .await
        .unwrap();

    assert_eq!(event.provider, Provider::Supabase);
    assert_eq!(event.kind, "INSERT");
    assert_eq!(event.created, 1_699_999_990);
    assert_eq!(event.id.len(), 64, "hex SHA-256 of the body");
    assert_eq!(event.payload["record"]["email"], "ada@example.com");
}

#[tokio::test]
async fn delete_is_dated_by_the_old_row_and_undated_changes_by_now() {
    let delete = json!({"type": "DELETE", "table": "users", "schema": "auth", "record": null,
                        "old_record": {"updated_at": "2023-11-14T22:00:00+00:00"}});
    let undated = json!({"type": "UPDATE", "table": "users", "record": {}, "old_record": {}});
    let headers = authorization(&format!("Bearer {SECRET}"));

    let deleted = verify(&headers, delete.to_string().as_bytes())
        .await
        .unwrap();
    let updated = verify(&headers, undated.to_string().as_bytes())
        .await
        .unwrap();

    assert_eq!(
        (deleted.kind.as_str(), deleted.created),
        ("DELETE", 1_699_999_200)
    );
    assert_eq!((updated.kind.as_str(), updated.created), ("UPDATE", NOW));
}

#[tokio::test]
async fn wrong_secret_is_a_bad_signature() {
    let headers = authorization("Bearer supabase-webhook-secret-0123456788");

    assert_eq!(
        verify(&headers, &insert_body()).await,
        Err(Rejection::BadSignature)
    );
}

/// The scheme has no timestamp, so "stale" cannot be detected. What stops a replay is
/// that the same body always yields the same id, which the consumer dedupes on.
#[tokio::test]
async fn replayed_body_yields_the_same_event_id_for_dedupe() {
    let headers = authorization(&format!("Bearer {SECRET}"));
    let body = insert_body();

    let first = verify(&headers, &body).await.unwrap();
    let replay = verify(&headers, &body).await.unwrap();

    assert_eq!(first.id, replay.id);
    let mut other = insert_body();
    other.extend(b" ");
    assert_ne!(verify(&headers, &other).await.unwrap().id, first.id);
}

#[tokio::test]
async fn authorization_without_bearer_is_malformed() {
    for value in [SECRET, "Basic c3VwYWJhc2U6c2VjcmV0", "Bearer"] {
        let result = verify(&authorization(value), &insert_body()).await;
        assert!(matches!(result, Err(Rejection::Malformed(_))), "{result:?}");
    }
}

#[tokio::test]
async fn missing_authorization_is_a_missing_signature() {
    assert_eq!(
        verify(&HeaderMap::new(), &insert_body()).await,
        Err(Rejection::MissingSignature("authorization"))
    );
}

#[tokio::test]
async fn change_to_another_table_is_malformed() {
    let headers = authorization(&format!("Bearer {SECRET}"));
    for body in [
        json!({"type": "INSERT", "table": "projects", "schema": "public", "record": {}}),
        json!({"type": "INSERT", "table": "users", "schema": "public", "record": {}}),
        json!({"table": "users"}),
    ] {
        let result = verify(&headers, body.to_string().as_bytes()).await;
        assert!(
            matches!(result, Err(Rejection::Malformed(_))),
            "{body}: {result:?}"
        );
    }
}
