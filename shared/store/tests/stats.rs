//! The dashboard counters kept by the job, user and webhook stores, against the local
//! emulator: counted while things happen, sharded and moved in the transaction of the
//! change they count (a refused change counts nothing), counters written before sharding
//! still read, and after many changes at once (jobs started and ended twice, removed and
//! retried; users changed by billing, lifecycle and admin changes racing each other) the
//! counters equal a recount of the items.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::fmt::Debug;

use aloft_core::{PageParams, PageRequest};
use aloft_store::{
    AdminChange, Applied, BillingChange, DeliveryAttempt, JobRecord, JobRepo, JobStatus, Key,
    Lifecycle, ProfileChange, Start, Stats, StoreError, Table, TenantId, UserRecord, UserRepo,
    WebhookRepo,
};
use aloft_testkit::{TestEnv, user_record};
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use tokio::task::JoinSet;

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
        .create_delivery(&tenant, &aloft_testkit::delivery_record("d1"))
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
    assert_refused(
        webhooks
            .create_delivery(&tenant, &aloft_testkit::delivery_record("d1"))
            .await,
    );
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
async fn a_cancelled_job_leaves_the_queued_count_counts_nothing_else_and_never_starts() {
    let table = table().await;
    let jobs = JobRepo::new(table.clone());
    let stats = Stats::new(table.clone());
    for id in ["a", "b"] {
        jobs.create(&job(id)).await.unwrap();
    }
    let now = OffsetDateTime::now_utc();
    let before = stats.read(now).await.unwrap();
    assert_eq!(before.total("jobs_queued"), 2);

    let cancelled = jobs
        .cancel("a", NOW, async |_| Ok(None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(cancelled.finished_at.as_deref(), Some(NOW));
    assert_eq!(jobs.get("a").await.unwrap().unwrap(), cancelled);
    let after = stats.read(now).await.unwrap();
    assert_eq!(after.total("jobs_queued"), 1);
    assert_eq!(
        after.last_24_hours, before.last_24_hours,
        "neither completed nor failed"
    );
    assert_eq!(jobs.list(JobStatus::Cancelled).await.unwrap(), [cancelled]);
    assert_eq!(jobs.list(JobStatus::Queued).await.unwrap().len(), 1);
    // Its message, delivered now, does not start it.
    let started = jobs.start("a", 1, NOW).await.unwrap();
    assert!(matches!(started, Start::Cancelled), "{started:?}");

    // Cancelled again, or a job no longer queued: refused, counting nothing.
    assert_refused(jobs.cancel("a", NOW, async |_| Ok(None)).await);
    jobs.start("b", 1, NOW).await.unwrap();
    let running = stats.read(now).await.unwrap();
    assert_refused(jobs.cancel("b", NOW, async |_| Ok(None)).await);
    assert!(
        jobs.cancel("no-such-job", NOW, async |_| Ok(None))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(stats.read(now).await.unwrap(), running);
    assert_eq!(running.total("jobs_queued"), 0);
}

#[tokio::test]
async fn deliveries_are_pending_until_delivered_or_given_up() {
    let table = table().await;
    let webhooks = WebhookRepo::new(table.clone());
    let tenant = TenantId::new("t1");
    for id in ["d1", "d2"] {
        webhooks
            .create_delivery(&tenant, &aloft_testkit::delivery_record(id))
            .await
            .unwrap();
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

const JOBS: usize = 32;
const USERS: usize = 12;

/// Runs the change of each of `items` at once, and waits for them all.
async fn each_at_once<T, F>(items: impl IntoIterator<Item = T>, change: impl Fn(T) -> F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for item in items {
        tasks.spawn(change(item));
    }
    tasks.join_all().await;
}

/// How job `i` ends once started: each way in turn (every fourth job is never started).
fn ending(i: usize) -> Option<JobStatus> {
    match i % 4 {
        1 => Some(JobStatus::Succeeded),
        2 => Some(JobStatus::Dead),
        3 => Some(JobStatus::Failed),
        _ => None,
    }
}

/// Jobs `ids` (`j00`, `j01`, …), as the workers and an admin move them, many at once: all
/// created; each but every fourth started twice (a duplicate delivery) and its ending
/// recorded twice; two queued ones removed and two dead ones retried.
async fn run_jobs_at_once(jobs: &JobRepo, ids: &[String]) {
    let create = |id: String| {
        let jobs = jobs.clone();
        async move { jobs.create(&job(&id)).await.unwrap() }
    };
    each_at_once(ids.to_vec(), create).await;
    let runs: Vec<(String, JobStatus)> = ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| Some((id.clone(), ending(i)?)))
        .collect();
    let twice = || runs.iter().flat_map(|run| [run.clone(), run.clone()]);
    let start = |(id, _): (String, JobStatus)| {
        let jobs = jobs.clone();
        async move {
            jobs.start(&id, 1, NOW).await.unwrap();
        }
    };
    each_at_once(twice(), start).await;
    let finish = |(id, ending): (String, JobStatus)| {
        let jobs = jobs.clone();
        async move {
            jobs.finish(&id, ending, None, NOW, Vec::new())
                .await
                .unwrap()
        }
    };
    each_at_once(twice(), finish).await;
    let undo = |(id, queued): (&'static str, bool)| {
        let jobs = jobs.clone();
        async move {
            if queued {
                jobs.delete(id).await.unwrap();
            } else {
                jobs.requeue_dead(id, NOW).await.unwrap();
            }
        }
    };
    let undone = [("j00", true), ("j04", true), ("j02", false), ("j06", false)];
    each_at_once(undone, undo).await;
}

/// User `i` changed by `who`: 0 a billing event, 1 a lifecycle event (for every other
/// user a rename), 2 an admin. Refused (decided on a stale read) or kept conflicting,
/// never a broken write.
async fn change_user(users: UserRepo, i: usize, id: String, who: u8) {
    let outcome = match who {
        0 => {
            let plan = if i.is_multiple_of(3) {
                "enterprise"
            } else {
                "pro"
            };
            let applied = users.apply_billing(&id, &paid(plan), 100, NOW).await;
            applied.map(|_| ())
        }
        1 => {
            let change = Lifecycle {
                profile: ProfileChange {
                    full_name: i.is_multiple_of(2).then(|| format!("Renamed {i}")),
                    avatar_url: None,
                },
                is_active: Some(i.is_multiple_of(4)),
            };
            let applied = users.apply_lifecycle(&id, &change, 100, NOW).await;
            applied.map(|_| ())
        }
        _ => {
            let before = users.get(&id).await.unwrap().unwrap();
            let change = AdminChange {
                plan: Some("free".into()),
                ..AdminChange::default()
            };
            let updated = users.admin_update(&before, &change, NOW).await;
            updated.map(|_| ())
        }
    };
    assert!(
        !matches!(outcome, Err(StoreError::Other(_))),
        "user {i}: {outcome:?}"
    );
}

/// Users `ids`, all created at once, then each changed at once by a billing event, a
/// lifecycle event and an admin: the losers of a race read again, or are refused.
async fn change_users_at_once(users: &UserRepo, ids: &[String]) {
    let create = |id: String| {
        let users = users.clone();
        async move { users.create(&user_record(&id)).await.unwrap() }
    };
    each_at_once(ids.to_vec(), create).await;
    let changes = ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| (0..3).map(move |who| (i, id.clone(), who)));
    let change = |(i, id, who): (usize, String, u8)| change_user(users.clone(), i, id, who);
    each_at_once(changes, change).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn after_concurrent_changes_the_counters_equal_a_recount() {
    let table = table().await;
    let jobs = JobRepo::new(table.clone());
    let users = UserRepo::new(table.clone());
    let job_ids: Vec<String> = (0..JOBS).map(|i| format!("j{i:02}")).collect();
    let user_ids: Vec<String> = (0..USERS).map(|i| format!("u{i:02}")).collect();
    tokio::join!(
        run_jobs_at_once(&jobs, &job_ids),
        change_users_at_once(&users, &user_ids)
    );

    let counters = Stats::new(table.clone())
        .read(OffsetDateTime::now_utc())
        .await
        .unwrap();
    let hourly = |counter: &str| counters.last_24_hours.get(counter).copied();
    let listed = async |status: JobStatus| jobs.list(status).await.unwrap().len() as i64;
    assert_eq!(
        counters.total("jobs_queued"),
        listed(JobStatus::Queued).await
    );
    let succeeded = listed(JobStatus::Succeeded).await;
    assert_eq!(hourly("jobs_completed"), Some(succeeded));
    // A death is an event: the two retried jobs died once too.
    let died = listed(JobStatus::Dead).await + 2;
    assert_eq!(hourly("jobs_failed"), Some(died));

    let ids: Vec<&str> = user_ids.iter().map(String::as_str).collect();
    let stored = users.get_many(&ids).await.unwrap();
    let recount = |counts: &dyn Fn(&UserRecord) -> bool| {
        stored.iter().filter(|user| counts(user)).count() as i64
    };
    assert_eq!(counters.total("users_total"), USERS as i64);
    assert_eq!(hourly("users_new"), Some(USERS as i64));
    assert_eq!(
        counters.total("users_active"),
        recount(&|u: &UserRecord| u.is_active)
    );
    assert_eq!(
        counters.total("subscriptions_active"),
        recount(&UserRecord::has_active_subscription)
    );
    for plan in ["free", "pro", "enterprise"] {
        let on_plan = recount(&|u: &UserRecord| u.subscription_plan == plan);
        assert_eq!(counters.total(&format!("plan_{plan}")), on_plan, "{plan}");
    }
}
