//! Properties of the credential parsers on arbitrary input: any `Authorization` or
//! `X-API-Key` value that is not a valid credential is a 401 in the envelope (never a
//! panic, never a 5xx), no token but an issued one verifies, an issued token verifies to
//! the principal it was issued for, and changing any byte of it is refused.
//!
//! No emulator: API keys are checked without a key table (a well-formed key is refused
//! before any read), and the provider's users live behind an endpoint nobody listens on,
//! so a read that should not happen shows up as a 503.
//!
//! `PROPTEST_CASES` sets the cases per property: proptest's 256 by default (`make unit`),
//! 10,000 in `make properties`.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aloft_auth::{
    AdminUser, AuthUser, Authenticator, ExternalIdp, ExternalIdpConfig, JwtKeys, Plan, Principal,
    Role, TenantId, TokenError,
};
use aloft_http::{HttpConfig, Reply, edge};
use aloft_store::{AwsClients, AwsSettings, Table, UserRepo};
use aloft_testkit::{auth_config, idp::FakeIdp};
use axum::{Router, body::Body, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use jsonwebtoken::Algorithm;
use proptest::{prelude::*, sample::Index};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// Nothing listens here: a store read the code should not make fails at once.
const NOWHERE: &str = "http://127.0.0.1:9";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The whoami and admin routes behind the shared edge, with our own tokens and a
/// provider's, as a function sees them.
struct Fixture {
    rt: Runtime,
    idp: FakeIdp,
    keys: Arc<JwtKeys>,
    app: Router,
}

impl Fixture {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (idp, external, users) = rt.block_on(async {
            let idp = FakeIdp::start().await;
            let external = ExternalIdp::new(ExternalIdpConfig {
                jwks_url: idp.jwks_url.clone(),
                issuer: idp.issuer.clone(),
                audience: idp.audience.clone(),
            })
            .unwrap();
            let aws = AwsClients::connect(&AwsSettings::local(NOWHERE)).await;
            let users = UserRepo::new(Table::new(aws.dynamodb, "no-such-table"));
            (idp, external, users)
        });
        let keys = Arc::new(JwtKeys::new(&auth_config()));
        let routes = Router::new()
            .route(
                "/api/v1/app/whoami",
                get(|AuthUser(p): AuthUser| async move { Reply::ok(json!({ "id": p.user_id })) }),
            )
            .route(
                "/api/v1/admin/ping",
                get(|AdminUser(_): AdminUser| async { Reply::ok(json!({})) }),
            )
            .with_state(
                Authenticator::new(keys.clone(), None).with_external(external, users, None),
            );
        let app = edge(
            routes,
            &HttpConfig::from_env(&aloft_config::Env::from_pairs([])).unwrap(),
        );
        Self { rt, idp, keys, app }
    }

    /// Status, headers and JSON body of `GET path` with `headers`.
    fn get(&self, path: &str, headers: HeaderMap) -> (StatusCode, HeaderMap, Value) {
        let mut request = Request::get(path).body(Body::empty()).unwrap();
        *request.headers_mut() = headers;
        self.rt.block_on(async {
            let response = self.app.clone().oneshot(request).await.unwrap();
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            (
                parts.status,
                parts.headers,
                serde_json::from_slice(&bytes).unwrap(),
            )
        })
    }
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

/// The answer every refused credential gets.
fn assert_401(
    (status, headers, body): (StatusCode, HeaderMap, Value),
) -> Result<(), TestCaseError> {
    prop_assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", body);
    prop_assert_eq!(&body["error"]["code"], "AUTHENTICATION_ERROR");
    prop_assert!(body["error"]["message"].is_string() && body["error"]["details"].is_object());
    let challenge = headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok());
    prop_assert!(
        challenge.is_some_and(|c| c.starts_with("Bearer")),
        "{challenge:?}"
    );
    Ok(())
}

/// Any bytes a header value may hold on the wire: tab, visible ASCII, space and obs-text.
fn header_bytes() -> impl Strategy<Value = HeaderValue> {
    let byte = prop_oneof![Just(b'\t'), 0x20_u8..=0x7e, 0x80_u8..=0xff];
    prop::collection::vec(byte, 0..100).prop_map(|b| HeaderValue::from_bytes(&b).unwrap())
}

/// Claims close to ours or a provider's, each field possibly missing, wrong or foreign.
fn claims() -> impl Strategy<Value = Value> {
    let time = || {
        prop_oneof![
            Just(json!(now() + 600)),
            Just(json!(now() - 600)),
            any::<i64>().prop_map(Value::from),
            "[ -~]{0,6}".prop_map(Value::from),
        ]
    };
    let text = |good: &'static str| prop_oneof![Just(good.to_owned()), "[ -~]{0,12}"];
    (
        prop::option::of(text("user-1")),
        prop::option::of(text("tenant-1")),
        prop::option::of(text("aloft-test")),
        prop::option::of(text("aloft")),
        prop::option::of(time()),
        prop::option::of(time()),
        "user|admin|superadmin|[a-z]{0,6}",
    )
        .prop_map(|(sub, tid, iss, aud, exp, nbf, role)| {
            let mut claims = json!({
                "sub": sub, "tid": tid, "iss": iss, "aud": aud, "exp": exp, "nbf": nbf,
                "role": role,
            });
            claims.as_object_mut().unwrap().retain(|_, v| !v.is_null());
            claims
        })
}

/// JWT-like tokens: a header naming any algorithm and `kid` (ours, the provider's or
/// unknown), claims, and a signature of any bytes; or three parts of anything.
fn token_like() -> impl Strategy<Value = String> {
    let header = (
        "HS256|HS384|RS256|ES256|none|[A-Za-z0-9]{0,6}",
        "k1|rsa-1|ec-1|[a-z0-9]{0,4}",
    )
        .prop_map(|(alg, kid)| {
            json!({"alg": alg, "kid": kid, "typ": "JWT"})
                .to_string()
                .into_bytes()
        });
    let header = prop_oneof![header, prop::collection::vec(any::<u8>(), 0..40)];
    let claims = prop_oneof![
        claims().prop_map(|c| c.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..60),
    ];
    let signature = prop::collection::vec(any::<u8>(), 0..80);
    let jwt = (header, claims, signature)
        .prop_map(|(h, c, s)| [h, c, s].map(|part| URL_SAFE_NO_PAD.encode(part)).join("."));
    prop_oneof![4 => jwt, 1 => "[!-~]{0,60}", 1 => "[A-Za-z0-9_-]{0,20}\\.[A-Za-z0-9_-]{0,20}\\.?"]
}

fn authorization() -> impl Strategy<Value = HeaderValue> {
    let shaped = ("(Bearer|bearer|BEARER|Basic|Token|)( {0,2})", token_like())
        .prop_map(|(scheme, token)| HeaderValue::from_str(&format!("{scheme}{token}")).unwrap());
    prop_oneof![header_bytes(), shaped]
}

#[test]
fn any_authorization_but_a_valid_token_is_401_in_the_envelope() {
    let f = Fixture::new();
    let paths = prop_oneof![Just("/api/v1/app/whoami"), Just("/api/v1/admin/ping")];
    proptest!(|(value in authorization(), path in paths)| {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        assert_401(f.get(path, headers))?;
    });
}

#[test]
fn any_api_key_we_did_not_issue_is_401_whatever_else_the_request_carries() {
    let f = Fixture::new();
    let shaped = ("[0-9a-fA-F]{30,34}", "[!-~]{0,40}")
        .prop_map(|(id, secret)| HeaderValue::from_str(&format!("aloft_{id}_{secret}")).unwrap());
    let keys = prop_oneof![header_bytes(), shaped];
    proptest!(|(key in keys, with_token in any::<bool>())| {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", key);
        // A key takes precedence: a valid token beside a bad key does not let it through.
        if with_token {
            let token = f.keys.issue(&principal_of("user-1", None), now()).unwrap();
            headers.insert(header::AUTHORIZATION, bearer(&token));
        }
        let answer = f.get("/api/v1/app/whoami", headers);
        prop_assert_eq!(&answer.2["error"]["message"], "Invalid API key");
        assert_401(answer)?;
    });
}

#[test]
fn jwt_keys_refuse_every_token_they_did_not_issue() {
    let f = Fixture::new();
    proptest!(|(token in token_like())| {
        prop_assert!(f.keys.verify(&token).is_err());
    });
}

fn principal_of(user_id: &str, impersonator: Option<String>) -> Principal {
    Principal {
        user_id: user_id.to_owned(),
        tenant_id: TenantId::new("tenant-1"),
        membership: None,
        role: Role::User,
        plan: Plan::Free,
        email: None,
        impersonator,
        token_id: None,
        credential: aloft_auth::Credential::SESSIONLESS,
    }
}

fn principal() -> impl Strategy<Value = Principal> {
    let role = prop_oneof![Just(Role::User), Just(Role::Admin), Just(Role::Superadmin)];
    let plan = prop_oneof![Just(Plan::Free), Just(Plan::Pro), Just(Plan::Enterprise)];
    let text = || prop::option::of(any::<String>());
    (
        "\\PC{1,40}",
        "\\PC{1,40}",
        role,
        plan,
        text(),
        text(),
        text(),
    )
        .prop_map(
            |(user_id, tenant, role, plan, email, impersonator, token_id)| Principal {
                user_id,
                tenant_id: TenantId::new(tenant),
                membership: None,
                role,
                plan,
                email,
                impersonator,
                token_id,
                credential: aloft_auth::Credential::SESSIONLESS,
            },
        )
}

#[test]
fn issued_token_verifies_to_the_principal_it_was_issued_for() {
    let f = Fixture::new();
    proptest!(|(principal in principal())| {
        let token = f.keys.issue(&principal, now()).unwrap();

        prop_assert_eq!(f.keys.verify(&token), Ok(principal.clone()));

        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, bearer(&token));
        let (status, _, body) = f.get("/api/v1/app/whoami", headers);
        if principal.impersonator.is_none() {
            prop_assert_eq!(status, StatusCode::OK);
            prop_assert_eq!(&body["id"], principal.user_id.as_str());
        } else {
            // Impersonation needs a live session, and this authenticator knows of none.
            prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    });
}

/// Any printable ASCII byte, for replacing one of a token's.
fn printable() -> impl Strategy<Value = u8> {
    0x21_u8..=0x7e
}

#[test]
fn issued_token_changed_in_any_byte_is_invalid() {
    let f = Fixture::new();
    let token = f.keys.issue(&principal_of("user-1", None), now()).unwrap();
    proptest!(|(at in any::<Index>(), byte in printable())| {
        let mut bytes = token.clone().into_bytes();
        let at = at.index(bytes.len());
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        let changed = String::from_utf8(bytes).unwrap();

        prop_assert_eq!(f.keys.verify(&changed), Err(TokenError::Invalid));
    });
}

#[test]
fn issued_token_past_its_lifetime_is_expired() {
    let f = Fixture::new();
    proptest!(|(ttl in 1_u64..100_000, late in 10_u64..1_000_000)| {
        // Issued so long ago that even the leeway has passed `late` seconds since.
        let issued = now() - ttl - late;
        let principal = principal_of("user-1", None);
        let token = f.keys.issue_with_ttl(&principal, issued, Duration::from_secs(ttl)).unwrap();

        prop_assert_eq!(f.keys.verify(&token), Err(TokenError::Expired));
    });
}

#[test]
fn provider_token_verifies_to_its_subject_and_changed_is_invalid() {
    let f = Fixture::new();
    let external = ExternalIdp::new(ExternalIdpConfig {
        jwks_url: f.idp.jwks_url.clone(),
        issuer: f.idp.issuer.clone(),
        audience: f.idp.audience.clone(),
    })
    .unwrap();
    let algorithm = prop_oneof![
        Just((Algorithm::ES256, "ec-1")),
        Just((Algorithm::RS256, "rsa-1"))
    ];
    let email = prop::option::of(any::<String>());
    proptest!(|(
        sub in "\\PC{1,40}",
        email in email,
        (alg, kid) in algorithm,
        at in any::<Index>(),
        byte in printable(),
    )| {
        let mut claims = f.idp.claims(&sub);
        claims["email"] = json!(email);
        let token = f.idp.sign(alg, kid, &claims);
        let verify = |token: &str| {
            let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
            f.rt.block_on(external.verify(token, &header))
        };

        let identity = verify(&token).unwrap();
        prop_assert_eq!((identity.sub, identity.email), (sub, email));

        let mut bytes = token.into_bytes();
        let at = at.index(bytes.len());
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        prop_assert_eq!(verify(&String::from_utf8(bytes).unwrap()), Err(TokenError::Invalid));
    });
}
