//! The admin function's audit-log entry by id, the audit log's `resource_id` filter and
//! the list of active impersonations, against the local emulator. Entries are made the
//! way an admin makes them: by cancelling queued jobs seeded into the table.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_auth::Role;
use aloft_http::HttpConfig;
use aloft_store::{JobRecord, JobRepo, JobStatus, Table, UserRepo};
use aloft_testkit::{TestEnv, oneshot};
use axum::Router;
use http::StatusCode;
use serde_json::Value;

struct Fixture {
    _env: TestEnv,
    app: Router,
    table: Table,
}

async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let vars = env.env(&[("RATE_LIMIT_DEFAULT_PER_MINUTE", "100000")]);
    let app = fn_admin::router(
        fn_admin::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    Fixture {
        _env: env,
        app,
        table,
    }
}

impl Fixture {
    async fn call(&self, caller: (&str, Role), method: &str, path: &str) -> oneshot::Answer {
        let request = oneshot::as_role(method, path, caller.0, caller.1, None);
        oneshot::send(&self.app, request).await
    }

    async fn admin(&self, method: &str, path: &str) -> oneshot::Answer {
        self.call(("root", Role::Admin), method, path).await
    }

    /// Stores queued job `id` and has admin `root` cancel it: one `job.cancel` entry.
    async fn cancelled(&self, id: &str) {
        let job = JobRecord {
            id: id.to_owned(),
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
        };
        JobRepo::new(self.table.clone()).create(&job).await.unwrap();
        let answer = self
            .admin("DELETE", &format!("/api/v1/admin/jobs/{id}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }

    /// The entries of the audit log `query` lists, as `(action, resource_id)`.
    async fn listed(&self, query: &str) -> Vec<(String, String)> {
        let answer = self
            .admin(
                "GET",
                &format!("/api/v1/admin/dashboard/audit-logs?{query}"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.text);
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        answer.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (text(&e["action"]), text(&e["resource_id"])))
            .collect()
    }

    /// The active impersonations `caller` sees, as `(token_id, admin_id, user_id)`.
    async fn active(&self, caller: (&str, Role)) -> Vec<(String, String, String)> {
        let answer = self
            .call(caller, "GET", "/api/v1/admin/impersonate/active")
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        answer.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    text(&s["token_id"]),
                    text(&s["admin_id"]),
                    text(&s["user_id"]),
                )
            })
            .collect()
    }

    /// `admin` starts impersonating `user_id`: the token, and its id (the `jti` the
    /// audit log records as `token_id`).
    async fn impersonate(&self, admin: &str, user_id: &str) -> (String, String) {
        let body = format!(r#"{{"user_id": "{user_id}"}}"#);
        let request = oneshot::as_role(
            "POST",
            "/api/v1/admin/impersonate/start",
            admin,
            Role::Admin,
            Some(&body),
        );
        let started = oneshot::send(&self.app, request).await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.text);
        let token = started.json()["token"].as_str().unwrap().to_owned();
        let query = format!("action=impersonate.start&actor_id={admin}");
        let path = format!("/api/v1/admin/dashboard/audit-logs?{query}");
        let logs = self.call((admin, Role::Admin), "GET", &path).await.json();
        let token_id = logs["items"][0]["details"]["after"]["token_id"]
            .as_str()
            .unwrap()
            .to_owned();
        (token, token_id)
    }
}

#[tokio::test]
async fn an_audit_entry_is_read_by_its_id_and_an_unknown_one_is_404() {
    let f = fixture().await;
    f.cancelled("job-a").await;
    let page = f
        .admin(
            "GET",
            "/api/v1/admin/dashboard/audit-logs?action=job.cancel",
        )
        .await
        .json();
    let listed = &page["items"][0];
    let id = listed["id"].as_str().unwrap();

    let answer = f
        .admin("GET", &format!("/api/v1/admin/dashboard/audit-logs/{id}"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(&answer.json(), listed, "the entry as listed");
    let upper = id.to_uppercase();
    let v2 = f
        .admin(
            "GET",
            &format!("/api/v2/admin/dashboard/audit-logs/{upper}"),
        )
        .await;
    assert_eq!(v2.status, StatusCode::OK, "{}", v2.text);
    assert_eq!(v2.json()["data"]["resource_id"], "job-a");

    let unknown = [
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::new_v4().to_string(),
        "not-a-uuid".to_owned(),
    ];
    for id in unknown {
        let answer = f
            .admin("GET", &format!("/api/v1/admin/dashboard/audit-logs/{id}"))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{id}: {}",
            answer.text
        );
        assert_eq!(answer.json()["error"]["code"], "NOT_FOUND");
    }
    let as_user = oneshot::send(
        &f.app,
        oneshot::as_user(
            "GET",
            &format!("/api/v1/admin/dashboard/audit-logs/{id}"),
            "ann",
            None,
        ),
    )
    .await;
    assert_eq!(as_user.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn resource_id_narrows_every_kind_of_listing() {
    let f = fixture().await;
    f.cancelled("job-a").await;
    f.cancelled("job-b").await;
    let cancel = |id: &str| ("job.cancel".to_owned(), id.to_owned());

    // With each key the listing may read: the months (also bounded by time), the
    // resource type's, the action's and the actor's.
    for query in [
        "resource_id=job-a",
        "resource_id=job-a&resource_type=job",
        "resource_id=job-a&action=job.cancel",
        "resource_id=job-a&actor_id=root",
        "resource_id=job-a&until=2999-01-01T00:00:00Z",
    ] {
        assert_eq!(f.listed(query).await, [cancel("job-a")], "{query}");
    }
    assert_eq!(
        f.listed("action=job.cancel").await,
        [cancel("job-b"), cancel("job-a")]
    );
    assert!(f.listed("resource_id=job-c").await.is_empty());
    assert!(
        f.listed("resource_id=job-a&actor_id=someone-else")
            .await
            .is_empty()
    );
    let everything = f.listed("resource_id=&action=job.cancel").await;
    assert_eq!(everything.len(), 2, "an empty resource_id filters nothing");

    // A cursor is valid only with the resource_id that issued it.
    let first = f
        .admin(
            "GET",
            "/api/v1/admin/dashboard/audit-logs?action=job.cancel&limit=1",
        )
        .await
        .json();
    let cursor = first["next_cursor"].as_str().unwrap();
    let query = format!("action=job.cancel&resource_id=job-a&limit=1&cursor={cursor}");
    let path = format!("/api/v1/admin/dashboard/audit-logs?{query}");
    let other = f.admin("GET", &path).await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.text
    );
    assert_eq!(other.json()["error"]["details"]["field"], "cursor");
}

#[tokio::test]
async fn active_impersonations_are_the_callers_own_and_every_admins_for_a_superadmin() {
    let f = fixture().await;
    let users = UserRepo::new(f.table.clone());
    for id in ["target-1", "target-2"] {
        users.create(&aloft_testkit::user_record(id)).await.unwrap();
    }
    let root = ("root", Role::Admin);
    let ops = ("ops", Role::Admin);
    let boss = ("boss", Role::Superadmin);
    assert!(f.active(root).await.is_empty());

    let (root_token, root_session) = f.impersonate("root", "target-1").await;
    let (ops_token, ops_session) = f.impersonate("ops", "target-2").await;
    let of_root = (root_session, "root".to_owned(), "target-1".to_owned());
    let of_ops = (ops_session, "ops".to_owned(), "target-2".to_owned());
    assert_eq!(f.active(root).await, std::slice::from_ref(&of_root));
    assert_eq!(f.active(ops).await, std::slice::from_ref(&of_ops));
    let mut every = f.active(boss).await;
    every.sort();
    let mut expected = vec![of_root, of_ops.clone()];
    expected.sort();
    assert_eq!(every, expected);

    let answer = f
        .call(root, "GET", "/api/v1/admin/impersonate/active")
        .await
        .json();
    let session = &answer["items"][0];
    let started = session["started_at"].as_str().unwrap();
    let expires = session["expires_at"].as_str().unwrap();
    assert!(
        started.ends_with('Z') && expires.ends_with('Z'),
        "{session}"
    );
    assert!(started < expires, "{session}");

    // Stopped: no longer active.
    let stop = http::Request::builder()
        .method("POST")
        .uri("/api/v1/admin/impersonate/stop")
        .header("authorization", format!("Bearer {root_token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(oneshot::send(&f.app, stop).await.status, StatusCode::OK);
    assert!(f.active(root).await.is_empty());
    assert_eq!(f.active(boss).await, [of_ops]);

    // Not for users, nor with an impersonation token.
    let as_user = oneshot::send(
        &f.app,
        oneshot::as_user("GET", "/api/v1/admin/impersonate/active", "ann", None),
    )
    .await;
    assert_eq!(as_user.status, StatusCode::FORBIDDEN);
    let impersonating = http::Request::builder()
        .uri("/api/v1/admin/impersonate/active")
        .header("authorization", format!("Bearer {ops_token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let answer = oneshot::send(&f.app, impersonating).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
}
