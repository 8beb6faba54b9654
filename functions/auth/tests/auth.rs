//! The auth function's router against the local emulator.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_auth::{JwtKeys, Role};
use aloft_http::HttpConfig;
use aloft_testkit::{TestEnv, auth_config, oneshot};
use axum::{Router, body::Body};
use http::{Request, StatusCode, header};

async fn app() -> Router {
    let env = TestEnv::new().await;
    let env = env.env(&[("BOOTSTRAP_ADMIN_EMAILS", "Boss@Example.com")]);
    fn_auth::router(
        fn_auth::AppState::from_env(&env).await.unwrap(),
        &HttpConfig::from_env(&env).unwrap(),
    )
}

fn json(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn with_cookie(path: &str, cookie: &str) -> Request<Body> {
    Request::post(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

async fn register(app: &Router, email: &str) -> oneshot::Answer {
    let body =
        format!(r#"{{"email": "{email}", "password": "correct horse", "full_name": "Ann"}}"#);
    oneshot::send(app, json("/api/v1/public/auth/register", &body)).await
}

/// Signs in and returns (access token, `aloft_refresh=…` cookie pair).
async fn login(app: &Router, email: &str) -> (String, String) {
    let body = format!(r#"{{"email": "{email}", "password": "correct horse"}}"#);
    let answer = oneshot::send(app, json("/api/v1/public/auth/login", &body)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    (
        answer.json()["access_token"].as_str().unwrap().to_owned(),
        cookie_pair(&answer),
    )
}

fn cookie_pair(answer: &oneshot::Answer) -> String {
    let set_cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn register_creates_a_user_in_a_personal_tenant() {
    let app = app().await;
    let answer = register(&app, "Ann@Example.com").await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let user = answer.json();
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_active"], true);
    assert_eq!(user["subscription_plan"], "free");
    assert!(user.get("password_hash").is_none());
    assert!(
        user.get("is_premium").is_none(),
        "v1 has no computed fields"
    );
}

#[tokio::test]
async fn duplicate_email_is_a_conflict_whatever_its_case() {
    let app = app().await;
    register(&app, "dup@example.com").await;
    let answer = register(&app, "DUP@example.com").await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(answer.json()["error"]["code"], "CONFLICT");
}

#[tokio::test]
async fn invalid_registration_names_the_field() {
    let app = app().await;
    for (body, field) in [
        (r#"{"email": "nope", "password": "correct horse"}"#, "email"),
        (
            r#"{"email": "a@example.com", "password": "short"}"#,
            "password",
        ),
        (r#"{"email": "a@example.com"}"#, "body"),
    ] {
        let answer = oneshot::send(&app, json("/api/v1/public/auth/register", body)).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.json()["error"]["details"]["field"], field, "{body}");
    }
}

/// A verification link's token for `email`'s user, as `jobs-worker` mints and mails it.
async fn verification_token(env: &TestEnv, email: &str) -> String {
    let table = aloft_store::Table::new(env.clients.dynamodb.clone(), env.table());
    let user = aloft_store::UserRepo::new(table.clone())
        .find_by_email(email)
        .await
        .unwrap()
        .unwrap();
    let token = aloft_auth::opaque::random_secret().unwrap();
    let record = aloft_store::OneTimeRecord {
        user_id: user.id,
        email: user.email,
        expires_at: aloft_core::timestamp::unix_now() + 60,
    };
    aloft_store::OneTimeTokens::new(table)
        .issue(
            aloft_store::Purpose::VerifyEmail,
            &aloft_auth::opaque::secret_hash(&token),
            &record,
        )
        .await
        .unwrap();
    token
}

#[tokio::test]
async fn a_bootstrap_email_becomes_admin_only_once_verified() {
    let env = TestEnv::new().await;
    let vars = env.env(&[("BOOTSTRAP_ADMIN_EMAILS", "Boss@Example.com")]);
    let app = fn_auth::router(
        fn_auth::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let answer = register(&app, "boss@example.com").await;
    assert_eq!(
        answer.json()["role"],
        "user",
        "whoever registers it first gains nothing"
    );
    assert_eq!(answer.json()["is_verified"], false);
    let (token, _) = login(&app, "boss@example.com").await;
    let principal = JwtKeys::new(&auth_config()).verify(&token).unwrap();
    assert_eq!(principal.role, Role::User);

    let link = verification_token(&env, "boss@example.com").await;
    let body = format!(r#"{{"token": "{link}"}}"#);
    let verified = oneshot::send(&app, json("/api/v1/public/auth/verify-email", &body)).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.json()["role"], "admin");
    assert_eq!(verified.json()["is_verified"], true);
    let (token, _) = login(&app, "boss@example.com").await;
    let principal = JwtKeys::new(&auth_config()).verify(&token).unwrap();
    assert_eq!(principal.role, Role::Admin);
    assert!(
        principal.session_id().is_some(),
        "the token names its session"
    );

    let reused = oneshot::send(&app, json("/api/v1/public/auth/verify-email", &body)).await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST, "{}", reused.text);
}

#[tokio::test]
async fn login_sets_a_strict_http_only_refresh_cookie() {
    let app = app().await;
    register(&app, "ann@example.com").await;
    let body = r#"{"email": "ann@example.com", "password": "correct horse"}"#;
    let answer = oneshot::send(&app, json("/api/v1/public/auth/login", body)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let token = answer.json();
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], 900);
    let principal = JwtKeys::new(&auth_config())
        .verify(token["access_token"].as_str().unwrap())
        .unwrap();
    assert!(!principal.tenant_id.as_str().is_empty());
    let cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    for attribute in [
        "aloft_refresh=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
}

#[tokio::test]
async fn login_accepts_the_oauth2_password_form() {
    let app = app().await;
    register(&app, "form@example.com").await;
    let request = Request::post("/api/v1/public/auth/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "username=form%40example.com&password=correct+horse",
        ))
        .unwrap();
    let answer = oneshot::send(&app, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let app = app().await;
    register(&app, "ann@example.com").await;
    let wrong_password = oneshot::send(
        &app,
        json(
            "/api/v1/public/auth/login",
            r#"{"email": "ann@example.com", "password": "wrong horse"}"#,
        ),
    )
    .await;
    let unknown_email = oneshot::send(
        &app,
        json(
            "/api/v1/public/auth/login",
            r#"{"email": "who@example.com", "password": "wrong horse"}"#,
        ),
    )
    .await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_email.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_password.json()["error"],
        unknown_email.json()["error"]
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = app().await;
    register(&app, "ann@example.com").await;
    let (_, first) = login(&app, "ann@example.com").await;

    let rotated = oneshot::send(&app, with_cookie("/api/v1/public/auth/refresh", &first)).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second = cookie_pair(&rotated);
    assert_ne!(first, second);

    // The first token again: a stolen copy. It is refused and the family is revoked...
    let reused = oneshot::send(&app, with_cookie("/api/v1/public/auth/refresh", &first)).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert!(
        reused.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // ...so the legitimate, newer token stops working too.
    let after = oneshot::send(&app, with_cookie("/api/v1/public/auth/refresh", &second)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_without_a_cookie_is_401() {
    let app = app().await;
    let answer = oneshot::send(&app, with_cookie("/api/v1/public/auth/refresh", "other=1")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"]["code"], "AUTHENTICATION_ERROR");
}

#[tokio::test]
async fn logout_revokes_the_family_and_clears_the_cookie() {
    let app = app().await;
    register(&app, "ann@example.com").await;
    let (_, cookie) = login(&app, "ann@example.com").await;
    let answer = oneshot::send(&app, with_cookie("/api/v1/public/auth/logout", &cookie)).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(
        answer.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let refresh = oneshot::send(&app, with_cookie("/api/v1/public/auth/refresh", &cookie)).await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    // Logging out twice is fine.
    let again = oneshot::send(&app, with_cookie("/api/v1/public/auth/logout", &cookie)).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = app().await;
    let api = serde_json::to_value(fn_auth::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&app, &api).await;
}

fn login_from(ip: &str) -> Request<Body> {
    use lambda_http::{
        aws_lambda_events::apigw::{
            ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
        },
        request::RequestContext,
    };
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.source_ip = Some(ip.to_owned());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http = http;
    let mut request = json(
        "/api/v1/public/auth/login",
        r#"{"email": "who@example.com", "password": "wrong horse"}"#,
    );
    request
        .extensions_mut()
        .insert(RequestContext::ApiGatewayV2(context));
    request
}

#[tokio::test]
async fn sixth_login_attempt_in_a_minute_from_one_ip_is_429() {
    let app = app().await;
    aloft_testkit::early_in_a_rate_window().await;
    for attempt in 1..=5 {
        let answer = oneshot::send(&app, login_from("198.51.100.4")).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        assert_eq!(answer.headers["x-ratelimit-limit"], "5");
        assert_eq!(
            answer.headers["x-ratelimit-remaining"].to_str().unwrap(),
            (5 - attempt).to_string()
        );
    }
    let sixth = oneshot::send(&app, login_from("198.51.100.4")).await;
    assert_eq!(sixth.status, StatusCode::TOO_MANY_REQUESTS);
    let body = sixth.json();
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    let retry_after: u64 = sixth.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(body["error"]["details"]["retry_after"], retry_after);
    assert_eq!(sixth.headers["x-ratelimit-remaining"], "0");
    assert!(sixth.headers.contains_key("x-ratelimit-reset"));

    // Another client is not affected.
    let other = oneshot::send(&app, login_from("198.51.100.5")).await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
}
