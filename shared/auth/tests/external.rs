//! Tokens of an external identity provider, verified against a real JWKS served by the
//! test's own fake provider, and the token attack suite against that configuration.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{sync::Arc, time::Duration};

use aloft_auth::{Authenticator, ExternalIdp, ExternalIdpConfig, JwtKeys};
use aloft_store::{Table, UserRepo};
use aloft_testkit::{
    TestEnv, auth_config,
    idp::{FakeIdp, RSA_PUBLIC_PEM},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue, header};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

struct Fixture {
    idp: FakeIdp,
    authenticator: Authenticator,
}

async fn fixture() -> Fixture {
    let idp = FakeIdp::start().await;
    let env = TestEnv::new().await;
    let config = ExternalIdpConfig {
        jwks_url: idp.jwks_url.clone(),
        issuer: idp.issuer.clone(),
        audience: idp.audience.clone(),
    };
    let external = ExternalIdp::new(config)
        .unwrap()
        .with_min_refetch_interval(Duration::ZERO);
    let users = UserRepo::new(Table::new(env.clients.dynamodb.clone(), env.table()));
    let jwt = Arc::new(JwtKeys::new(&auth_config()));
    Fixture {
        idp,
        authenticator: Authenticator::new(jwt, None).with_external(external, users, None),
    }
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

async fn rejected(f: &Fixture, token: &str) -> bool {
    matches!(
        f.authenticator.authenticate(&bearer(token)).await,
        Err(aloft_core::ApiError::Authentication(_))
    )
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    let map = claims.as_object_mut().unwrap();
    match value {
        Value::Null => map.remove(key),
        v => map.insert(key.into(), v),
    };
    claims
}

#[tokio::test]
async fn provider_user_is_created_on_first_sight_and_found_after() {
    let f = fixture().await;
    for (algorithm, kid) in [(Algorithm::RS256, "rsa-1"), (Algorithm::ES256, "ec-1")] {
        let sub = format!("user-{kid}");
        let token = f.idp.sign(algorithm, kid, &f.idp.claims(&sub));
        let first = f
            .authenticator
            .authenticate(&bearer(&token))
            .await
            .unwrap()
            .unwrap();
        let again = f
            .authenticator
            .authenticate(&bearer(&token))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.user_id, again.user_id, "{kid}");
        assert_eq!(
            first.email.as_deref(),
            Some(format!("{sub}@idp.example.test").as_str())
        );
        assert!(!first.tenant_id.as_str().is_empty());
    }
    assert_eq!(f.idp.fetches(), 1, "the JWKS is cached");
}

#[tokio::test]
async fn own_hs256_tokens_still_work_beside_the_provider() {
    let f = fixture().await;
    let token = aloft_testkit::token_for("local-user", aloft_auth::Role::User);
    let principal = f
        .authenticator
        .authenticate(&bearer(&token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(principal.user_id, "local-user");
}

#[tokio::test]
async fn rotated_key_is_fetched_when_a_token_names_it() {
    let f = fixture().await;
    let token = f.idp.sign(Algorithm::ES256, "ec-1", &f.idp.claims("ann"));
    assert!(f.authenticator.authenticate(&bearer(&token)).await.is_ok());
    f.idp.publish("ec-2", Algorithm::ES256);
    let rotated = f.idp.sign(Algorithm::ES256, "ec-2", &f.idp.claims("ann"));
    assert!(
        f.authenticator
            .authenticate(&bearer(&rotated))
            .await
            .is_ok()
    );
    assert_eq!(f.idp.fetches(), 2);
}

#[tokio::test]
async fn attack_suite_is_rejected_with_401() {
    let f = fixture().await;
    let good = f.idp.claims("mallory");
    let now = good["iat"].as_u64().unwrap();
    let rs = |claims: &Value| f.idp.sign(Algorithm::RS256, "rsa-1", claims);

    // alg: none, with a kid the provider publishes.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    // HS256 signed with the provider's RS256 *public* key as the HMAC secret.
    let confused = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT","kid":"rsa-1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(good.to_string());
        let signature = jsonwebtoken::crypto::sign(
            format!("{header}.{payload}").as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{header}.{payload}.{signature}")
    };
    let tampered = {
        let token = rs(&good);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = with(good.clone(), "sub", json!("admin"));
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(forged.to_string()),
            parts[2]
        )
    };
    let cases = [
        ("alg none", none),
        ("HS256 signed with the RS256 public key", confused),
        ("expired", rs(&with(good.clone(), "exp", json!(now - 600)))),
        (
            "not yet valid",
            rs(&with(good.clone(), "nbf", json!(now + 600))),
        ),
        (
            "wrong iss",
            rs(&with(good.clone(), "iss", json!("https://evil.example/"))),
        ),
        (
            "wrong aud",
            rs(&with(good.clone(), "aud", json!("someone-else"))),
        ),
        ("tampered payload", tampered),
        (
            "unknown kid",
            f.idp.sign(Algorithm::RS256, "no-such-kid", &good),
        ),
        ("missing sub", rs(&with(good.clone(), "sub", Value::Null))),
        (
            "RS256 token under the EC key's kid",
            f.idp.sign(Algorithm::RS256, "ec-1", &good),
        ),
    ];
    for (case, token) in cases {
        assert!(rejected(&f, &token).await, "{case} was accepted");
    }
}

#[test]
fn provider_settings_come_as_a_set() {
    let env = aloft_config::Env::from_pairs([("AUTH_JWKS_URL", "https://idp/jwks.json")]);
    let err = ExternalIdpConfig::from_env(&env).unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing required environment variable AUTH_ISSUER"
    );
    assert!(
        ExternalIdpConfig::from_env(&aloft_config::Env::from_pairs([]))
            .unwrap()
            .is_none()
    );
}
