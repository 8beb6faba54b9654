//! Admin routes end to end through the running stack: impersonation across functions.

use aloft_e2e::Stack;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn an_admin_impersonates_a_user_on_app_routes_until_stop() {
    let stack = Stack::new();
    let admin = stack.admin().await;
    let (target, email) = stack.new_user("impersonated").await;
    let me = stack
        .send(
            Method::GET,
            "/api/v1/app/users/me",
            &[("authorization", &target)],
        )
        .await
        .json();
    let target_id = me["id"].as_str().unwrap_or_default().to_owned();

    let body = json!({"user_id": target_id, "reason": "e2e"}).to_string();
    let started = stack
        .send_body(
            Method::POST,
            "/api/v1/admin/impersonate/start",
            &[
                ("authorization", &admin),
                ("content-type", "application/json"),
            ],
            &body,
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let token = format!(
        "Bearer {}",
        started.json()["token"].as_str().unwrap_or_default()
    );

    // The users function (not the admin function that issued it) accepts the token.
    let as_target = stack
        .send(
            Method::GET,
            "/api/v1/app/users/me",
            &[("authorization", &token)],
        )
        .await;
    assert_eq!(as_target.status, StatusCode::OK, "{}", as_target.text);
    assert_eq!(as_target.json()["email"], email.as_str());
    let admin_route = stack
        .send(
            Method::GET,
            "/api/v1/admin/jobs",
            &[("authorization", &token)],
        )
        .await;
    assert_eq!(admin_route.status, StatusCode::FORBIDDEN);

    let stopped = stack
        .send(
            Method::POST,
            "/api/v1/admin/impersonate/stop",
            &[("authorization", &token)],
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    let after = stack
        .send(
            Method::GET,
            "/api/v1/app/users/me",
            &[("authorization", &token)],
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.text);

    let path = format!("/api/v1/admin/dashboard/audit-logs?actor_id={target_id}&action=request");
    let logs = stack
        .send(Method::GET, &path, &[("authorization", &admin)])
        .await
        .json();
    let routes: Vec<_> = logs["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| e["resource_id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        routes.contains(&"GET /api/v1/app/users/me".to_owned()),
        "the impersonated request is audited: {logs}"
    );
    assert!(
        logs["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|e| e["impersonator_id"].is_string())),
        "{logs}"
    );
}
