//! The three docs responses. The UIs load their scripts from the jsDelivr CDN (as
//! FastAPI does), so the binary stays small; their pages carry a CSP that allows it.

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, header};

const CDN: &str = "https://cdn.jsdelivr.net";

// Exact versions, so a new release cannot change what the pages run; each file carries
// Subresource Integrity, so the CDN cannot either. To bump: `npm view <pkg> version`,
// `npm pack <pkg>@<version>`, extract, then for each file the page loads
// `openssl dgst -sha384 -binary package/<path> | openssl base64 -A`.
// ReDoc stays on 2.x: 3.x is a module script that reports telemetry to Redocly.
const SWAGGER_UI_VERSION: &str = "5.35.0";
const SWAGGER_UI_CSS_SHA384: &str =
    "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I";
const SWAGGER_UI_BUNDLE_SHA384: &str =
    "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9";
const REDOC_VERSION: &str = "2.5.4";
const REDOC_STANDALONE_SHA384: &str =
    "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5";

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
  <link rel="stylesheet" href="{CDN}/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}/swagger-ui.css"
    integrity="{SWAGGER_UI_CSS_SHA384}" crossorigin="anonymous">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{CDN}/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}/swagger-ui-bundle.js"
    integrity="{SWAGGER_UI_BUNDLE_SHA384}" crossorigin="anonymous"></script>
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
  <script src="{CDN}/npm/redoc@{REDOC_VERSION}/bundles/redoc.standalone.js"
    integrity="{REDOC_STANDALONE_SHA384}" crossorigin="anonymous"></script>
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
