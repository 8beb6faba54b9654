//! Google Play notifications pushed by Pub/Sub: a Google-signed OIDC token (here the test
//! provider's, served as a real JWKS over HTTP) and the notification in base64.

use aloft_config::Env;
use aloft_inbound::{InboundConfig, Provider, Rejection, VerifiedEvent, Verifier};
use aloft_testkit::idp::FakeIdp;
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use http::HeaderMap;
use jsonwebtoken::Algorithm;
use proptest::{prelude::*, sample::Index};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use crate::{
    any_body, any_json, flip, header_value, headers, is_refused_before_freshness, runtime,
};

const SERVICE_ACCOUNT: &str = "rtdn-push@example-project.iam.gserviceaccount.com";

struct Fixture {
    rt: Runtime,
    idp: FakeIdp,
    verifier: Verifier,
}

impl Fixture {
    fn new() -> Self {
        let rt = runtime();
        let idp = rt.block_on(FakeIdp::start());
        let env = Env::from_pairs([
            ("GOOGLE_PUBSUB_AUDIENCE", idp.audience.as_str()),
            ("GOOGLE_PUBSUB_JWKS_URL", idp.jwks_url.as_str()),
            ("GOOGLE_PUBSUB_ISSUER", idp.issuer.as_str()),
            ("GOOGLE_PUBSUB_SERVICE_ACCOUNT", SERVICE_ACCOUNT),
        ]);
        let verifier = Verifier::new(InboundConfig::from_env(&env).unwrap()).unwrap();
        Self { rt, idp, verifier }
    }

    fn token(&self) -> String {
        let mut claims = self.idp.claims("pubsub-push");
        claims["email"] = SERVICE_ACCOUNT.into();
        claims["email_verified"] = true.into();
        self.idp.sign(Algorithm::ES256, "ec-1", &claims)
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<VerifiedEvent, Rejection> {
        self.rt
            .block_on(self.verifier.verify(Provider::Google, headers, body, 0))
    }
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", header_value(&format!("Bearer {token}")));
    headers
}

fn push_body(notification: &[u8], message_id: &str) -> Vec<u8> {
    json!({"message": {"data": STANDARD.encode(notification), "messageId": message_id}})
        .to_string()
        .into_bytes()
}

/// JWT-like bearer tokens: three base64url parts of JSON or bytes, with `kid`s the
/// provider has and has not, or plain junk.
fn bearer_like() -> impl Strategy<Value = String> + Clone {
    let header = prop_oneof![
        ("RS256|ES256|HS256|none", "rsa-1|ec-1|[a-z0-9-]{0,8}").prop_map(|(alg, kid)| {
            json!({"alg": alg, "kid": kid, "typ": "JWT"})
                .to_string()
                .into_bytes()
        }),
        any_body(),
    ];
    let jwt = (
        header,
        any_body(),
        prop::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(h, p, s)| [h, p, s].map(|part| URL_SAFE_NO_PAD.encode(part)).join("."));
    prop_oneof![
        jwt.prop_map(|token| format!("Bearer {token}")),
        "(Bearer|bearer|Basic) [ -~]{0,40}",
    ]
}

#[test]
fn google_refuses_any_push_without_a_token_of_its_provider() {
    let f = Fixture::new();
    proptest!(|(headers in headers(&["authorization"], bearer_like()), body in any_body())| {
        let result = f.verify(&headers, &body);
        prop_assert!(is_refused_before_freshness(&result), "{result:?}");
    });
}

/// A DeveloperNotification: any package, time and subscription notification type.
fn notification() -> impl Strategy<Value = Value> {
    let time = prop_oneof![
        any::<i64>().prop_map(|t| Value::from(t.to_string())),
        any::<i64>().prop_map(Value::from),
    ];
    (any::<String>(), time, any::<i64>()).prop_map(|(package, time, kind)| {
        json!({
            "version": "1.0", "packageName": package, "eventTimeMillis": time,
            "subscriptionNotification": {"notificationType": kind, "purchaseToken": "t"},
        })
    })
}

#[test]
fn google_signed_push_verifies_and_names_its_message() {
    let f = Fixture::new();
    let token = f.token();
    proptest!(|(notification in notification(), message_id in "[0-9]{1,20}")| {
        let body = push_body(notification.to_string().as_bytes(), &message_id);

        let event = f.verify(&bearer(&token), &body).unwrap();

        let millis = &notification["eventTimeMillis"];
        let millis = millis.as_i64().or_else(|| millis.as_str()?.parse().ok()).unwrap();
        prop_assert_eq!((event.provider, &event.id), (Provider::Google, &message_id));
        prop_assert_eq!(event.created, millis.div_euclid(1000));
        prop_assert!(event.kind.starts_with("SUBSCRIPTION_"), "{}", event.kind);
        prop_assert_eq!(event.payload, notification);
    });
}

#[test]
fn google_token_accepted_leaves_only_malformed_pushes_to_refuse() {
    let f = Fixture::new();
    let token = f.token();
    let bodies = prop_oneof![
        any_body(),
        (any_body(), "[0-9]{0,8}").prop_map(|(data, id)| push_body(&data, &id)),
        any_json().prop_map(|v| push_body(v.to_string().as_bytes(), "1")),
    ];
    proptest!(|(body in bodies)| {
        let result = f.verify(&bearer(&token), &body);
        prop_assert!(matches!(result, Ok(_) | Err(Rejection::Malformed(_))), "{result:?}");
    });
}

#[test]
fn google_token_changed_after_signing_is_a_bad_signature() {
    let f = Fixture::new();
    let token = f.token();
    let body = push_body(
        br#"{"packageName":"p","eventTimeMillis":"1","testNotification":{}}"#,
        "1",
    );
    proptest!(|(signature in any::<bool>(), at in any::<Index>(), mask in 1_u8..)| {
        // The payload or the signature, changed after decoding so the change is real.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let part = if signature { 2 } else { 1 };
        let decoded = URL_SAFE_NO_PAD.decode(&parts[part]).unwrap();
        parts[part] = URL_SAFE_NO_PAD.encode(flip(&decoded, at, mask));

        let result = f.verify(&bearer(&parts.join(".")), &body);

        prop_assert_eq!(result, Err(Rejection::BadSignature));
    });
}
