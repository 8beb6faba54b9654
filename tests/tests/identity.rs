//! Identity through the running stack, as a browser client would use it.

use aloft_e2e::{Stack, unique};
use reqwest::{Method, StatusCode};

fn unique_email(tag: &str) -> String {
    format!("{}@example.com", unique(tag))
}

fn refresh_cookie(answer: &aloft_e2e::Answer) -> String {
    let set_cookie = answer.header("set-cookie");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn register_login_profile_refresh_logout() {
    let stack = Stack::new();
    let email = unique_email("ann");

    let body =
        format!(r#"{{"email": "{email}", "password": "correct horse", "full_name": "Ann"}}"#);
    let registered = stack.auth("register", &body).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );

    let body = format!(r#"{{"email": "{email}", "password": "correct horse"}}"#);
    let login = stack.auth("login", &body).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let token = login.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let first_cookie = refresh_cookie(&login);
    let bearer = format!("Bearer {token}");

    let me = stack
        .send(
            Method::GET,
            "/api/v2/app/users/me",
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json()["data"]["email"], email.as_str());
    assert_eq!(me.json()["data"]["is_premium"], false);

    let patched = stack
        .send_body(
            Method::PATCH,
            "/api/v1/app/users/me",
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            r#"{"full_name": "Ann Smith"}"#,
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.json()["full_name"], "Ann Smith");

    let refreshed = stack
        .send(
            Method::POST,
            "/api/v1/public/auth/refresh",
            &[("cookie", &first_cookie)],
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let second_cookie = refresh_cookie(&refreshed);
    assert_ne!(first_cookie, second_cookie);

    // Replaying the rotated cookie revokes the family: the new cookie dies with it.
    let replay = stack
        .send(
            Method::POST,
            "/api/v1/public/auth/refresh",
            &[("cookie", &first_cookie)],
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    let after = stack
        .send(
            Method::POST,
            "/api/v1/public/auth/refresh",
            &[("cookie", &second_cookie)],
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    let logout = stack
        .send(
            Method::POST,
            "/api/v1/public/auth/logout",
            &[("cookie", &second_cookie)],
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn profile_without_a_token_is_401() {
    let answer = Stack::new().get("/api/v1/app/users/me").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"]["code"], "AUTHENTICATION_ERROR");
}

#[tokio::test]
async fn api_key_create_use_delete_then_rejected() {
    let stack = Stack::new();
    let (bearer, email) = stack.new_user("svc").await;

    let created = stack
        .send_body(
            Method::POST,
            "/api/v1/app/api-keys",
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            r#"{"name": "deploy bot"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    let secret = created["secret"].as_str().unwrap_or_default().to_owned();
    let id = created["id"].as_str().unwrap_or_default().to_owned();

    let me = stack
        .send(
            Method::GET,
            "/api/v1/app/users/me",
            &[("x-api-key", &secret)],
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json()["email"], email.as_str());

    let deleted = stack
        .send(
            Method::DELETE,
            &format!("/api/v1/app/api-keys/{id}"),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let rejected = stack
        .send(
            Method::GET,
            "/api/v1/app/users/me",
            &[("x-api-key", &secret)],
        )
        .await;
    assert_eq!(rejected.status, StatusCode::UNAUTHORIZED);
}
