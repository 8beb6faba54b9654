//! Billing end to end, through the running local stack with Stripe pointed at the
//! testkit's fake (`fake-stripe`, started by `infra/stack.sh full`): checkout → the
//! customer pays → Stripe's signed `checkout.session.completed` → webhooks queue →
//! webhook-worker → `billing/status` shows the plan; cancel → `status` shows
//! `cancel_at_period_end` at once.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::time::{SystemTime, UNIX_EPOCH};

use aloft_e2e::{Answer, Stack, eventually};
use aloft_testkit::receiver;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `STRIPE_WEBHOOK_SECRET` of the local stack (infra/stack.sh's local default).
const STRIPE_SECRET: &str = "whsec_local_stripe_signing_secret";

fn now() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(seconds).unwrap()
}

/// Where the stack's billing function reaches Stripe (exported by `infra/stack.sh full`).
fn fake_stripe() -> String {
    std::env::var("STRIPE_API_BASE").unwrap_or_else(|_| "http://127.0.0.1:5301".into())
}

async fn billing(stack: &Stack, method: Method, path: &str, bearer: &str, body: &str) -> Answer {
    let mut headers = vec![("authorization", bearer)];
    if !body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    let path = format!("/api/v1/app/billing/{path}");
    stack.send_body(method, &path, &headers, body).await
}

async fn status(stack: &Stack, bearer: &str) -> Value {
    let answer = billing(stack, Method::GET, "status", bearer, "").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()
}

/// The customer pays checkout session `id` at the fake; its completed session.
async fn pay(session_id: &str) -> Value {
    let url = format!(
        "{}/_fake/checkout/sessions/{session_id}/complete",
        fake_stripe()
    );
    let response = reqwest::Client::new().post(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn checkout_webhook_then_cancel_show_in_billing_status() {
    let stack = Stack::new();
    let (bearer, _) = stack.new_user("billing").await;
    assert_eq!(status(&stack, &bearer).await["plan"], "free");

    let checkout = json!({
        "plan": "monthly",
        "success_url": "https://app.example.com/billing/success",
        "cancel_url": "https://app.example.com/billing/cancel",
    })
    .to_string();
    let created = billing(&stack, Method::POST, "checkout", &bearer, &checkout).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let session_id = created.json()["session_id"].as_str().unwrap().to_owned();
    assert!(
        created.json()["url"]
            .as_str()
            .unwrap()
            .contains(&session_id)
    );

    let session = pay(&session_id).await;
    let subscription = session["subscription"].as_str().unwrap().to_owned();
    deliver_checkout(&stack, &session).await;

    let subscribed = eventually("the paid checkout in billing/status", async || {
        let current = status(&stack, &bearer).await;
        (current["has_active_subscription"] == true).then_some(current)
    })
    .await;
    assert_eq!(subscribed["plan"], "pro");
    assert_eq!(subscribed["status"], "active");
    assert_eq!(subscribed["cancel_at_period_end"], false);

    let cancel = billing(&stack, Method::POST, "cancel", &bearer, "").await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.text);
    assert_eq!(cancel.json()["cancel_at_period_end"], true);
    let canceled = status(&stack, &bearer).await;
    assert_eq!(canceled["cancel_at_period_end"], true, "{canceled}");
    assert_eq!(canceled["plan"], "pro", "paid until the period ends");
    assert!(
        canceled["current_period_end"].is_string(),
        "the period end comes from Stripe's answer: {canceled} ({subscription})"
    );
}

/// Delivers Stripe's signed `checkout.session.completed` for a paid session.
async fn deliver_checkout(stack: &Stack, session: &Value) {
    let event = json!({
        "id": format!("evt_{}", session["id"].as_str().unwrap()),
        "object": "event",
        "type": "checkout.session.completed",
        "created": now(),
        "data": {"object": session},
    })
    .to_string();
    let signature = receiver::signature_header(STRIPE_SECRET, now(), &event);
    let delivered = stack
        .send_body(
            Method::POST,
            "/api/v1/public/webhooks/stripe",
            &[
                ("content-type", "application/json"),
                ("stripe-signature", &signature),
            ],
            &event,
        )
        .await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.text);
}

/// An organization pays once for everyone: only its owner and admins check out; every
/// member's token and key there then carries its plan (pro rate limits, ×5); the
/// owner's personal tenant stays free; a subscribed organization cannot be deleted.
#[tokio::test]
async fn an_organizations_subscription_is_every_members() {
    let stack = Stack::new();
    let (owner, _) = stack.new_user("org-payer").await;
    let id = stack.create_organization(&owner, "Paying team").await;
    let guest = stack.join(&owner, &id, "member", "org-payee").await;
    let owner_in = stack.switch(&owner, &id).await;
    let guest_in = stack.switch(&guest, &id).await;
    let made = stack
        .call(
            &guest_in,
            Method::POST,
            "/api/v1/app/api-keys",
            r#"{"name": "team ci"}"#,
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let key = made.json()["secret"].as_str().unwrap().to_owned();
    let limit = async |headers: &[(&str, &str)]| {
        let answer = stack
            .send(Method::GET, "/api/v1/app/projects", headers)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.header("x-ratelimit-limit").parse::<u32>().unwrap()
    };
    let free = limit(&[("authorization", &guest_in)]).await;

    let checkout = json!({
        "plan": "monthly",
        "success_url": "https://app.example.com/billing/success",
        "cancel_url": "https://app.example.com/billing/cancel",
    })
    .to_string();
    let refused = billing(&stack, Method::POST, "checkout", &guest_in, &checkout).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let created = billing(&stack, Method::POST, "checkout", &owner_in, &checkout).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let session = pay(created.json()["session_id"].as_str().unwrap()).await;
    deliver_checkout(&stack, &session).await;

    let subscribed = eventually("the organization's plan in billing/status", async || {
        let current = status(&stack, &guest_in).await;
        (current["plan"] == "pro").then_some(current)
    })
    .await;
    assert_eq!(subscribed["has_active_subscription"], true, "{subscribed}");
    assert_eq!(status(&stack, &owner).await["plan"], "free", "personal");

    // A new token for the organization carries its plan; so does the key made before.
    let guest_in = stack.switch(&guest, &id).await;
    assert_eq!(limit(&[("authorization", &guest_in)]).await, free * 5);
    assert_eq!(limit(&[("x-api-key", &key)]).await, free * 5);
    assert_eq!(limit(&[("authorization", &guest)]).await, free, "personal");

    let deleted = stack
        .call(
            &owner,
            Method::DELETE,
            &format!("/api/v1/app/organizations/{id}"),
            "",
        )
        .await;
    assert_eq!(deleted.status, StatusCode::CONFLICT, "{}", deleted.text);
}
