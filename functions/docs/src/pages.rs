//! The three docs responses. The UIs load their scripts from the jsDelivr CDN (as
//! FastAPI does), so the binary stays small; their pages carry a CSP that allows it.
//! The local stack serves the same files at a path of its own (`DOCS_ASSETS_URL`).

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderName, HeaderValue, header};

/// jsDelivr's mirror of the npm registry: `<CDN>/<package>@<version>/<file>`.
pub(crate) const CDN: &str = "https://cdn.jsdelivr.net/npm";

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

/// An HTML page with its CSP, built once.
pub(crate) type Page = ([(HeaderName, HeaderValue); 1], Html<String>);

pub(crate) fn swagger_ui(assets: &str) -> Page {
    html_page(
        assets,
        format!(
            r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Aloft API — Swagger UI</title>
  <link rel="stylesheet" href="{assets}/swagger-ui-dist@{SWAGGER_UI_VERSION}/swagger-ui.css"
    integrity="{SWAGGER_UI_CSS_SHA384}" crossorigin="anonymous">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/swagger-ui-dist@{SWAGGER_UI_VERSION}/swagger-ui-bundle.js"
    integrity="{SWAGGER_UI_BUNDLE_SHA384}" crossorigin="anonymous"></script>
  <script>
    window.ui = SwaggerUIBundle({{ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true }});
  </script>
</body>
</html>"##
        ),
    )
}

pub(crate) fn redoc(assets: &str) -> Page {
    html_page(
        assets,
        format!(
            r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Aloft API — ReDoc</title>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="{assets}/redoc@{REDOC_VERSION}/bundles/redoc.standalone.js"
    integrity="{REDOC_STANDALONE_SHA384}" crossorigin="anonymous"></script>
</body>
</html>"##
        ),
    )
}

/// The edge's default CSP (`default-src 'self'`) would block the CDN scripts and the
/// inline initialiser; these pages get one that allows exactly those (the assets' origin,
/// none more when they are served from this one).
fn html_page(assets: &str, body: String) -> Page {
    let origin = assets
        .split_once("://")
        .map_or(String::new(), |(scheme, rest)| {
            format!("{scheme}://{}", rest.split('/').next().unwrap_or_default())
        });
    let csp = format!(
        "default-src 'self'; script-src 'self' 'unsafe-inline' {origin}; style-src 'self' 'unsafe-inline' {origin}; img-src 'self' data: {origin}; worker-src 'self' blob:; connect-src 'self'"
    );
    let csp = HeaderValue::from_str(&csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    ([(header::CONTENT_SECURITY_POLICY, csp)], Html(body))
}
