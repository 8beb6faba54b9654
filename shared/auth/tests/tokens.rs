//! The token attack suite and the extractors, driven through a real router with the
//! shared edge so the envelope and headers are checked too.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aloft_auth::{
    AdminUser, AuthConfig, AuthUser, Authenticator, JwtKeys, Principal, Role, TenantId,
};
use aloft_config::Env;
use aloft_http::{HttpConfig, Reply, edge};
use axum::{Router, body::Body, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "test-secret-that-is-long-enough-0123456789";

fn config() -> AuthConfig {
    AuthConfig::from_env(&Env::from_pairs([
        ("JWT_SECRET", SECRET),
        ("JWT_ISSUER", "aloft-test"),
        ("JWT_AUDIENCE", "aloft"),
    ]))
    .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn alice(role: Role) -> Principal {
    Principal {
        user_id: "user-alice".into(),
        tenant_id: TenantId::new("tenant-alice"),
        membership: None,
        role,
        plan: aloft_auth::Plan::Free,
        email: Some("alice@example.com".into()),
        impersonator: None,
        token_id: None,
        credential: aloft_auth::Credential::SESSIONLESS,
    }
}

fn app(keys: Arc<JwtKeys>) -> Router {
    let routes = Router::new()
        .route(
            "/api/v1/app/whoami",
            get(|AuthUser(p): AuthUser| async move { Reply::ok(json!({ "id": p.user_id })) }),
        )
        .route(
            "/api/v1/admin/ping",
            get(|AdminUser(_): AdminUser| async { Reply::ok(json!({ "ok": true })) }),
        )
        .with_state(Authenticator::new(keys, None));
    edge(routes, &HttpConfig::from_env(&Env::from_pairs([])).unwrap())
}

async fn call(path: &str, token: Option<&str>) -> (StatusCode, http::HeaderMap, Value) {
    let keys = Arc::new(JwtKeys::new(&config()));
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app(keys)
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

/// Signs arbitrary header and claims with `key`, HS256, by hand.
fn forge(header: Value, claims: Value, key: &[u8]) -> String {
    let encoded = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(
        encoded.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(key),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    format!("{encoded}.{signature}")
}

fn good_claims() -> Value {
    json!({
        "sub": "user-alice", "tid": "tenant-alice", "role": "user",
        "iss": "aloft-test", "aud": "aloft",
        "exp": now() + 600, "nbf": now() - 10, "iat": now() - 10
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    match value {
        Value::Null => claims.as_object_mut().unwrap().remove(key),
        v => claims.as_object_mut().unwrap().insert(key.into(), v),
    };
    claims
}

async fn assert_rejected_with_401(token: &str) {
    let (status, headers, body) = call("/api/v1/app/whoami", Some(token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "AUTHENTICATION_ERROR");
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
}

#[tokio::test]
async fn issued_token_is_accepted_and_round_trips_the_principal() {
    let keys = JwtKeys::new(&config());
    let token = keys.issue(&alice(Role::User), now()).unwrap();
    assert_eq!(keys.verify(&token).unwrap(), alice(Role::User));
    let (status, _, body) = call("/api/v1/app/whoami", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], "user-alice");
}

#[tokio::test]
async fn missing_token_is_rejected_with_401() {
    let (status, headers, body) = call("/api/v1/app/whoami", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "Not authenticated");
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn expired_token_is_rejected_with_401() {
    let keys = JwtKeys::new(&config());
    let token = keys
        .issue_with_ttl(&alice(Role::User), now() - 3600, Duration::from_secs(60))
        .unwrap();
    let (status, _, body) = call("/api/v1/app/whoami", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "Token has expired");
}

#[tokio::test]
async fn tampered_payload_is_rejected_with_401() {
    let keys = JwtKeys::new(&config());
    let token = keys.issue(&alice(Role::User), now()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let admin_claims = with(good_claims(), "role", json!("superadmin"));
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(admin_claims.to_string()),
        parts[2]
    );
    assert_rejected_with_401(&tampered).await;
}

#[tokio::test]
async fn alg_none_is_rejected_with_401() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let claims = URL_SAFE_NO_PAD.encode(good_claims().to_string());
    assert_rejected_with_401(&format!("{header}.{claims}.")).await;
}

#[tokio::test]
async fn token_signed_with_another_key_is_rejected_with_401() {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "k1"});
    assert_rejected_with_401(&forge(
        header,
        good_claims(),
        b"another-secret-of-sufficient-length!!",
    ))
    .await;
}

#[tokio::test]
async fn other_algorithm_in_header_is_rejected_with_401() {
    // HS384 signed with our own secret: the header must not choose the algorithm.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS384","typ":"JWT","kid":"k1"}"#);
    let claims = URL_SAFE_NO_PAD.encode(good_claims().to_string());
    let signature = jsonwebtoken::crypto::sign(
        format!("{header}.{claims}").as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        jsonwebtoken::Algorithm::HS384,
    )
    .unwrap();
    assert_rejected_with_401(&format!("{header}.{claims}.{signature}")).await;
}

#[tokio::test]
async fn unknown_kid_is_rejected_with_401() {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "k-unknown"});
    assert_rejected_with_401(&forge(header, good_claims(), SECRET.as_bytes())).await;
}

#[tokio::test]
async fn claim_violations_are_rejected_with_401() {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "k1"});
    let cases = [
        (
            "wrong issuer",
            with(good_claims(), "iss", json!("someone-else")),
        ),
        (
            "wrong audience",
            with(good_claims(), "aud", json!("other-app")),
        ),
        (
            "not yet valid",
            with(good_claims(), "nbf", json!(now() + 600)),
        ),
        ("missing sub", with(good_claims(), "sub", Value::Null)),
        ("missing tenant", with(good_claims(), "tid", Value::Null)),
        ("missing exp", with(good_claims(), "exp", Value::Null)),
    ];
    for (case, claims) in cases {
        let token = forge(header.clone(), claims, SECRET.as_bytes());
        let (status, _, _) = call("/api/v1/app/whoami", Some(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}");
    }
}

#[tokio::test]
async fn token_signed_before_rotation_is_still_accepted() {
    let old = JwtKeys::new(&config());
    let token = old.issue(&alice(Role::User), now()).unwrap();
    let rotated = AuthConfig::from_env(&Env::from_pairs([
        ("JWT_SECRET", "the-new-secret-that-is-long-enough-987654"),
        ("JWT_KID", "k2"),
        ("JWT_PREVIOUS_SECRETS", &format!("k1={SECRET}")),
        ("JWT_ISSUER", "aloft-test"),
        ("JWT_AUDIENCE", "aloft"),
    ]))
    .unwrap();
    assert!(JwtKeys::new(&rotated).verify(&token).is_ok());
}

#[tokio::test]
async fn user_role_on_admin_route_is_forbidden_with_403() {
    let keys = JwtKeys::new(&config());
    let user_token = keys.issue(&alice(Role::User), now()).unwrap();
    let (status, _, body) = call("/api/v1/admin/ping", Some(&user_token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "AUTHORIZATION_ERROR");

    let admin_token = keys.issue(&alice(Role::Admin), now()).unwrap();
    let (status, _, _) = call("/api/v1/admin/ping", Some(&admin_token)).await;
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn short_secret_fails_configuration_naming_the_variable() {
    let err = AuthConfig::from_env(&Env::from_pairs([
        ("JWT_SECRET", "short"),
        ("JWT_ISSUER", "i"),
        ("JWT_AUDIENCE", "a"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("JWT_SECRET"));
}

#[tokio::test]
async fn an_impersonation_token_round_trips_act_and_jti_and_needs_a_session() {
    let keys = Arc::new(JwtKeys::new(&config()));
    let principal = Principal {
        impersonator: Some("admin-1".into()),
        token_id: Some("jti-1".into()),
        credential: aloft_auth::Credential::SESSIONLESS,
        ..alice(Role::User)
    };
    let token = keys
        .issue_with_ttl(&principal, now(), std::time::Duration::from_secs(600))
        .unwrap();
    assert_eq!(keys.verify(&token).unwrap(), principal);
    // This app's authenticator has no session store: such a token is refused outright.
    let (status, _, body) = call("/api/v1/app/whoami", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "Impersonation has ended");
}
