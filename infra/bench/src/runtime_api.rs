//! A minimal AWS Lambda Runtime API, served on `127.0.0.1:<ephemeral port>`.
//!
//! The harness queues an [`Invocation`] (id, event, oneshot sender for the answer); the
//! function's `GET …/invocation/next` long-poll takes it from the queue, and its
//! `POST …/invocation/{id}/response` (or `/error`) completes it through the oneshot.
//!
//! Every spawned process gets its own server: when a process is killed while its `next`
//! poll is pending, that poll dies with the old queue instead of stealing the next
//! process's event.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt as _;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::BoxError;
use crate::quickack::QuickAckListener;

const DEADLINE: Duration = Duration::from_secs(30);
/// Lambda's synchronous payload limit.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
const TRACE_ID: &str = "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0";

/// How the function answered one invocation.
#[derive(Debug)]
pub enum Outcome {
    /// `POST …/response`; `at` is when its first byte arrived (a streamed answer's
    /// prelude: what its caller waits for before the stream).
    Response { body: Bytes, at: Instant },
    /// `POST …/error`.
    Error { body: Bytes },
}

/// One queued event and where its answer goes.
#[derive(Debug)]
struct Invocation {
    id: String,
    event: Bytes,
    reply: oneshot::Sender<Outcome>,
}

/// A queued invocation the harness is waiting on.
#[derive(Debug)]
pub struct Pending {
    pub id: String,
    pub queued_at: Instant,
    reply: oneshot::Receiver<Outcome>,
}

/// State shared by the request handlers.
#[derive(Debug)]
struct Shared {
    function_arn: String,
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// How many `next` long-polls are waiting for an event.
    pollers: watch::Sender<usize>,
    /// When the first `next` poll came: the function's init is over.
    first_poll: OnceLock<Instant>,
    init_error: watch::Sender<Option<Bytes>>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, HashMap<String, oneshot::Sender<Outcome>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The harness's handle on one running Runtime API server; dropping it stops the server.
#[derive(Debug)]
pub struct RuntimeApi {
    addr: SocketAddr,
    queue: mpsc::Sender<Invocation>,
    pollers: watch::Receiver<usize>,
    init_error: watch::Receiver<Option<Bytes>>,
    shared: Arc<Shared>,
    server: JoinHandle<std::io::Result<()>>,
    next_id: u64,
}

impl RuntimeApi {
    /// Binds an ephemeral loopback port and serves the Runtime API for `function_name`.
    pub async fn start(function_name: &str) -> Result<Self, BoxError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (queue, queue_rx) = mpsc::channel(16);
        let (pollers, pollers_rx) = watch::channel(0);
        let (init_error, init_error_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            queue: tokio::sync::Mutex::new(queue_rx),
            pending: Mutex::default(),
            pollers,
            first_poll: OnceLock::new(),
            init_error,
        });
        // Immediate ACKs: see `quickack` for the 40 ms they save streamed responses.
        let listener = QuickAckListener(listener);
        let server = tokio::spawn(axum::serve(listener, router(Arc::clone(&shared))).into_future());
        Ok(Self {
            addr,
            queue,
            pollers: pollers_rx,
            init_error: init_error_rx,
            shared,
            server,
            next_id: 0,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When the function's first `next` poll came, if it has.
    pub fn first_poll(&self) -> Option<Instant> {
        self.shared.first_poll.get().copied()
    }

    /// Queues `event` for the next `next` poll.
    pub async fn enqueue(&mut self, event: Bytes) -> Result<Pending, BoxError> {
        self.next_id += 1;
        let id = format!("00000000-0000-4000-8000-{:012x}", self.next_id);
        let (reply, reply_rx) = oneshot::channel();
        let queued_at = Instant::now();
        let invocation = Invocation {
            id: id.clone(),
            event,
            reply,
        };
        self.queue
            .send(invocation)
            .await
            .map_err(|_| "the Runtime API server stopped")?;
        Ok(Pending {
            id,
            queued_at,
            reply: reply_rx,
        })
    }

    /// Waits until the function has a `next` long-poll waiting for an event.
    pub async fn until_polled(&mut self) -> Result<(), BoxError> {
        self.pollers.wait_for(|&waiting| waiting > 0).await?;
        Ok(())
    }

    /// Waits for the function's answer to `pending` (or for an init error).
    pub async fn outcome(&mut self, pending: Pending) -> Result<Outcome, BoxError> {
        let Pending { id, reply, .. } = pending;
        tokio::select! {
            outcome = reply => outcome.map_err(|_| format!("invocation {id} was dropped").into()),
            reported = self.init_error.wait_for(Option::is_some) => Err(match reported {
                Ok(body) => format!("init error: {}", lossy(body.as_deref())).into(),
                Err(_) => "the Runtime API server stopped".into(),
            }),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lossy(body: Option<&[u8]>) -> String {
    String::from_utf8_lossy(body.unwrap_or_default()).into_owned()
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
        .with_state(shared)
}

/// `GET /2018-06-01/runtime/invocation/next`: long-polls until an event is queued.
async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.first_poll.get_or_init(Instant::now);
    let invocation = {
        let _waiting = PollGuard::new(&shared.pollers);
        shared.queue.lock().await.recv().await
    };
    let Some(Invocation { id, event, reply }) = invocation else {
        return (StatusCode::GONE, "benchmark finished").into_response();
    };
    match invocation_response(&id, &shared.function_arn, event) {
        Ok(response) => {
            shared.pending().insert(id, reply);
            response
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn invocation_response(id: &str, arn: &str, event: Bytes) -> Result<Response, axum::http::Error> {
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + DEADLINE;
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header("lambda-runtime-aws-request-id", id)
        .header(
            "lambda-runtime-deadline-ms",
            deadline.as_millis().to_string(),
        )
        .header("lambda-runtime-invoked-function-arn", arn)
        .header("lambda-runtime-trace-id", TRACE_ID)
        .body(Body::from(event))
}

/// `POST /2018-06-01/runtime/invocation/{id}/response`.
async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Body,
) -> StatusCode {
    let mut body = http_body_util::Limited::new(body, MAX_PAYLOAD);
    let mut received = Vec::new();
    let mut first_byte_at = None;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return StatusCode::PAYLOAD_TOO_LARGE;
        };
        if let Ok(data) = frame.into_data() {
            first_byte_at.get_or_insert_with(Instant::now);
            received.extend_from_slice(&data);
        }
    }
    let at = first_byte_at.unwrap_or_else(Instant::now);
    let body = Bytes::from(received);
    complete(&shared, &id, Outcome::Response { body, at })
}

/// `POST /2018-06-01/runtime/invocation/{id}/error`.
async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    complete(&shared, &id, Outcome::Error { body })
}

/// `POST /2018-06-01/runtime/init/error`.
async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    shared.init_error.send_replace(Some(body));
    StatusCode::ACCEPTED
}

fn complete(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    let Some(reply) = shared.pending().remove(id) else {
        return StatusCode::BAD_REQUEST;
    };
    // The harness may have given up on this invocation already; nothing to do then.
    let _ignored = reply.send(outcome);
    StatusCode::ACCEPTED
}

/// Counts a `next` poll as waiting for as long as it lives (even if its request is dropped).
struct PollGuard<'a>(&'a watch::Sender<usize>);

impl<'a> PollGuard<'a> {
    fn new(pollers: &'a watch::Sender<usize>) -> Self {
        pollers.send_modify(|waiting| *waiting += 1);
        Self(pollers)
    }
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        self.0
            .send_modify(|waiting| *waiting = waiting.saturating_sub(1));
    }
}
