//! Admin routes end to end through the running stack: the role matrix over every admin
//! route of every function, deactivation refusing every credential a user held, and
//! impersonation across functions.

use aloft_e2e::{Answer, Stack, unique};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn every_admin_route_refuses_users_and_serves_admins_and_superadmins() {
    let stack = Stack::new();
    let (user, _) = stack.new_user("matrix-user").await;
    let (target, _) = stack.new_user("matrix-target").await;
    let target_id = stack.user_id(&target).await;
    let admin = stack.admin().await;
    let root = stack.superadmin().await;
    for (role, bearer) in [("user", &user), ("admin", &admin), ("superadmin", &root)] {
        let key = unique(&format!("matrix-{role}"));
        let flag =
            json!({"key": key, "name": "Matrix", "flag_type": "boolean", "is_enabled": true});
        let mut flag_id = "none".to_owned();
        // Every admin route of the admin, flags and usage functions, with what an admin
        // gets (a retry of a job that does not exist is 404 once past the role check).
        let routes: [(Method, &str, String, StatusCode); 20] = [
            (Method::GET, "/admin/users", String::new(), StatusCode::OK),
            (
                Method::GET,
                "/admin/users/{target}",
                String::new(),
                StatusCode::OK,
            ),
            (
                Method::PATCH,
                "/admin/users/{target}",
                json!({"full_name": "Matrix"}).to_string(),
                StatusCode::OK,
            ),
            (
                Method::POST,
                "/admin/users/{target}/deactivate",
                String::new(),
                StatusCode::OK,
            ),
            (
                Method::POST,
                "/admin/users/{target}/activate",
                String::new(),
                StatusCode::OK,
            ),
            (
                Method::GET,
                "/admin/dashboard/stats",
                String::new(),
                StatusCode::OK,
            ),
            (
                Method::GET,
                "/admin/dashboard/audit-logs",
                String::new(),
                StatusCode::OK,
            ),
            (Method::GET, "/admin/jobs", String::new(), StatusCode::OK),
            (
                Method::POST,
                "/admin/jobs/no-such-job/retry",
                String::new(),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::GET,
                "/admin/jobs/no-such-job",
                String::new(),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::DELETE,
                "/admin/jobs/no-such-job",
                String::new(),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::GET,
                "/admin/dashboard/audit-logs/not-an-entry",
                String::new(),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::GET,
                "/admin/impersonate/active",
                String::new(),
                StatusCode::OK,
            ),
            (
                Method::GET,
                "/admin/feature-flags",
                String::new(),
                StatusCode::OK,
            ),
            (
                Method::POST,
                "/admin/feature-flags",
                flag.to_string(),
                StatusCode::CREATED,
            ),
            (
                Method::PATCH,
                "/admin/feature-flags/{flag}",
                json!({"is_enabled": false}).to_string(),
                StatusCode::OK,
            ),
            (
                Method::GET,
                "/admin/feature-flags/{key}/check?user_id=u1",
                String::new(),
                StatusCode::OK,
            ),
            (
                Method::DELETE,
                "/admin/feature-flags/{flag}",
                String::new(),
                StatusCode::NO_CONTENT,
            ),
            (
                Method::GET,
                "/admin/usage/summary/{target}",
                String::new(),
                StatusCode::OK,
            ),
            (
                Method::GET,
                "/admin/usage/top-users?metric=api_requests",
                String::new(),
                StatusCode::OK,
            ),
        ];
        for (method, route, body, served) in routes {
            let path = format!("/api/v1{route}")
                .replace("{target}", &target_id)
                .replace("{flag}", &flag_id)
                .replace("{key}", &key);
            let answer = stack.call(bearer, method.clone(), &path, &body).await;
            let expected = if role == "user" {
                StatusCode::FORBIDDEN
            } else {
                served
            };
            assert_eq!(
                answer.status, expected,
                "{role} {method} {path}: {}",
                answer.text
            );
            if answer.status == StatusCode::CREATED {
                flag_id = answer.json()["id"].as_str().unwrap_or_default().to_owned();
            }
        }
        let start = json!({"user_id": target_id}).to_string();
        let started = stack
            .call(
                bearer,
                Method::POST,
                "/api/v1/admin/impersonate/start",
                &start,
            )
            .await;
        let expected = if role == "user" {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::OK
        };
        assert_eq!(started.status, expected, "{role}: {}", started.text);
        if role != "user" {
            // `stop` is reached with the impersonation token only.
            let token = format!(
                "Bearer {}",
                started.json()["token"].as_str().unwrap_or_default()
            );
            let stop = "/api/v1/admin/impersonate/stop";
            assert_eq!(
                stack.call(bearer, Method::POST, stop, "").await.status,
                StatusCode::BAD_REQUEST
            );
            assert_eq!(
                stack.call(&token, Method::POST, stop, "").await.status,
                StatusCode::OK
            );
        }
    }
}

/// Logs in and returns the bearer and the refresh cookie.
async fn login(stack: &Stack, credentials: &str) -> (String, String) {
    let login: Answer = stack.auth("login", credentials).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let bearer = format!(
        "Bearer {}",
        login.json()["access_token"].as_str().unwrap_or_default()
    );
    let cookie = login
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    (bearer, cookie)
}

#[tokio::test]
async fn a_deactivated_user_is_refused_with_every_credential_until_activated() {
    let stack = Stack::new();
    let admin = stack.admin().await;
    let email = format!("{}@example.com", unique("deactivated"));
    let credentials = json!({"email": email, "password": "correct horse"}).to_string();
    let registered = stack.auth("register", &credentials).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let (bearer, cookie) = login(&stack, &credentials).await;
    let user_id = stack.user_id(&bearer).await;
    let created = stack
        .call(
            &bearer,
            Method::POST,
            "/api/v1/app/api-keys",
            r#"{"name": "ci"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let api_key = created.json()["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let with_key = async |path: &str| {
        stack
            .send(Method::GET, path, &[("x-api-key", &api_key)])
            .await
            .status
    };
    assert_eq!(with_key("/api/v1/app/users/me").await, StatusCode::OK);

    let path = format!("/api/v1/admin/users/{user_id}/deactivate");
    let deactivated = stack.call(&admin, Method::POST, &path, "").await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.text);
    assert_eq!(deactivated.json()["is_active"], false);

    // The very next request, to any function, with anything the user held.
    for path in ["/api/v1/app/users/me", "/api/v1/app/projects"] {
        let answer = stack.call(&bearer, Method::GET, path, "").await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "token on {path}: {}",
            answer.text
        );
        assert_eq!(
            with_key(path).await,
            StatusCode::UNAUTHORIZED,
            "API key on {path}"
        );
    }
    let refreshed = stack
        .send(
            Method::POST,
            "/api/v1/public/auth/refresh",
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refreshed.text
    );
    assert_eq!(
        stack.auth("login", &credentials).await.status,
        StatusCode::FORBIDDEN
    );

    let path = format!("/api/v1/admin/users/{user_id}/activate");
    let activated = stack.call(&admin, Method::POST, &path, "").await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.text);
    assert_eq!(
        with_key("/api/v1/app/users/me").await,
        StatusCode::OK,
        "keys work again"
    );
    let refreshed = stack
        .send(
            Method::POST,
            "/api/v1/public/auth/refresh",
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::UNAUTHORIZED,
        "refresh families stay revoked"
    );
    let (bearer, _) = login(&stack, &credentials).await;
    assert_eq!(stack.user_id(&bearer).await, user_id);

    let path = "/api/v1/admin/dashboard/audit-logs?resource_type=user&limit=100";
    let logs = stack.call(&admin, Method::GET, path, "").await;
    assert_eq!(logs.status, StatusCode::OK, "{}", logs.text);
    let actions: Vec<_> = logs.json()["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["resource_id"] == user_id.as_str())
                .filter_map(|e| e["action"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        actions,
        ["user.activate", "user.deactivate"],
        "newest first"
    );
}

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

/// A queued job stored straight into the local stack's table, its message never sent: it
/// stays queued until cancelled.
async fn queued_job(id: &str) {
    let emulator =
        std::env::var("ALOFT_EMULATOR_URL").unwrap_or_else(|_| "http://127.0.0.1:5100".into());
    let clients =
        aloft_store::AwsClients::connect(&aloft_store::AwsSettings::local(emulator)).await;
    let table = aloft_store::Table::new(clients.dynamodb, "aloft-local-app-table");
    let now = aloft_core::timestamp::now();
    let job = aloft_store::JobRecord {
        id: id.to_owned(),
        kind: "email.send".into(),
        queue: "jobs".into(),
        payload: "{}".into(),
        status: aloft_store::JobStatus::Queued,
        attempts: 0,
        last_error: None,
        created_at: now.clone(),
        updated_at: now,
        finished_at: None,
        user_id: None,
        trace_id: None,
    };
    aloft_store::JobRepo::new(table)
        .create(&job)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn an_admin_reads_and_cancels_a_queued_job_then_reads_its_audit_entry() {
    let stack = Stack::new();
    let admin = stack.admin().await;
    let id = unique("e2e-cancel");
    queued_job(&id).await;

    let path = format!("/api/v1/admin/jobs/{id}");
    let read = stack.call(&admin, Method::GET, &path, "").await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.json()["status"], "queued");
    let cancelled = stack.call(&admin, Method::DELETE, &path, "").await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert_eq!(cancelled.json()["status"], "cancelled");
    let again = stack.call(&admin, Method::DELETE, &path, "").await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.json()["error"]["code"], "CONFLICT");
    let unknown = format!("/api/v1/admin/jobs/{}", unique("no-such-job"));
    for method in [Method::GET, Method::DELETE] {
        let answer = stack.call(&admin, method.clone(), &unknown, "").await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method}: {}",
            answer.text
        );
    }

    let logs = format!("/api/v1/admin/dashboard/audit-logs?action=job.cancel&resource_id={id}");
    let listed = stack.call(&admin, Method::GET, &logs, "").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let listed = listed.json();
    assert_eq!(listed["total"], 1, "{listed}");
    let entry_id = listed["items"][0]["id"].as_str().unwrap_or_default();
    let entry = stack
        .call(
            &admin,
            Method::GET,
            &format!("/api/v1/admin/dashboard/audit-logs/{entry_id}"),
            "",
        )
        .await;
    assert_eq!(entry.status, StatusCode::OK, "{}", entry.text);
    assert_eq!(entry.json(), listed["items"][0]);
    let missing = "/api/v1/admin/dashboard/audit-logs/not-a-uuid";
    assert_eq!(
        stack.call(&admin, Method::GET, missing, "").await.status,
        StatusCode::NOT_FOUND
    );
}

/// The `token_id`s of the active impersonations `bearer` sees.
async fn active_impersonations(stack: &Stack, bearer: &str) -> Vec<String> {
    let path = "/api/v1/admin/impersonate/active";
    let answer = stack.call(bearer, Method::GET, path, "").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|s| s["token_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_impersonation_is_active_for_its_admin_and_a_superadmin_until_stop() {
    let stack = Stack::new();
    let admin = stack.admin().await;
    let root = stack.superadmin().await;
    let (target, _) = stack.new_user("active-impersonation").await;
    let target_id = stack.user_id(&target).await;
    let body = json!({"user_id": target_id}).to_string();
    let started = stack
        .call(
            &admin,
            Method::POST,
            "/api/v1/admin/impersonate/start",
            &body,
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let token = format!(
        "Bearer {}",
        started.json()["token"].as_str().unwrap_or_default()
    );
    let logs = format!(
        "/api/v1/admin/dashboard/audit-logs?action=impersonate.start&resource_id={target_id}"
    );
    let logs = stack.call(&admin, Method::GET, &logs, "").await.json();
    let token_id = logs["items"][0]["details"]["after"]["token_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!token_id.is_empty(), "{logs}");

    assert!(
        active_impersonations(&stack, &admin)
            .await
            .contains(&token_id)
    );
    assert!(
        active_impersonations(&stack, &root)
            .await
            .contains(&token_id)
    );
    let stop = "/api/v1/admin/impersonate/stop";
    assert_eq!(
        stack.call(&token, Method::POST, stop, "").await.status,
        StatusCode::OK
    );
    assert!(
        !active_impersonations(&stack, &admin)
            .await
            .contains(&token_id)
    );
    assert!(
        !active_impersonations(&stack, &root)
            .await
            .contains(&token_id)
    );
}
