//! API keys as deployed: a key acts as its owner is now (role, plan, activity) narrowed
//! by its scopes, expires, and cannot mint credentials; neither can an impersonation
//! token. Through the running stack, changes made by a superadmin's admin routes.

use std::time::Duration;

use aloft_e2e::{Answer, Stack};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn with_key(stack: &Stack, key: &str, method: Method, path: &str, body: &str) -> Answer {
    let headers = [("x-api-key", key), ("content-type", "application/json")];
    stack.send_body(method, path, &headers, body).await
}

/// Creates a key for `bearer` with `body`; returns its secret.
async fn new_key(stack: &Stack, bearer: &str, body: serde_json::Value) -> String {
    let created = stack
        .call(
            bearer,
            Method::POST,
            "/api/v1/app/api-keys",
            &body.to_string(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    created.json()["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn admin_patch(stack: &Stack, root: &str, user_id: &str, change: serde_json::Value) {
    let path = format!("/api/v1/admin/users/{user_id}");
    let patched = stack
        .call(root, Method::PATCH, &path, &change.to_string())
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
}

#[tokio::test]
async fn a_key_loses_what_its_owner_loses_on_the_next_request() {
    let stack = Stack::new();
    let root = stack.superadmin().await;
    let (bearer, _) = stack.new_user("key-owner").await;
    let owner = stack.user_id(&bearer).await;
    admin_patch(&stack, &root, &owner, json!({"role": "admin"})).await;
    let key = new_key(
        &stack,
        &bearer,
        json!({"name": "ops", "scopes": ["read", "write", "admin"]}),
    )
    .await;
    let jobs = with_key(&stack, &key, Method::GET, "/api/v1/admin/jobs", "").await;
    assert_eq!(jobs.status, StatusCode::OK, "{}", jobs.text);
    let (target_bearer, _) = stack.new_user("key-target").await;
    let target = stack.user_id(&target_bearer).await;
    let start = json!({"user_id": target, "reason": "a key may not"}).to_string();
    let path = "/api/v1/admin/impersonate/start";
    let started = with_key(&stack, &key, Method::POST, path, &start).await;
    assert_eq!(started.status, StatusCode::FORBIDDEN, "{}", started.text);

    // Demoted: the older key gets 403 on its very next request.
    admin_patch(&stack, &root, &owner, json!({"role": "user"})).await;
    let jobs = with_key(&stack, &key, Method::GET, "/api/v1/admin/jobs", "").await;
    assert_eq!(jobs.status, StatusCode::FORBIDDEN, "{}", jobs.text);

    // Upgraded then downgraded: the key's rate limit follows the plan (pro ×5).
    let limit = async |key: &str| {
        let me = with_key(&stack, key, Method::GET, "/api/v1/app/users/me", "").await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        me.header("x-ratelimit-limit").parse::<u32>().unwrap_or(0)
    };
    let free = limit(&key).await;
    admin_patch(&stack, &root, &owner, json!({"plan": "pro"})).await;
    assert_eq!(limit(&key).await, free * 5, "pro limits at once");
    admin_patch(&stack, &root, &owner, json!({"plan": "free"})).await;
    assert_eq!(limit(&key).await, free, "back to free limits at once");

    // The list shows the scopes and the minute of last use.
    let listed = stack
        .call(&bearer, Method::GET, "/api/v1/app/api-keys", "")
        .await;
    let item = &listed.json()["items"][0];
    assert_eq!(item["scopes"], json!(["read", "write", "admin"]));
    assert!(
        item["last_used_at"]
            .as_str()
            .is_some_and(|at| at.ends_with(":00Z")),
        "{item}"
    );
}

#[tokio::test]
async fn scopes_narrow_a_key_and_only_admins_get_the_admin_scope() {
    let stack = Stack::new();
    let (bearer, _) = stack.new_user("key-scopes").await;
    let admin_scope = json!({"name": "x", "scopes": ["admin"]}).to_string();
    let refused = stack
        .call(&bearer, Method::POST, "/api/v1/app/api-keys", &admin_scope)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let bad_scope = json!({"name": "x", "scopes": ["everything"]}).to_string();
    let refused = stack
        .call(&bearer, Method::POST, "/api/v1/app/api-keys", &bad_scope)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );

    let reader = new_key(
        &stack,
        &bearer,
        json!({"name": "reader", "scopes": ["read"]}),
    )
    .await;
    let listed = with_key(&stack, &reader, Method::GET, "/api/v1/app/projects", "").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let project = json!({"name": "Not from a reader"}).to_string();
    let write = with_key(
        &stack,
        &reader,
        Method::POST,
        "/api/v1/app/projects",
        &project,
    )
    .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN, "{}", write.text);
    assert_eq!(write.json()["error"]["code"], "AUTHORIZATION_ERROR");
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let stack = Stack::new();
    let (bearer, _) = stack.new_user("key-expiry").await;
    let soon = time_in(Duration::from_secs(3));
    let key = new_key(
        &stack,
        &bearer,
        json!({"name": "brief", "expires_at": soon}),
    )
    .await;
    let me = with_key(&stack, &key, Method::GET, "/api/v1/app/users/me", "").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let me = with_key(&stack, &key, Method::GET, "/api/v1/app/users/me", "").await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text);

    let past = json!({"name": "x", "expires_at": "2020-01-01T00:00:00Z"}).to_string();
    let refused = stack
        .call(&bearer, Method::POST, "/api/v1/app/api-keys", &past)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert_eq!(refused.json()["error"]["details"]["field"], "expires_at");
}

/// RFC 3339 for now + `after`, to the second.
fn time_in(after: Duration) -> String {
    let at = std::time::SystemTime::now() + after;
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[tokio::test]
async fn neither_a_key_nor_an_impersonation_token_mints_credentials() {
    let stack = Stack::new();
    let admin = stack.admin().await;
    let (bearer, _) = stack.new_user("key-mint").await;
    let user_id = stack.user_id(&bearer).await;
    let key = new_key(&stack, &bearer, json!({"name": "bot"})).await;

    let start = json!({"user_id": user_id, "reason": "support"}).to_string();
    let started = stack
        .call(
            &admin,
            Method::POST,
            "/api/v1/admin/impersonate/start",
            &start,
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let impersonation = format!(
        "Bearer {}",
        started.json()["token"].as_str().unwrap_or_default()
    );

    let subscription =
        json!({"url": "https://hooks.example.com/aloft", "events": ["project.created"]})
            .to_string();
    let password =
        json!({"current_password": "correct horse", "new_password": "another horse"}).to_string();
    let minting: [(Method, &str, String); 5] = [
        (
            Method::POST,
            "/api/v1/app/api-keys",
            json!({"name": "more"}).to_string(),
        ),
        (
            Method::POST,
            "/api/v1/app/webhook-subscriptions",
            subscription,
        ),
        (Method::POST, "/api/v1/app/users/me/password", password),
        (Method::GET, "/api/v1/app/users/me/sessions", String::new()),
        (
            Method::DELETE,
            "/api/v1/app/users/me/sessions",
            String::new(),
        ),
    ];
    for (method, path, body) in minting {
        let by_key = with_key(&stack, &key, method.clone(), path, &body).await;
        assert_eq!(
            by_key.status,
            StatusCode::FORBIDDEN,
            "key {path}: {}",
            by_key.text
        );
        let by_admin = stack.call(&impersonation, method, path, &body).await;
        assert_eq!(
            by_admin.status,
            StatusCode::FORBIDDEN,
            "impersonation {path}: {}",
            by_admin.text
        );
    }
}
