//! The layer stack every HTTP function applies: [`edge`] wraps a router, [`run`] serves
//! it on Lambda.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, Request, State},
    http::Uri,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
    ApiError, ApiVersion, Deprecation, HttpConfig, RequestId, error::InternalCause,
    reply::Envelope, request_id, timestamp,
};

/// Wraps a function's router with everything a response needs: the envelope for every
/// error (including unknown routes, wrong methods and oversize bodies), v2 shaping,
/// request id, version, deprecation and security headers, panic safety and one log line
/// per failed request.
pub fn edge(router: Router, config: &HttpConfig) -> Router {
    router
        .fallback(route_not_found)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::internal("handler panicked").into_response()
        }))
        .layer(middleware::from_fn_with_state(
            Arc::new(config.clone()),
            finish_response,
        ))
}

/// Serves `app` on the Lambda runtime until the sandbox ends.
pub async fn run(app: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(app).await
}

/// Structured logs, honouring `AWS_LAMBDA_LOG_FORMAT` and `RUST_LOG`. Call first in `main`.
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}

async fn route_not_found(uri: Uri) -> ApiError {
    ApiError::not_found("Route", uri.path())
}

async fn finish_response(
    State(config): State<Arc<HttpConfig>>,
    mut request: Request,
    next: Next,
) -> Response {
    let version = ApiVersion::detect(request.uri().path(), request.headers());
    let request_id = RequestId::resolve(request.headers(), request.extensions());
    request.extensions_mut().insert(request_id.clone());
    request.extensions_mut().insert(version);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();

    let mut response = next.run(request).await;
    if response.status().as_u16() >= 400 && response.extensions().get::<Envelope>().is_none() {
        response = envelope_bare_error(response);
    }
    log_failure(&response, &method, &path, &request_id);
    if version == ApiVersion::V2 {
        response = wrap_for_v2(response, &request_id).await;
    }
    set_headers(
        response.headers_mut(),
        version,
        &request_id,
        &config.deprecation,
    );
    response
}

/// Framework responses (405 from the router, 413 from a body limit) carry only a status;
/// give them our envelope and keep their headers (`Allow`, for one).
fn envelope_bare_error(bare: Response) -> Response {
    let (parts, _) = bare.into_parts();
    let mut response = ApiError::from_status(parts.status).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

fn log_failure(response: &Response, method: &Method, path: &str, request_id: &RequestId) {
    let status = response.status().as_u16();
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(
            http.status = status,
            http.method = %method,
            http.path = path,
            request_id = request_id.as_str(),
            error.cause = cause.as_str(),
            "request failed: {cause}"
        );
    } else if status >= 400 {
        tracing::info!(
            http.status = status,
            http.method = %method,
            http.path = path,
            request_id = request_id.as_str(),
            "request rejected with {status}"
        );
    }
}

/// v2 puts success bodies under `data` and adds `meta` beside both `data` and `error`.
/// Our bodies are complete JSON objects we serialized ourselves, so splicing bytes is
/// safe and saves a parse and a re-serialization.
async fn wrap_for_v2(response: Response, request_id: &RequestId) -> Response {
    let Some(envelope) = response.extensions().get::<Envelope>().copied() else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::internal("response body could not be read").into_response();
    };
    let meta = serde_json::json!({
        "request_id": request_id.as_str(),
        "timestamp": timestamp::now(),
        "version": ApiVersion::V2.as_str(),
    })
    .to_string();
    let mut wrapped = Vec::with_capacity(bytes.len() + meta.len() + 20);
    match envelope {
        Envelope::Data => {
            wrapped.extend_from_slice(b"{\"data\":");
            wrapped.extend_from_slice(&bytes);
        }
        Envelope::Error => {
            let object_body = bytes.strip_suffix(b"}").unwrap_or(&bytes);
            wrapped.extend_from_slice(object_body);
        }
    }
    wrapped.extend_from_slice(b",\"meta\":");
    wrapped.extend_from_slice(meta.as_bytes());
    wrapped.push(b'}');
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(wrapped))
}

const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("content-security-policy", "default-src 'self'"),
];

fn set_headers(
    headers: &mut HeaderMap,
    version: ApiVersion,
    request_id: &RequestId,
    deprecation: &Deprecation,
) {
    headers.insert(
        HeaderName::from_static(request_id::HEADER),
        request_id.0.clone(),
    );
    headers.insert("x-api-version", version.header_value());
    headers.insert("x-api-latest-version", ApiVersion::LATEST.header_value());
    // A page that needs a looser policy (the docs UI) sets its own before we get here.
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if deprecation.versions.iter().any(|v| v == version.as_str()) {
        headers.insert("deprecation", HeaderValue::from_static("true"));
        if let Some(sunset) = &deprecation.sunset {
            headers.insert("sunset", sunset.clone());
        }
        let latest = ApiVersion::LATEST.as_str();
        if let Ok(link) =
            HeaderValue::from_str(&format!("</api/{latest}/>; rel=\"successor-version\""))
        {
            headers.insert(header::LINK, link);
        }
        if let Ok(notice) = HeaderValue::from_str(&format!(
            "API {} is deprecated; move to {latest}",
            version.as_str()
        )) {
            headers.insert("x-deprecation-notice", notice);
        }
    }
}
