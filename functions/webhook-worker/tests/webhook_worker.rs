//! The webhook worker's handler against the local emulator: verified provider events,
//! carried as job records, applied to users — in order or not, once or twice.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_inbound::{Provider, ProviderJob, VerifiedEvent};
use aloft_queue::{Attempt, Handler, JobError, Queued};
use aloft_store::{
    JobRecord, JobStatus, Payer, Table, UsageMeter, UserRecord, UserRepo, usage::RequestLimit,
};
use aloft_testkit::TestEnv;
use fn_webhook_worker::{ProviderEvents, Settings};
use serde_json::{Value, json};

async fn events() -> ProviderEvents {
    events_and_table().await.0
}

async fn events_and_table() -> (ProviderEvents, Table) {
    let env = TestEnv::new().await;
    let vars = env.env(&[("STRIPE_PRICE_PLANS", "price_pro=pro,price_ent=enterprise")]);
    (handler(&env, &vars), table(&env))
}

fn table(env: &TestEnv) -> Table {
    Table::new(env.clients.dynamodb.clone(), env.table())
}

fn handler(env: &TestEnv, vars: &aloft_config::Env) -> ProviderEvents {
    ProviderEvents {
        users: UserRepo::new(table(env)),
        organizations: aloft_store::OrganizationRepo::new(table(env)),
        deactivation: aloft_auth::Deactivation::from_env(vars, &table(env)).unwrap(),
        publisher: fn_webhook_worker::publisher(vars, &env.clients, &table(env)).unwrap(),
        settings: Settings::from_env(vars).unwrap(),
    }
}

fn record(id: &str) -> UserRecord {
    aloft_testkit::user_record(id)
}

/// Runs the handler on `event` carried by a job record, as the worker harness would.
async fn apply(
    events: &ProviderEvents,
    provider: Provider,
    kind: &str,
    created: i64,
    payload: Value,
) -> Result<(), String> {
    let event = VerifiedEvent {
        provider,
        id: format!("evt_{kind}_{created}"),
        kind: kind.to_owned(),
        created,
        payload,
    };
    let job = JobRecord {
        id: format!("job-{kind}-{created}"),
        kind: "provider.event".into(),
        queue: "webhooks".into(),
        payload: serde_json::to_string(&event).unwrap(),
        status: JobStatus::Running,
        attempts: 1,
        last_error: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        finished_at: None,
        user_id: None,
        trace_id: None,
    };
    let parsed = ProviderJob::from_record(&job).map_err(|e| e.to_string())?;
    let attempt = Attempt {
        number: 1,
        last: false,
    };
    events
        .handle(parsed, &job, attempt)
        .await
        .map_err(|e| e.to_string())
}

/// [`apply`] of a Stripe event, whose kind is its payload's `type`.
async fn apply_stripe(events: &ProviderEvents, created: i64, payload: Value) -> Result<(), String> {
    let kind = payload["type"].as_str().unwrap().to_owned();
    apply(events, Provider::Stripe, &kind, created, payload).await
}

async fn user(events: &ProviderEvents, id: &str) -> UserRecord {
    events.users.get(id).await.unwrap().unwrap()
}

fn stripe(kind: &str, object: Value) -> Value {
    json!({"id": "evt", "object": "event", "type": kind, "data": {"object": object}})
}

fn checkout(user_id: &str) -> Value {
    stripe(
        "checkout.session.completed",
        json!({"mode": "subscription", "client_reference_id": user_id, "customer": "cus_1"}),
    )
}

fn subscription(kind: &str, price: &str, status: &str) -> Value {
    stripe(
        kind,
        json!({
            "customer": "cus_1",
            "status": status,
            "current_period_end": 1_900_000_000,
            "cancel_at_period_end": true,
            "items": {"data": [{"price": {"id": price}}]}
        }),
    )
}

#[tokio::test]
async fn stripe_checkout_then_subscription_update_set_plan_period_and_cancel_flag() {
    let (events, table) = events_and_table().await;
    events.users.create(&record("u1")).await.unwrap();

    apply_stripe(&events, 1000, checkout("u1")).await.unwrap();
    let after_checkout = user(&events, "u1").await;
    assert_eq!(after_checkout.subscription_plan, "pro");
    assert_eq!(
        after_checkout.subscription_status.as_deref(),
        Some("active")
    );

    let update = subscription("customer.subscription.updated", "price_ent", "active");
    apply_stripe(&events, 2000, update).await.unwrap();
    let after_update = user(&events, "u1").await;
    assert_eq!(after_update.subscription_plan, "enterprise");
    assert_eq!(after_update.subscription_status.as_deref(), Some("active"));
    assert_eq!(after_update.subscription_period_end, Some(1_900_000_000));
    assert!(after_update.cancel_at_period_end);

    // Each applied change is published once, to the tenant's webhooks and the user's
    // channel, with the subscription as it now stands.
    let fanouts: Vec<Value> = aloft_store::JobRepo::new(table)
        .list(JobStatus::Queued)
        .await
        .unwrap()
        .into_iter()
        .filter(|job| job.kind == "webhook.fanout")
        .map(|job| serde_json::from_str(&job.payload).unwrap())
        .collect();
    assert_eq!(fanouts.len(), 2, "{fanouts:?}");
    let newest = &fanouts[0];
    assert_eq!(newest["event"], "subscription.updated");
    assert_eq!(newest["tenant"], "tenant-u1");
    assert_eq!(newest["channels"], json!(["user:u1"]));
    assert_eq!(newest["data"]["plan"], "enterprise");
    assert_eq!(newest["data"]["cancel_at_period_end"], true);
}

#[tokio::test]
async fn stripe_checkout_takes_the_plan_from_metadata_when_given() {
    let events = events().await;
    events.users.create(&record("u1")).await.unwrap();
    let payload = stripe(
        "checkout.session.completed",
        json!({
            "mode": "subscription",
            "customer": "cus_1",
            "metadata": {"user_id": "u1", "plan": "enterprise"}
        }),
    );
    apply_stripe(&events, 1000, payload).await.unwrap();
    assert_eq!(user(&events, "u1").await.subscription_plan, "enterprise");
    assert_eq!(
        events.users.customer_user("stripe", "cus_1").await.unwrap(),
        Some("u1".into()),
        "the customer is linked to the user named in metadata"
    );
}

#[tokio::test]
async fn an_older_stripe_update_arriving_after_a_newer_delete_does_not_regress() {
    let events = events().await;
    events.users.create(&record("u1")).await.unwrap();
    apply_stripe(&events, 1000, checkout("u1")).await.unwrap();
    let deleted = stripe(
        "customer.subscription.deleted",
        json!({"customer": "cus_1"}),
    );
    apply_stripe(&events, 3000, deleted).await.unwrap();

    let late = subscription("customer.subscription.updated", "price_ent", "active");
    apply_stripe(&events, 2000, late).await.unwrap();

    let user = user(&events, "u1").await;
    assert_eq!(user.subscription_plan, "free");
    assert_eq!(user.subscription_status.as_deref(), Some("canceled"));
    assert!(!user.cancel_at_period_end);
    assert_eq!(
        user.subscription_period_end, None,
        "the stale period end was not written"
    );
}

#[tokio::test]
async fn the_same_stripe_event_applied_twice_is_harmless() {
    let events = events().await;
    events.users.create(&record("u1")).await.unwrap();
    apply_stripe(&events, 1000, checkout("u1")).await.unwrap();
    let update = subscription("customer.subscription.updated", "price_pro", "active");
    for _ in 0..2 {
        apply_stripe(&events, 2000, update.clone()).await.unwrap();
    }
    apply_stripe(&events, 1000, checkout("u1")).await.unwrap();
    let user = user(&events, "u1").await;
    assert_eq!(user.subscription_plan, "pro");
    assert_eq!(user.subscription_status.as_deref(), Some("active"));
    assert_eq!(user.subscription_period_end, Some(1_900_000_000));
    assert!(
        user.cancel_at_period_end,
        "the replayed checkout is older: stale"
    );
}

#[tokio::test]
async fn a_subscription_that_is_not_paid_falls_back_to_free() {
    let events = events().await;
    events.users.create(&record("u1")).await.unwrap();
    apply_stripe(&events, 1000, checkout("u1")).await.unwrap();
    let unpaid = subscription("customer.subscription.updated", "price_ent", "unpaid");
    apply_stripe(&events, 2000, unpaid).await.unwrap();
    let user = user(&events, "u1").await;
    assert_eq!(user.subscription_plan, "free");
    assert_eq!(user.subscription_status.as_deref(), Some("unpaid"));
}

#[tokio::test]
async fn events_whose_user_cannot_be_found_fail_so_they_are_retried() {
    let events = events().await;
    let unknown_customer = stripe(
        "customer.subscription.updated",
        json!({"customer": "cus_unknown", "status": "active"}),
    );
    let error = apply_stripe(&events, 2000, unknown_customer)
        .await
        .unwrap_err();
    assert!(error.contains("cus_unknown"), "{error}");

    let checkout_for_nobody = checkout("ghost");
    let error = apply_stripe(&events, 1000, checkout_for_nobody)
        .await
        .unwrap_err();
    assert!(error.contains("ghost"), "{error}");
}

#[tokio::test]
async fn a_payload_that_is_not_a_provider_event_is_a_permanent_failure() {
    let job = JobRecord {
        id: "job-1".into(),
        kind: "provider.event".into(),
        queue: "webhooks".into(),
        payload: r#"{"not": "an event"}"#.into(),
        status: JobStatus::Running,
        attempts: 1,
        last_error: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        finished_at: None,
        user_id: None,
        trace_id: None,
    };
    let error = ProviderJob::from_record(&job).unwrap_err();
    assert!(matches!(error, JobError::Permanent(_)), "{error:?}");
    assert!(
        error.to_string().contains("not a provider.event job"),
        "{error}"
    );
}

#[tokio::test]
async fn unknown_event_kinds_are_ignored() {
    let events = events().await;
    events.users.create(&record("u1")).await.unwrap();
    let cases = [
        (
            Provider::Stripe,
            "customer.created",
            json!({"data": {"object": {}}}),
        ),
        (
            Provider::Stripe,
            "checkout.session.completed",
            stripe(
                "checkout.session.completed",
                json!({"mode": "payment", "client_reference_id": "u1", "customer": "cus_1"}),
            ),
        ),
        (
            Provider::Clerk,
            "session.created",
            json!({"data": {"id": "sess_1"}}),
        ),
        (Provider::Supabase, "TRUNCATE", json!({"type": "TRUNCATE"})),
        (Provider::Apple, "TEST", json!({"notificationType": "TEST"})),
        (
            Provider::Google,
            "TEST_NOTIFICATION",
            json!({"testNotification": {}}),
        ),
    ];
    for (provider, kind, payload) in cases {
        let result = apply(&events, provider, kind, 1000, payload).await;
        assert_eq!(result, Ok(()), "{kind}");
    }
    let user = user(&events, "u1").await;
    assert_eq!(user.subscription_plan, "free");
    assert_eq!(user.subscription_status, None);
    assert_eq!(
        events.users.customer_user("stripe", "cus_1").await.unwrap(),
        None,
        "a one-off payment links no customer"
    );
}

fn clerk(kind: &str, data: Value) -> Value {
    json!({"type": kind, "object": "event", "data": data})
}

fn clerk_user() -> Value {
    json!({
        "id": "user_2x",
        "email_addresses": [
            {"id": "idn_0", "email_address": "other@example.com"},
            {"id": "idn_1", "email_address": "Ann@Example.com"}
        ],
        "primary_email_address_id": "idn_1",
        "first_name": "Ann",
        "last_name": "Lee",
        "image_url": "https://img/x.png"
    })
}

/// Applies Clerk's `user.created` of [`clerk_user`]; the id of the user it made.
async fn clerk_user_created(events: &ProviderEvents) -> String {
    apply(
        events,
        Provider::Clerk,
        "user.created",
        100,
        clerk("user.created", clerk_user()),
    )
    .await
    .unwrap();
    events
        .users
        .external_user("clerk", "user_2x")
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn clerk_user_lifecycle_creates_updates_and_deactivates_one_user() {
    let (events, table) = events_and_table().await;
    let id = clerk_user_created(&events).await;
    let created = user(&events, &id).await;
    assert_eq!(created.email, "ann@example.com");
    assert_eq!(created.full_name.as_deref(), Some("Ann Lee"));
    assert_eq!(created.avatar_url.as_deref(), Some("https://img/x.png"));
    assert!(created.is_active);
    assert_eq!(created.subscription_plan, "free");
    assert_eq!(created.role, "user");

    let mut renamed = clerk_user();
    renamed["first_name"] = json!("Annie");
    apply(
        &events,
        Provider::Clerk,
        "user.updated",
        150,
        clerk("user.updated", renamed),
    )
    .await
    .unwrap();
    assert_eq!(
        events
            .users
            .external_user("clerk", "user_2x")
            .await
            .unwrap(),
        Some(id.clone()),
        "an update finds the same user"
    );
    assert_eq!(
        user(&events, &id).await.full_name.as_deref(),
        Some("Annie Lee")
    );

    let deleted = clerk("user.deleted", json!({"id": "user_2x", "deleted": true}));
    apply(&events, Provider::Clerk, "user.deleted", 300, deleted)
        .await
        .unwrap();
    assert!(!user(&events, &id).await.is_active);
    // The user's unexpired tokens meet the block in the guard's next count of a request.
    let now = aloft_core::timestamp::unix_now();
    let limit = RequestLimit {
        class: "default",
        limit: 1000,
        window_secs: 60,
        daily: None,
        membership: None,
    };
    let window = UsageMeter::new(table)
        .count_request(&id, limit, "users", now)
        .await
        .unwrap();
    assert!(window.blocked, "a deleted identity is locked out");

    let stale = clerk("user.updated", clerk_user());
    apply(&events, Provider::Clerk, "user.updated", 200, stale)
        .await
        .unwrap();
    let after = user(&events, &id).await;
    assert!(!after.is_active, "an older update does not reactivate");
    assert_eq!(after.full_name.as_deref(), Some("Annie Lee"));
}

#[tokio::test]
async fn a_provider_update_never_undoes_an_admins_deactivation() {
    let events = events().await;
    let id = clerk_user_created(&events).await;
    let before = user(&events, &id).await;
    let change = aloft_store::AdminChange {
        is_active: Some(false),
        ..Default::default()
    };
    let now = aloft_core::timestamp::now();
    events
        .users
        .admin_update(&before, &change, &now)
        .await
        .unwrap();

    let newer = clerk("user.updated", clerk_user());
    apply(&events, Provider::Clerk, "user.updated", 200, newer)
        .await
        .unwrap();
    assert!(
        !user(&events, &id).await.is_active,
        "a newer profile update leaves the deactivation alone"
    );
}

#[tokio::test]
async fn clerk_delete_of_a_user_never_seen_is_ignored() {
    let events = events().await;
    let deleted = clerk("user.deleted", json!({"id": "user_never", "deleted": true}));
    apply(&events, Provider::Clerk, "user.deleted", 300, deleted)
        .await
        .unwrap();
    assert_eq!(
        events
            .users
            .external_user("clerk", "user_never")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn clerk_users_link_under_the_configured_issuer() {
    let env = TestEnv::new().await;
    let vars = env.env(&[("CLERK_ISSUER", "https://clerk.example.test")]);
    let events = handler(&env, &vars);
    apply(
        &events,
        Provider::Clerk,
        "user.created",
        100,
        clerk("user.created", clerk_user()),
    )
    .await
    .unwrap();
    assert!(
        events
            .users
            .external_user("https://clerk.example.test", "user_2x")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        events
            .users
            .external_user("clerk", "user_2x")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn supabase_insert_creates_and_delete_deactivates_the_user() {
    let events = events().await;
    let subject = "3f1c2a9e-0000-4000-8000-000000000001";
    let insert = json!({
        "type": "INSERT", "table": "users", "schema": "auth",
        "record": {"id": subject, "email": "bo@example.com", "raw_user_meta_data": {"full_name": "Bo"}},
        "old_record": null
    });
    apply(&events, Provider::Supabase, "INSERT", 100, insert)
        .await
        .unwrap();
    let id = events
        .users
        .external_user("supabase", subject)
        .await
        .unwrap()
        .unwrap();
    let created = user(&events, &id).await;
    assert_eq!(created.email, "bo@example.com");
    assert_eq!(created.full_name.as_deref(), Some("Bo"));
    assert!(created.is_active);

    let delete = json!({
        "type": "DELETE", "table": "users", "schema": "auth",
        "record": null,
        "old_record": {"id": subject, "email": "bo@example.com"}
    });
    apply(&events, Provider::Supabase, "DELETE", 200, delete)
        .await
        .unwrap();
    let deleted = user(&events, &id).await;
    assert!(!deleted.is_active);
    assert_eq!(
        deleted.full_name.as_deref(),
        Some("Bo"),
        "a delete keeps the profile"
    );
}

fn apple(kind: &str, user_id: &str, expires_ms: i64) -> Value {
    json!({
        "notificationType": kind,
        "data": {"transactionInfo": {
            "appAccountToken": user_id,
            "productId": "x",
            "expiresDate": expires_ms
        }}
    })
}

#[tokio::test]
async fn apple_subscribed_then_expired() {
    let events = events().await;
    events.users.create(&record("u1")).await.unwrap();
    apply(
        &events,
        Provider::Apple,
        "SUBSCRIBED",
        1000,
        apple("SUBSCRIBED", "u1", 1_900_000_000_123),
    )
    .await
    .unwrap();
    let subscribed = user(&events, "u1").await;
    assert_eq!(subscribed.subscription_plan, "pro");
    assert_eq!(subscribed.subscription_status.as_deref(), Some("active"));
    assert_eq!(subscribed.subscription_period_end, Some(1_900_000_000));
    assert!(!subscribed.cancel_at_period_end);

    apply(
        &events,
        Provider::Apple,
        "EXPIRED",
        2000,
        apple("EXPIRED", "u1", 1_900_000_000_123),
    )
    .await
    .unwrap();
    let expired = user(&events, "u1").await;
    assert_eq!(expired.subscription_plan, "free");
    assert_eq!(expired.subscription_status.as_deref(), Some("expired"));
}

#[tokio::test]
async fn google_purchase_applies_to_the_user_linked_to_the_purchase_token() {
    let events = events().await;
    events.users.create(&record("u1")).await.unwrap();
    let notification = |kind: &str, token: &str| {
        json!({
            "packageName": "com.example",
            "subscriptionNotification": {
                "notificationType": 4, "purchaseToken": token, "subscriptionId": "gold"
            },
            "kind": kind
        })
    };
    let error = apply(
        &events,
        Provider::Google,
        "SUBSCRIPTION_PURCHASED",
        1000,
        notification("SUBSCRIPTION_PURCHASED", "tok_1"),
    )
    .await
    .unwrap_err();
    assert!(error.contains("purchase token"), "{error}");

    events
        .users
        .link_customer("google", "tok_1", &Payer::User("u1".into()))
        .await
        .unwrap();
    apply(
        &events,
        Provider::Google,
        "SUBSCRIPTION_PURCHASED",
        1000,
        notification("SUBSCRIPTION_PURCHASED", "tok_1"),
    )
    .await
    .unwrap();
    let user = user(&events, "u1").await;
    assert_eq!(user.subscription_plan, "pro");
    assert_eq!(user.subscription_status.as_deref(), Some("active"));
}

#[tokio::test]
async fn a_subscription_event_retried_after_its_checkout_still_sets_the_real_plan() {
    // Stripe creates `customer.subscription.created` just before
    // `checkout.session.completed`. Arriving first, it fails (the checkout has not linked
    // the customer yet) and is retried after the checkout: its price must win over the
    // checkout's guess, though the checkout's event is the newer one.
    let events = events().await;
    events.users.create(&record("u1")).await.unwrap();
    let created = subscription("customer.subscription.created", "price_ent", "active");
    let first_try = apply_stripe(&events, 1000, created.clone()).await;
    assert!(first_try.is_err(), "no customer link yet");

    apply_stripe(&events, 1001, checkout("u1")).await.unwrap();
    apply_stripe(&events, 1000, created).await.unwrap();

    let user = user(&events, "u1").await;
    assert_eq!(user.subscription_plan, "enterprise");
    assert_eq!(user.subscription_status.as_deref(), Some("active"));
    assert_eq!(user.subscription_period_end, Some(1_900_000_000));
}

#[tokio::test]
async fn a_checkout_arriving_after_its_subscription_event_does_not_overwrite_the_plan() {
    let events = events().await;
    events.users.create(&record("u1")).await.unwrap();
    // A returning customer: already linked by an earlier checkout.
    events
        .users
        .link_customer("stripe", "cus_1", &Payer::User("u1".into()))
        .await
        .unwrap();
    let created = subscription("customer.subscription.created", "price_ent", "active");
    apply_stripe(&events, 5000, created).await.unwrap();
    apply_stripe(&events, 5001, checkout("u1")).await.unwrap();
    assert_eq!(user(&events, "u1").await.subscription_plan, "enterprise");
}

#[tokio::test]
async fn stripe_events_store_the_subscription_id_and_the_customer_on_the_user() {
    let events = events().await;
    events.users.create(&record("u1")).await.unwrap();
    let paid = stripe(
        "checkout.session.completed",
        json!({"mode": "subscription", "client_reference_id": "u1", "customer": "cus_1",
               "subscription": "sub_1"}),
    );
    apply_stripe(&events, 1000, paid).await.unwrap();
    let after_checkout = user(&events, "u1").await;
    assert_eq!(after_checkout.subscription_id.as_deref(), Some("sub_1"));
    assert_eq!(
        after_checkout.stripe_customer_id.as_deref(),
        Some("cus_1"),
        "the checkout's link is written on the user record too"
    );

    let mut renewed = subscription("customer.subscription.updated", "price_pro", "active");
    renewed["data"]["object"]["id"] = json!("sub_2");
    apply_stripe(&events, 2000, renewed).await.unwrap();
    assert_eq!(
        user(&events, "u1").await.subscription_id.as_deref(),
        Some("sub_2")
    );
}

#[tokio::test]
async fn a_customer_cannot_be_linked_to_a_user_that_does_not_exist() {
    let events = events().await;
    let linked = events
        .users
        .link_customer("stripe", "cus_9", &Payer::User("ghost".into()))
        .await;
    assert!(linked.is_err());
    assert_eq!(
        events.users.customer_user("stripe", "cus_9").await.unwrap(),
        None,
        "no link item without its user: one transaction"
    );
}
