//! Feature flags end to end: the bootstrap admin creates a 25 % rollout, a real user reads
//! their flags over HTTP and gets what the admin's `check` says for them, and `check`
//! over 400 users enables 25 % ± 5 %; and an admin finds a flag by key, switches it on
//! and adds a real user, each change based on the `ETag` just read.

use std::time::Duration;

use aloft_e2e::{Answer, Stack, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `check` for `user_id`: whether the flag is on. Retries while this instance still
/// answers `not_found` (another warm instance may cache the list from before the create
/// for up to FEATURE_FLAGS_CACHE_SECONDS), and waits out a 429 (a stack reused from
/// `make dev` keeps the default per-user limit).
async fn check(stack: &Stack, admin: &str, key: &str, user_id: &str) -> bool {
    let path = format!("/api/v1/admin/feature-flags/{key}/check?user_id={user_id}");
    eventually("the flag reaches every flags instance", async || {
        let answer = stack.call(admin, Method::GET, &path, "").await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            let wait: u64 = answer.header("retry-after").parse().unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            return None;
        }
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let body = answer.json();
        match body["reason"].as_str() {
            Some("not_found") => None,
            Some("percentage_rollout") => body["is_enabled"].as_bool(),
            other => panic!("unexpected reason {other:?}: {body}"),
        }
    })
    .await
}

#[tokio::test]
async fn a_25_percent_rollout_enables_a_quarter_of_users() {
    let stack = Stack::new();
    let admin = stack.admin().await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let key = format!("e2e-rollout-{nanos}");
    let flag = json!({
        "key": key, "name": "E2E rollout", "flag_type": "percentage",
        "percentage": 25, "is_enabled": true
    });
    let created = stack
        .call(
            &admin,
            Method::POST,
            "/api/v1/admin/feature-flags",
            &flag.to_string(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let flag_id = created.json()["id"].as_str().unwrap_or_default().to_owned();

    // One real user through the app route: the answer is the admin's `check` for them.
    let (bearer, _) = stack.new_user("flags").await;
    let me = stack
        .call(&bearer, Method::GET, "/api/v1/app/users/me", "")
        .await;
    let user_id = me.json()["id"].as_str().unwrap_or_default().to_owned();
    let theirs: Value = eventually("the flag in the user's list", async || {
        let answer = stack
            .call(&bearer, Method::GET, "/api/v2/app/feature-flags", "")
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let on = answer.json()["data"]["flags"][&key].clone();
        on.is_boolean().then_some(on)
    })
    .await;
    assert_eq!(theirs, check(&stack, &admin, &key, &user_id).await);

    // The statistic over 400 users uses synthetic ids through the admin's `check`, the
    // same evaluation: 400 registrations would take minutes (argon2 and the per-IP limit
    // of 5 sign-ups a minute).
    let mut enabled = 0;
    for i in 0..400 {
        if check(&stack, &admin, &key, &format!("e2e-user-{nanos}-{i}")).await {
            enabled += 1;
        }
    }
    assert!((80..=120).contains(&enabled), "{enabled} of 400 enabled");

    // The stack's table is long-lived and the flag set is bounded: clean up.
    let path = format!("/api/v1/admin/feature-flags/{flag_id}");
    let deleted = stack.call(&admin, Method::DELETE, &path, "").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
}

/// `POST path` as `admin`, with `body` as JSON, based on the version `etag` names.
async fn post_if_match(stack: &Stack, admin: &str, path: &str, etag: &str, body: &str) -> Answer {
    let headers = [
        ("authorization", admin),
        ("content-type", "application/json"),
        ("if-match", etag),
    ];
    stack.send_body(Method::POST, path, &headers, body).await
}

#[tokio::test]
async fn an_admin_finds_a_flag_by_key_enables_it_and_adds_a_user() {
    let stack = Stack::new();
    let admin = stack.admin().await;
    let key = aloft_e2e::unique("e2e-listed");
    let flag = json!({
        "key": key, "name": "E2E user list", "flag_type": "user_list",
        "user_ids": ["someone-else"], "is_enabled": false
    });
    let created = stack
        .call(
            &admin,
            Method::POST,
            "/api/v1/admin/feature-flags",
            &flag.to_string(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let flag_id = created.json()["id"].as_str().unwrap_or_default().to_owned();

    let by_key = format!("/api/v1/admin/feature-flags/key/{key}");
    let found = stack.call(&admin, Method::GET, &by_key, "").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    assert_eq!(found.json()["id"], flag_id.as_str());

    let enable = format!("/api/v1/admin/feature-flags/{flag_id}/enable");
    let enabled = post_if_match(&stack, &admin, &enable, found.header("etag"), "").await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.text);
    assert_eq!(enabled.json()["is_enabled"], true);
    // The ETag the change was based on is stale now.
    let again = post_if_match(&stack, &admin, &enable, found.header("etag"), "").await;
    assert_eq!(
        again.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        again.text
    );

    let (bearer, _) = stack.new_user("flag-list").await;
    let user_id = stack.user_id(&bearer).await;
    let add = format!("/api/v1/admin/feature-flags/{flag_id}/add-user");
    let body = json!({ "user_id": user_id }).to_string();
    let added = post_if_match(&stack, &admin, &add, enabled.header("etag"), &body).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    let listed = added.json()["user_ids"].clone();
    assert_eq!(listed, json!(["someone-else", user_id]));
    // Already there: the same flag, nothing written.
    let twice = stack.call(&admin, Method::POST, &add, &body).await;
    assert_eq!(twice.status, StatusCode::OK, "{}", twice.text);
    assert_eq!(twice.header("etag"), added.header("etag"));

    // The user sees it on once their flags instance's cache has caught up.
    eventually("the flag on for the added user", async || {
        let answer = stack
            .call(&bearer, Method::GET, "/api/v2/app/feature-flags", "")
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        (answer.json()["data"]["flags"][&key] == true).then_some(())
    })
    .await;

    // The stack's table is long-lived and the flag set is bounded: clean up.
    let path = format!("/api/v1/admin/feature-flags/{flag_id}");
    let deleted = stack.call(&admin, Method::DELETE, &path, "").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
}
