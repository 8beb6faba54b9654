//! What the functions' first requests talk to: the AWS APIs and an AI provider, answered
//! locally and fast, so a cold start includes the first real request path (a signed-in
//! read, a write, a queued job) without paying the emulator's own latency.
//!
//! The emulator (moto, with the template's resources and a seeded user) answers each
//! function's first invocations through a recording proxy, the [`StandIn`]; the timed
//! processes then get the recorded answers from the proxy, per operation, in the order
//! they came. In AWS the same calls cost an in-region round trip each (and, once, a TLS
//! handshake), which this measures separately: it is the price of the request, not of
//! the function's start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aloft_auth::Role;
use aloft_outbound::{Client, read_body};
use aloft_queue::{NewJob, QueueName};
use aloft_store::{
    ConnectionRecord, Connections, JobRecord, JobRepo, RefreshRecord, RefreshTokens, SessionUse,
    UserRepo,
};
use aloft_testkit::{PrivateEmulator, TestEnv, connections::FakeConnections, fake_ai::FakeAi};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, Full};
use tokio::net::TcpListener;

use crate::BoxError;

/// The seeded user the signed-in events act as, and the administrator.
const USER: &str = "bench-user";
const ADMIN: &str = "bench-admin";
/// The refresh cookie `auth`'s event presents (its hash is stored by [`Backend::start`]).
const REFRESH_SECRET: &str = "bench-refresh-secret-0123456789abcdef";
/// Lambda's answers are at most 6 MB; so are AWS's for these calls.
const MAX_ANSWER: usize = 6 * 1024 * 1024;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// The emulator with resources and seed data, the recording proxy in front of it, and
/// stand-ins for an AI provider and for API Gateway's WebSocket management API.
#[derive(Debug)]
pub struct Backend {
    _emulator: PrivateEmulator,
    resources: TestEnv,
    _ai: FakeAi,
    ai_url: String,
    connections: FakeConnections,
    pub stand_in: StandIn,
}

impl Backend {
    pub async fn start() -> Result<Self, BoxError> {
        let emulator = PrivateEmulator::start().await;
        let resources = TestEnv::on(&emulator.url).await;
        seed(&resources).await?;
        let stand_in = StandIn::start(&emulator.url).await?;
        let ai = FakeAi::start().await;
        let connections = FakeConnections::start().await;
        Ok(Self {
            connections,
            ai_url: ai.openai_base_url(),
            _emulator: emulator,
            resources,
            _ai: ai,
            stand_in,
        })
    }

    /// `base` with the AWS settings of the seeded resources behind the stand-in, and
    /// the token configuration the events are signed with.
    pub fn function_env(&self, base: &[(String, String)]) -> Vec<(String, String)> {
        let r = &self.resources;
        let overrides = [
            ("AWS_ENDPOINT_URL", self.stand_in.url()),
            ("TABLE_NAME", r.table()),
            ("BUCKET_NAME", r.bucket()),
            ("JOBS_QUEUE_URL", r.queue_url("JobsQueue")),
            ("WEBHOOKS_QUEUE_URL", r.queue_url("WebhooksQueue")),
            ("JWT_SECRET", aloft_testkit::TEST_JWT_SECRET.to_owned()),
            ("JWT_ISSUER", aloft_testkit::TEST_ISSUER.to_owned()),
            ("JWT_AUDIENCE", aloft_testkit::TEST_AUDIENCE.to_owned()),
            ("OPENAI_BASE_URL", self.ai_url.clone()),
            ("WEBSOCKET_MANAGEMENT_URL", self.connections.url.clone()),
            (
                "OPENAI_API_KEY",
                aloft_testkit::fake_ai::FAKE_OPENAI_KEY.to_owned(),
            ),
        ];
        let mut env: Vec<(String, String)> = base
            .iter()
            .filter(|(name, _)| !overrides.iter().any(|(o, _)| o == name))
            .cloned()
            .collect();
        env.extend(overrides.map(|(name, value)| (name.to_owned(), value)));
        env
    }

    /// `event` with its placeholders filled: `{{user_token}}`, `{{admin_token}}` (fresh
    /// access tokens) and `{{refresh_secret}}`.
    pub fn fill(event: &str) -> String {
        event
            .replace(
                "{{user_token}}",
                &aloft_testkit::token_for(USER, Role::User),
            )
            .replace(
                "{{admin_token}}",
                &aloft_testkit::token_for(ADMIN, Role::Admin),
            )
            .replace("{{refresh_secret}}", REFRESH_SECRET)
    }
}

/// The user and the administrator, and a refresh token for the user.
async fn seed(resources: &TestEnv) -> Result<(), BoxError> {
    let table = aloft_store::Table::new(resources.clients.dynamodb.clone(), resources.table());
    let users = UserRepo::new(table.clone());
    users.create(&aloft_testkit::user_record(USER)).await?;
    let mut admin = aloft_testkit::user_record(ADMIN);
    admin.role = "admin".into();
    users.create(&admin).await?;
    let record = RefreshRecord {
        user_id: USER.to_owned(),
        family_id: "bench-family".to_owned(),
        rotated: false,
        expires_at: unix_now() + 86_400,
    };
    let seen = SessionUse {
        at: aloft_core::timestamp::now(),
        user_agent: Some("aloft-bench".to_owned()),
        ip: None,
    };
    RefreshTokens::new(table.clone())
        .start(
            &aloft_auth::opaque::secret_hash(REFRESH_SECRET),
            &record,
            &seen,
        )
        .await?;
    // The connection `realtime`'s `$connect` opens (again), which `jobs-worker` pushes to.
    let connection = ConnectionRecord {
        connection_id: "bench-connection".to_owned(),
        user_id: USER.to_owned(),
        tenant_id: format!("tenant-{USER}"),
        connected_at: aloft_core::timestamp::now(),
        channels: Vec::new(),
        expires_at: unix_now() + 86_400,
        credential_expires_at: None,
        impersonation_session: None,
    };
    Connections::new(table.clone()).open(&connection).await?;
    let jobs = JobRepo::new(table);
    // `jobs-worker`: a notification pushed to the user's connection; `webhook-worker`: a
    // verified Stripe checkout that upgrades the user.
    let notification = serde_json::json!({"user_id": USER, "data": {"title": "Hello"}});
    jobs.create(&job(
        "bench-notify-job",
        "realtime.notify",
        QueueName::Jobs,
        notification,
    ))
    .await?;
    let checkout = serde_json::json!({
        "provider": "stripe", "id": "evt_bench", "kind": "checkout.session.completed",
        "created": unix_now(),
        "payload": {"type": "checkout.session.completed", "data": {"object": {
            "mode": "subscription", "client_reference_id": USER, "customer": "cus_bench",
            "subscription": "sub_bench", "metadata": {"plan": "pro"}
        }}}
    });
    jobs.create(&job(
        "bench-provider-job",
        "provider.event",
        QueueName::Webhooks,
        checkout,
    ))
    .await?;
    Ok(())
}

/// The user's job `id`, stored as a producer stores it before sending its message.
fn job(id: &str, kind: &str, queue: QueueName, payload: serde_json::Value) -> JobRecord {
    let job = NewJob {
        id: id.to_owned(),
        kind: kind.to_owned(),
        queue,
        payload,
        user_id: Some(USER.to_owned()),
    };
    job.queued(None)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One recorded answer.
#[derive(Debug, Clone)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Debug, Default)]
struct Recording {
    replaying: bool,
    /// Per operation, the answers in the order they came.
    answers: HashMap<String, Vec<Answer>>,
    /// Per operation, how many answers have been replayed.
    served: HashMap<String, usize>,
    /// Calls while recording.
    calls: usize,
}

struct Shared {
    upstream: String,
    client: Client,
    recording: Mutex<Recording>,
}

impl Shared {
    fn recording(&self) -> MutexGuard<'_, Recording> {
        self.recording
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A proxy that records the emulator's answers, then replays them.
#[derive(Clone)]
pub struct StandIn {
    url: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIn").field("url", &self.url).finish()
    }
}

impl StandIn {
    async fn start(upstream: &str) -> Result<Self, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: Client::new(UPSTREAM_TIMEOUT),
            recording: Mutex::default(),
        });
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        tokio::spawn(axum::serve(listener, app).into_future());
        Ok(Self { url, shared })
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Forgets what was recorded and forwards to the emulator from now on.
    pub fn record(&self) {
        *self.shared.recording() = Recording::default();
    }

    /// Calls recorded so far.
    pub fn calls(&self) -> usize {
        self.shared.recording().calls
    }

    /// Answers from the recording from now on.
    pub fn replay(&self) {
        self.shared.recording().replaying = true;
    }
}

/// The operation a request is: `X-Amz-Target` (DynamoDB, SQS) with the index it reads,
/// if any (two concurrent queries of one request, say a list and its counter, must each
/// get their own answer back), else method and path.
fn operation(parts: &axum::http::request::Parts, body: &[u8]) -> String {
    let target = HeaderName::from_static("x-amz-target");
    match parts.headers.get(&target).and_then(|v| v.to_str().ok()) {
        Some(target) => {
            let index = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|body| body["IndexName"].as_str().map(str::to_owned));
            match index {
                Some(index) => format!("{target} {index}"),
                None => target.to_owned(),
            }
        }
        None => format!("{} {}", parts.method, parts.uri.path()),
    }
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let operation = operation(&parts, &body);
    let replayed = {
        let mut recording = shared.recording();
        if recording.replaying {
            let served = recording.served.get(&operation).copied().unwrap_or(0);
            let answer = recording
                .answers
                .get(&operation)
                .and_then(|answers| answers.get(served % answers.len()).cloned());
            recording.served.insert(operation.clone(), served + 1);
            Some(answer)
        } else {
            None
        }
    };
    let answer = match replayed {
        Some(Some(answer)) => answer,
        Some(None) => {
            let message = format!("aloft-bench: nothing recorded for {operation}");
            return (StatusCode::BAD_GATEWAY, message).into_response();
        }
        None => match forward(&shared, parts, body).await {
            Ok(answer) => {
                let mut recording = shared.recording();
                recording.calls += 1;
                let answers = recording.answers.entry(operation).or_default();
                answers.push(answer.clone());
                answer
            }
            Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        },
    };
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    response
}

async fn forward(
    shared: &Shared,
    mut parts: axum::http::request::Parts,
    body: Bytes,
) -> Result<Answer, BoxError> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("{}{path}", shared.upstream).parse()?;
    parts.headers.remove(axum::http::header::HOST);
    let upstream = axum::http::Request::from_parts(parts, Full::new(body));
    let response = shared.client.send(upstream, UPSTREAM_TIMEOUT).await?;
    let (parts, body) = response.into_parts();
    let body = read_body(
        axum::http::Response::from_parts(parts.clone(), body),
        MAX_ANSWER,
        UPSTREAM_TIMEOUT,
    )
    .await?;
    let mut headers = parts.headers;
    headers.remove(axum::http::header::TRANSFER_ENCODING);
    Ok(Answer {
        status: parts.status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An upstream that numbers its answers.
    async fn numbering_upstream() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let app = Router::new().fallback(move || {
            let count = Arc::clone(&count);
            async move { format!("answer {}", count.fetch_add(1, Ordering::SeqCst)) }
        });
        tokio::spawn(axum::serve(listener, app).into_future());
        url
    }

    async fn call(stand_in: &StandIn, target: &str) -> (u16, String) {
        let request = axum::http::Request::post(format!("{}/", stand_in.url()))
            .header("x-amz-target", target)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let client = Client::new(UPSTREAM_TIMEOUT);
        let response = client.send(request, UPSTREAM_TIMEOUT).await.unwrap();
        let status = response.status().as_u16();
        let body = read_body(response, MAX_ANSWER, UPSTREAM_TIMEOUT)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn records_then_replays_each_operation_in_order() {
        let stand_in = StandIn::start(&numbering_upstream().await).await.unwrap();
        stand_in.record();
        assert_eq!(call(&stand_in, "Get").await.1, "answer 0");
        assert_eq!(call(&stand_in, "Put").await.1, "answer 1");
        assert_eq!(call(&stand_in, "Get").await.1, "answer 2");
        assert_eq!(stand_in.calls(), 3);
        stand_in.replay();
        // Per operation, in the order recorded, then around again; the upstream is not
        // called (it would answer "answer 3").
        assert_eq!(call(&stand_in, "Get").await.1, "answer 0");
        assert_eq!(call(&stand_in, "Get").await.1, "answer 2");
        assert_eq!(call(&stand_in, "Get").await.1, "answer 0");
        assert_eq!(call(&stand_in, "Put").await.1, "answer 1");
        let (status, body) = call(&stand_in, "Delete").await;
        assert_eq!(status, 502);
        assert!(body.contains("nothing recorded for Delete"), "{body}");
    }
}
