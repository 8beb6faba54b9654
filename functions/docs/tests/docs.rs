//! The docs function's router.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_http::HttpConfig;
use aloft_testkit::{TestEnv, oneshot};
use axum::Router;
use http::{StatusCode, header};

async fn app(pairs: &[(&'static str, &str)]) -> Router {
    let env = TestEnv::new().await.env(pairs);
    fn_docs::router(
        fn_docs::AppState::from_env(&env).await.unwrap(),
        &HttpConfig::from_env(&env).unwrap(),
    )
}

async fn get(app: Router, path: &str) -> (StatusCode, http::HeaderMap, String) {
    let answer = oneshot::get(&app, path).await;
    (answer.status, answer.headers, answer.text)
}

#[tokio::test]
async fn openapi_json_is_an_openapi_31_document_of_every_function() {
    let (status, headers, body) =
        get(app(&[("ALOFT_STAGE", "local")]).await, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let spec: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(spec["info"]["title"], "Aloft API");
    assert!(spec["paths"]["/api/v2/public/health/ready"]["get"].is_object());
    assert!(spec["components"]["securitySchemes"]["BearerJWT"].is_object());
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
}

#[test]
fn the_served_document_is_the_one_the_code_describes() {
    let served: serde_json::Value = serde_json::from_str(fn_docs::DOCUMENT).unwrap();
    let current = serde_json::to_value(fn_docs::openapi()).unwrap();
    assert!(
        served == current,
        "functions/docs/openapi.json is stale: run `make openapi` and commit it"
    );
}

#[tokio::test]
async fn swagger_and_redoc_pages_allow_their_cdn() {
    for path in ["/docs", "/redoc"] {
        let (status, headers, body) = get(app(&[("ALOFT_STAGE", "local")]).await, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.contains("/openapi.json"), "{path}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("https://cdn.jsdelivr.net"), "{path}: {csp}");
    }
}

#[tokio::test]
async fn locally_the_pages_load_the_same_files_from_the_stack_itself() {
    let env = [
        ("ALOFT_STAGE", "local"),
        ("DOCS_ASSETS_URL", "/docs/assets"),
    ];
    let (_, headers, body) = get(app(&env).await, "/docs").await;
    assert!(
        body.contains(r#"src="/docs/assets/swagger-ui-dist@"#),
        "{body}"
    );
    assert!(!body.contains("jsdelivr"), "{body}");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(!csp.contains("https://"), "{csp}");
}

#[tokio::test]
async fn every_cdn_file_is_pinned_to_an_exact_version_with_integrity() {
    for (path, expected) in [("/docs", 2), ("/redoc", 1)] {
        let (_, _, body) = get(app(&[("ALOFT_STAGE", "local")]).await, path).await;
        let tags = cdn_tags(&body);
        assert_eq!(tags.len(), expected, "{path}: {tags:?}");
        for (url, tag) in tags {
            assert!(has_exact_version(&url), "{path}: floating version in {url}");
            assert!(
                tag.contains(r#"integrity="sha384-"#),
                "{path}: no SRI on {url}"
            );
            assert!(
                tag.contains(r#"crossorigin="anonymous""#),
                "{path}: no crossorigin on {url}"
            );
        }
    }
}

/// Each tag whose `src` or `href` loads from the CDN, as (url, whole tag).
fn cdn_tags(html: &str) -> Vec<(String, String)> {
    html.split('<')
        .filter_map(|rest| rest.split_once('>').map(|(tag, _)| tag))
        .flat_map(|tag| {
            ["src=\"", "href=\""].into_iter().filter_map(move |attr| {
                let value = tag.split_once(attr)?.1.split_once('"')?.0;
                value
                    .starts_with("https://cdn.jsdelivr.net/")
                    .then(|| (value.to_owned(), tag.to_owned()))
            })
        })
        .collect()
}

/// `.../npm/pkg@1.2.3/file` is exact; `pkg@5/`, `pkg@latest/` or no `@` float.
fn has_exact_version(url: &str) -> bool {
    let Some((_, after)) = url.rsplit_once('@') else {
        return false;
    };
    let version = after.split('/').next().unwrap_or_default();
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

#[tokio::test]
async fn docs_are_off_outside_local_unless_enabled() {
    for path in ["/docs", "/redoc", "/openapi.json"] {
        let (status, _, body) = get(app(&[("ALOFT_STAGE", "prod")]).await, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body.contains("NOT_FOUND"));
    }
    let (status, _, _) = get(
        app(&[("ALOFT_STAGE", "prod"), ("DOCS_ENABLED", "true")]).await,
        "/openapi.json",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn docs_can_be_switched_off_locally() {
    let (status, _, _) = get(
        app(&[("ALOFT_STAGE", "local"), ("DOCS_ENABLED", "false")]).await,
        "/docs",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn operation_ids_are_unique_across_versions() {
    let spec = serde_json::to_value(fn_docs::openapi()).unwrap();
    let mut ids: Vec<String> = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str().map(str::to_owned))
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count);
    assert!(count >= 4);
}
