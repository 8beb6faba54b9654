//! The users function's router against the local emulator.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_auth::Role;
use aloft_http::HttpConfig;
use aloft_store::{Table, UserRecord, UserRepo};
use aloft_testkit::{TestEnv, oneshot, token_for};
use axum::{Router, body::Body};
use http::{Request, StatusCode, header};

struct Fixture {
    app: Router,
    users: UserRepo,
}

async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let vars = env.env(&[]);
    let app = users::router(
        users::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let users = UserRepo::new(Table::new(env.clients.dynamodb.clone(), env.table()));
    Fixture { app, users }
}

fn record(id: &str) -> UserRecord {
    UserRecord {
        id: id.to_owned(),
        email: format!("{id}@example.com"),
        full_name: Some("Ann".into()),
        avatar_url: None,
        role: "user".into(),
        is_active: true,
        tenant_id: format!("tenant-{id}"),
        subscription_plan: "free".into(),
        subscription_status: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        password_hash: None,
    }
}

fn authed(method: &str, path: &str, user: &str, body: Option<&str>) -> Request<Body> {
    let builder = Request::builder().method(method).uri(path).header(
        header::AUTHORIZATION,
        format!("Bearer {}", token_for(user, Role::User)),
    );
    match body {
        Some(json) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json.to_owned())),
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

#[tokio::test]
async fn me_in_v1_is_the_reference_shape() {
    let f = fixture().await;
    f.users.create(&record("ann")).await.unwrap();
    let answer = oneshot::send(&f.app, authed("GET", "/api/v1/app/users/me", "ann", None)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let me = answer.json();
    assert_eq!(me["id"], "ann");
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["subscription_plan"], "free");
    assert!(me.get("is_premium").is_none());
    assert!(me.get("password_hash").is_none());
}

#[tokio::test]
async fn me_in_v2_adds_premium_and_days_since_joined() {
    let f = fixture().await;
    let mut premium = record("pat");
    premium.subscription_plan = "pro".into();
    premium.subscription_status = Some("active".into());
    f.users.create(&premium).await.unwrap();
    let answer = oneshot::send(&f.app, authed("GET", "/api/v2/app/users/me", "pat", None)).await;
    let body = answer.json();
    assert_eq!(body["data"]["is_premium"], true);
    assert!(body["data"]["days_since_joined"].as_i64().unwrap() > 300);
    assert_eq!(body["meta"]["version"], "v2");
}

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    let f = fixture().await;
    f.users.create(&record("ann")).await.unwrap();
    let body = r#"{"avatar_url": "https://example.com/a.png"}"#;
    let answer = oneshot::send(
        &f.app,
        authed("PATCH", "/api/v1/app/users/me", "ann", Some(body)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let me = answer.json();
    assert_eq!(me["avatar_url"], "https://example.com/a.png");
    assert_eq!(me["full_name"], "Ann");
}

#[tokio::test]
async fn patch_rules_are_422_naming_the_field() {
    let f = fixture().await;
    f.users.create(&record("ann")).await.unwrap();
    let long_name = format!(r#"{{"full_name": "{}"}}"#, "x".repeat(256));
    for (body, field) in [
        (long_name.as_str(), "full_name"),
        (r#"{"avatar_url": "javascript:alert(1)"}"#, "avatar_url"),
        (r#"{"full_name": 42}"#, "full_name"),
    ] {
        let answer = oneshot::send(
            &f.app,
            authed("PATCH", "/api/v1/app/users/me", "ann", Some(body)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.json()["error"]["details"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn inactive_user_is_forbidden() {
    let f = fixture().await;
    let mut inactive = record("gone");
    inactive.is_active = false;
    f.users.create(&inactive).await.unwrap();
    let answer = oneshot::send(&f.app, authed("GET", "/api/v1/app/users/me", "gone", None)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["error"]["code"], "AUTHORIZATION_ERROR");
}

#[tokio::test]
async fn no_token_is_401() {
    let f = fixture().await;
    let answer = oneshot::get(&f.app, "/api/v1/app/users/me").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let f = fixture().await;
    let api = serde_json::to_value(users::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&f.app, &api).await;
}
