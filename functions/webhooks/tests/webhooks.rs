//! The webhooks function's router against the local emulator: provider webhooks are
//! verified before anything is stored, recorded once and queued; subscriptions are
//! tenant-scoped and show their secret once.
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
    let vars = env.env(&[
        ("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
        ("RATE_LIMIT_DEFAULT_PER_MINUTE", "100000"),
    ]);
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

#[tokio::test]
async fn every_documented_route_is_routed() {
    let env = TestEnv::new().await;
    let app = app(&env).await;
    let openapi = serde_json::to_value(fn_webhooks::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&app, &openapi).await;
}
