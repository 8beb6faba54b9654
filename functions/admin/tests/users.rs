//! The admin function's user and stats routes against the local emulator: the directory,
//! the role rules, deactivation refusing a user's unexpired token and API key at the
//! guard, and the dashboard counters after concurrent registrations.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_auth::Role;
use aloft_http::HttpConfig;
use aloft_store::{ApiKeyRecord, ApiKeyRepo, BillingChange, Table, UserRepo};
use aloft_testkit::{TestEnv, oneshot};
use axum::{Router, body::Body};
use http::{Request, StatusCode};
use serde_json::Value;

struct Fixture {
    _env: TestEnv,
    app: Router,
    users: UserRepo,
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
        users: UserRepo::new(table.clone()),
        table,
    }
}

impl Fixture {
    /// Stores user `id`, created at second `second` of 2026-01-01, with `role`.
    async fn seed(&self, id: &str, second: u32, role: Role) {
        let mut user = aloft_testkit::user_record(id);
        user.created_at = format!("2026-01-01T00:00:{second:02}Z");
        user.full_name = Some(format!("Person {id}"));
        user.role = role.as_str().into();
        self.users.create(&user).await.unwrap();
    }

    async fn call(
        &self,
        caller: (&str, Role),
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> oneshot::Answer {
        let request = oneshot::as_role(method, path, caller.0, caller.1, body);
        oneshot::send(&self.app, request).await
    }
}

const ADMIN: (&str, Role) = ("boss", Role::Admin);
const ROOT: (&str, Role) = ("root", Role::Superadmin);

fn ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_directory_filters_searches_and_pages_newest_first() {
    let f = fixture().await;
    f.seed("ann", 1, Role::User).await;
    f.seed("bob", 2, Role::Admin).await;
    f.seed("cy", 3, Role::User).await;
    let list = |query: &'static str| f.call(ADMIN, "GET", query, None);

    let all = list("/api/v1/admin/users").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let all = all.json();
    assert_eq!(ids(&all), ["cy", "bob", "ann"]);
    assert_eq!(all["total"], 3);
    assert!(all["items"][0].get("password_hash").is_none());

    let admins = list("/api/v1/admin/users?role=admin").await.json();
    assert_eq!(ids(&admins), ["bob"]);
    let found = list("/api/v1/admin/users?search=PERSON%20C").await.json();
    assert_eq!(
        ids(&found),
        ["cy"],
        "search is case-insensitive on the name"
    );
    let by_email = list("/api/v1/admin/users?search=ann@").await.json();
    assert_eq!(ids(&by_email), ["ann"]);
    let second = list("/api/v1/admin/users?skip=1&limit=1").await.json();
    assert_eq!(
        (ids(&second), second["total"].as_u64()),
        (vec!["bob"], Some(3))
    );
    assert_eq!(
        list("/api/v1/admin/users?plan=platinum").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let inactive = list("/api/v1/admin/users?is_active=false").await.json();
    assert_eq!(inactive["total"], 0);

    let one = f.call(ADMIN, "GET", "/api/v1/admin/users/ann", None).await;
    assert_eq!(one.json()["email"], "ann@example.com");
    let missing = f
        .call(ADMIN, "GET", "/api/v1/admin/users/nobody", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Longer than any DynamoDB key: no such user, not the store's validation error.
    let too_long = format!("/api/v1/admin/users/{}", "u".repeat(3000));
    let missing = f.call(ADMIN, "GET", &too_long, None).await;
    assert_eq!(
        missing.status,
        StatusCode::NOT_FOUND,
        "{:?}",
        missing.json()
    );
}

#[tokio::test]
async fn only_a_superadmin_changes_admin_roles_and_nobody_demotes_themselves() {
    let f = fixture().await;
    f.seed("ann", 1, Role::User).await;
    f.seed("bob", 2, Role::Admin).await;
    f.seed("root", 3, Role::Superadmin).await;
    let patch = async |caller, id: &str, body: &str| {
        let path = format!("/api/v1/admin/users/{id}");
        f.call(caller, "PATCH", &path, Some(body)).await
    };

    let promote = r#"{"role": "admin"}"#;
    assert_eq!(
        patch(ADMIN, "ann", promote).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.call(ADMIN, "POST", "/api/v1/admin/users/bob/deactivate", None)
            .await
            .status,
        StatusCode::FORBIDDEN,
        "an admin does not change another admin"
    );
    let promoted = patch(ROOT, "ann", promote).await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    assert_eq!(promoted.json()["role"], "admin");
    let demoted = patch(ROOT, "bob", r#"{"role": "user", "plan": "pro"}"#).await;
    assert_eq!(demoted.json()["role"], "user");
    assert_eq!(demoted.json()["subscription_plan"], "pro");

    assert_eq!(
        patch(ROOT, "root", r#"{"role": "admin"}"#).await.status,
        StatusCode::FORBIDDEN,
        "no self-demotion"
    );
    assert_eq!(
        f.call(ROOT, "POST", "/api/v1/admin/users/root/deactivate", None)
            .await
            .status,
        StatusCode::FORBIDDEN,
        "no self-deactivation"
    );
    let renamed = patch(ROOT, "root", r#"{"full_name": "Root"}"#).await;
    assert_eq!(renamed.status, StatusCode::OK);

    for bad in [
        r#"{"role": "owner"}"#,
        r#"{"plan": "platinum"}"#,
        r#"{"email": "x@example.com"}"#,
    ] {
        let answer = patch(ROOT, "ann", bad).await;
        assert!(answer.status.is_client_error(), "{bad}: {}", answer.status);
        assert_ne!(answer.status, StatusCode::FORBIDDEN, "{bad}");
    }

    let logs = f
        .call(
            ADMIN,
            "GET",
            "/api/v1/admin/dashboard/audit-logs?action=user.role_change",
            None,
        )
        .await
        .json();
    let changes: Vec<_> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let (before, after) = (&e["details"]["before"], &e["details"]["after"]);
            (
                e["actor_id"].as_str().unwrap().to_owned(),
                e["resource_id"].as_str().unwrap().to_owned(),
                before["role"].as_str().unwrap().to_owned(),
                after["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("root", "bob", "admin", "user"),
        ("root", "ann", "user", "admin"),
    ]
    .map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d.into()));
    assert_eq!(changes, expected, "newest first, with before and after");
}

#[tokio::test]
async fn deactivation_refuses_the_users_unexpired_token_and_api_key_at_the_guard() {
    let f = fixture().await;
    f.seed("ann", 1, Role::User).await;
    let (key_id, api_key, secret_hash) = aloft_auth::new_api_key().unwrap();
    ApiKeyRepo::new(f.table.clone())
        .create(&ApiKeyRecord {
            id: key_id,
            user_id: "ann".into(),
            tenant_id: "tenant-ann".into(),
            member_role: None,
            role: "user".into(),
            plan: "free".into(),
            scopes: vec!["read".into(), "write".into(), "admin".into()],
            expires_at: None,
            last_used_at: None,
            name: "ci".into(),
            prefix: "x".into(),
            secret_hash,
            created_at: "2026-01-01T00:00:00Z".into(),
            disabled: false,
        })
        .await
        .unwrap();
    // Ann's own requests reach the handler (which answers a plain user 403) until she is
    // deactivated; then the guard refuses them (401) before any handler runs.
    let as_ann = || f.call(("ann", Role::User), "GET", "/api/v1/admin/jobs", None);
    let with_key = || {
        let request = Request::get("/api/v1/admin/jobs")
            .header("x-api-key", api_key.as_str())
            .body(Body::empty())
            .unwrap();
        oneshot::send(&f.app, request)
    };
    assert_eq!(as_ann().await.status, StatusCode::FORBIDDEN);
    assert_eq!(with_key().await.status, StatusCode::FORBIDDEN);

    let deactivated = f
        .call(ADMIN, "POST", "/api/v1/admin/users/ann/deactivate", None)
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.text);
    assert_eq!(deactivated.json()["is_active"], false);
    let refused = as_ann().await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    assert!(refused.text.contains("deactivated"), "{}", refused.text);
    assert_eq!(with_key().await.status, StatusCode::UNAUTHORIZED);
    let again = f
        .call(ADMIN, "POST", "/api/v1/admin/users/ann/deactivate", None)
        .await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "deactivating twice is harmless"
    );

    let activated = f
        .call(ADMIN, "POST", "/api/v1/admin/users/ann/activate", None)
        .await;
    assert_eq!(activated.json()["is_active"], true);
    assert_eq!(as_ann().await.status, StatusCode::FORBIDDEN);
    assert_eq!(with_key().await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn stats_counters_are_exact_after_fifty_concurrent_registrations() {
    let f = fixture().await;
    let mut registrations = tokio::task::JoinSet::new();
    for i in 0..50 {
        let users = f.users.clone();
        registrations.spawn(async move {
            let mut user = aloft_testkit::user_record(&format!("user-{i}"));
            user.created_at = aloft_core::timestamp::now();
            users.create(&user).await.unwrap();
        });
    }
    registrations.join_all().await;
    // Ten upgrade concurrently (billing events), then one is deactivated and one moved
    // to enterprise by an admin; a replayed billing event changes nothing.
    let upgrade = BillingChange {
        plan: Some("pro".into()),
        status: Some("active".into()),
        ..BillingChange::default()
    };
    let mut upgrades = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (users, upgrade) = (f.users.clone(), upgrade.clone());
        upgrades.spawn(async move {
            let now = aloft_core::timestamp::now();
            let id = format!("user-{i}");
            users.apply_billing(&id, &upgrade, 100, &now).await.unwrap();
            users.apply_billing(&id, &upgrade, 99, &now).await.unwrap();
        });
    }
    upgrades.join_all().await;
    let deactivate = "/api/v1/admin/users/user-20/deactivate";
    assert_eq!(
        f.call(ADMIN, "POST", deactivate, None).await.status,
        StatusCode::OK
    );
    let patch = f
        .call(
            ADMIN,
            "PATCH",
            "/api/v1/admin/users/user-21",
            Some(r#"{"plan": "enterprise"}"#),
        )
        .await;
    assert_eq!(patch.status, StatusCode::OK, "{}", patch.text);

    let stats = f
        .call(ADMIN, "GET", "/api/v1/admin/dashboard/stats", None)
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
    let stats = stats.json();
    assert_eq!(
        stats["users"],
        serde_json::json!({"total": 50, "active": 49, "new_last_7_days": 50, "new_last_30_days": 50})
    );
    assert_eq!(
        stats["subscriptions"],
        serde_json::json!({"active": 10, "by_plan": {"free": 39, "pro": 10, "enterprise": 1}})
    );
    assert_eq!(
        stats["webhooks"],
        serde_json::json!({"total": 0, "failed": 0, "pending": 0})
    );
    let as_user = f
        .call(
            ("ann", Role::User),
            "GET",
            "/api/v1/admin/dashboard/stats",
            None,
        )
        .await;
    assert_eq!(as_user.status, StatusCode::FORBIDDEN);
}
