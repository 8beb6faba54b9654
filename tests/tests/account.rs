//! The account lifecycle through the running stack, reading the mail the functions send
//! through SES (the emulator's) at the local mailbox: verification, bootstrap roles only
//! once verified, forgotten and changed passwords, sessions, and the login form's origin.
//! Requests that send mail come from addresses of their own (per-address mail limits).

use aloft_e2e::{Answer, Stack, fresh_loopback, unique};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn unique_email(tag: &str) -> String {
    format!("{}@example.com", unique(tag))
}

fn credentials(email: &str, password: &str) -> String {
    json!({"email": email, "password": password}).to_string()
}

/// `aloft_refresh=…` from a sign-in's `Set-Cookie`.
fn cookie_of(answer: &Answer) -> String {
    let set_cookie = answer.header("set-cookie");
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

async fn login(stack: &Stack, email: &str, password: &str) -> Answer {
    stack.auth("login", &credentials(email, password)).await
}

fn bearer_of(answer: &Answer) -> String {
    format!(
        "Bearer {}",
        answer.json()["access_token"].as_str().unwrap_or_default()
    )
}

async fn refresh(stack: &Stack, cookie: &str) -> StatusCode {
    let path = "/api/v1/public/auth/refresh";
    stack
        .send(Method::POST, path, &[("cookie", cookie)])
        .await
        .status
}

#[tokio::test]
async fn registration_mails_a_link_that_verifies_the_address_once() {
    let stack = Stack::from_address(fresh_loopback());
    let email = unique_email("verify");
    let registered = stack
        .auth("register", &credentials(&email, "correct horse"))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    assert_eq!(registered.json()["is_verified"], false);

    let token = stack.newest_link_token(&email, "verify-email").await;
    let body = json!({"token": token}).to_string();
    let verified = stack.auth("verify-email", &body).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.json()["is_verified"], true);
    assert_eq!(verified.json()["role"], "user");
    let again = stack.auth("verify-email", &body).await;
    assert_eq!(
        again.status,
        StatusCode::BAD_REQUEST,
        "single use: {}",
        again.text
    );

    for bad in [
        json!({}),
        json!({"token": 42}),
        json!({"token": "not a token"}),
    ] {
        let answer = stack.auth("verify-email", &bad.to_string()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.text
        );
        assert_eq!(answer.json()["error"]["code"], "BAD_REQUEST");
    }

    let bearer = bearer_of(&login(&stack, &email, "correct horse").await);
    let me = stack
        .call(&bearer, Method::GET, "/api/v1/app/users/me", "")
        .await;
    assert_eq!(me.json()["is_verified"], true);
    let resend = stack
        .call(
            &bearer,
            Method::POST,
            "/api/v1/app/users/me/verify-email",
            "",
        )
        .await;
    assert_eq!(resend.status, StatusCode::ACCEPTED, "{}", resend.text);
}

#[tokio::test]
async fn a_bootstrap_role_comes_only_with_the_verified_address() {
    // BOOTSTRAP_ADMIN_EMAILS lists this address on the local stack.
    let email = "late-operator@example.com";
    let stack = Stack::from_address(fresh_loopback());
    let registered = stack
        .auth("register", &credentials(email, "correct horse"))
        .await;
    if registered.status == StatusCode::CREATED {
        assert_eq!(registered.json()["role"], "user", "not before verification");
        let bearer = bearer_of(&login(&stack, email, "correct horse").await);
        let jobs = stack
            .call(&bearer, Method::GET, "/api/v1/admin/jobs", "")
            .await;
        assert_eq!(jobs.status, StatusCode::FORBIDDEN, "{}", jobs.text);
        let token = stack.newest_link_token(email, "verify-email").await;
        let verified = stack
            .auth("verify-email", &json!({"token": token}).to_string())
            .await;
        assert_eq!(verified.json()["role"], "admin", "{}", verified.text);
    } else {
        // A second run against the same stack: registered and verified before.
        assert_eq!(
            registered.status,
            StatusCode::CONFLICT,
            "{}",
            registered.text
        );
    }
    let bearer = bearer_of(&login(&stack, email, "correct horse").await);
    let jobs = stack
        .call(&bearer, Method::GET, "/api/v1/admin/jobs", "")
        .await;
    assert_eq!(jobs.status, StatusCode::OK, "{}", jobs.text);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_the_mailed_link_and_every_session_ends() {
    let stack = Stack::from_address(fresh_loopback());
    let email = unique_email("forgot");
    stack
        .auth("register", &credentials(&email, "correct horse"))
        .await;
    let signed_in = login(&stack, &email, "correct horse").await;
    let cookie = cookie_of(&signed_in);

    // Known and unknown addresses get the same answer.
    let known = stack
        .auth("password/forgot", &json!({"email": email}).to_string())
        .await;
    let unknown_email = unique_email("nobody");
    let unknown = stack
        .auth(
            "password/forgot",
            &json!({"email": unknown_email}).to_string(),
        )
        .await;
    assert_eq!(known.status, StatusCode::ACCEPTED, "{}", known.text);
    assert_eq!(
        (unknown.status, unknown.text.as_str()),
        (known.status, known.text.as_str())
    );
    let malformed = stack.auth("password/forgot", r#"{"email": "nope"}"#).await;
    assert_eq!(
        malformed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        malformed.text
    );

    let token = stack.newest_link_token(&email, "reset-password").await;
    let weak = json!({"token": token, "password": "short"}).to_string();
    let refused = stack.auth("password/reset", &weak).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert_eq!(refused.json()["error"]["details"]["field"], "password");
    let reset = json!({"token": token, "password": "a brand new horse"}).to_string();
    let done = stack.auth("password/reset", &reset).await;
    assert_eq!(
        done.status,
        StatusCode::NO_CONTENT,
        "the weak try left the link usable: {}",
        done.text
    );
    let again = stack.auth("password/reset", &reset).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.text);

    assert_eq!(
        refresh(&stack, &cookie).await,
        StatusCode::UNAUTHORIZED,
        "sessions ended"
    );
    let old = login(&stack, &email, "correct horse").await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = login(&stack, &email, "a brand new horse").await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text);
    assert!(
        stack
            .link_tokens(&unknown_email, "reset-password")
            .await
            .is_empty(),
        "nothing mailed to an unknown address"
    );
}

#[tokio::test]
async fn mail_to_one_address_is_limited_whoever_asks() {
    let email = unique_email("flood");
    let body = json!({"email": email}).to_string();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let stack = Stack::from_address(fresh_loopback());
        let path = "/api/v1/public/auth/password/forgot";
        let json = [("content-type", "application/json")];
        statuses.push(
            stack
                .send_body(Method::POST, path, &json, &body)
                .await
                .status,
        );
    }
    assert_eq!(statuses[..5], [StatusCode::ACCEPTED; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn sessions_are_listed_and_ended_and_a_password_change_ends_the_others() {
    let stack = Stack::from_address(fresh_loopback());
    let email = unique_email("sessions");
    stack
        .auth("register", &credentials(&email, "correct horse"))
        .await;
    let laptop = login(&stack, &email, "correct horse").await;
    let phone = login(&stack, &email, "correct horse").await;
    let tablet = login(&stack, &email, "correct horse").await;
    let bearer = bearer_of(&laptop);

    let listed = stack
        .call(&bearer, Method::GET, "/api/v1/app/users/me/sessions", "")
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let items = listed.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 3, "{}", listed.text);
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let other_id = items
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .unwrap_or_default()
        .to_owned();

    // End one other session: of the other two cookies, exactly one stops working.
    let path = format!("/api/v1/app/users/me/sessions/{other_id}");
    let ended = stack.call(&bearer, Method::DELETE, &path, "").await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.text);
    let missing = stack
        .call(
            &bearer,
            Method::DELETE,
            "/api/v1/app/users/me/sessions/nope",
            "",
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    let (phone_cookie, tablet_cookie) = (cookie_of(&phone), cookie_of(&tablet));
    let phone_status = refresh(&stack, &phone_cookie).await;
    let tablet_status = refresh(&stack, &tablet_cookie).await;
    let mut statuses = [phone_status, tablet_status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);

    // A password change: the wrong current one is 401; then every other session ends.
    let wrong = json!({"current_password": "not it", "new_password": "a new horse"}).to_string();
    let refused = stack
        .call(
            &bearer,
            Method::POST,
            "/api/v1/app/users/me/password",
            &wrong,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    let change =
        json!({"current_password": "correct horse", "new_password": "a new horse"}).to_string();
    let changed = stack
        .call(
            &bearer,
            Method::POST,
            "/api/v1/app/users/me/password",
            &change,
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
    let listed = stack
        .call(&bearer, Method::GET, "/api/v1/app/users/me/sessions", "")
        .await;
    let items = listed.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "only the caller's: {}", listed.text);
    assert_eq!(items[0]["current"], true);
    assert_eq!(
        refresh(&stack, &cookie_of(&laptop)).await,
        StatusCode::OK,
        "the caller's lives"
    );
    let new = login(&stack, &email, "a new horse").await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text);
}

#[tokio::test]
async fn a_login_form_posted_from_another_site_is_refused() {
    let stack = Stack::from_address(fresh_loopback());
    let email = unique_email("csrf");
    stack
        .auth("register", &credentials(&email, "correct horse"))
        .await;
    let form = format!(
        "username={}&password=correct+horse",
        email.replace('@', "%40")
    );
    let path = "/api/v1/public/auth/login";
    let from = |origin: &'static str| {
        [
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", origin),
        ]
    };
    let foreign = stack
        .send_body(Method::POST, path, &from("https://evil.example"), &form)
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{}", foreign.text);
    let own = stack
        .send_body(Method::POST, path, &from("http://127.0.0.1:9000"), &form)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    let no_origin = [("content-type", "application/x-www-form-urlencoded")];
    let tool = stack.send_body(Method::POST, path, &no_origin, &form).await;
    assert_eq!(
        tool.status,
        StatusCode::OK,
        "a tool without an Origin: {}",
        tool.text
    );
}
