//! The dashboard's counters, sharded and moved in the transaction of the change they
//! count, against the local emulator: a refused change counts nothing, and counters
//! written before they were sharded are still read. (`stats_at_once.rs`: many changes at
//! once.)

use std::fmt::Debug;

use aloft_core::{PageParams, PageRequest};
use aloft_store::{
    AdminChange, Applied, BillingChange, DeliveryAttempt, DeliveryRecord, JobRecord, JobRepo,
    JobStatus, Key, Stats, StoreError, Table, TenantId, UserRecord, UserRepo, WebhookRepo,
};
use aloft_testkit::{TestEnv, user_record};
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

const NOW: &str = "2026-01-01T00:00:01Z";

async fn table() -> Table {
    let env = TestEnv::new().await;
    Table::new(env.clients.dynamodb.clone(), env.table())
}

fn job(id: &str) -> JobRecord {
    JobRecord {
        id: id.into(),
        kind: "email.send".into(),
        queue: "jobs".into(),
        payload: "{}".into(),
        status: JobStatus::Queued,
        attempts: 0,
        last_error: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        finished_at: None,
        user_id: None,
        trace_id: None,
    }
}

fn delivery(id: &str) -> DeliveryRecord {
    DeliveryRecord {
        id: id.into(),
        subscription_id: "s1".into(),
        event: "project.created".into(),
        body: "{}".into(),
        status: "pending".into(),
        attempts: 0,
        response_status: None,
        last_error: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        expires_at: 1_900_000_000,
    }
}

fn paid(plan: &str) -> BillingChange {
    BillingChange {
        plan: Some(plan.into()),
        status: Some("active".into()),
        ..BillingChange::default()
    }
}

fn first_page(scope: &str) -> Result<PageRequest, aloft_core::ApiError> {
    PageParams {
        skip: 0,
        limit: 10,
        cursor: None,
    }
    .parse(scope)
}

/// `YYYY-MM-DDTHH` of `at`: an hourly bucket's key as it was before sharding.
fn hour_of(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour()
    )
}

#[track_caller]
fn assert_refused<T: Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::ConditionFailed)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_refused_change_counts_nothing() {
    let table = table().await;
    let jobs = JobRepo::new(table.clone());
    let users = UserRepo::new(table.clone());
    let webhooks = WebhookRepo::new(table.clone());
    let stats = Stats::new(table.clone());
    let tenant = TenantId::new("t1");
    jobs.create(&job("j1")).await.unwrap();
    users.create(&user_record("ann")).await.unwrap();
    users
        .apply_billing("ann", &paid("pro"), 200, NOW)
        .await
        .unwrap();
    webhooks
        .create_delivery(&tenant, &delivery("d1"))
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let counted = stats.read(now).await.unwrap();
    let totals = [
        "jobs_queued",
        "users_total",
        "plan_pro",
        "subscriptions_active",
        "webhooks_total",
        "webhooks_pending",
    ];
    assert_eq!(totals.map(|c| counted.total(c)), [1; 6]);

    // The same job, user and delivery again, and a user with a taken email.
    assert_refused(jobs.create(&job("j1")).await);
    assert_refused(users.create(&user_record("ann")).await);
    let twin = UserRecord {
        email: "ann@example.com".into(),
        ..user_record("bob")
    };
    assert_refused(users.create(&twin).await);
    assert_refused(webhooks.create_delivery(&tenant, &delivery("d1")).await);
    // A job that is not dead retried, one that is not running finished.
    assert_refused(jobs.requeue_dead("j1", NOW).await);
    jobs.finish("j1", JobStatus::Succeeded, None, NOW, Vec::new())
        .await
        .unwrap();
    // Admin changes decided on a stale read: of the record, or of what is counted.
    let stored = users.get("ann").await.unwrap().unwrap();
    let deactivate = AdminChange {
        plan: Some("enterprise".into()),
        is_active: Some(false),
        ..AdminChange::default()
    };
    let stale = UserRecord {
        updated_at: "2025-01-01T00:00:00Z".into(),
        ..stored.clone()
    };
    assert_refused(users.admin_update(&stale, &deactivate, NOW).await);
    let miscounted = UserRecord {
        subscription_plan: "free".into(),
        ..stored
    };
    assert_refused(users.admin_update(&miscounted, &deactivate, NOW).await);
    // An older billing event, and an attempt at a delivery that does not exist.
    let older = users
        .apply_billing("ann", &paid("enterprise"), 100, NOW)
        .await
        .unwrap();
    assert_eq!(older, Applied::Stale);
    let attempt = DeliveryAttempt {
        status: "dead",
        attempt: 1,
        response_status: Some(500),
        error: None,
        now: NOW,
    };
    assert_refused(webhooks.record_attempt(&tenant, "s1", "d9", &attempt).await);

    assert_eq!(stats.read(now).await.unwrap(), counted);
}

#[tokio::test]
async fn counters_written_before_sharding_are_still_read() {
    let table = table().await;
    let now = OffsetDateTime::now_utc();
    // The totals as one item, and an hourly bucket keyed by the bare hour.
    let totals = Key::stats_totals_unsharded();
    let unsharded = [
        (
            totals.pk,
            totals.sk,
            [("users_total", 5), ("jobs_queued", 2)],
        ),
        (
            Key::STATS_HOURS.to_owned(),
            hour_of(now - time::Duration::hours(3)),
            [("users_new", 3), ("expires_at", 1_900_000_000)],
        ),
    ];
    for (pk, sk, numbers) in unsharded {
        let mut put = table
            .client()
            .put_item()
            .table_name(table.name())
            .item("pk", AttributeValue::S(pk))
            .item("sk", AttributeValue::S(sk));
        for (name, value) in numbers {
            put = put.item(name, AttributeValue::N(value.to_string()));
        }
        put.send().await.unwrap();
    }
    let users = UserRepo::new(table.clone());
    let jobs = JobRepo::new(table.clone());
    users.create(&user_record("ann")).await.unwrap();
    jobs.create(&job("j1")).await.unwrap();

    let counters = Stats::new(table.clone()).read(now).await.unwrap();
    assert_eq!(counters.total("users_total"), 6);
    assert_eq!(counters.total("jobs_queued"), 3);
    assert_eq!(counters.last_24_hours.get("users_new"), Some(&4));
    assert_eq!(counters.last_30_days.get("users_new"), Some(&4));
    // The lists' totals read the same sum.
    let everyone = |_: &UserRecord| true;
    let request = first_page("users").unwrap();
    let directory = users
        .directory(&request, everyone, Some("users_total"))
        .await
        .unwrap();
    assert_eq!((directory.total, directory.total_exact), (6, true));
    let request = first_page("jobs").unwrap();
    let queued = jobs.page(Some(JobStatus::Queued), &request).await.unwrap();
    assert_eq!(queued.total, 3);
}
