//! Calls to third parties (identity providers' JWKS, webhook receivers, AI providers):
//! one HTTPS client over the hyper/rustls stack the AWS SDK already links, so no
//! function carries a second HTTP/TLS stack, and every call has its timeouts.
//!
//! A [`Client`] is built once per cold start and reused. [`Client::send`] bounds the
//! connection (connect timeout) and the wait for the answer's first byte; reading the
//! rest is bounded by the caller, with [`read_body`] or frame by frame.
//!
//! A client for URLs someone else chose ([`Client::restricted`]) connects only to
//! addresses its filter allows, checked on the very addresses it connects to: the name is
//! resolved once, so a DNS answer rebound between a check and the connection cannot
//! slip through.
//!
//! Inside a trace ([`TraceHeader::current`]) each call is a child span: it sends
//! `traceparent` (and the caller's `tracestate`) so the receiver can continue the trace,
//! and is recorded for export when spans are kept.

mod roots;

use std::{
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use aloft_core::trace::{self, SpanKind, TraceHeader};
use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{
        self,
        connect::{HttpConnector, dns::Name},
    },
    rt::TokioExecutor,
};

/// Why a call got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("the answer was cut: {0}")]
    Body(String),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
}

/// Which addresses a restricted client may connect to.
pub type AddressFilter = fn(IpAddr) -> bool;

/// An HTTPS (and, for local servers, HTTP) client; cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: legacy::Client<HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// A client whose connections (TCP and TLS) must open within `connect_timeout`.
    /// Servers are verified against the system's root certificates, read on the first
    /// HTTPS handshake (see [`roots`]).
    pub fn new(connect_timeout: Duration) -> Self {
        Self::build(connect_timeout, Resolver { allows: None })
    }

    /// A client that connects only to addresses `allows` accepts: a name that resolves
    /// to any other address is unreachable. An IP literal in a URL is not resolved, so
    /// the caller checks literals itself.
    pub fn restricted(connect_timeout: Duration, allows: AddressFilter) -> Self {
        Self::build(
            connect_timeout,
            Resolver {
                allows: Some(allows),
            },
        )
    }

    fn build(connect_timeout: Duration, resolver: Resolver) -> Self {
        let mut http = HttpConnector::new_with_resolver(resolver);
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(roots::client_config())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = legacy::Client::builder(TokioExecutor::new())
            // Providers close idle keep-alive connections after a while; do not reuse
            // one that is likely already gone.
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { inner }
    }

    /// Sends `request` and waits at most `first_byte` for the status and headers.
    pub async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
        first_byte: Duration,
    ) -> Result<Response<Incoming>, OutboundError> {
        let host = request.uri().host().unwrap_or_default().to_owned();
        let call = TraceHeader::current().map(|trace| trace.child());
        if let Some(call) = &call {
            let headers = request.headers_mut();
            if let Ok(value) = HeaderValue::try_from(call.traceparent()) {
                headers.insert("traceparent", value);
            }
            if let Some(value) = call
                .tracestate()
                .and_then(|s| HeaderValue::try_from(s).ok())
            {
                headers.insert("tracestate", value);
            }
        }
        let (started, method) = (std::time::SystemTime::now(), request.method().clone());
        let answer = match tokio::time::timeout(first_byte, self.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(OutboundError::Unreachable {
                host: host.clone(),
                reason: error_chain(&e),
            }),
            Err(_) => Err(OutboundError::Timeout(first_byte)),
        };
        if let Some(call) = call.filter(|_| trace::collecting()) {
            let mut attributes = vec![
                ("http.request.method", method.as_str().into()),
                ("server.address", host.into()),
            ];
            let failed = match &answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    attributes.push(("http.response.status_code", status.into()));
                    status >= 500
                }
                Err(e) => {
                    attributes.push(("error.type", e.to_string().into()));
                    true
                }
            };
            trace::record(call.finish(
                method.as_str(),
                SpanKind::Client,
                started,
                attributes,
                failed,
            ));
        }
        answer
    }

    /// hyper's answer to `request`, boxed here: awaited directly, hyper's client
    /// (connection pool, HTTP/1 and HTTP/2 state machines) was compiled again into every
    /// crate that awaits [`Client::send`], about 140 KB of binary each.
    #[inline(never)]
    fn request(&self, request: Request<Full<Bytes>>) -> Answer {
        Box::pin(self.inner.request(request))
    }
}

/// What [`Client::request`] returns.
type Answer = Pin<Box<dyn Future<Output = Result<Response<Incoming>, legacy::Error>> + Send>>;

/// Resolves names with the system resolver (as hyper's own does, off the runtime's
/// threads) and refuses a name any of whose addresses the filter does not allow.
#[derive(Debug, Clone, Copy)]
struct Resolver {
    allows: Option<AddressFilter>,
}

type Addresses = std::vec::IntoIter<SocketAddr>;

impl tower_service::Service<Name> for Resolver {
    type Response = Addresses;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Addresses>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allows = self.allows;
        Box::pin(async move {
            // The connector sets the port.
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let refused = allows.and_then(|allows| addresses.iter().find(|a| !allows(a.ip())));
            if let Some(address) = refused {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{name} resolves to {}, which may not be called",
                        address.ip()
                    ),
                ));
            }
            Ok(addresses.into_iter())
        })
    }
}

/// The whole body of `response`, at most `limit` bytes, within `timeout`.
pub async fn read_body(
    response: Response<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, OutboundError> {
    let read = Limited::new(response.into_body(), limit).collect();
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(OutboundError::TooLarge(limit))
        }
        Ok(Err(e)) => Err(OutboundError::Body(e.to_string())),
        Err(_) => Err(OutboundError::Timeout(timeout)),
    }
}

/// hyper's own message ("client error (Connect)") hides the cause; its sources say it.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    #[tokio::test]
    async fn a_silent_server_times_out_at_the_first_byte() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (_socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let client = Client::new(Duration::from_secs(1));
        let request = Request::get(url).body(Full::default()).unwrap();
        let error = client
            .send(request, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(error, OutboundError::Timeout(_)), "{error}");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_with_its_cause() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let client = Client::new(Duration::from_secs(1));
        let request = Request::get(url).body(Full::default()).unwrap();
        let error = client
            .send(request, Duration::from_secs(1))
            .await
            .unwrap_err();
        let OutboundError::Unreachable { host, reason } = error else {
            panic!("expected unreachable, got {error}");
        };
        assert_eq!(host, "127.0.0.1");
        assert!(reason.to_lowercase().contains("refused"), "{reason}");
    }

    #[tokio::test]
    async fn a_restricted_client_connects_only_to_the_addresses_it_checked() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0_u8; 4096];
            let _ = socket.read(&mut request).await.unwrap();
            socket
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
        });
        let get = || {
            Request::get(format!("http://localhost:{port}/"))
                .body(Full::default())
                .unwrap()
        };
        // `localhost` resolves to loopback, which this filter refuses: no connection.
        let public_only = Client::restricted(Duration::from_secs(1), |ip| !ip.is_loopback());
        let error = public_only
            .send(get(), Duration::from_secs(1))
            .await
            .unwrap_err();
        let OutboundError::Unreachable { reason, .. } = error else {
            panic!("expected unreachable, got {error}");
        };
        assert!(reason.contains("may not be called"), "{reason}");
        assert!(!accepted.is_finished(), "the refused client connected");
        // The same name through a filter that allows it reaches the listener.
        let loopback_ok = Client::restricted(Duration::from_secs(1), |ip| ip.is_loopback());
        let response = loopback_ok
            .send(get(), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        accepted.await.unwrap();
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            // Answer only once the request is in: an early answer is a protocol error.
            let mut request = [0_u8; 4096];
            let _ = socket.read(&mut request).await.unwrap();
            let body = "x".repeat(100);
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{body}");
            socket.write_all(head.as_bytes()).await.unwrap();
        });
        let client = Client::new(Duration::from_secs(1));
        let request = Request::get(url).body(Full::default()).unwrap();
        let response = client.send(request, Duration::from_secs(1)).await.unwrap();
        let error = read_body(response, 10, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(error, OutboundError::TooLarge(10)), "{error}");
    }
}
