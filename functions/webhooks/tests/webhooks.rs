//! The webhooks function's router against the local emulator: provider webhooks are
//! limited per client IP and per provider before their handler runs, verified before
//! anything is stored (an App Store notification's shape before its certificate chain),
//! recorded once and queued; subscriptions are tenant-scoped and show their secret once.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::time::{SystemTime, UNIX_EPOCH};

use aloft_auth::Role;
use aloft_http::HttpConfig;
use aloft_testkit::{TestEnv, oneshot, receiver::signature_header as stripe_signature};
use axum::{Router, body::Body};
use http::{Request, StatusCode};
use serde_json::{Value, json};

const STRIPE_SECRET: &str = "whsec_test_stripe";

async fn app(env: &TestEnv) -> Router {
    app_with(env, &[]).await
}

/// The app with `settings` besides Stripe's secret.
async fn app_with(env: &TestEnv, settings: &[(&'static str, &str)]) -> Router {
    let mut vars = vec![
        ("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
        ("RATE_LIMIT_DEFAULT_PER_MINUTE", "100000"),
    ];
    vars.extend_from_slice(settings);
    let vars = env.env(&vars);
    fn_webhooks::router(
        fn_webhooks::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    )
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

fn stripe_request(body: &str, signature: &str) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/api/v1/public/webhooks/stripe")
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn checkout(event_id: &str) -> String {
    json!({
        "id": event_id,
        "type": "checkout.session.completed",
        "created": now(),
        "data": {"object": {"mode": "subscription", "client_reference_id": "u1", "customer": "cus_1"}}
    })
    .to_string()
}

/// Every message on the queue now (moto returns at most 10 per receive).
async fn drain(env: &TestEnv, queue: &str) -> Vec<Value> {
    let mut bodies = Vec::new();
    loop {
        let output = env
            .clients
            .sqs()
            .receive_message()
            .queue_url(env.queue_url(queue))
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for message in messages {
            bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
        }
    }
}

async fn stored_event(env: &TestEnv, event_id: &str) -> bool {
    let table = aloft_store::Table::new(env.clients.dynamodb.clone(), env.table());
    aloft_store::WebhookRepo::new(table)
        .inbound("stripe", event_id)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn a_signed_event_is_recorded_and_queued_once() {
    let env = TestEnv::new().await;
    let app = app(&env).await;
    let body = checkout("evt_once");
    let signature = stripe_signature(STRIPE_SECRET, now(), &body);

    let first = oneshot::send(&app, stripe_request(&body, &signature)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json()["duplicate"], false);
    assert_eq!(first.json()["event_id"], "evt_once");
    let again = oneshot::send(&app, stripe_request(&body, &signature)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["duplicate"], true);

    let messages = drain(&env, "WebhooksQueue").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["kind"], "provider.event");
    let table = aloft_store::Table::new(env.clients.dynamodb.clone(), env.table());
    let job = aloft_store::JobRepo::new(table)
        .get(messages[0]["job_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let payload: Value = serde_json::from_str(&job.payload).unwrap();
    assert_eq!(payload["provider"], "stripe");
    assert_eq!(payload["kind"], "checkout.session.completed");
    assert_eq!(job.queue, "webhooks");
}

#[tokio::test]
async fn bad_signatures_are_400_and_store_nothing() {
    let env = TestEnv::new().await;
    let app = app(&env).await;
    let body = checkout("evt_bad");
    let cases = [
        (
            "wrong secret",
            stripe_signature("whsec_other", now(), &body),
        ),
        (
            "stale",
            stripe_signature(STRIPE_SECRET, now() - 3600, &body),
        ),
        ("malformed", "not-a-signature".to_owned()),
    ];
    for (case, signature) in cases {
        let answer = oneshot::send(&app, stripe_request(&body, &signature)).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            answer.text
        );
        assert_eq!(answer.json()["error"]["code"], "BAD_REQUEST", "{case}");
    }
    let tampered = oneshot::send(
        &app,
        stripe_request(
            &body.replace("u1", "u2"),
            &stripe_signature(STRIPE_SECRET, now(), &body),
        ),
    )
    .await;
    assert_eq!(tampered.status, StatusCode::BAD_REQUEST);
    let unsigned = Request::builder()
        .method("POST")
        .uri("/api/v1/public/webhooks/stripe")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(
        oneshot::send(&app, unsigned).await.status,
        StatusCode::BAD_REQUEST
    );
    assert!(!stored_event(&env, "evt_bad").await);
    assert!(drain(&env, "WebhooksQueue").await.is_empty());
}

#[tokio::test]
async fn unknown_or_unconfigured_providers_are_404() {
    let env = TestEnv::new().await;
    let app = app(&env).await;
    for provider in ["paypal", "clerk"] {
        let request = Request::builder()
            .method("POST")
            .uri(format!("/api/v1/public/webhooks/{provider}"))
            .body(Body::from("{}"))
            .unwrap();
        let answer = oneshot::send(&app, request).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{provider}");
    }
}

fn subscribe(user: &str, role: Role, body: &str) -> Request<Body> {
    oneshot::as_role(
        "POST",
        "/api/v1/app/webhook-subscriptions",
        user,
        role,
        Some(body),
    )
}

#[tokio::test]
async fn subscriptions_show_the_secret_once_and_stay_in_their_tenant() {
    let env = TestEnv::new().await;
    let app = app(&env).await;
    let body = r#"{"url": "https://hooks.example.com/in", "events": ["contact.submitted"]}"#;
    let created = oneshot::send(&app, subscribe("ops", Role::Admin, body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = created["id"].as_str().unwrap();

    let list = oneshot::send(
        &app,
        oneshot::as_role(
            "GET",
            "/api/v1/app/webhook-subscriptions",
            "ops",
            Role::Admin,
            None,
        ),
    )
    .await;
    let items = list.json()["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1);
    assert_eq!(items[0]["id"], id);
    assert!(items[0].get("secret").is_none(), "the secret is shown once");

    let deliveries = oneshot::send(
        &app,
        oneshot::as_role(
            "GET",
            &format!("/api/v1/app/webhook-subscriptions/{id}/deliveries"),
            "ops",
            Role::Admin,
            None,
        ),
    )
    .await;
    assert_eq!(deliveries.status, StatusCode::OK);
    assert_eq!(deliveries.json()["total"], 0);

    let path = format!("/api/v1/app/webhook-subscriptions/{id}");
    let other = oneshot::send(
        &app,
        oneshot::as_role("DELETE", &path, "eve", Role::Admin, None),
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "another tenant's is not found"
    );
    let deleted = oneshot::send(
        &app,
        oneshot::as_role("DELETE", &path, "ops", Role::Admin, None),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = oneshot::send(
        &app,
        oneshot::as_role("DELETE", &path, "ops", Role::Admin, None),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_the_reason() {
    let env = TestEnv::new().await;
    let app = app(&env).await;
    let operator_event =
        r#"{"url": "https://hooks.example.com/in", "events": ["contact.submitted"]}"#;
    let answer = oneshot::send(&app, subscribe("ann", Role::User, operator_event)).await;
    assert_eq!(
        answer.status,
        StatusCode::FORBIDDEN,
        "operator events need admin"
    );
    let cases = [
        (
            r#"{"url": "ftp://x.example.com", "events": ["contact.submitted"]}"#,
            "url",
        ),
        (
            r#"{"url": "not a url", "events": ["contact.submitted"]}"#,
            "url",
        ),
        (
            r#"{"url": "https://x.example.com", "events": []}"#,
            "events",
        ),
        (
            r#"{"url": "https://x.example.com", "events": ["user.exploded"]}"#,
            "events",
        ),
    ];
    for (body, field) in cases {
        let answer = oneshot::send(&app, subscribe("ops", Role::Admin, body)).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.text
        );
        assert_eq!(answer.json()["error"]["details"]["field"], field, "{body}");
    }
    let malformed = oneshot::send(&app, subscribe("ops", Role::Admin, "{")).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
}

/// The subscription as stored: what the webhook worker signs deliveries with.
async fn stored_secret(env: &TestEnv, tenant: &str, id: &str) -> String {
    let table = aloft_store::Table::new(env.clients.dynamodb.clone(), env.table());
    aloft_store::WebhookRepo::new(table)
        .subscription(&aloft_store::TenantId::new(tenant), id)
        .await
        .unwrap()
        .unwrap()
        .secret
}

#[tokio::test]
async fn a_callers_own_secret_is_stored_as_given_and_shown_once() {
    let env = TestEnv::new().await;
    let app = app(&env).await;
    let secret = "my-receivers-secret_0123456789!~ABCDEF";
    let body = json!({
        "url": "https://hooks.example.com/in",
        "events": ["contact.submitted"],
        "secret": secret,
    })
    .to_string();
    let created = oneshot::send(&app, subscribe("ops", Role::Admin, &body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    assert_eq!(created["secret"], secret, "as given, no prefix added");
    let id = created["id"].as_str().unwrap();
    assert_eq!(stored_secret(&env, "tenant-ops", id).await, secret);

    let generated = r#"{"url": "https://hooks.example.com/in", "events": ["contact.submitted"]}"#;
    let created = oneshot::send(&app, subscribe("ops", Role::Admin, generated)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    let made = created["secret"].as_str().unwrap();
    assert!(made.starts_with("whsec_") && made.len() > 32, "{made}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(stored_secret(&env, "tenant-ops", id).await, made);
}

#[tokio::test]
async fn a_short_long_spaced_or_non_ascii_secret_is_422_naming_it() {
    let env = TestEnv::new().await;
    let app = app(&env).await;
    let (short, long) = ("s".repeat(31), "l".repeat(129));
    let spaced = format!("{} {}", "a".repeat(20), "b".repeat(20));
    let accented = format!("{}é", "a".repeat(40));
    let control = format!("{}\t", "a".repeat(40));
    for secret in [&short, &long, &spaced, &accented, &control] {
        let body = json!({
            "url": "https://hooks.example.com/in",
            "events": ["contact.submitted"],
            "secret": secret,
        })
        .to_string();
        let answer = oneshot::send(&app, subscribe("ops", Role::Admin, &body)).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{secret:?}: {}",
            answer.text
        );
        let error = answer.json()["error"].clone();
        assert_eq!(error["details"]["field"], "secret", "{secret:?}");
        assert!(
            !answer.text.contains(secret.as_str()),
            "the answer does not echo the secret"
        );
    }
    // The edges are accepted: 32 and 128 characters.
    for secret in ["e".repeat(32), "E".repeat(128)] {
        let body = json!({
            "url": "https://hooks.example.com/in",
            "events": ["contact.submitted"],
            "secret": secret,
        })
        .to_string();
        let answer = oneshot::send(&app, subscribe("ops", Role::Admin, &body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    }
}

#[tokio::test]
async fn every_documented_route_is_routed() {
    let env = TestEnv::new().await;
    let app = app(&env).await;
    let openapi = serde_json::to_value(fn_webhooks::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&app, &openapi).await;
}

/// `request` as API Gateway (or the function URL) passes it from `ip`:
/// `requestContext.http.sourceIp`.
fn from_ip(mut request: Request<Body>, ip: &str) -> Request<Body> {
    use lambda_http::{
        aws_lambda_events::apigw::{
            ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
        },
        request::RequestContext,
    };
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.source_ip = Some(ip.to_owned());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http = http;
    request
        .extensions_mut()
        .insert(RequestContext::ApiGatewayV2(context));
    request
}

/// Stripe's signed checkout event `event_id`, from `ip`.
fn checkout_from(ip: &str, event_id: &str) -> Request<Body> {
    let body = checkout(event_id);
    let signature = stripe_signature(STRIPE_SECRET, now(), &body);
    from_ip(stripe_request(&body, &signature), ip)
}

/// The guard's refusal: 429 in the envelope, with `Retry-After` within the minute.
fn assert_rate_limited(answer: &oneshot::Answer) {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert_eq!(answer.json()["error"]["code"], "RATE_LIMIT_EXCEEDED");
    let retry_after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn past_the_per_ip_limit_a_webhook_is_429_and_its_handler_does_not_run() {
    let env = TestEnv::new().await;
    let app = app_with(&env, &[("RATE_LIMIT_WEBHOOK_PER_IP_PER_MINUTE", "2")]).await;
    aloft_testkit::early_in_a_rate_window().await;

    for event_id in ["evt_ip_1", "evt_ip_2"] {
        let answer = oneshot::send(&app, checkout_from("203.0.113.7", event_id)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let refused = oneshot::send(&app, checkout_from("203.0.113.7", "evt_ip_3")).await;
    let elsewhere = oneshot::send(&app, checkout_from("198.51.100.4", "evt_ip_4")).await;

    assert_rate_limited(&refused);
    assert_eq!(refused.headers["x-ratelimit-limit"], "2");
    assert_eq!(
        elsewhere.status,
        StatusCode::OK,
        "another address has its own window"
    );
    assert!(!stored_event(&env, "evt_ip_3").await);
    let queued = drain(&env, "WebhooksQueue").await;
    assert_eq!(
        queued.len(),
        3,
        "the refused event is not queued: {queued:?}"
    );
}

#[tokio::test]
async fn past_the_provider_ceiling_webhooks_from_any_ip_are_429() {
    let env = TestEnv::new().await;
    let app = app_with(&env, &[("RATE_LIMIT_WEBHOOK_PER_PROVIDER_PER_MINUTE", "3")]).await;
    aloft_testkit::early_in_a_rate_window().await;

    for n in 1..=3 {
        let ip = format!("203.0.113.{n}");
        let answer = oneshot::send(&app, checkout_from(&ip, &format!("evt_spread_{n}"))).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let refused = oneshot::send(&app, checkout_from("203.0.113.4", "evt_spread_4")).await;
    let mut respelled = checkout_from("203.0.113.5", "evt_spread_5");
    *respelled.uri_mut() = "/api/v2/public/webhooks/%73tripe".parse().unwrap();
    let respelled = oneshot::send(&app, respelled).await;
    let clerk = Request::builder()
        .method("POST")
        .uri("/api/v1/public/webhooks/clerk")
        .body(Body::from("{}"))
        .unwrap();
    let clerk = oneshot::send(&app, from_ip(clerk, "203.0.113.6")).await;

    assert_rate_limited(&refused);
    assert_eq!(refused.headers["x-ratelimit-limit"], "3");
    assert_rate_limited(&respelled);
    // Another provider has a ceiling of its own: its handler runs (Clerk is not
    // configured here, so it answers 404).
    assert_eq!(clerk.status, StatusCode::NOT_FOUND, "{}", clerk.text);
    assert!(!stored_event(&env, "evt_spread_4").await);
    assert!(!stored_event(&env, "evt_spread_5").await);
    assert_eq!(drain(&env, "WebhooksQueue").await.len(), 3);
}

/// Apple's production chain (shared/inbound's fixture, `[root, intermediate, leaf]`):
/// real certificates, whose leaf expired in 2023.
const APPLE_CHAIN: &str =
    include_str!("../../../shared/inbound/tests/fixtures/apple-production-chain.txt");
const BUNDLE_ID: &str = "com.example.aloft";
/// 64 bytes, as an ES256 signature is, that verify nothing.
const SIGNATURE: &str =
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The root (for `APPLE_ROOT_CERT`) and the chain as an `x5c` header lists it.
fn apple_certificates() -> (&'static str, [&'static str; 3]) {
    let [root, intermediate, leaf]: [&'static str; 3] = APPLE_CHAIN
        .split_whitespace()
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    (root, [leaf, intermediate, root])
}

/// Unpadded base64url, as JWS parts are written.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let group = (chunk.iter().enumerate()).fold(0_u32, |group, (i, &b)| {
            group | (u32::from(b) << (16 - 8 * i))
        });
        for i in 0..=chunk.len() {
            let sextet = (group >> (18 - 6 * i)) & 63;
            text.push(char::from(ALPHABET[usize::try_from(sextet).unwrap()]));
        }
    }
    text
}

/// `{"signedPayload": "<header>.<payload>.<signature>"}`.
fn notification(header: &Value, payload: &[u8], signature: &str) -> Request<Body> {
    let header = base64url(header.to_string().as_bytes());
    let jws = format!("{header}.{}.{signature}", base64url(payload));
    apple_request(json!({ "signedPayload": jws }).to_string())
}

fn apple_request(body: String) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/api/v1/public/webhooks/apple")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// Claims of a renewal for `bundle_id`, with `data` fields added.
fn renewal(bundle_id: &str, data: &Value) -> Vec<u8> {
    let mut claims = json!({
        "notificationType": "DID_RENEW",
        "notificationUUID": "9e1b3c2a-6a4f-4d8e-9a51-0c5f2b7d1e33",
        "signedDate": 1_681_312_846_000_i64,
        "data": {"bundleId": bundle_id},
    });
    for (name, value) in data.as_object().unwrap() {
        claims["data"][name] = value.clone();
    }
    claims.to_string().into_bytes()
}

#[tokio::test]
async fn a_malformed_apple_notification_is_400_naming_its_shape_before_any_chain_check() {
    let env = TestEnv::new().await;
    let (root, x5c) = apple_certificates();
    let settings = [("APPLE_ROOT_CERT", root), ("APPLE_BUNDLE_ID", BUNDLE_ID)];
    let app = app_with(&env, &settings).await;
    let es256 = json!({"alg": "ES256", "x5c": x5c});
    let ours = renewal(BUNDLE_ID, &json!({}));
    let oversized = json!({"alg": "ES256", "x5c": [x5c[0], x5c[1], "A".repeat(5000)]});
    let nested = renewal(BUNDLE_ID, &json!({"signedTransactionInfo": "x.y"}));
    let cases = [
        (
            apple_request(json!({"signedPayload": "not-a-jws"}).to_string()),
            "signedPayload: not a compact JWS",
        ),
        (
            notification(&json!({"alg": "HS256", "x5c": x5c}), &ours, SIGNATURE),
            "signedPayload: the JWS alg is not ES256",
        ),
        (
            notification(&json!({"alg": "ES256", "x5c": x5c[..2]}), &ours, SIGNATURE),
            "signedPayload: x5c must hold 3 certificates, not 2",
        ),
        (
            notification(&oversized, &ours, SIGNATURE),
            "an x5c certificate is not a string of 1 to 4096 characters",
        ),
        (
            notification(&es256, &ours, "AAAA"),
            "signedPayload: the JWS signature is not 64 bytes (ES256)",
        ),
        (
            notification(&es256, b"not json", SIGNATURE),
            "signedPayload: the JWS payload is not base64url JSON",
        ),
        (
            notification(&es256, &nested, SIGNATURE),
            "signedTransactionInfo: not a compact JWS",
        ),
        (
            notification(&es256, &renewal("com.example.other", &json!({})), SIGNATURE),
            "the notification is for another app (bundleId)",
        ),
        (
            apple_request(json!({"signedPayload": "A".repeat(70_000)}).to_string()),
            "the body is over 65536 bytes",
        ),
    ];
    // Each of these carries Apple's real chain, expired: had it reached the verifier, the
    // chain check would have answered first, as it does for the well-shaped one below.
    for (request, problem) in cases {
        let answer = oneshot::send(&app, request).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{problem}: {}",
            answer.text
        );
        let message = answer.json()["error"]["message"].clone();
        assert!(
            message.as_str().unwrap().contains(problem),
            "{message} should name {problem}"
        );
    }
    let well_shaped = oneshot::send(&app, notification(&es256, &ours, SIGNATURE)).await;

    assert_eq!(well_shaped.status, StatusCode::BAD_REQUEST);
    let message = well_shaped.json()["error"]["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("outside its validity window"),
        "the chain was checked: {message}"
    );
    assert!(drain(&env, "WebhooksQueue").await.is_empty());
}
