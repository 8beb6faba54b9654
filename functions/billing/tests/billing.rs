//! The billing router against the local emulator and the testkit's fake Stripe:
//! checkout (one customer, however many first checkouts race), the 409 on a second
//! subscription, cancel and resume (stored at once, not undone by older webhooks),
//! invoices, the portal, Stripe's refusals and failures, and the field rules.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::time::Duration;

use aloft_http::HttpConfig;
use aloft_store::{Applied, BillingChange, Table, UserRecord, UserRepo};
use aloft_testkit::{
    TestEnv,
    fake_stripe::{FAKE_STRIPE_KEY, FakeStripe},
    oneshot::{self, Answer, as_user},
};
use axum::Router;
use fn_billing::stripe::{Form, Stripe, StripeError, objects::Customer};
use http::StatusCode;
use serde_json::{Value, json};

const MONTHLY: &str = "price_monthly_pro";
const YEARLY: &str = "price_yearly_pro";

struct Fixture {
    fake: FakeStripe,
    app: Router,
    users: UserRepo,
}

/// A fresh table, a fake Stripe, and the billing router pointed at it with the key
/// (short timeouts, so slow-answer tests stay quick).
async fn fixture() -> Fixture {
    fixture_with(&[("STRIPE_SECRET_KEY", FAKE_STRIPE_KEY)]).await
}

/// Like [`fixture`], with `extra` instead of the key.
async fn fixture_with(extra: &[(&'static str, &str)]) -> Fixture {
    let fake = FakeStripe::start().await;
    let env = TestEnv::new().await;
    let mut pairs: Vec<(&'static str, &str)> = vec![
        ("STRIPE_API_BASE", &fake.url),
        ("STRIPE_PRICE_MONTHLY", MONTHLY),
        ("STRIPE_PRICE_YEARLY", YEARLY),
        (
            "STRIPE_PRICE_PLANS",
            "price_monthly_pro=pro,price_yearly_pro=pro",
        ),
        ("STRIPE_FIRST_BYTE_TIMEOUT_SECONDS", "0.5"),
        ("STRIPE_TIMEOUT_SECONDS", "3"),
    ];
    pairs.extend_from_slice(extra);
    let vars = env.env(&pairs);
    let app = fn_billing::router(
        fn_billing::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let users = UserRepo::new(Table::new(env.clients.dynamodb.clone(), env.table()));
    Fixture { fake, app, users }
}

fn checkout_body(plan: &str, success_url: &str, cancel_url: &str) -> String {
    json!({"plan": plan, "success_url": success_url, "cancel_url": cancel_url}).to_string()
}

fn valid_checkout() -> String {
    checkout_body(
        "monthly",
        "https://app.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}",
        "https://app.example.com/billing/cancel",
    )
}

impl Fixture {
    /// A stored user `id` on the free plan.
    async fn user(&self, id: &str) -> UserRecord {
        let user = aloft_testkit::user_record(id);
        self.users.create(&user).await.unwrap();
        user
    }

    async fn stored(&self, id: &str) -> UserRecord {
        self.users.get(id).await.unwrap().unwrap()
    }

    async fn send(&self, method: &str, path: &str, user: &str, body: Option<&str>) -> Answer {
        let request = as_user(method, &format!("/api/v1/app/billing/{path}"), user, body);
        oneshot::send(&self.app, request).await
    }

    async fn checkout(&self, user: &str) -> Answer {
        self.send("POST", "checkout", user, Some(&valid_checkout()))
            .await
    }

    async fn status(&self, user: &str) -> Value {
        let answer = self.send("GET", "status", user, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json()
    }

    /// `user` subscribes: checkout, the customer pays, and the webhook worker stores
    /// `checkout.session.completed` (plan, status, subscription id; ordered as the
    /// oldest event, as the worker orders checkouts). Returns the subscription id.
    async fn subscribe(&self, user: &str) -> String {
        self.user(user).await;
        let answer = self.checkout(user).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let session_id = answer.json()["session_id"].as_str().unwrap().to_owned();
        let session = self.fake.complete_checkout(&session_id).unwrap();
        let subscription = session["subscription"].as_str().unwrap().to_owned();
        let change = BillingChange {
            plan: Some("pro".into()),
            status: Some("active".into()),
            subscription_id: Some(subscription.clone()),
            ..BillingChange::default()
        };
        let now = aloft_core::timestamp::now();
        let applied = self.users.apply_billing(user, &change, 0, &now).await;
        assert_eq!(applied.unwrap(), Applied::Applied);
        subscription
    }
}

fn assert_error(answer: &Answer, status: StatusCode, code: &str) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"].clone()
}

#[tokio::test]
async fn a_new_user_is_free_without_a_subscription() {
    let f = fixture().await;
    f.user("u-new").await;
    let status = f.status("u-new").await;
    assert_eq!(
        status,
        json!({
            "plan": "free", "status": null, "current_period_end": null,
            "cancel_at_period_end": false, "has_active_subscription": false,
        })
    );
    assert!(f.fake.requests().is_empty(), "status calls no Stripe API");
}

#[tokio::test]
async fn checkout_creates_the_customer_once_and_a_subscription_session() {
    let f = fixture().await;
    f.user("u-checkout").await;
    let answer = f.checkout("u-checkout").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let created = answer.json();
    let session_id = created["session_id"].as_str().unwrap();
    assert!(session_id.starts_with("cs_test_"), "{created}");
    assert_eq!(
        created["url"],
        format!("https://checkout.stripe.com/c/pay/{session_id}")
    );

    let customers = f.fake.customers();
    assert_eq!(customers.len(), 1);
    let customer = customers[0]["id"].as_str().unwrap();
    assert_eq!(customers[0]["email"], "u-checkout@example.com");
    assert_eq!(customers[0]["metadata"]["user_id"], "u-checkout");
    let stored = f.stored("u-checkout").await;
    assert_eq!(stored.stripe_customer_id.as_deref(), Some(customer));
    assert_eq!(
        f.users.customer_user("stripe", customer).await.unwrap(),
        Some("u-checkout".into()),
        "the link the webhooks read"
    );

    let sessions = f.fake.calls("POST", "/v1/checkout/sessions");
    let session = &sessions[0];
    assert_eq!(
        session.params,
        json!({
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": MONTHLY, "quantity": "1"}],
            "success_url": "https://app.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://app.example.com/billing/cancel",
            "client_reference_id": "u-checkout",
            "metadata": {"user_id": "u-checkout", "plan": "pro"},
            "subscription_data": {"metadata": {"user_id": "u-checkout"}},
        })
    );
    assert!(session.idempotency_key().is_some());
    assert_eq!(
        session.headers["authorization"],
        format!("Bearer {FAKE_STRIPE_KEY}")
    );

    // A second checkout (abandoned the first) reuses the stored customer.
    let again = f.checkout("u-checkout").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(f.fake.calls("POST", "/v1/customers").len(), 1);
    assert_eq!(f.fake.calls("POST", "/v1/checkout/sessions").len(), 2);
}

#[tokio::test]
async fn two_concurrent_first_checkouts_get_one_customer() {
    let f = fixture().await;
    f.user("u-race").await;
    // The first customer create is still running when the second arrives.
    f.fake.delay_next(Duration::from_millis(300));
    let (first, second) = tokio::join!(f.checkout("u-race"), f.checkout("u-race"));
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);

    assert_eq!(f.fake.customers().len(), 1, "one customer at Stripe");
    let creates = f.fake.calls("POST", "/v1/customers");
    assert!(
        creates.len() >= 3,
        "the second waited on idempotency_key_in_use and asked again: {} creates",
        creates.len()
    );
    assert!(
        creates
            .iter()
            .all(|c| c.idempotency_key() == Some("aloft-customer-u-race"))
    );
    let customer = f.fake.customers()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        f.stored("u-race").await.stripe_customer_id,
        Some(customer.clone())
    );
    for session in f.fake.calls("POST", "/v1/checkout/sessions") {
        assert_eq!(session.params["customer"], customer.as_str());
    }
}

#[tokio::test]
async fn checkout_is_refused_with_409_while_a_subscription_is_active() {
    let f = fixture().await;
    f.subscribe("u-twice").await;
    let sessions_before = f.fake.calls("POST", "/v1/checkout/sessions").len();
    let answer = f.checkout("u-twice").await;
    assert_error(&answer, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(
        f.fake.calls("POST", "/v1/checkout/sessions").len(),
        sessions_before,
        "no second session"
    );
}

#[tokio::test]
async fn cancel_at_period_end_then_resume_show_at_once_and_older_webhooks_cannot_undo_them() {
    let f = fixture().await;
    let subscription = f.subscribe("u-cancel").await;
    let webhook_created = i64::try_from(aloft_core::timestamp::unix_now()).unwrap() - 60;

    let cancel = f
        .send("POST", "cancel?immediate=false", "u-cancel", None)
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.text);
    let period_end = f.fake.subscription(&subscription).unwrap()["current_period_end"]
        .as_i64()
        .unwrap();
    let period_end_iso = time::OffsetDateTime::from_unix_timestamp(period_end).unwrap();
    assert_eq!(
        cancel.json(),
        json!({
            "message": "Subscription will cancel at the end of the billing period",
            "cancel_at_period_end": true,
            "current_period_end": aloft_core::timestamp::format(period_end_iso),
        })
    );
    let update = &f
        .fake
        .calls("POST", &format!("/v1/subscriptions/{subscription}"))[0];
    assert_eq!(update.params, json!({"cancel_at_period_end": "true"}));
    assert!(update.idempotency_key().is_some());
    let status = f.status("u-cancel").await;
    assert_eq!(status["cancel_at_period_end"], true);
    assert_eq!(status["status"], "active");
    assert_eq!(status["has_active_subscription"], true);
    assert_eq!(
        status["current_period_end"],
        aloft_core::timestamp::format(period_end_iso)
    );

    // `customer.subscription.updated` from before the cancel, delivered late.
    let older = BillingChange {
        cancel_at_period_end: Some(false),
        status: Some("active".into()),
        ..BillingChange::default()
    };
    let now = aloft_core::timestamp::now();
    let applied = f
        .users
        .apply_billing("u-cancel", &older, webhook_created, &now)
        .await
        .unwrap();
    assert_eq!(applied, Applied::Stale);
    assert_eq!(f.status("u-cancel").await["cancel_at_period_end"], true);

    let resume = f.send("POST", "resume", "u-cancel", None).await;
    assert_eq!(resume.status, StatusCode::OK, "{}", resume.text);
    assert_eq!(
        resume.json(),
        json!({"message": "Subscription resumed", "status": "active", "plan": "pro"})
    );
    let stored = f.fake.subscription(&subscription).unwrap();
    assert_eq!(stored["cancel_at_period_end"], false);
    let status = f.status("u-cancel").await;
    assert_eq!(status["cancel_at_period_end"], false);
    assert_eq!(status["plan"], "pro");
}

#[tokio::test]
async fn immediate_cancel_ends_the_subscription_now() {
    let f = fixture().await;
    let subscription = f.subscribe("u-now").await;
    let cancel = f.send("POST", "cancel?immediate=true", "u-now", None).await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.text);
    assert_eq!(cancel.json()["cancel_at_period_end"], false);
    assert_eq!(cancel.json()["message"], "Subscription canceled");
    let path = format!("/v1/subscriptions/{subscription}");
    assert_eq!(f.fake.calls("DELETE", &path).len(), 1);
    assert_eq!(
        f.fake.subscription(&subscription).unwrap()["status"],
        "canceled"
    );

    let status = f.status("u-now").await;
    assert_eq!(status["plan"], "free");
    assert_eq!(status["status"], "canceled");
    assert_eq!(status["has_active_subscription"], false);
    let again = f.send("POST", "cancel?immediate=true", "u-now", None).await;
    assert_error(&again, StatusCode::NOT_FOUND, "NOT_FOUND");
    let resume = f.send("POST", "resume", "u-now", None).await;
    assert_error(&resume, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn cancel_and_resume_without_a_subscription_are_404() {
    let f = fixture().await;
    f.user("u-none").await;
    for path in ["cancel", "cancel?immediate=true", "resume"] {
        let answer = f.send("POST", path, "u-none", None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    assert!(f.fake.requests().is_empty());
    let bad = f
        .send("POST", "cancel?immediate=maybe", "u-none", None)
        .await;
    let error = assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
    assert_eq!(error["details"]["field"], "immediate");
}

#[tokio::test]
async fn invoices_are_stripes_newest_first_in_the_reference_shape() {
    let f = fixture().await;
    f.user("u-inv-none").await;
    let none = f.send("GET", "invoices", "u-inv-none", None).await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.text);
    assert_eq!(none.json(), json!([]), "no customer, no invoices");

    f.subscribe("u-inv").await;
    let customer = f.stored("u-inv").await.stripe_customer_id.unwrap();
    let draft = f.fake.add_invoice(&customer, "draft", 500);
    f.fake.add_invoice("cus_someone_else", "paid", 700);
    let answer = f.send("GET", "invoices?limit=5", "u-inv", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let invoices = answer.json();
    let invoices = invoices.as_array().unwrap();
    assert_eq!(invoices.len(), 2, "{invoices:?}");
    assert_eq!(
        invoices[0],
        json!({
            "id": draft["id"], "number": null, "status": "draft", "amount_due": 500,
            "amount_paid": 0, "currency": "usd", "created": draft["created"],
            "hosted_invoice_url": null, "invoice_pdf": null,
        })
    );
    let paid = &invoices[1];
    let id = paid["id"].as_str().unwrap();
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["number"], "FAKE-0001");
    assert_eq!(
        (&paid["amount_due"], &paid["amount_paid"]),
        (&json!(1999), &json!(1999))
    );
    assert_eq!(
        paid["hosted_invoice_url"],
        format!("https://invoice.stripe.com/i/{id}")
    );
    assert_eq!(
        paid["invoice_pdf"],
        format!("https://pay.stripe.com/invoice/{id}/pdf")
    );
    assert_eq!(
        f.fake.calls("GET", "/v1/invoices")[0].params,
        json!({"customer": customer, "limit": "5"})
    );

    let v2 = oneshot::send(
        &f.app,
        as_user("GET", "/api/v2/app/billing/invoices", "u-inv", None),
    )
    .await;
    assert_eq!(v2.json()["data"].as_array().unwrap().len(), 2);
    for limit in ["0", "101", "ten"] {
        let answer = f
            .send("GET", &format!("invoices?limit={limit}"), "u-inv", None)
            .await;
        let error = assert_error(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        );
        assert_eq!(error["details"]["field"], "limit", "{limit}");
    }
}

#[tokio::test]
async fn the_portal_opens_for_a_customer_and_returns_to_a_checked_url() {
    let f = fixture().await;
    f.user("u-portal").await;
    let before = f.send("GET", "portal", "u-portal", None).await;
    assert_error(&before, StatusCode::NOT_FOUND, "NOT_FOUND");

    f.checkout("u-portal").await;
    let customer = f.stored("u-portal").await.stripe_customer_id.unwrap();
    let return_url = "https://app.example.com/settings";
    let answer = f
        .send(
            "GET",
            &format!("portal?return_url={return_url}"),
            "u-portal",
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let url = answer.json()["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("https://billing.stripe.com/p/session/bps_"),
        "{url}"
    );
    let portal = &f.fake.calls("POST", "/v1/billing_portal/sessions")[0];
    assert_eq!(
        portal.params,
        json!({"customer": customer, "return_url": return_url})
    );
    assert!(portal.idempotency_key().is_some());

    let bad = f
        .send(
            "GET",
            "portal?return_url=http://evil.example.com/",
            "u-portal",
            None,
        )
        .await;
    let error = assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
    assert_eq!(error["details"]["field"], "return_url");
}

#[tokio::test]
async fn stripe_refusals_are_400_with_stripes_message() {
    let f = fixture().await;
    f.user("u-refused").await;
    f.fake.decline_next();
    let declined = f.checkout("u-refused").await;
    let error = assert_error(&declined, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert_eq!(error["message"], "Your card was declined.");

    f.fake.refuse_next("No such price: 'price_monthly_pro'");
    let refused = f.checkout("u-refused").await;
    let error = assert_error(&refused, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert_eq!(error["message"], "No such price: 'price_monthly_pro'");

    // Stripe's own 404 for an object in a parameter is the client's 400 too.
    let subscribed = f.subscribe("u-gone").await;
    f.fake.fail_next(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such subscription: '{subscribed}'"),
    );
    let gone = f.send("POST", "resume", "u-gone", None).await;
    let error = assert_error(&gone, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert!(error["message"].as_str().unwrap().contains(&subscribed));
}

#[tokio::test]
async fn stripe_failures_and_timeouts_are_503_without_stripes_words() {
    let f = fixture().await;
    f.user("u-down").await;
    f.fake.break_next();
    let broken = f.checkout("u-down").await;
    let error = assert_error(
        &broken,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    );
    assert!(!broken.text.contains("Stripe's end"), "{error}");

    f.fake.fail_next(
        429,
        "invalid_request_error",
        Some("rate_limit"),
        "Too many requests",
    );
    let limited = f.checkout("u-down").await;
    assert_error(
        &limited,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    );

    // Slower than STRIPE_FIRST_BYTE_TIMEOUT_SECONDS (0.5 s).
    f.fake.delay_next(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let slow = f.checkout("u-down").await;
    assert_error(
        &slow,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_key_stripe_refuses_is_503_and_never_shown() {
    let f = fixture_with(&[("STRIPE_SECRET_KEY", "sk_test_wrong_key_4242")]).await;
    f.user("u-wrongkey").await;
    let answer = f.checkout("u-wrongkey").await;
    assert_error(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    );
    assert!(!answer.text.contains("4242"), "{}", answer.text);
    assert_eq!(
        f.fake.calls("POST", "/v1/customers").len(),
        1,
        "Stripe was asked"
    );
}

#[tokio::test]
async fn without_a_secret_key_stripe_routes_are_503_naming_it_and_status_still_works() {
    let f = fixture_with(&[]).await;
    f.user("u-nokey").await;
    let calls = [
        ("POST", "checkout", Some(valid_checkout())),
        ("GET", "portal", None),
        ("GET", "invoices", None),
        ("POST", "cancel", None),
        ("POST", "resume", None),
    ];
    for (method, path, body) in calls {
        let answer = f.send(method, path, "u-nokey", body.as_deref()).await;
        let error = assert_error(
            &answer,
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
        );
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("STRIPE_SECRET_KEY"),
            "{path}"
        );
        assert_eq!(
            error["details"]["configure"],
            json!(["STRIPE_SECRET_KEY"]),
            "{path}"
        );
    }
    assert_eq!(f.status("u-nokey").await["plan"], "free");
    assert!(f.fake.requests().is_empty());
}

#[tokio::test]
async fn a_plan_without_a_configured_price_is_503_naming_its_variable() {
    let f = fixture_with(&[
        ("STRIPE_SECRET_KEY", FAKE_STRIPE_KEY),
        ("STRIPE_PRICE_YEARLY", ""),
    ])
    .await;
    f.user("u-yearly").await;
    let body = checkout_body(
        "yearly",
        "https://a.example.com/ok",
        "https://a.example.com/no",
    );
    let answer = f.send("POST", "checkout", "u-yearly", Some(&body)).await;
    let error = assert_error(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    );
    assert_eq!(
        error["details"]["configure"],
        json!(["STRIPE_PRICE_YEARLY"])
    );
}

#[tokio::test]
async fn checkout_fields_break_their_rules_with_422_naming_the_field() {
    let f = fixture().await;
    f.user("u-rules").await;
    let ok = "https://app.example.com/ok";
    let cases = [
        (checkout_body("weekly", ok, ok), "plan"),
        (
            json!({"success_url": ok, "cancel_url": ok}).to_string(),
            "plan",
        ),
        (
            checkout_body("monthly", "http://app.example.com/ok", ok),
            "success_url",
        ),
        (
            checkout_body("monthly", ok, "/billing/cancel"),
            "cancel_url",
        ),
        (checkout_body("monthly", ok, ""), "cancel_url"),
        (
            json!({"plan": 12, "success_url": ok, "cancel_url": ok}).to_string(),
            "plan",
        ),
    ];
    for (body, field) in cases {
        let answer = f.send("POST", "checkout", "u-rules", Some(&body)).await;
        let error = assert_error(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        );
        assert_eq!(error["details"]["field"], field, "{body}");
    }
    assert!(f.fake.requests().is_empty(), "nothing reached Stripe");
    let malformed = f
        .send("POST", "checkout", "u-rules", Some("{\"plan\":"))
        .await;
    assert_error(&malformed, StatusCode::BAD_REQUEST, "BAD_REQUEST");

    // The local stack's web app runs on http://localhost.
    let local = checkout_body(
        "yearly",
        "http://localhost:3000/ok",
        "http://127.0.0.1:3000/no",
    );
    let answer = f.send("POST", "checkout", "u-rules", Some(&local)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let session = &f.fake.calls("POST", "/v1/checkout/sessions")[0];
    assert_eq!(session.params["line_items"][0]["price"], YEARLY);
}

#[tokio::test]
async fn a_repeated_idempotency_key_gets_the_first_answer_and_other_parameters_are_refused() {
    let f = fixture().await;
    let settings = fn_billing::BillingSettings::from_env(&aloft_config::Env::from_pairs([
        ("STRIPE_API_BASE", f.fake.url.as_str()),
        ("STRIPE_SECRET_KEY", FAKE_STRIPE_KEY),
    ]))
    .unwrap();
    let stripe = Stripe::new(&settings.stripe);
    let form = Form::new().with("email", "a@example.com");
    let first: Customer = stripe.post("/v1/customers", &form, "key-1").await.unwrap();
    let again: Customer = stripe.post("/v1/customers", &form, "key-1").await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(f.fake.customers().len(), 1);

    let other = Form::new().with("email", "b@example.com");
    let refused = stripe
        .post::<Customer>("/v1/customers", &other, "key-1")
        .await
        .unwrap_err();
    let StripeError::Refused(message) = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert!(message.contains("same parameters"), "{message}");
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let f = fixture().await;
    let document = serde_json::to_value(fn_billing::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&f.app, &document).await;
}

#[tokio::test]
async fn billing_routes_need_a_caller() {
    let f = fixture().await;
    let anonymous = oneshot::get(&f.app, "/api/v1/app/billing/status").await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR");
}
