//! The async backbone end to end, through the running local stack: provider webhook →
//! webhooks queue → (SQS shim) → webhook-worker → the user's plan; contact form → jobs
//! queue → jobs-worker → a signed delivery to a subscriber's server.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::time::{SystemTime, UNIX_EPOCH};

use aloft_e2e::{Answer, Stack, eventually};
use aloft_testkit::receiver::{self, Receiver};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// `STRIPE_WEBHOOK_SECRET` of the local stack (infra/stack.sh's local default).
const STRIPE_SECRET: &str = "whsec_local_stripe_signing_secret";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn stripe_signature(secret: &str, body: &str) -> String {
    let t = i64::try_from(now()).unwrap();
    receiver::signature_header(secret, t, body)
}

async fn post_stripe(stack: &Stack, body: &str, signature: &str) -> Answer {
    stack
        .send_body(
            Method::POST,
            "/api/v1/public/webhooks/stripe",
            &[
                ("content-type", "application/json"),
                ("stripe-signature", signature),
            ],
            body,
        )
        .await
}

#[tokio::test]
async fn stripe_checkout_makes_the_user_premium_once() {
    let stack = Stack::new();
    let (bearer, _) = stack.new_user("stripe").await;
    let auth = [("authorization", bearer.as_str())];
    let me = stack.send(Method::GET, "/api/v2/app/users/me", &auth).await;
    assert_eq!(me.json()["data"]["is_premium"], false);
    let user_id = me.json()["data"]["id"].as_str().unwrap().to_owned();
    let event_id = format!("evt_{}", now_nanos());
    let body = json!({
        "id": event_id,
        "type": "checkout.session.completed",
        "created": now(),
        "data": {"object": {
            "object": "checkout.session",
            "mode": "subscription",
            "client_reference_id": user_id,
            "customer": format!("cus_{}", now_nanos()),
            "payment_status": "paid"
        }}
    })
    .to_string();

    // A bad signature is refused and stores nothing: the same event, signed, is new.
    let forged = post_stripe(&stack, &body, &stripe_signature("whsec_forged", &body)).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{}", forged.text);
    assert_eq!(forged.json()["error"]["code"], "BAD_REQUEST");

    let signature = stripe_signature(STRIPE_SECRET, &body);
    let accepted = post_stripe(&stack, &body, &signature).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(accepted.json()["duplicate"], false);
    let again = post_stripe(&stack, &body, &signature).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.json()["duplicate"],
        true,
        "a provider retry is not processed twice"
    );

    let profile = eventually("the plan change", async || {
        let me = stack.send(Method::GET, "/api/v2/app/users/me", &auth).await;
        let data = me.json()["data"].clone();
        (data["is_premium"] == true).then_some(data)
    })
    .await;
    assert_eq!(profile["subscription_plan"], "pro");
    assert_eq!(profile["subscription_status"], "active");
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn a_contact_submission_is_delivered_signed_to_a_subscriber() {
    let stack = Stack::new();
    let receiver = Receiver::start().await;
    let admin = stack.admin().await;
    let auth = [
        ("authorization", admin.as_str()),
        ("content-type", "application/json"),
    ];
    let subscription = json!({"url": receiver.url, "events": ["contact.submitted"]}).to_string();
    let created = stack
        .send_body(
            Method::POST,
            "/api/v1/app/webhook-subscriptions",
            &auth,
            &subscription,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created.json()["secret"].as_str().unwrap().to_owned();

    let form = json!({
        "name": "John Doe",
        "email": "john@example.com",
        "message": "I'd like to learn more about your services.",
        "source": "e2e"
    })
    .to_string();
    let submitted = stack
        .send_body(
            Method::POST,
            "/api/v1/public/contact",
            &[("content-type", "application/json")],
            &form,
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.text);
    let reference = submitted.json()["reference_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let delivery = eventually("the signed delivery", async || {
        receiver
            .received()
            .into_iter()
            .find(|r| r.body.contains(&reference))
    })
    .await;
    assert!(delivery.signed_with(&secret), "{:?}", delivery.headers);
    assert_eq!(delivery.headers["x-webhook-event"], "contact.submitted");
    let body: serde_json::Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(body["data"]["reference_id"], reference.as_str());
}

#[tokio::test]
async fn a_subscription_with_its_own_secret_is_delivered_signed_with_it() {
    let stack = Stack::new();
    let receiver = Receiver::start().await;
    let (bearer, _) = stack.new_user("own-secret").await;
    let path = "/api/v1/app/webhook-subscriptions";
    let secret = format!("receivers-own-signing-secret-{}", now_nanos());
    let subscription = json!({
        "url": receiver.url,
        "events": ["project.created"],
        "secret": secret,
    })
    .to_string();
    let created = stack.call(&bearer, Method::POST, path, &subscription).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json()["secret"], secret.as_str(), "as given");

    let project = stack
        .call(
            &bearer,
            Method::POST,
            "/api/v1/app/projects",
            r#"{"name": "Signed"}"#,
        )
        .await;
    assert_eq!(project.status, StatusCode::CREATED, "{}", project.text);
    let project_id = project.json()["id"].as_str().unwrap().to_owned();
    let delivery = eventually("the delivery signed with the caller's secret", async || {
        receiver
            .received()
            .into_iter()
            .find(|r| r.body.contains(&project_id))
    })
    .await;
    assert!(delivery.signed_with(&secret), "{:?}", delivery.headers);
    assert_eq!(delivery.headers["x-webhook-event"], "project.created");

    let short = json!({
        "url": receiver.url,
        "events": ["project.created"],
        "secret": "too-short",
    })
    .to_string();
    let refused = stack.call(&bearer, Method::POST, path, &short).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert_eq!(refused.json()["error"]["details"]["field"], "secret");
}
