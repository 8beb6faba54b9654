//! The three docs responses. The UIs load their scripts from the jsDelivr CDN (as
//! FastAPI does), so the binary stays small; their pages carry a CSP that allows it.

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, header};

const CDN: &str = "https://cdn.jsdelivr.net";

pub(crate) async fn openapi_json() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        crate::DOCUMENT,
    )
        .into_response()
}

pub(crate) async fn swagger_ui() -> Response {
    html_page(&format!(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Aloft API — Swagger UI</title>
  <link rel="stylesheet" href="{CDN}/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{CDN}/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true }});
  </script>
</body>
</html>"##
    ))
}

pub(crate) async fn redoc() -> Response {
    html_page(&format!(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Aloft API — ReDoc</title>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="{CDN}/npm/redoc@2/bundles/redoc.standalone.js"></script>
</body>
</html>"##
    ))
}

/// The edge's default CSP (`default-src 'self'`) would block the CDN scripts and the
/// inline initialiser; these pages get one that allows exactly those.
fn html_page(body: &str) -> Response {
    let csp = format!(
        "default-src 'self'; script-src 'self' 'unsafe-inline' {CDN}; style-src 'self' 'unsafe-inline' {CDN}; img-src 'self' data: {CDN}; worker-src 'self' blob:; connect-src 'self'"
    );
    let mut response = Html(body.to_owned()).into_response();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}
