//! The dashboard's counters after many changes at once, against the local emulator: jobs
//! created, started twice, ended twice, removed and retried, and users created and
//! changed by billing, lifecycle and admin changes racing each other, all counted in
//! their changes' transactions, equal a recount of the items.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_store::{
    AdminChange, BillingChange, JobRecord, JobRepo, JobStatus, Lifecycle, ProfileChange, Stats,
    StoreError, Table, UserRecord, UserRepo,
};
use aloft_testkit::{TestEnv, user_record};
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
