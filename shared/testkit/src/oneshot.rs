//! Driving a function's router in-process, the way API Gateway would call it.

use axum::{Router, body::Body};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A response as a test looks at it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }
}

/// Sends `request` through `app` (the router with the shared edge) and reads the answer.
pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("routers are infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("response body reads")
        .to_bytes();
    Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// `GET path` through `app`.
pub async fn get(app: &Router, path: &str) -> Answer {
    let request = Request::get(path)
        .body(Body::empty())
        .expect("a GET request builds");
    send(app, request).await
}

/// Every operation in `openapi` (the JSON of a function's document) reaches a handler of
/// `app`: the router and the document are written separately, and this keeps them
/// honest. Path parameters are filled with a nil UUID.
pub async fn assert_documented_routes_exist(app: &Router, openapi: &serde_json::Value) {
    let paths = openapi["paths"]
        .as_object()
        .expect("the document has paths");
    for (path, item) in paths {
        let concrete = fill_path_parameters(path);
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&concrete)
                .body(Body::empty())
                .expect("request builds");
            let answer = send(app, request).await;
            let unrouted = answer.status == StatusCode::METHOD_NOT_ALLOWED
                || (answer.status == StatusCode::NOT_FOUND
                    && answer.json()["error"]["details"]["resource"] == "Route");
            assert!(!unrouted, "{method} {path} is documented but not routed");
        }
    }
}

fn fill_path_parameters(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "00000000-0000-0000-0000-000000000000"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A request as user `user` (role `user`, own tenant) with an optional JSON body.
pub fn as_user(method: &str, path: &str, user: &str, json: Option<&str>) -> Request<Body> {
    as_role(method, path, user, aloft_auth::Role::User, json)
}

/// A request as user `user` with `role` (own tenant) and an optional JSON body.
pub fn as_role(
    method: &str,
    path: &str,
    user: &str,
    role: aloft_auth::Role,
    json: Option<&str>,
) -> Request<Body> {
    let token = crate::token_for(user, role);
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    match json {
        Some(json) => builder
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(json.to_owned())),
        None => builder.body(Body::empty()),
    }
    .expect("request builds")
}
