//! A local webhook receiver: records every request it gets and answers with a status the
//! test can change, to stand in for a subscriber's or a CRM's endpoint.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU16, Ordering},
};

use http::HeaderMap;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A fake third-party server: answers one connection at a time, each on its own task.
pub(crate) trait FakeServer: Clone + Send + Sync + 'static {
    fn serve(&self, stream: TcpStream) -> impl std::future::Future<Output = ()> + Send;
}

/// Binds `address` (`127.0.0.1:0` for a free port), builds the fake for its
/// `http://127.0.0.1:<port>` URL, and serves every connection until the runtime stops.
pub(crate) async fn serve_on<F: FakeServer>(
    address: &str,
    build: impl FnOnce(String) -> F,
) -> std::io::Result<F> {
    let listener = TcpListener::bind(address).await?;
    let fake = build(format!(
        "http://127.0.0.1:{}",
        listener.local_addr()?.port()
    ));
    let serving = fake.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // Streamed answers go out in small writes, each right away, as providers'
            // servers send them (Nagle would hold each until the last is acknowledged).
            let _ = stream.set_nodelay(true);
            let serving = serving.clone();
            tokio::spawn(async move { serving.serve(stream).await });
        }
    });
    Ok(fake)
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET`, `POST`, …
    pub method: String,
    /// With the query string, if any.
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

/// A receiver on 127.0.0.1 at a free port; stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub url: String,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeServer for Receiver {
    fn serve(&self, stream: TcpStream) -> impl std::future::Future<Output = ()> + Send {
        self.handle(stream)
    }
}

impl Receiver {
    /// Starts answering every request with 200.
    pub async fn start() -> Self {
        serve_on("127.0.0.1:0", |base| Self {
            url: format!("{base}/hook"),
            status: Arc::new(AtomicU16::new(200)),
            received: Arc::default(),
        })
        .await
        .expect("a free local port")
    }

    /// Answers later requests with `status`.
    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("receiver lock").clone()
    }

    async fn handle(&self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        self.received.lock().expect("receiver lock").push(request);
        let status = self.status.load(Ordering::SeqCst);
        let response =
            format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

/// Reads one HTTP/1.1 request (head and a `Content-Length` body) from `stream`; `None`
/// when the peer closed before a whole head arrived.
pub(crate) async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(name.trim()),
            http::HeaderValue::try_from(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    let length: usize = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buffer[head_end..]).into_owned();
    Some(Received {
        method,
        path,
        headers,
        body,
    })
}

/// The `t=<unix>,v1=<hex>` header of `body` (hex HMAC-SHA256 with `secret` of
/// `"<t>.<body>"`): Stripe's `Stripe-Signature` and our `X-Webhook-Signature`. Written
/// here from the scheme, apart from the code under test.
pub fn signature_header(secret: &str, t: i64, body: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Received {
    /// Checks `X-Webhook-Signature` as a subscriber would (see [`signature_header`]).
    pub fn signed_with(&self, secret: &str) -> bool {
        use hmac::{Hmac, KeyInit, Mac};
        let Some(header) = self
            .headers
            .get("x-webhook-signature")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let field = |key: &str| {
            header
                .split(',')
                .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
        };
        let (Some(t), Some(v1)) = (field("t"), field("v1")) else {
            return false;
        };
        let Ok(signature) = hex::decode(v1) else {
            return false;
        };
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{t}.{}", self.body).as_bytes());
        mac.verify_slice(&signature).is_ok()
    }
}
