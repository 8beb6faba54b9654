//! One trace id from a provider webhook's receipt to its effect: the webhooks function
//! (its real router) verifies and queues the event, the local SQS shim receives it from
//! the emulator and invokes this worker in-process, as Lambda would; the edge's log line,
//! the worker's log line, the job record and the job the worker queues in turn all name
//! the same trace. Logs are captured with the JSON formatter of Lambda's JSON log format;
//! spans are exported over OTLP/HTTP to a local receiver, as a collector would get them.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{
    cell::RefCell,
    io,
    sync::{Arc, Mutex, Once},
};

use aloft_http::{HttpConfig, TraceHeader, metrics};
use aloft_local::sqs_shim::{Invoke, InvokeError, Poller, QueueBinding};
use aloft_provision::Template;
use aloft_queue::{JobMessage, Worker};
use aloft_store::{JobRepo, Table, UserRepo};
use aloft_testkit::{TestEnv, oneshot, receiver};
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use axum::body::Body;
use fn_webhook_worker::ProviderEvents;
use http::{Request, StatusCode};
use serde_json::{Value, json};

const STRIPE_SECRET: &str = "whsec_trace_test_secret";

/// Runs the worker in this process, as cargo lambda would run its binary.
struct InProcess(Arc<Worker<ProviderEvents>>);

impl Invoke for InProcess {
    async fn invoke(&self, _function: &str, event: Value) -> Result<Value, InvokeError> {
        let event: SqsEvent = serde_json::from_value(event).unwrap();
        Ok(serde_json::to_value(self.0.process(event).await).unwrap())
    }
}

/// The JSON log lines written on this thread while it lives. One process-wide
/// subscriber, installed before either test hits a callsite, writes each line to the
/// writing thread's buffer: a per-thread `set_default` raced the other test's first
/// events, and a callsite registered in that race stayed disabled (0 lines, seen in CI).
struct Logs {
    buffer: Arc<Mutex<Vec<u8>>>,
}

thread_local! {
    static BUFFER: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
}

struct Sink;

impl io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        BUFFER.with_borrow(|buffer| {
            if let Some(buffer) = buffer {
                buffer.lock().unwrap().extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Call first in every test of this file, before anything logs.
    fn capture() -> Self {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let json = aloft_http::subscriber(Some("info"), true, || Sink);
            tracing::subscriber::set_global_default(json).unwrap();
        });
        let buffer = Arc::new(Mutex::new(Vec::new()));
        BUFFER.set(Some(Arc::clone(&buffer)));
        Self { buffer }
    }

    /// The lines whose fields include every pair of `wanted`.
    fn find(&self, wanted: &Value) -> Vec<Value> {
        let text = String::from_utf8(self.buffer.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|line| {
                wanted
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(name, value)| &line["fields"][name] == value)
            })
            .collect()
    }
}

/// Every span the collector was sent, from every export.
fn exported_spans(collector: &receiver::Receiver) -> Vec<Value> {
    collector
        .received()
        .iter()
        .flat_map(|export| {
            let document: Value = serde_json::from_str(&export.body).unwrap();
            document["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect()
}

fn signed_stripe_request(body: &str) -> Request<Body> {
    let t = i64::try_from(aloft_core::timestamp::unix_now()).unwrap();
    Request::post("/api/v1/public/webhooks/stripe")
        .header("content-type", "application/json")
        .header("x-request-id", "trace-test-webhook")
        .header(
            "stripe-signature",
            receiver::signature_header(STRIPE_SECRET, t, body),
        )
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn a_webhooks_trace_id_follows_it_into_the_worker_its_job_and_the_jobs_it_queues() {
    let logs = Logs::capture();
    let env = TestEnv::new().await;
    let collector = receiver::Receiver::start().await;
    let vars = env.env(&[
        ("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.url.as_str()),
    ]);
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    UserRepo::new(table.clone())
        .create(&aloft_testkit::user_record("u-trace"))
        .await
        .unwrap();
    let webhooks = fn_webhooks::router(
        fn_webhooks::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let worker = InProcess(Arc::new(fn_webhook_worker::worker(&vars).await.unwrap()));
    let mapping = Template::bundled()
        .unwrap()
        .sqs_mappings
        .into_iter()
        .find(|m| m.binary == "webhook-worker")
        .unwrap();
    let sqs = env.clients.sqs();
    let binding = QueueBinding::for_queue_url(&sqs, &mapping, env.queue_url("WebhooksQueue"))
        .await
        .unwrap();
    let captured = metrics::Capture::start();
    let body = json!({
        "id": "evt_trace_1",
        "type": "checkout.session.completed",
        "created": aloft_core::timestamp::unix_now(),
        "data": {"object": {
            "object": "checkout.session",
            "mode": "subscription",
            "client_reference_id": "u-trace",
            "customer": "cus_trace",
        }}
    })
    .to_string();

    // Receipt: no trace header comes in (the local stack has no X-Ray), so the edge
    // starts one and logs it.
    let answer = oneshot::send(&webhooks, signed_stripe_request(&body)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let receipt = logs.find(&json!({"request_id": "trace-test-webhook"}));
    assert_eq!(receipt.len(), 1, "{receipt:?}");
    let trace_id = receipt[0]["fields"]["trace_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        TraceHeader::parse(&format!("Root={trace_id}")).is_some(),
        "{trace_id}"
    );

    // Its effect: the shim feeds the message to the worker.
    let outcome = Poller::new(sqs.clone())
        .poll_once(&binding, &worker)
        .await
        .unwrap();
    assert_eq!((outcome.received, outcome.deleted), (1, 1), "{outcome:?}");
    let processed = logs.find(&json!({"trace_id": trace_id, "job.kind": "provider.event"}));
    assert_eq!(processed.len(), 1, "one line per message: {processed:?}");
    assert_eq!(processed[0]["fields"]["status"], "succeeded");
    assert_eq!(processed[0]["span"]["trace_id"], trace_id.as_str());
    let job_id = processed[0]["fields"]["job.id"].as_str().unwrap();
    let jobs = JobRepo::new(table.clone());
    let job = jobs.get(job_id).await.unwrap().unwrap();
    assert_eq!(job.trace_id.as_deref(), Some(trace_id.as_str()));

    // The worker's own enqueue (`subscription.updated`) carries the trace on.
    let next = sqs
        .receive_message()
        .queue_url(env.queue_url("JobsQueue"))
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let message = &next.messages()[0];
    let header = &message.attributes().unwrap()[&MessageSystemAttributeName::AwsTraceHeader];
    assert_eq!(TraceHeader::parse(header).unwrap().trace_id(), trace_id);
    let fanout: JobMessage = serde_json::from_str(message.body().unwrap()).unwrap();
    let fanout = jobs.get(&fanout.job_id).await.unwrap().unwrap();
    assert_eq!(fanout.trace_id.as_deref(), Some(trace_id.as_str()));

    // One trace in the collector: the receipt's server span, the worker's consumer span
    // continuing it through the queue, and the AWS calls of both as their children.
    let w3c = TraceHeader::parse(&format!("Root={trace_id}"))
        .unwrap()
        .w3c_trace_id();
    let spans = exported_spans(&collector);
    assert!(
        spans.iter().all(|s| s["traceId"] == w3c.as_str()),
        "{spans:#?}"
    );
    let named = |kind: u64, name: &str| -> Vec<&Value> {
        spans
            .iter()
            .filter(|s| s["kind"] == kind && s["name"].as_str().unwrap().contains(name))
            .collect()
    };
    let receipt = named(2, "POST /api/{version}/public/webhooks/{provider}");
    assert_eq!(receipt.len(), 1, "{spans:#?}");
    assert!(
        receipt[0].get("parentSpanId").is_none(),
        "the edge started it"
    );
    let consumer = named(5, "webhooks-queue process");
    assert_eq!(consumer.len(), 1, "{spans:#?}");
    assert_eq!(consumer[0]["parentSpanId"], receipt[0]["spanId"]);
    let sends = named(3, "SQS.SendMessage");
    assert!(
        sends
            .iter()
            .any(|s| s["parentSpanId"] == receipt[0]["spanId"]),
        "{sends:#?}"
    );
    assert!(
        named(3, "DynamoDB.")
            .iter()
            .any(|s| s["parentSpanId"] == consumer[0]["spanId"]),
        "the worker's store calls: {spans:#?}"
    );

    // And the metrics of both ends.
    let documents = captured.documents();
    let has = |name: &str, dimension: &str, value: &str| {
        documents
            .iter()
            .any(|d| d[name] == 1.0 && d[dimension] == value)
    };
    assert!(
        has("WebhooksVerified", "Provider", "stripe"),
        "{documents:?}"
    );
    assert!(
        has("JobsSucceeded", "Kind", "provider.event"),
        "{documents:?}"
    );
}

#[tokio::test]
async fn a_webhook_with_a_bad_signature_counts_as_rejected_for_its_provider() {
    let _logs = Logs::capture();
    let env = TestEnv::new().await;
    let vars = env.env(&[("STRIPE_WEBHOOK_SECRET", "whsec_the_real_one")]);
    let webhooks = fn_webhooks::router(
        fn_webhooks::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let captured = metrics::Capture::start();

    let answer = oneshot::send(&webhooks, signed_stripe_request(r#"{"id":"evt_x"}"#)).await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let documents = captured.documents();
    let rejected: Vec<&Value> = documents
        .iter()
        .filter(|d| d.get("WebhooksRejected").is_some())
        .collect();
    assert_eq!(rejected.len(), 1, "{documents:?}");
    assert_eq!(rejected[0]["Provider"], "stripe");
    assert_eq!(rejected[0]["WebhooksRejected"], 1.0);
    assert!(
        documents
            .iter()
            .all(|d| d.get("WebhooksVerified").is_none())
    );
}
