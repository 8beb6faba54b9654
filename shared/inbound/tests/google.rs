//! Google Play RTDN pushed by Pub/Sub: the OIDC token is signed by the test's own fake
//! provider (a real JWKS over HTTP), standing in for Google's.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_config::Env;
use aloft_inbound::{InboundConfig, Provider, Rejection, VerifiedEvent, Verifier};
use aloft_testkit::idp::FakeIdp;
use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

const SERVICE_ACCOUNT: &str = "rtdn-push@example-project.iam.gserviceaccount.com";
const PACKAGE: &str = "com.example.aloft";

struct Fixture {
    idp: FakeIdp,
    verifier: Verifier,
}

async fn fixture(extra: &[(&'static str, &'static str)]) -> Fixture {
    let idp = FakeIdp::start().await;
    let mut pairs = vec![
        ("GOOGLE_PUBSUB_AUDIENCE", idp.audience.as_str()),
        ("GOOGLE_PUBSUB_JWKS_URL", idp.jwks_url.as_str()),
        ("GOOGLE_PUBSUB_ISSUER", idp.issuer.as_str()),
        ("GOOGLE_PUBSUB_SERVICE_ACCOUNT", SERVICE_ACCOUNT),
    ];
    pairs.extend_from_slice(extra);
    let config = InboundConfig::from_env(&Env::from_pairs(pairs)).unwrap();
    let verifier = Verifier::new(config).unwrap();
    Fixture { idp, verifier }
}

/// Claims of a Pub/Sub push token from the service account.
fn push_claims(idp: &FakeIdp) -> Value {
    let mut claims = idp.claims("112233445566778899000");
    claims["email"] = SERVICE_ACCOUNT.into();
    claims["email_verified"] = true.into();
    claims
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "Authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

fn push_body(notification: &Value) -> Vec<u8> {
    let data = STANDARD.encode(notification.to_string());
    json!({
        "message": {"data": data, "messageId": "136969346945", "message_id": "136969346945",
                    "publishTime": "2023-11-14T22:13:20.000Z"},
        "subscription": "projects/example-project/subscriptions/play-rtdn"
    })
    .to_string()
    .into_bytes()
}

fn purchased() -> Value {
    json!({
        "version": "1.0",
        "packageName": PACKAGE,
        "eventTimeMillis": "1699999990123",
        "subscriptionNotification": {"version": "1.0", "notificationType": 4,
                                     "purchaseToken": "token-abc", "subscriptionId": "pro.monthly"}
    })
}

async fn verify(f: &Fixture, token: &str, body: &[u8]) -> Result<VerifiedEvent, Rejection> {
    f.verifier
        .verify(Provider::Google, &bearer(token), body, 0)
        .await
}

#[tokio::test]
async fn valid_push_yields_the_play_notification() {
    let f = fixture(&[]).await;
    let token = f.idp.sign(Algorithm::RS256, "rsa-1", &push_claims(&f.idp));

    let event = verify(&f, &token, &push_body(&purchased())).await.unwrap();

    assert_eq!(event.provider, Provider::Google);
    assert_eq!(event.id, "136969346945");
    assert_eq!(event.kind, "SUBSCRIPTION_PURCHASED");
    assert_eq!(event.created, 1_699_999_990);
    assert_eq!(
        event.payload["subscriptionNotification"]["purchaseToken"],
        "token-abc"
    );
}

#[tokio::test]
async fn test_and_other_notifications_have_their_kinds() {
    let f = fixture(&[]).await;
    let token = f.idp.sign(Algorithm::ES256, "ec-1", &push_claims(&f.idp));
    let base =
        json!({"version": "1.0", "packageName": PACKAGE, "eventTimeMillis": "1699999990123"});
    for (field, kind) in [
        ("testNotification", "TEST"),
        ("oneTimeProductNotification", "ONE_TIME_PRODUCT"),
        ("voidedPurchaseNotification", "VOIDED_PURCHASE"),
    ] {
        let mut notification = base.clone();
        notification[field] = json!({"version": "1.0"});
        let event = verify(&f, &token, &push_body(&notification)).await.unwrap();
        assert_eq!(event.kind, kind);
    }
}

#[tokio::test]
async fn the_token_must_carry_the_service_account_as_a_verified_email() {
    let f = fixture(&[]).await;
    let sign = |claims: &Value| f.idp.sign(Algorithm::RS256, "rsa-1", claims);
    let mut unverified = push_claims(&f.idp);
    unverified["email_verified"] = false.into();
    let mut other = push_claims(&f.idp);
    other["email"] = "someone@example-project.iam.gserviceaccount.com".into();

    assert!(
        verify(&f, &sign(&push_claims(&f.idp)), &push_body(&purchased()))
            .await
            .is_ok()
    );
    for claims in [unverified, other] {
        let result = verify(&f, &sign(&claims), &push_body(&purchased())).await;
        assert_eq!(result, Err(Rejection::BadSignature));
    }
}

#[tokio::test]
async fn token_for_another_audience_is_a_bad_signature() {
    let f = fixture(&[]).await;
    let mut claims = push_claims(&f.idp);
    claims["aud"] = "https://someone-else.example/push".into();
    let token = f.idp.sign(Algorithm::RS256, "rsa-1", &claims);

    let result = verify(&f, &token, &push_body(&purchased())).await;

    assert_eq!(result, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn token_with_a_forged_payload_is_a_bad_signature() {
    let f = fixture(&[]).await;
    let token = f.idp.sign(Algorithm::RS256, "rsa-1", &push_claims(&f.idp));
    let mut other = push_claims(&f.idp);
    other["email"] = "attacker@example.com".into();
    let forged = f.idp.sign(Algorithm::RS256, "rsa-1", &other);
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = forged.split('.').nth(1).unwrap();

    let result = verify(&f, &parts.join("."), &push_body(&purchased())).await;

    assert_eq!(result, Err(Rejection::BadSignature));
}

#[tokio::test]
async fn expired_token_is_stale() {
    let f = fixture(&[]).await;
    let mut claims = push_claims(&f.idp);
    let issued = claims["iat"].as_i64().unwrap() - 7200;
    claims["iat"] = issued.into();
    claims["nbf"] = issued.into();
    claims["exp"] = (issued + 3600).into();
    let token = f.idp.sign(Algorithm::RS256, "rsa-1", &claims);

    let result = verify(&f, &token, &push_body(&purchased())).await;

    assert_eq!(result, Err(Rejection::Stale));
}

#[tokio::test]
async fn bearer_that_is_not_a_jwt_is_malformed() {
    let f = fixture(&[]).await;

    let result = verify(&f, "not.a.jwt", &push_body(&purchased())).await;

    assert!(matches!(result, Err(Rejection::Malformed(_))), "{result:?}");
}

#[tokio::test]
async fn authorization_without_bearer_is_malformed_and_absent_is_missing() {
    let f = fixture(&[]).await;
    let mut basic = HeaderMap::new();
    basic.insert(
        "Authorization",
        HeaderValue::from_static("Basic Zm9vOmJhcg=="),
    );
    let body = push_body(&purchased());

    let result = f.verifier.verify(Provider::Google, &basic, &body, 0).await;
    assert!(matches!(result, Err(Rejection::Malformed(_))), "{result:?}");
    let result = f
        .verifier
        .verify(Provider::Google, &HeaderMap::new(), &body, 0)
        .await;
    assert_eq!(result, Err(Rejection::MissingSignature("authorization")));
}

#[tokio::test]
async fn notification_for_another_package_is_refused() {
    let f = fixture(&[("GOOGLE_PLAY_PACKAGE_NAME", "com.example.other")]).await;
    let token = f.idp.sign(Algorithm::RS256, "rsa-1", &push_claims(&f.idp));

    let result = verify(&f, &token, &push_body(&purchased())).await;

    assert!(matches!(result, Err(Rejection::Malformed(_))), "{result:?}");
}

#[tokio::test]
async fn push_whose_data_is_not_a_notification_is_malformed() {
    let f = fixture(&[]).await;
    let token = f.idp.sign(Algorithm::RS256, "rsa-1", &push_claims(&f.idp));
    let not_base64 = br#"{"message":{"data":"%%%","messageId":"1"}}"#.to_vec();
    let no_notification = push_body(&json!({"packageName": PACKAGE, "eventTimeMillis": "1"}));

    for body in [not_base64, no_notification, b"[]".to_vec()] {
        let result = verify(&f, &token, &body).await;
        assert!(matches!(result, Err(Rejection::Malformed(_))), "{result:?}");
    }
}
