//! The dashboard counters kept by the job and webhook stores, against the local emulator.

use aloft_store::{
    DeliveryAttempt, DeliveryRecord, JobRecord, JobRepo, JobStatus, Stats, Table, TenantId,
    WebhookRepo,
};
use aloft_testkit::TestEnv;
use time::OffsetDateTime;

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

#[tokio::test]
async fn jobs_are_counted_while_queued_and_once_when_they_end() {
    let table = table().await;
    let jobs = JobRepo::new(table.clone());
    let now = "2026-01-01T00:00:01Z";
    for id in ["a", "b", "c"] {
        jobs.create(&job(id)).await.unwrap();
    }
    for id in ["a", "b"] {
        jobs.start(id, 1, now).await.unwrap();
    }
    jobs.finish("a", JobStatus::Succeeded, None, now, Vec::new())
        .await
        .unwrap();
    jobs.finish("b", JobStatus::Dead, Some("boom"), now, Vec::new())
        .await
        .unwrap();
    // A repeated finish (a retried call) counts nothing twice.
    jobs.finish("a", JobStatus::Succeeded, None, now, Vec::new())
        .await
        .unwrap();
    let counters = Stats::new(table.clone())
        .read(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(counters.total("jobs_queued"), 1);
    assert_eq!(counters.last_24_hours.get("jobs_completed"), Some(&1));
    assert_eq!(counters.last_24_hours.get("jobs_failed"), Some(&1));

    jobs.requeue_dead("b", now).await.unwrap();
    jobs.delete("c").await.unwrap();
    let counters = Stats::new(table)
        .read(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(
        counters.total("jobs_queued"),
        1,
        "b queued again, c removed"
    );
}

#[tokio::test]
async fn deliveries_are_pending_until_delivered_or_given_up() {
    let table = table().await;
    let webhooks = WebhookRepo::new(table.clone());
    let tenant = TenantId::new("t1");
    for id in ["d1", "d2"] {
        let delivery = DeliveryRecord {
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
        };
        webhooks.create_delivery(&tenant, &delivery).await.unwrap();
    }
    let attempt = |status, attempt| DeliveryAttempt {
        status,
        attempt,
        response_status: Some(500),
        error: None,
        now: "2026-01-01T00:00:01Z",
    };
    let record = async |id, status, n| {
        webhooks
            .record_attempt(&tenant, "s1", id, &attempt(status, n))
            .await
            .unwrap();
    };
    record("d1", "failed", 1).await;
    record("d1", "dead", 2).await;
    record("d2", "failed", 1).await;
    let counters = Stats::new(table.clone())
        .read(OffsetDateTime::now_utc())
        .await
        .unwrap();
    let totals = ["webhooks_total", "webhooks_pending", "webhooks_failed"];
    assert_eq!(totals.map(|c| counters.total(c)), [2, 1, 1]);
    record("d2", "succeeded", 2).await;
    let counters = Stats::new(table)
        .read(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(totals.map(|c| counters.total(c)), [2, 0, 1]);
}
