//! The admin function's job routes against the local emulator, on job records seeded
//! straight into the table.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_auth::Role;
use aloft_http::HttpConfig;
use aloft_store::{JobRecord, JobRepo, JobStatus, Table, TenantId, WebhookRepo};
use aloft_testkit::{TestEnv, oneshot};
use axum::Router;
use http::StatusCode;
use serde_json::Value;

struct Fixture {
    env: TestEnv,
    app: Router,
    jobs: JobRepo,
}

async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let vars = env.env(&[("RATE_LIMIT_DEFAULT_PER_MINUTE", "100000")]);
    let app = fn_admin::router(
        fn_admin::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let jobs = JobRepo::new(Table::new(env.clients.dynamodb.clone(), env.table()));
    Fixture { env, app, jobs }
}

const NOW: &str = "2026-02-01T00:00:00Z";

impl Fixture {
    /// Stores job `id` created at second `second` of the day, then moves it to `status`.
    async fn seed(&self, id: &str, queue: &str, second: u32, status: JobStatus) {
        let created_at = format!("2026-01-01T00:{:02}:{:02}Z", second / 60, second % 60);
        let job = JobRecord {
            id: id.to_owned(),
            kind: if queue == "webhooks" {
                "provider.event".into()
            } else {
                "email.send".into()
            },
            queue: queue.to_owned(),
            payload: r#"{"to":"ann@example.com"}"#.into(),
            status: JobStatus::Queued,
            attempts: 0,
            last_error: None,
            created_at: created_at.clone(),
            updated_at: created_at,
            finished_at: None,
            user_id: None,
            trace_id: None,
        };
        self.jobs.create(&job).await.unwrap();
        match status {
            JobStatus::Queued => {}
            JobStatus::Running => {
                self.jobs.start(id, 1, NOW).await.unwrap();
            }
            JobStatus::Succeeded => {
                self.jobs.start(id, 1, NOW).await.unwrap();
                self.jobs
                    .finish(id, status, None, NOW, Vec::new())
                    .await
                    .unwrap();
            }
            JobStatus::Failed | JobStatus::Dead => {
                self.jobs.start(id, 5, NOW).await.unwrap();
                self.jobs
                    .finish(id, status, Some("boom"), NOW, Vec::new())
                    .await
                    .unwrap();
            }
            JobStatus::Cancelled => {
                self.jobs
                    .cancel(id, NOW, async |_| Ok(None))
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
    }

    async fn admin(&self, method: &str, path: &str) -> oneshot::Answer {
        oneshot::send(
            &self.app,
            oneshot::as_role(method, path, "root", Role::Admin, None),
        )
        .await
    }

    async fn list(&self, query: &str) -> Value {
        let answer = self
            .admin("GET", &format!("/api/v1/admin/jobs?{query}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json()
    }

    /// The `{"job_id", "kind"}` bodies on the queue `logical_id`.
    async fn messages(&self, logical_id: &str) -> Vec<Value> {
        let received = self
            .env
            .clients
            .sqs()
            .receive_message()
            .queue_url(self.env.queue_url(logical_id))
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        received
            .messages
            .unwrap_or_default()
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect()
    }
}

fn ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn without_a_token_is_401_and_as_a_plain_user_403() {
    let f = fixture().await;
    f.seed("dead-1", "jobs", 1, JobStatus::Dead).await;

    let anonymous = oneshot::get(&f.app, "/api/v1/admin/jobs").await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.text
    );

    for (method, path) in [
        ("GET", "/api/v1/admin/jobs"),
        ("POST", "/api/v1/admin/jobs/dead-1/retry"),
    ] {
        let answer = oneshot::send(&f.app, oneshot::as_user(method, path, "ann", None)).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            answer.text
        );
        assert_eq!(answer.json()["error"]["code"], "AUTHORIZATION_ERROR");
    }
    let job = f.jobs.get("dead-1").await.unwrap().unwrap();
    assert_eq!(
        job.status,
        JobStatus::Dead,
        "a refused retry changes nothing"
    );
}

#[tokio::test]
async fn lists_every_status_newest_first_with_the_total() {
    let f = fixture().await;
    f.seed("a-queued", "jobs", 1, JobStatus::Queued).await;
    f.seed("b-running", "jobs", 2, JobStatus::Running).await;
    f.seed("c-succeeded", "jobs", 3, JobStatus::Succeeded).await;
    f.seed("d-failed", "webhooks", 4, JobStatus::Failed).await;
    f.seed("e-dead", "webhooks", 5, JobStatus::Dead).await;

    let page = f.list("").await;
    assert_eq!(page["total"], 5);
    assert_eq!(page["skip"], 0);
    assert_eq!(page["limit"], 20);
    assert_eq!(
        ids(&page),
        ["e-dead", "d-failed", "c-succeeded", "b-running", "a-queued"]
    );
    let dead = &page["items"][0];
    assert_eq!(dead["status"], "dead");
    assert_eq!(dead["queue"], "webhooks");
    assert_eq!(dead["kind"], "provider.event");
    assert_eq!(dead["attempts"], 5);
    assert_eq!(dead["last_error"], "boom");
    assert_eq!(dead["finished_at"], NOW);
    assert!(dead.get("payload").is_none(), "payloads stay private");
    assert_eq!(page["items"][3]["status"], "running");
}

#[tokio::test]
async fn filters_by_status_and_rejects_an_unknown_one() {
    let f = fixture().await;
    f.seed("q1", "jobs", 1, JobStatus::Queued).await;
    f.seed("d1", "jobs", 2, JobStatus::Dead).await;
    f.seed("s1", "jobs", 3, JobStatus::Succeeded).await;
    f.seed("d2", "webhooks", 4, JobStatus::Dead).await;

    let dead = f.list("status=dead").await;
    assert_eq!(dead["total"], 2);
    assert_eq!(ids(&dead), ["d2", "d1"]);
    let queued = f.list("status=queued").await;
    assert_eq!(ids(&queued), ["q1"]);
    let failed = f.list("status=failed").await;
    assert_eq!(failed["total"], 0);
    assert_eq!(ids(&failed), Vec::<&str>::new());

    let answer = f.admin("GET", "/api/v1/admin/jobs?status=exploded").await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text
    );
    assert_eq!(answer.json()["error"]["details"]["field"], "status");
}

#[tokio::test]
async fn skip_and_limit_page_through_the_list() {
    let f = fixture().await;
    for i in 0..25 {
        f.seed(&format!("job-{i:02}"), "jobs", i, JobStatus::Succeeded)
            .await;
    }
    let first = f.list("limit=10").await;
    assert_eq!(first["total"], 25);
    assert_eq!(first["limit"], 10);
    assert_eq!(ids(&first).len(), 10);
    assert_eq!(ids(&first)[0], "job-24");

    let last = f.list("skip=20&limit=10").await;
    assert_eq!(last["total"], 25);
    assert_eq!(last["skip"], 20);
    assert_eq!(
        ids(&last),
        ["job-04", "job-03", "job-02", "job-01", "job-00"]
    );

    for bad in ["limit=0", "limit=101"] {
        let answer = f.admin("GET", &format!("/api/v1/admin/jobs?{bad}")).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(answer.json()["error"]["details"]["field"], "limit");
    }
}

#[tokio::test]
async fn retrying_a_dead_job_queues_it_again_on_its_own_queue() {
    let f = fixture().await;
    f.seed("dead-jobs", "jobs", 1, JobStatus::Dead).await;
    f.seed("dead-hooks", "webhooks", 2, JobStatus::Dead).await;

    let answer = f.admin("POST", "/api/v1/admin/jobs/dead-jobs/retry").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let job = answer.json();
    assert_eq!(job["id"], "dead-jobs");
    assert_eq!(job["status"], "queued");
    assert_eq!(job["attempts"], 0);
    assert_eq!(job["finished_at"], Value::Null);

    let answer = f.admin("POST", "/api/v2/admin/jobs/dead-hooks/retry").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["data"]["status"], "queued");

    let on_jobs = f.messages("JobsQueue").await;
    assert_eq!(
        on_jobs,
        [serde_json::json!({"job_id": "dead-jobs", "kind": "email.send"})]
    );
    let on_webhooks = f.messages("WebhooksQueue").await;
    assert_eq!(
        on_webhooks,
        [serde_json::json!({"job_id": "dead-hooks", "kind": "provider.event"})]
    );

    let stored = f.jobs.get("dead-jobs").await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Queued);
    assert_eq!(stored.attempts, 0);
    assert_eq!(stored.finished_at, None);
    assert_eq!(
        stored.last_error.as_deref(),
        Some("boom"),
        "kept for the record"
    );
    assert_eq!(ids(&f.list("status=dead").await), Vec::<&str>::new());
    assert_eq!(
        ids(&f.list("status=queued").await),
        ["dead-hooks", "dead-jobs"]
    );
}

#[tokio::test]
async fn retrying_a_job_that_is_not_dead_is_409_and_an_unknown_one_404() {
    let f = fixture().await;
    f.seed("queued", "jobs", 1, JobStatus::Queued).await;
    f.seed("done", "jobs", 2, JobStatus::Succeeded).await;
    f.seed("failing", "jobs", 3, JobStatus::Failed).await;

    for id in ["queued", "done", "failing"] {
        let answer = f
            .admin("POST", &format!("/api/v1/admin/jobs/{id}/retry"))
            .await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{id}: {}", answer.text);
        assert_eq!(answer.json()["error"]["code"], "CONFLICT");
    }
    assert_eq!(
        f.jobs.get("done").await.unwrap().unwrap().status,
        JobStatus::Succeeded
    );

    let answer = f
        .admin("POST", "/api/v1/admin/jobs/no-such-job/retry")
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    assert_eq!(answer.json()["error"]["code"], "NOT_FOUND");
    // An id longer than any key DynamoDB takes is no job, not a 500.
    let long = "j".repeat(3000);
    for (method, path) in [
        ("GET", format!("/api/v1/admin/jobs/{long}")),
        ("DELETE", format!("/api/v1/admin/jobs/{long}")),
        ("POST", format!("/api/v1/admin/jobs/{long}/retry")),
    ] {
        let answer = f.admin(method, &path).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method}: {}",
            answer.text
        );
    }

    assert!(f.messages("JobsQueue").await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_retry_is_in_the_audit_log_with_its_actor_request_and_result() {
    let f = fixture().await;
    f.seed("job-audited", "jobs", 1, JobStatus::Dead).await;
    let request = http::Request::builder()
        .method("POST")
        .uri("/api/v1/admin/jobs/job-audited/retry")
        .header(
            "authorization",
            format!("Bearer {}", aloft_testkit::token_for("root", Role::Admin)),
        )
        .header("x-request-id", "req-audit-1")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(oneshot::send(&f.app, request).await.status, StatusCode::OK);

    let logs = f
        .admin("GET", "/api/v1/admin/dashboard/audit-logs?action=job.retry")
        .await;
    assert_eq!(logs.status, StatusCode::OK, "{}", logs.text);
    let logs = logs.json();
    assert_eq!(logs["total"], 1);
    let entry = &logs["items"][0];
    assert_eq!(entry["actor_id"], "root");
    assert_eq!(entry["resource_type"], "job");
    assert_eq!(entry["resource_id"], "job-audited");
    assert_eq!(entry["request_id"], "req-audit-1");
    assert_eq!(entry["details"]["after"]["status"], "queued");
    assert_eq!(entry["impersonator_id"], Value::Null);

    for query in [
        "actor_id=root",
        "resource_type=job",
        "since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00%2B02:00",
    ] {
        let page = f
            .admin(
                "GET",
                &format!("/api/v1/admin/dashboard/audit-logs?{query}"),
            )
            .await
            .json();
        assert_eq!(page["items"][0]["resource_id"], "job-audited", "{query}");
    }
    let none = f
        .admin(
            "GET",
            "/api/v1/admin/dashboard/audit-logs?actor_id=someone-else",
        )
        .await
        .json();
    assert_eq!(none["total"], 0);
    for (query, field) in [("limit=0", "limit"), ("since=yesterday", "since")] {
        let answer = f
            .admin(
                "GET",
                &format!("/api/v1/admin/dashboard/audit-logs?{query}"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(answer.json()["error"]["details"]["field"], field);
    }
    let as_user = oneshot::send(
        &f.app,
        oneshot::as_user("GET", "/api/v1/admin/dashboard/audit-logs", "ann", None),
    )
    .await;
    assert_eq!(as_user.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn empty_filters_filter_nothing_and_reversed_bounds_list_nothing() {
    let f = fixture().await;
    f.seed("job-listed", "jobs", 1, JobStatus::Dead).await;
    let retried = f.admin("POST", "/api/v1/admin/jobs/job-listed/retry").await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);

    let page = f
        .admin(
            "GET",
            "/api/v1/admin/dashboard/audit-logs?actor_id=&action=&resource_type=&since=&until=&cursor=",
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.json()["items"][0]["resource_id"], "job-listed");

    let reversed = f
        .admin(
            "GET",
            "/api/v1/admin/dashboard/audit-logs?since=2999-01-01T00:00:00Z&until=2000-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(reversed.status, StatusCode::OK, "{}", reversed.text);
    assert_eq!(reversed.json()["total"], 0);

    // Cursors are opaque, as every list's: a sort key made by hand is not one.
    let forged = f
        .admin("GET", "/api/v1/admin/dashboard/audit-logs?cursor=2000")
        .await;
    assert_eq!(
        forged.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        forged.text
    );
    assert_eq!(forged.json()["error"]["details"]["field"], "cursor");
}

#[tokio::test]
async fn impersonation_acts_as_a_user_is_audited_and_ends_with_stop() {
    let f = fixture().await;
    let users =
        aloft_store::UserRepo::new(Table::new(f.env.clients.dynamodb.clone(), f.env.table()));
    users
        .create(&aloft_testkit::user_record("target"))
        .await
        .unwrap();
    let mut boss = aloft_testkit::user_record("boss");
    boss.role = "admin".into();
    users.create(&boss).await.unwrap();
    let start = |user_id: &str| {
        let body = format!(r#"{{"user_id": "{user_id}", "reason": "ticket 42"}}"#);
        oneshot::send(
            &f.app,
            oneshot::as_role(
                "POST",
                "/api/v1/admin/impersonate/start",
                "root",
                Role::Admin,
                Some(&body),
            ),
        )
    };
    assert_eq!(
        start("boss").await.status,
        StatusCode::FORBIDDEN,
        "admins are not targets"
    );
    assert_eq!(start("nobody").await.status, StatusCode::NOT_FOUND);
    let as_plain_user = oneshot::send(
        &f.app,
        oneshot::as_user(
            "POST",
            "/api/v1/admin/impersonate/start",
            "ann",
            Some(r#"{"user_id": "target"}"#),
        ),
    )
    .await;
    assert_eq!(as_plain_user.status, StatusCode::FORBIDDEN);

    let started = start("target").await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let started = started.json();
    assert_eq!(started["impersonated_user"]["email"], "target@example.com");
    let bearer = format!("Bearer {}", started["token"].as_str().unwrap());
    let with_token = |method: &str, path: &str| {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", bearer.as_str())
            .body(axum::body::Body::empty())
            .unwrap();
        oneshot::send(&f.app, request)
    };
    // An impersonation token never reaches admin routes, nor starts another one.
    assert_eq!(
        with_token("GET", "/api/v1/admin/jobs").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        with_token("POST", "/api/v1/admin/impersonate/start")
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let stopped = with_token("POST", "/api/v1/admin/impersonate/stop").await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    let again = with_token("POST", "/api/v1/admin/impersonate/stop").await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "the token is revoked"
    );

    let logs = f
        .admin("GET", "/api/v1/admin/dashboard/audit-logs?actor_id=target")
        .await
        .json();
    let actions: Vec<_> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["impersonator_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        actions.contains(&("impersonate.stop", "root")),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .filter(|(a, by)| *a == "request" && *by == "root")
            .count()
            >= 3,
        "every request under the token is audited: {actions:?}"
    );
    let started_log = f
        .admin(
            "GET",
            "/api/v1/admin/dashboard/audit-logs?action=impersonate.start",
        )
        .await
        .json();
    assert_eq!(started_log["items"][0]["actor_id"], "root");
    assert_eq!(started_log["items"][0]["resource_id"], "target");
    assert_eq!(
        started_log["items"][0]["details"]["after"]["reason"],
        "ticket 42"
    );
}

#[tokio::test]
async fn one_job_is_read_by_id_and_an_unknown_one_is_404() {
    let f = fixture().await;
    f.seed("dead-one", "webhooks", 1, JobStatus::Dead).await;

    let answer = f.admin("GET", "/api/v1/admin/jobs/dead-one").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let job = answer.json();
    assert_eq!(job["id"], "dead-one");
    assert_eq!(job["status"], "dead");
    assert_eq!(job["queue"], "webhooks");
    assert_eq!(job["attempts"], 5);
    assert_eq!(job["last_error"], "boom");
    assert!(job.get("payload").is_none(), "payloads stay private");
    let v2 = f.admin("GET", "/api/v2/admin/jobs/dead-one").await;
    assert_eq!(v2.json()["data"]["id"], "dead-one");

    let unknown = f.admin("GET", "/api/v1/admin/jobs/no-such-job").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    assert_eq!(unknown.json()["error"]["code"], "NOT_FOUND");
    let as_user = oneshot::send(
        &f.app,
        oneshot::as_user("GET", "/api/v1/admin/jobs/dead-one", "ann", None),
    )
    .await;
    assert_eq!(as_user.status, StatusCode::FORBIDDEN);
}

/// The dashboard's `jobs.queued`.
async fn queued_count(f: &Fixture) -> Value {
    let stats = f.admin("GET", "/api/v1/admin/dashboard/stats").await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
    stats.json()["jobs"]["queued"].clone()
}

#[tokio::test]
async fn cancelling_a_queued_job_finishes_it_uncounted_and_audited() {
    let f = fixture().await;
    f.seed("to-cancel", "jobs", 1, JobStatus::Queued).await;
    f.seed("stays", "jobs", 2, JobStatus::Queued).await;
    assert_eq!(queued_count(&f).await, 2);

    let answer = f.admin("DELETE", "/api/v1/admin/jobs/to-cancel").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let job = answer.json();
    assert_eq!(job["id"], "to-cancel");
    assert_eq!(job["status"], "cancelled");
    assert!(job["finished_at"].is_string(), "{job}");

    let stored = f.jobs.get("to-cancel").await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Cancelled);
    assert_eq!(queued_count(&f).await, 1, "it left the queued count");
    assert_eq!(ids(&f.list("status=cancelled").await), ["to-cancel"]);
    assert_eq!(ids(&f.list("status=queued").await), ["stays"]);
    let all = f.list("").await;
    assert_eq!(all["total"], 2);
    assert_eq!(ids(&all), ["stays", "to-cancel"]);

    let logs = f
        .admin(
            "GET",
            "/api/v1/admin/dashboard/audit-logs?action=job.cancel",
        )
        .await
        .json();
    assert_eq!(logs["total"], 1);
    let entry = &logs["items"][0];
    assert_eq!(entry["actor_id"], "root");
    assert_eq!(entry["resource_type"], "job");
    assert_eq!(entry["resource_id"], "to-cancel");
    assert_eq!(entry["details"]["after"]["status"], "cancelled");
}

/// A delivery whose job is cancelled is never sent: it ends `cancelled` in the same
/// transaction, and leaves the dashboard's pending webhooks.
#[tokio::test]
async fn cancelling_a_delivery_job_cancels_its_delivery() {
    let f = fixture().await;
    let webhooks = WebhookRepo::new(Table::new(f.env.clients.dynamodb.clone(), f.env.table()));
    let tenant = TenantId::new("acme");
    let delivery = aloft_testkit::delivery_record("d1");
    webhooks.create_delivery(&tenant, &delivery).await.unwrap();
    let job = JobRecord {
        id: "d1".into(),
        kind: "webhook.delivery".into(),
        queue: "jobs".into(),
        payload: r#"{"tenant":"acme","subscription_id":"s1","delivery_id":"d1"}"#.into(),
        status: JobStatus::Queued,
        attempts: 0,
        last_error: None,
        created_at: NOW.into(),
        updated_at: NOW.into(),
        finished_at: None,
        user_id: None,
        trace_id: None,
    };
    f.jobs.create(&job).await.unwrap();
    let pending = async || {
        let stats = f.admin("GET", "/api/v1/admin/dashboard/stats").await.json();
        stats["webhooks"]["pending"].clone()
    };
    assert_eq!(pending().await, 1);

    let answer = f.admin("DELETE", "/api/v1/admin/jobs/d1").await;

    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let stored = webhooks
        .delivery(&tenant, "s1", "d1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, "cancelled");
    assert_eq!(
        stored.updated_at,
        answer.json()["finished_at"].as_str().unwrap()
    );
    assert_eq!(pending().await, 0);
}

#[tokio::test]
async fn cancelling_a_job_that_is_not_queued_is_409_and_an_unknown_one_404() {
    let f = fixture().await;
    f.seed("running", "jobs", 1, JobStatus::Running).await;
    f.seed("done", "jobs", 2, JobStatus::Succeeded).await;
    f.seed("failing", "jobs", 3, JobStatus::Failed).await;
    f.seed("dead", "jobs", 4, JobStatus::Dead).await;
    f.seed("cancelled", "jobs", 5, JobStatus::Cancelled).await;

    for id in ["running", "done", "failing", "dead", "cancelled"] {
        let answer = f.admin("DELETE", &format!("/api/v1/admin/jobs/{id}")).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{id}: {}", answer.text);
        assert_eq!(answer.json()["error"]["code"], "CONFLICT");
    }
    assert_eq!(
        f.jobs.get("running").await.unwrap().unwrap().status,
        JobStatus::Running,
        "a refused cancel changes nothing"
    );
    let unknown = f.admin("DELETE", "/api/v1/admin/jobs/no-such-job").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    assert_eq!(unknown.json()["error"]["code"], "NOT_FOUND");
    // A cancelled job is not dead: there is nothing to retry.
    let retry = f.admin("POST", "/api/v1/admin/jobs/cancelled/retry").await;
    assert_eq!(retry.status, StatusCode::CONFLICT, "{}", retry.text);

    let logs = f
        .admin(
            "GET",
            "/api/v1/admin/dashboard/audit-logs?action=job.cancel",
        )
        .await
        .json();
    assert_eq!(logs["total"], 0, "refused cancels are not audited: {logs}");
    let as_user = oneshot::send(
        &f.app,
        oneshot::as_user("DELETE", "/api/v1/admin/jobs/running", "ann", None),
    )
    .await;
    assert_eq!(as_user.status, StatusCode::FORBIDDEN);
}
