//! The local API front: what API Gateway's HTTP API does, on one port. It reads the
//! routes and CORS configuration from `template.yaml`, answers preflight requests, builds
//! each request's payload 2.0 event itself — the caller's real address as `sourceIp`,
//! its user agent, a non-UTF-8 body base64-encoded — and invokes the route's function
//! through cargo lambda watch's Invoke API, which runs several instances per function.
//!
//! Function URLs (`/lambda-url/<function>/…`, where streams are served) pass through to
//! watch with their own CORS configuration applied, as Lambda applies it; the Invoke API
//! (`/2015-03-31/…`) passes through unchanged. CORS origins are the template's
//! `CorsAllowOrigins`, or `CORS_ALLOW_ORIGINS` when set.
//!
//! Two things only the local stack has are answered by the front itself: the docs pages'
//! files ([`assets`]) and the mailbox at `/_local/mail` ([`crate::mailbox`]: the emails
//! the functions sent, read from the emulator's SES).

pub mod assets;
mod cors;
mod event;
mod routes;

use std::{collections::BTreeMap, convert::Infallible, net::IpAddr, sync::Arc, time::Duration};

use aloft_core::ApiError;
use aloft_provision::AllowedOrigins;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use serde_norway::Value;
use tokio::net::TcpListener;

use self::assets::Assets;
pub use self::{
    cors::Cors,
    event::{BadAnswer, http_event, http_response},
    routes::{Matched, Routes, TemplateError},
};
use crate::{
    mailbox::{self, Mailbox},
    sqs_shim::{Invoke, InvokeError},
    wire::json_response,
};

/// The local API's address (docs/api.md "Local endpoints").
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9000";

/// Where cargo lambda watch serves the Invoke API behind the front.
pub const DEFAULT_LAMBDA_URL: &str = "http://127.0.0.1:9010";

/// The emulator the functions use (`AWS_ENDPOINT_URL` in Cargo.toml's watch env), whose
/// SES the mailbox reads.
pub const DEFAULT_EMULATOR_URL: &str = "http://127.0.0.1:5100";

/// The invoker's deadline. API Gateway's is 30 s; locally the functions are debug builds
/// (password hashing alone is several times slower) and a test suite queues dozens of
/// calls per function on two cores, so the front waits as long as the tests' client.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Lambda's synchronous invocation payload limit, which caps a request body.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

type Body = BoxBody<Bytes, hyper::Error>;

/// What the front takes besides the template.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where pass-through requests go: watch's Invoke API.
    pub lambda_url: String,
    /// `CORS_ALLOW_ORIGINS`, when set.
    pub cors_allow_origins: Option<String>,
    /// The installed docs UI packages ([`assets::DEFAULT_DIR`]).
    pub docs_assets: std::path::PathBuf,
    /// The emulator whose sent emails `/_local/mail` shows ([`DEFAULT_EMULATOR_URL`]).
    pub emulator_url: String,
}

/// The front's state: the template's routes and CORS rules, and the way to watch.
#[derive(Debug)]
pub struct Front<I> {
    routes: Routes,
    cors: Cors,
    /// Function URLs' CORS, by function.
    url_cors: BTreeMap<String, Cors>,
    docs_assets: Assets,
    mailbox: Mailbox,
    invoker: I,
    lambda_url: String,
    passthrough: Client<HttpConnector, Body>,
}

impl<I: Invoke + Send + Sync + 'static> Front<I> {
    /// A front for `template` (the text of `template.yaml`) invoking through `invoker`.
    pub fn from_template(
        template: &str,
        settings: Settings,
        invoker: I,
    ) -> Result<Arc<Self>, TemplateError> {
        let template: Value = serde_norway::from_str(template)?;
        let origins = AllowedOrigins::resolve(&template, settings.cors_allow_origins.as_deref())?;
        Ok(Arc::new(Self {
            routes: Routes::from_template(&template)?,
            cors: Cors::http_api(&template, &origins),
            url_cors: Cors::function_urls(&template, &origins),
            docs_assets: Assets::new(settings.docs_assets),
            mailbox: Mailbox::new(&settings.emulator_url),
            invoker,
            lambda_url: settings.lambda_url.trim_end_matches('/').to_owned(),
            passthrough: Client::builder(TokioExecutor::new()).build_http(),
        }))
    }

    /// Serves `listener` until the runtime stops.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        while let Ok((stream, peer)) = listener.accept().await {
            let front = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let front = front.clone();
                    async move { Ok::<_, Infallible>(front.handle(request, peer.ip()).await) }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended");
                }
            });
        }
    }

    async fn handle(&self, request: Request<Incoming>, peer: IpAddr) -> Response<Body> {
        let path = request.uri().path();
        if path.starts_with("/2015-03-31/") {
            return self.pass_through(request).await;
        }
        if path.starts_with(assets::PREFIX) && request.method() == http::Method::GET {
            return full(self.docs_assets.serve(path).await);
        }
        if let Some(function) = path.strip_prefix("/lambda-url/") {
            let function = function.split('/').next().unwrap_or_default();
            let Some(cors) = self.url_cors.get(function) else {
                // No CORS block: Lambda passes the function's answers as they are.
                return self.pass_through(request).await;
            };
            if cors.is_preflight(request.method(), request.headers()) {
                return preflight(cors, request.headers());
            }
            let request_headers = request.headers().clone();
            let mut answer = self.pass_through(request).await;
            cors.decorate(&request_headers, answer.headers_mut());
            return answer;
        }
        if self.cors.is_preflight(request.method(), request.headers()) {
            return preflight(&self.cors, request.headers());
        }
        if path == mailbox::PATH {
            // With the API's CORS headers, so the web client may show it too.
            let mut answer = self
                .mailbox
                .answer(request.method(), request.uri().query())
                .await;
            self.cors.decorate(request.headers(), answer.headers_mut());
            return full(answer);
        }
        let (parts, body) = request.into_parts();
        let mut answer = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(body) => self.invoke(&parts, &body.to_bytes(), peer).await,
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                let error = ApiError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                };
                json_response(StatusCode::PAYLOAD_TOO_LARGE, &error.body().to_string())
            }
            Err(_) => json_response(StatusCode::BAD_REQUEST, r#"{"message":"Bad Request"}"#),
        };
        self.cors.decorate(&parts.headers, answer.headers_mut());
        full(answer)
    }

    /// Runs the request's route and turns the answer into a response. API Gateway's own
    /// answers when that fails: 500 for a function error or a malformed answer, 503 when
    /// the function does not answer in time (the invoker's deadline).
    async fn invoke(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        peer: IpAddr,
    ) -> Response<Full<Bytes>> {
        let Some(route) = self.routes.find(&parts.method, parts.uri.path()) else {
            return json_response(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#);
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let source_ip = peer.to_canonical().to_string();
        let event = http_event(
            &event::Request {
                method: &parts.method,
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or_default(),
                headers: &parts.headers,
                body,
                source_ip: &source_ip,
                request_id: &request_id,
            },
            &route,
        );
        let failure = match self.invoker.invoke(route.function, event).await {
            Ok(answer) => match http_response(&answer) {
                Ok(response) => return response.map(Full::new),
                Err(e) => e.to_string(),
            },
            Err(InvokeError::Timeout(after)) => {
                tracing::error!(function = route.function, ?after, "no answer in time");
                return json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"message":"Service Unavailable"}"#,
                );
            }
            Err(e) => e.to_string(),
        };
        tracing::error!(
            function = route.function,
            route = route.route_key,
            error = failure,
            "no response"
        );
        json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"message":"Internal Server Error"}"#,
        )
    }

    /// Forwards the request to watch as it is and streams the answer back.
    async fn pass_through(&self, request: Request<Incoming>) -> Response<Body> {
        let (mut parts, body) = request.into_parts();
        let target = format!(
            "{}{}",
            self.lambda_url,
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let Ok(uri) = target.parse() else {
            return full(json_response(
                StatusCode::BAD_REQUEST,
                r#"{"message":"Bad Request"}"#,
            ));
        };
        parts.uri = uri;
        parts.headers.remove(http::header::HOST);
        match self
            .passthrough
            .request(Request::from_parts(parts, body.boxed()))
            .await
        {
            Ok(response) => response.map(BodyExt::boxed),
            Err(e) => {
                tracing::error!(error = %e, "cargo lambda watch unreachable");
                full(json_response(
                    StatusCode::BAD_GATEWAY,
                    r#"{"message":"Bad Gateway"}"#,
                ))
            }
        }
    }
}

/// The answer AWS gives a preflight itself: 204 with the allowed lists, or no CORS
/// headers at all for an origin not allowed.
fn preflight(cors: &Cors, request: &http::HeaderMap) -> Response<Body> {
    let mut answer = full(json_response(StatusCode::NO_CONTENT, ""));
    *answer.headers_mut() = cors.preflight(request);
    answer
}

fn full(response: Response<Full<Bytes>>) -> Response<Body> {
    response.map(|body| body.map_err(|never| match never {}).boxed())
}
