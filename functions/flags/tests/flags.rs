//! The flag routes against the local emulator: admins' CRUD and its field rules, reads by
//! id and key, the targeted edits (enable, disable, add or remove a user) with `If-Match`
//! and their audit entries, every type's reasons and expiry, the role matrix,
//! Unleash-compatible bucketing, and the per-instance cache seen from several `AppState`s
//! (warm instances) on one table.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_auth::Role;
use aloft_http::HttpConfig;
use aloft_store::{AuditEntry, AuditLog, AuditQuery, Table, UserRepo};
use aloft_testkit::{
    TestEnv,
    oneshot::{self, Answer, as_role, as_user},
    user_record,
};
use axum::{Router, body::Body};
use fn_flags::evaluate::{Reason, evaluate};
use http::{HeaderValue, Request, StatusCode, header};
use serde_json::{Value, json};
use time::OffsetDateTime;

struct Fixture {
    env: TestEnv,
    app: Router,
}

/// One warm instance of the function on `env`'s table, caching flags for `seconds`.
async fn instance(env: &TestEnv, seconds: &str) -> Router {
    // Limits are the guard's business; these tests send many requests as one admin.
    let vars = env.env(&[
        ("FEATURE_FLAGS_CACHE_SECONDS", seconds),
        ("RATE_LIMITS_ENABLED", "false"),
    ]);
    fn_flags::router(
        fn_flags::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    )
}

/// A fresh table and an instance that does not cache, so every write shows at once.
async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let app = instance(&env, "0").await;
    Fixture { env, app }
}

async fn send(app: &Router, role: Role, method: &str, path: &str, body: Option<Value>) -> Answer {
    let body = body.map(|b| b.to_string());
    let request = as_role(method, path, "boss", role, body.as_deref());
    oneshot::send(app, request).await
}

impl Fixture {
    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        send(&self.app, Role::Admin, method, path, body).await
    }

    /// Creates a flag; returns it.
    async fn create(&self, body: Value) -> Value {
        let answer = self
            .admin("POST", "/api/v1/admin/feature-flags", Some(body))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.json()
    }

    async fn patch(&self, id: &Value, body: Value) -> Answer {
        let path = format!("/api/v1/admin/feature-flags/{}", id.as_str().unwrap());
        self.admin("PATCH", &path, Some(body)).await
    }

    /// `GET .../feature-flags/{id}` of `flag`.
    async fn read(&self, flag: &Value) -> Answer {
        let id = flag["id"].as_str().unwrap();
        let path = format!("/api/v1/admin/feature-flags/{id}");
        self.admin("GET", &path, None).await
    }

    /// A targeted `edit` of `flag` (`enable`, `add-user`, …), without `If-Match`.
    async fn edit(&self, flag: &Value, edit: &str, body: Option<Value>) -> Answer {
        self.admin("POST", &edit_path(flag, edit), body).await
    }

    /// A targeted `edit` of `flag` based on the version `etag` names.
    async fn edit_if_match(
        &self,
        flag: &Value,
        edit: &str,
        etag: &str,
        body: Option<Value>,
    ) -> Answer {
        let body = body.map(|b| b.to_string());
        let path = edit_path(flag, edit);
        let mut request = as_role("POST", &path, "boss", Role::Admin, body.as_deref());
        request
            .headers_mut()
            .insert(header::IF_MATCH, HeaderValue::from_str(etag).unwrap());
        oneshot::send(&self.app, request).await
    }

    /// `check` for `user`: (is_enabled, reason).
    async fn check(&self, key: &str, user: &str) -> (bool, String) {
        check_on(&self.app, key, user).await
    }
}

async fn check_on(app: &Router, key: &str, user: &str) -> (bool, String) {
    let path = format!("/api/v1/admin/feature-flags/{key}/check?user_id={user}");
    let answer = send(app, Role::Admin, "GET", &path, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
    let body = answer.json();
    assert_eq!(body["flag_key"], key);
    (
        body["is_enabled"].as_bool().unwrap(),
        body["reason"].as_str().unwrap().to_owned(),
    )
}

/// The caller's `GET /app/feature-flags`.
async fn flags_of(app: &Router, user: &str) -> Value {
    let answer = oneshot::send(app, as_user("GET", "/api/v1/app/feature-flags", user, None)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()["flags"].clone()
}

fn boolean(key: &str, on: bool) -> Value {
    json!({"key": key, "name": key, "flag_type": "boolean", "is_enabled": on})
}

fn percentage(key: &str, percentage: u32) -> Value {
    json!({"key": key, "name": key, "flag_type": "percentage", "percentage": percentage, "is_enabled": true})
}

fn user_list(key: &str, users: &[&str]) -> Value {
    json!({"key": key, "name": key, "flag_type": "user_list", "user_ids": users, "is_enabled": true})
}

/// `{"user_id": id}`, the body of `add-user` and `remove-user`.
fn user_body(id: &str) -> Option<Value> {
    Some(json!({"user_id": id}))
}

/// The path of one of `flag`'s targeted edits: `enable`, `disable`, `add-user`, ….
fn edit_path(flag: &Value, edit: &str) -> String {
    format!(
        "/api/v1/admin/feature-flags/{}/{edit}",
        flag["id"].as_str().unwrap()
    )
}

/// The body of a 200; a panic with what came instead.
fn ok(answer: Answer) -> Value {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()
}

/// The flag entries of the audit log on `env`'s table, newest first.
async fn flag_audit(env: &TestEnv) -> Vec<AuditEntry> {
    let log = AuditLog::new(Table::new(env.clients.dynamodb.clone(), env.table()));
    let query = AuditQuery {
        resource_type: Some("flag".into()),
        limit: 10,
        ..Default::default()
    };
    log.list(&query).await.unwrap().items
}

/// An audit entry's `before` and `after`, as JSON.
fn before_and_after(entry: &AuditEntry) -> (Value, Value) {
    let before: Value = serde_json::from_str(entry.before.as_deref().unwrap()).unwrap();
    let after: Value = serde_json::from_str(entry.after.as_deref().unwrap()).unwrap();
    (before, after)
}

#[tokio::test]
async fn admins_create_list_update_and_delete_flags() {
    let f = fixture().await;
    let created = f
        .create(json!({
            "key": "beta_feature", "name": "Beta Feature", "description": "New experimental feature",
            "flag_type": "percentage", "percentage": 10, "is_enabled": true
        }))
        .await;
    assert_eq!(created["key"], "beta_feature");
    assert_eq!(created["percentage"], 10);
    assert_eq!(created["user_ids"], json!([]));
    assert_eq!(created["version"], 1);
    let id = created["id"].clone();
    uuid::Uuid::parse_str(id.as_str().unwrap()).unwrap();
    f.create(boolean("another", false)).await;

    let list = f.admin("GET", "/api/v1/admin/feature-flags", None).await;
    let list = list.json();
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["key"], "another", "sorted by key");
    assert_eq!(list["items"][1]["description"], "New experimental feature");
    let v2 = f
        .admin("GET", "/api/v2/admin/feature-flags?limit=1", None)
        .await;
    assert_eq!(v2.json()["data"]["items"].as_array().unwrap().len(), 1);

    let updated = f
        .patch(&id, json!({"percentage": 50, "description": null}))
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.headers[header::ETAG], "\"2\"");
    let updated = updated.json();
    assert_eq!(updated["percentage"], 50);
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["name"], "Beta Feature", "untouched fields stay");

    let path = format!("/api/v1/admin/feature-flags/{}", id.as_str().unwrap());
    assert_eq!(
        f.admin("DELETE", &path, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        f.check("beta_feature", "u1").await,
        (false, "not_found".into())
    );
    assert_eq!(
        f.admin("DELETE", &path, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.patch(&id, json!({"is_enabled": false})).await.status,
        StatusCode::NOT_FOUND
    );
    for unknown in [
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
        "x".repeat(3000).as_str(),
    ] {
        let path = format!("/api/v1/admin/feature-flags/{unknown}");
        assert_eq!(
            f.admin("DELETE", &path, None).await.status,
            StatusCode::NOT_FOUND,
            "{unknown}"
        );
    }
    // The key is free again once its flag is gone.
    f.create(boolean("beta_feature", true)).await;
}

#[tokio::test]
async fn a_duplicate_key_is_a_conflict() {
    let f = fixture().await;
    f.create(boolean("dark-mode", true)).await;
    let again = f
        .admin(
            "POST",
            "/api/v1/admin/feature-flags",
            Some(percentage("dark-mode", 5)),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.json()["error"]["code"], "CONFLICT");
    let list = f
        .admin("GET", "/api/v1/admin/feature-flags", None)
        .await
        .json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["flag_type"], "boolean");
}

#[tokio::test]
async fn every_broken_field_rule_is_422_naming_the_field() {
    let f = fixture().await;
    let base = boolean("ok", true);
    let with = |fields: &[(&str, Value)]| {
        let mut body = base.clone();
        for (field, value) in fields {
            body[*field] = value.clone();
        }
        body
    };
    let cases = [
        (json!({"name": "x", "flag_type": "boolean"}), "key"),
        (with(&[("key", json!("Has Caps"))]), "key"),
        (with(&[("key", json!("x".repeat(65)))]), "key"),
        (with(&[("key", json!(7))]), "key"),
        (json!({"key": "k", "flag_type": "boolean"}), "name"),
        (with(&[("name", json!("   "))]), "name"),
        (with(&[("flag_type", json!("sometimes"))]), "flag_type"),
        (with(&[("flag_type", json!("percentage"))]), "percentage"),
        (
            with(&[
                ("flag_type", json!("percentage")),
                ("percentage", json!(101)),
            ]),
            "percentage",
        ),
        (with(&[("percentage", json!(-1))]), "percentage"),
        (with(&[("percentage", json!("half"))]), "percentage"),
        (with(&[("flag_type", json!("user_list"))]), "user_ids"),
        (with(&[("user_ids", json!(vec!["u"; 101]))]), "user_ids"),
        (with(&[("flag_type", json!("plan_based"))]), "plans"),
        (with(&[("plans", json!(["gold"]))]), "plans"),
        (with(&[("expires_at", json!("next tuesday"))]), "expires_at"),
    ];
    for (body, field) in cases {
        let answer = f
            .admin("POST", "/api/v1/admin/feature-flags", Some(body.clone()))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.text
        );
        let error = &answer.json()["error"];
        assert_eq!(error["code"], "VALIDATION_ERROR");
        assert_eq!(error["details"]["field"], field, "{body}: {}", answer.text);
    }

    let flag = f.create(base).await;
    for (change, field) in [
        (json!({"key": "renamed"}), "key"),
        (json!({"flag_type": "percentage"}), "percentage"),
        (json!({"flag_type": "plan_based", "plans": []}), "plans"),
        (json!({"name": ""}), "name"),
    ] {
        let answer = f.patch(&flag["id"], change.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{change}: {}",
            answer.text
        );
        assert_eq!(
            answer.json()["error"]["details"]["field"],
            field,
            "{change}"
        );
    }
    let malformed = Request::post("/api/v1/admin/feature-flags")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", aloft_testkit::token_for("boss", Role::Admin)),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"key\": "))
        .unwrap();
    assert_eq!(
        oneshot::send(&f.app, malformed).await.status,
        StatusCode::BAD_REQUEST
    );
    let no_user = f
        .admin("GET", "/api/v1/admin/feature-flags/ok/check", None)
        .await;
    assert_eq!(no_user.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_user.json()["error"]["details"]["field"], "user_id");
}

#[tokio::test]
async fn each_type_answers_with_its_reason() {
    let f = fixture().await;
    let users = UserRepo::new(Table::new(f.env.clients.dynamodb.clone(), f.env.table()));
    let mut pro = user_record("pro-user");
    pro.subscription_plan = "pro".into();
    users.create(&pro).await.unwrap();
    users.create(&user_record("free-user")).await.unwrap();

    f.create(boolean("on", true)).await;
    f.create(boolean("off", false)).await;
    f.create(percentage("everyone", 100)).await;
    f.create(percentage("nobody", 0)).await;
    f.create(json!({"key": "listed", "name": "L", "flag_type": "user_list", "user_ids": ["ann"], "is_enabled": true}))
        .await;
    f.create(json!({"key": "paid", "name": "P", "flag_type": "plan_based", "plans": ["pro", "enterprise"], "is_enabled": true}))
        .await;

    let expect = [
        ("on", "ann", true, "boolean"),
        ("off", "ann", false, "disabled"),
        ("everyone", "ann", true, "percentage_rollout"),
        ("nobody", "ann", false, "percentage_rollout"),
        ("listed", "ann", true, "user_list"),
        ("listed", "bob", false, "user_list"),
        ("paid", "pro-user", true, "plan_based"),
        ("paid", "free-user", false, "plan_based"),
        ("paid", "no-such-user", false, "plan_based"),
        ("missing", "ann", false, "not_found"),
    ];
    for (key, user, on, reason) in expect {
        assert_eq!(
            f.check(key, user).await,
            (on, reason.to_owned()),
            "{key} for {user}"
        );
    }
    // The caller's own view agrees (a free plan in the token).
    let mine = flags_of(&f.app, "ann").await;
    assert_eq!(
        mine,
        json!({"on": true, "off": false, "everyone": true, "nobody": false, "listed": true, "paid": false})
    );
    let v2 = oneshot::send(
        &f.app,
        as_user("GET", "/api/v2/app/feature-flags", "bob", None),
    )
    .await;
    assert_eq!(v2.json()["data"]["flags"]["listed"], false);
}

#[tokio::test]
async fn an_expired_flag_is_off_with_reason_expired() {
    let f = fixture().await;
    let mut body = boolean("launch", true);
    body["expires_at"] = json!("2020-01-01T00:00:00Z");
    let flag = f.create(body).await;
    assert_eq!(flag["expires_at"], "2020-01-01T00:00:00Z");
    assert_eq!(f.check("launch", "ann").await, (false, "expired".into()));
    assert_eq!(flags_of(&f.app, "ann").await["launch"], false);

    let later = f
        .patch(
            &flag["id"],
            json!({"expires_at": "2999-01-01T00:00:00+02:00"}),
        )
        .await;
    assert_eq!(later.json()["expires_at"], "2998-12-31T22:00:00Z");
    assert_eq!(f.check("launch", "ann").await, (true, "boolean".into()));
    let cleared = f.patch(&flag["id"], json!({"expires_at": null})).await;
    assert_eq!(cleared.json()["expires_at"], Value::Null);
    assert_eq!(f.check("launch", "ann").await, (true, "boolean".into()));
}

#[tokio::test]
async fn users_are_refused_admin_routes_and_admins_are_served() {
    let f = fixture().await;
    let flag = f.create(boolean("matrix", true)).await;
    let id = flag["id"].as_str().unwrap();
    for role in [Role::User, Role::Admin, Role::Superadmin] {
        let key = format!("made-by-{}", role.as_str());
        let created = send(
            &f.app,
            role,
            "POST",
            "/api/v1/admin/feature-flags",
            Some(boolean(&key, true)),
        )
        .await;
        let created_id = created.json()["id"].as_str().map(str::to_owned);
        let item = format!("/api/v1/admin/feature-flags/{id}");
        let answers = [
            created.status,
            send(&f.app, role, "GET", "/api/v1/admin/feature-flags", None)
                .await
                .status,
            send(
                &f.app,
                role,
                "PATCH",
                &item,
                Some(json!({"name": "renamed"})),
            )
            .await
            .status,
            send(
                &f.app,
                role,
                "GET",
                "/api/v1/admin/feature-flags/matrix/check?user_id=u",
                None,
            )
            .await
            .status,
        ];
        for status in answers {
            if role == Role::User {
                assert_eq!(status, StatusCode::FORBIDDEN);
            } else {
                assert!(status.is_success(), "{role:?}: {status}");
            }
        }
        let doomed = created_id.unwrap_or_else(|| id.to_owned());
        let deleted = send(
            &f.app,
            role,
            "DELETE",
            &format!("/api/v1/admin/feature-flags/{doomed}"),
            None,
        )
        .await;
        let expected = if role == Role::User {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NO_CONTENT
        };
        assert_eq!(deleted.status, expected, "{role:?}");
        let mine = send(&f.app, role, "GET", "/api/v1/app/feature-flags", None).await;
        assert_eq!(mine.status, StatusCode::OK, "{role:?}");
    }
    let anonymous = oneshot::get(&f.app, "/api/v1/app/feature-flags").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let anonymous = oneshot::get(&f.app, "/api/v1/admin/feature-flags").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// (flag key, user id, bucket) from `tests/murmur3_reference.py`; `gr1:123` is a pair
/// Unleash's own clients assert (its other one, `groupX`, is not a valid key here).
const BUCKETS: [(&str, &str, u32); 6] = [
    ("gr1", "123", 73),
    ("e2e-rollout", "synthetic-0", 30),
    ("new_dashboard", "user_123", 51),
    ("beta_feature", "user_123", 35),
    ("checkout.v2", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 78),
    ("dark-mode", "42", 4),
];

#[tokio::test]
async fn bucketing_matches_the_reference_vectors_and_is_stable() {
    let f = fixture().await;
    for (key, _, bucket) in BUCKETS {
        f.create(percentage(key, bucket)).await;
    }
    for _ in 0..3 {
        for (key, user, _) in BUCKETS {
            assert_eq!(
                f.check(key, user).await,
                (true, "percentage_rollout".into()),
                "{key}:{user}"
            );
        }
    }
    assert_eq!(flags_of(&f.app, "user_123").await["new_dashboard"], true);
    // One point lower, each user falls just outside.
    let list = f
        .admin("GET", "/api/v1/admin/feature-flags", None)
        .await
        .json();
    for flag in list["items"].as_array().unwrap() {
        let (_, _, bucket) = BUCKETS.iter().find(|(k, _, _)| flag["key"] == *k).unwrap();
        let answer = f
            .patch(&flag["id"], json!({"percentage": bucket - 1}))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    for (key, user, _) in BUCKETS {
        assert_eq!(
            f.check(key, user).await,
            (false, "percentage_rollout".into()),
            "{key}:{user}"
        );
    }
    assert_eq!(flags_of(&f.app, "user_123").await["new_dashboard"], false);
}

#[tokio::test]
async fn a_rollout_over_1000_users_lands_within_5_points_of_its_percentage() {
    let f = fixture().await;
    let now = OffsetDateTime::now_utc();
    let users: Vec<String> = (0..1000).map(|i| format!("synthetic-{i}")).collect();
    for share in [5_u8, 10, 25, 50, 75, 90] {
        let key = format!("rollout-{share}");
        let created = f.create(percentage(&key, u32::from(share))).await;
        let flags = f
            .admin("GET", "/api/v1/admin/feature-flags", None)
            .await
            .json();
        assert!(
            flags["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["id"] == created["id"])
        );
        let record = aloft_store::FlagRecord {
            id: created["id"].as_str().unwrap().into(),
            key: key.clone(),
            name: key.clone(),
            description: None,
            flag_type: "percentage".into(),
            is_enabled: true,
            percentage: Some(share),
            user_ids: vec![],
            plans: vec![],
            expires_at: None,
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
        };
        let on = users
            .iter()
            .filter(|user| {
                evaluate(Some(&record), user, None, now) == (true, Reason::PercentageRollout)
            })
            .count();
        let expected = usize::from(share) * 10;
        assert!(on.abs_diff(expected) <= 50, "{share}%: {on} of 1000");
        // The route answers with the same evaluation.
        for user in users.iter().step_by(97) {
            let direct = evaluate(Some(&record), user, None, now).0;
            assert_eq!(f.check(&key, user).await.0, direct, "{key}:{user}");
        }
    }
}

#[tokio::test]
async fn without_a_cache_another_instances_change_shows_at_once() {
    let f = fixture().await;
    let writer = instance(&f.env, "0").await;
    assert_eq!(flags_of(&f.app, "ann").await, json!({}));
    let flag = send(
        &writer,
        Role::Admin,
        "POST",
        "/api/v1/admin/feature-flags",
        Some(boolean("fresh", true)),
    )
    .await;
    assert_eq!(flag.status, StatusCode::CREATED);
    assert_eq!(flags_of(&f.app, "ann").await, json!({"fresh": true}));
    let path = format!(
        "/api/v1/admin/feature-flags/{}",
        flag.json()["id"].as_str().unwrap()
    );
    send(
        &writer,
        Role::Admin,
        "PATCH",
        &path,
        Some(json!({"is_enabled": false})),
    )
    .await;
    assert_eq!(flags_of(&f.app, "ann").await, json!({"fresh": false}));
    assert_eq!(
        check_on(&f.app, "fresh", "ann").await,
        (false, "disabled".into())
    );
}

#[tokio::test]
async fn a_cached_instance_keeps_its_copy_until_the_ttl_but_its_own_writes_show_at_once() {
    let f = fixture().await;
    let cached = instance(&f.env, "3600").await;
    let flag = f.create(boolean("sticky", true)).await;
    assert_eq!(flags_of(&cached, "ann").await, json!({"sticky": true}));

    // Another instance switches it off: this one has not seen that yet.
    assert_eq!(
        f.patch(&flag["id"], json!({"is_enabled": false}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(flags_of(&cached, "ann").await, json!({"sticky": true}));
    assert_eq!(
        check_on(&cached, "sticky", "ann").await,
        (true, "boolean".into())
    );
    assert_eq!(f.check("sticky", "ann").await, (false, "disabled".into()));

    // A write through this instance clears its copy at once.
    let id = flag["id"].as_str().unwrap();
    let path = format!("/api/v1/admin/feature-flags/{id}");
    let patched = send(
        &cached,
        Role::Admin,
        "PATCH",
        &path,
        Some(json!({"name": "Sticky"})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(flags_of(&cached, "ann").await, json!({"sticky": false}));
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_a_fresh_one_applies() {
    let f = fixture().await;
    let flag = f.create(percentage("guarded", 10)).await;
    let path = format!(
        "/api/v1/admin/feature-flags/{}",
        flag["id"].as_str().unwrap()
    );
    let with_etag = |etag: &str, body: Value| {
        Request::patch(&path)
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", aloft_testkit::token_for("boss", Role::Admin)),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::IF_MATCH, etag)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let first = oneshot::send(&f.app, with_etag("\"1\"", json!({"percentage": 20}))).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    // A second admin still editing version 1 does not overwrite the first one's change.
    let second = oneshot::send(&f.app, with_etag("\"1\"", json!({"percentage": 30}))).await;
    assert_eq!(
        second.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        second.text
    );
    let now = f
        .admin("GET", "/api/v1/admin/feature-flags", None)
        .await
        .json();
    assert_eq!(now["items"][0]["percentage"], 20);
    assert_eq!(now["items"][0]["version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_edits_never_silently_overwrite_each_other() {
    let f = fixture().await;
    let flag = f.create(percentage("raced", 10)).await;
    let path = format!(
        "/api/v1/admin/feature-flags/{}",
        flag["id"].as_str().unwrap()
    );
    let edits: Vec<_> = (0..8)
        .map(|i| {
            let body = if i % 2 == 0 {
                json!({"description": format!("edit {i}")})
            } else {
                json!({"is_enabled": false})
            };
            let (app, path) = (f.app.clone(), path.clone());
            tokio::spawn(async move {
                let answer = send(&app, Role::Admin, "PATCH", &path, Some(body)).await;
                (i, answer)
            })
        })
        .collect();
    let mut applied = Vec::new();
    for edit in edits {
        let (i, answer) = edit.await.unwrap();
        // A lost race is applied again to the newest version; only a run of losses is 409.
        match answer.status {
            StatusCode::OK => applied.push(i),
            StatusCode::CONFLICT => {}
            other => panic!("edit {i}: {other} {}", answer.text),
        }
    }
    let now = f
        .admin("GET", "/api/v1/admin/feature-flags", None)
        .await
        .json();
    let item = &now["items"][0];
    assert_eq!(
        item["version"],
        1 + applied.len(),
        "one version per applied edit"
    );
    assert_eq!(
        item["percentage"], 10,
        "no edit wrote a field it did not name"
    );
    if applied.iter().any(|i| i % 2 == 1) {
        assert_eq!(
            item["is_enabled"], false,
            "the switch survived the description edits"
        );
    }
    if applied.iter().any(|i| i % 2 == 0) {
        assert!(item["description"].as_str().unwrap().starts_with("edit "));
    }
}

#[tokio::test]
async fn a_malformed_cache_setting_is_named_at_start_up() {
    let env = TestEnv::new().await;
    let vars = env.env(&[("FEATURE_FLAGS_CACHE_SECONDS", "soon")]);
    let err = fn_flags::AppState::from_env(&vars).await.unwrap_err();
    assert!(
        err.to_string().contains("FEATURE_FLAGS_CACHE_SECONDS"),
        "{err}"
    );
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let f = fixture().await;
    let document = serde_json::to_value(fn_flags::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&f.app, &document).await;
}

#[tokio::test]
async fn the_flag_set_is_bounded_and_a_delete_frees_a_place() {
    let f = fixture().await;
    let mut last = Value::Null;
    for i in 0..aloft_store::MAX_FLAGS {
        last = f.create(boolean(&format!("flag-{i:03}"), true)).await;
    }
    let full = f
        .admin(
            "POST",
            "/api/v1/admin/feature-flags",
            Some(boolean("one-too-many", true)),
        )
        .await;
    assert_eq!(full.status, StatusCode::CONFLICT, "{}", full.text);
    assert!(
        full.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("100 flags")
    );

    let path = format!(
        "/api/v1/admin/feature-flags/{}",
        last["id"].as_str().unwrap()
    );
    assert_eq!(
        f.admin("DELETE", &path, None).await.status,
        StatusCode::NO_CONTENT
    );
    f.create(boolean("one-too-many", true)).await;
    let list = f
        .admin("GET", "/api/v1/admin/feature-flags?limit=100", None)
        .await;
    assert_eq!(list.json()["total"], aloft_store::MAX_FLAGS);
}

#[tokio::test]
async fn every_flag_change_is_in_the_audit_log() {
    let f = fixture().await;
    let flag = f.create(boolean("audited", true)).await;
    let id = flag["id"].as_str().unwrap();
    f.patch(&flag["id"], json!({"is_enabled": false})).await;
    let path = format!("/api/v1/admin/feature-flags/{id}");
    f.admin("DELETE", &path, None).await;

    let entries = flag_audit(&f.env).await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["flag.delete", "flag.update", "flag.create"]);
    assert!(
        entries
            .iter()
            .all(|e| e.actor_id == "boss" && e.resource_id.as_deref() == Some(id))
    );
    let (before, after) = before_and_after(&entries[1]);
    assert_eq!(
        (before["is_enabled"].clone(), after["is_enabled"].clone()),
        (json!(true), json!(false))
    );
}

#[tokio::test]
async fn admins_read_one_flag_by_id_or_by_key_with_its_etag() {
    let f = fixture().await;
    let flag = f.create(boolean("readable", true)).await;

    let by_id = f.read(&flag).await;
    assert_eq!(by_id.headers[header::ETAG], "\"1\"");
    assert_eq!(ok(by_id), flag);
    let by_key = f
        .admin("GET", "/api/v1/admin/feature-flags/key/readable", None)
        .await;
    assert_eq!(by_key.headers[header::ETAG], "\"1\"");
    assert_eq!(ok(by_key), flag);

    f.patch(&flag["id"], json!({"name": "Readable"})).await;
    let v2 = f
        .admin("GET", "/api/v2/admin/feature-flags/key/readable", None)
        .await;
    assert_eq!(v2.headers[header::ETAG], "\"2\"");
    assert_eq!(ok(v2)["data"]["name"], "Readable");
    // `check` still reaches the flag by key beside the literal `key` route.
    assert_eq!(f.check("readable", "ann").await, (true, "boolean".into()));

    let long_key = format!("key/{}", "x".repeat(3000));
    for unknown in [
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
        "key/missing",
        "key/Has%20Caps",
        long_key.as_str(),
    ] {
        let path = format!("/api/v1/admin/feature-flags/{unknown}");
        let answer = f.admin("GET", &path, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{unknown}");
        let error = answer.json()["error"].clone();
        assert_eq!(error["details"]["resource"], "FeatureFlag", "{unknown}");
    }
}

#[tokio::test]
async fn enable_and_disable_switch_a_flag_with_or_without_if_match() {
    let f = fixture().await;
    let flag = f.create(boolean("switch", false)).await;

    let on = f.edit(&flag, "enable", None).await;
    assert_eq!(on.headers[header::ETAG], "\"2\"");
    assert_eq!(ok(on)["is_enabled"], true);
    assert_eq!(f.check("switch", "ann").await, (true, "boolean".into()));
    // Already on: answered as it is, nothing written.
    let again = f.edit(&flag, "enable", None).await;
    assert_eq!(again.headers[header::ETAG], "\"2\"");
    assert_eq!(ok(again)["version"], 2);

    let off = f.edit_if_match(&flag, "disable", "\"2\"", None).await;
    assert_eq!(off.headers[header::ETAG], "\"3\"");
    assert_eq!(ok(off)["is_enabled"], false);
    assert_eq!(f.check("switch", "ann").await, (false, "disabled".into()));

    // A second admin still looking at version 2 does not switch it back on.
    let stale = f.edit_if_match(&flag, "enable", "\"2\"", None).await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.text
    );
    assert_eq!(stale.json()["error"]["code"], "PRECONDITION_FAILED");
    assert_eq!(ok(f.read(&flag).await)["is_enabled"], false);
    let fresh = f.edit_if_match(&flag, "enable", "\"3\"", None).await;
    assert_eq!(ok(fresh)["version"], 4);
    let malformed = f.edit_if_match(&flag, "disable", "\"x\"", None).await;
    assert_eq!(malformed.status, StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn adding_or_removing_a_user_twice_changes_the_flag_once() {
    let f = fixture().await;
    let flag = f.create(user_list("listed", &["ann"])).await;

    // Trimmed, and appended after the users already there.
    let added = ok(f.edit(&flag, "add-user", user_body(" bob ")).await);
    assert_eq!(added["user_ids"], json!(["ann", "bob"]));
    assert_eq!(added["version"], 2);
    assert_eq!(f.check("listed", "bob").await, (true, "user_list".into()));
    let again = ok(f.edit(&flag, "add-user", user_body("bob")).await);
    assert_eq!(again, added, "already there: nothing written");

    let removed = ok(f.edit(&flag, "remove-user", user_body("bob")).await);
    assert_eq!(removed["user_ids"], json!(["ann"]));
    assert_eq!(removed["version"], 3);
    assert_eq!(f.check("listed", "bob").await, (false, "user_list".into()));
    let again = ok(f.edit(&flag, "remove-user", user_body("bob")).await);
    assert_eq!(again, removed, "not there: nothing written");

    // A user_list flag keeps at least one user.
    let last = f.edit(&flag, "remove-user", user_body("ann")).await;
    assert_eq!(
        last.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        last.text
    );
    assert_eq!(last.json()["error"]["details"]["field"], "user_ids");

    let stale = f
        .edit_if_match(&flag, "add-user", "\"2\"", user_body("cy"))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let fresh = f
        .edit_if_match(&flag, "add-user", "\"3\"", user_body("cy"))
        .await;
    assert_eq!(ok(fresh)["user_ids"], json!(["ann", "cy"]));
}

#[tokio::test]
async fn a_bad_user_id_is_422_an_unknown_flag_404_and_a_full_list_422() {
    let f = fixture().await;
    let flag = f.create(user_list("guarded", &["ann"])).await;
    let long = "x".repeat(257);
    for body in [
        json!({}),
        json!({"user_id": ""}),
        json!({"user_id": "   "}),
        json!({"user_id": long}),
        json!({"user_id": 7}),
    ] {
        for edit in ["add-user", "remove-user"] {
            let answer = f.edit(&flag, edit, Some(body.clone())).await;
            assert_eq!(
                answer.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{edit} {body}: {}",
                answer.text
            );
            assert_eq!(answer.json()["error"]["details"]["field"], "user_id");
        }
    }
    assert_eq!(ok(f.read(&flag).await)["version"], 1);

    for unknown in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        let missing = json!({"id": unknown});
        for edit in ["enable", "disable", "add-user", "remove-user"] {
            let answer = f.edit(&missing, edit, user_body("bob")).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{edit} {unknown}");
            let error = answer.json()["error"].clone();
            assert_eq!(error["details"]["resource"], "FeatureFlag", "{edit}");
        }
    }

    // At most 100 users; one already there is still a no-op.
    let users: Vec<String> = (0..100).map(|i| format!("u{i}")).collect();
    let ids: Vec<&str> = users.iter().map(String::as_str).collect();
    let full = f.create(user_list("full", &ids)).await;
    let over = f.edit(&full, "add-user", user_body("u100")).await;
    assert_eq!(
        over.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        over.text
    );
    assert_eq!(over.json()["error"]["details"]["field"], "user_ids");
    let known = ok(f.edit(&full, "add-user", user_body("u5")).await);
    assert_eq!(known["user_ids"].as_array().unwrap().len(), 100);
    assert_eq!(known["version"], 1);
}

#[tokio::test]
async fn users_are_refused_the_flag_reads_and_edits() {
    let f = fixture().await;
    let flag = f.create(boolean("matrix", false)).await;
    let id = flag["id"].as_str().unwrap();
    let reads = [
        format!("/api/v1/admin/feature-flags/{id}"),
        "/api/v1/admin/feature-flags/key/matrix".to_owned(),
    ];
    for path in reads {
        let answer = send(&f.app, Role::User, "GET", &path, None).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    for edit in ["enable", "disable", "add-user", "remove-user"] {
        let path = edit_path(&flag, edit);
        let answer = send(&f.app, Role::User, "POST", &path, user_body("bob")).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{edit}");
    }
    assert_eq!(ok(f.read(&flag).await), flag, "nothing changed");
}

#[tokio::test]
async fn every_targeted_edit_is_in_the_audit_log_with_before_and_after() {
    let f = fixture().await;
    let flag = f.create(user_list("audited-edits", &["ann"])).await;
    let id = flag["id"].as_str().unwrap();
    // The repeated edits change nothing, so they are not logged.
    for (edit, body) in [
        ("disable", None),
        ("disable", None),
        ("enable", None),
        ("add-user", user_body("bob")),
        ("add-user", user_body("bob")),
        ("remove-user", user_body("bob")),
    ] {
        ok(f.edit(&flag, edit, body).await);
    }

    let entries = flag_audit(&f.env).await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    let expected = [
        "flag.remove_user",
        "flag.add_user",
        "flag.enable",
        "flag.disable",
        "flag.create",
    ];
    assert_eq!(actions, expected);
    assert!(
        entries
            .iter()
            .all(|e| e.actor_id == "boss" && e.resource_id.as_deref() == Some(id))
    );
    let change = |action: &str| {
        let entry = entries.iter().find(|e| e.action == action).unwrap();
        before_and_after(entry)
    };
    let (before, after) = change("flag.disable");
    assert_eq!(before["is_enabled"], true);
    assert_eq!(after["is_enabled"], false);
    let (before, after) = change("flag.enable");
    assert_eq!(before["is_enabled"], false);
    assert_eq!(after["is_enabled"], true);
    let (before, after) = change("flag.add_user");
    assert_eq!(before["user_ids"], json!(["ann"]));
    assert_eq!(after["user_ids"], json!(["ann", "bob"]));
    let (before, after) = change("flag.remove_user");
    assert_eq!(before["user_ids"], json!(["ann", "bob"]));
    assert_eq!(after["user_ids"], json!(["ann"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_never_lose_a_user() {
    let f = fixture().await;
    let flag = f.create(user_list("crowded", &["ann"])).await;
    let adds: Vec<_> = (0..8)
        .map(|i| {
            let (app, path) = (f.app.clone(), edit_path(&flag, "add-user"));
            tokio::spawn(async move {
                let body = json!({"user_id": format!("user-{i}")});
                let answer = send(&app, Role::Admin, "POST", &path, Some(body)).await;
                (i, answer)
            })
        })
        .collect();
    let mut expected = vec!["ann".to_owned()];
    for add in adds {
        let (i, answer) = add.await.unwrap();
        // A lost race is applied again to the newest version; only a run of losses is 409.
        match answer.status {
            StatusCode::OK => expected.push(format!("user-{i}")),
            StatusCode::CONFLICT => {}
            other => panic!("add {i}: {other} {}", answer.text),
        }
    }
    let now = ok(f.read(&flag).await);
    assert_eq!(now["version"], expected.len(), "one per applied add");
    let mut listed: Vec<String> = serde_json::from_value(now["user_ids"].clone()).unwrap();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected, "every applied add, no other");
}
