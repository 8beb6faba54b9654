//! The trace and the metrics of queued work, against the local emulator: the producer
//! stores the current trace id on the job and sends the trace header as the message's
//! `AWSTraceHeader`; the worker runs each message in that trace (so what it enqueues
//! carries it on) and counts each outcome per job kind; a job no attempt can run is dead
//! at once.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::sync::{Arc, Mutex};

use aloft_http::{TraceHeader, metrics};
use aloft_queue::{
    Attempt, Handler, JobError, NewJob, Producer, QueueName, QueueUrls, Queued, Worker,
    WorkerConfig,
};
use aloft_store::{JobRecord, JobRepo, JobStatus, Table};
use aloft_testkit::TestEnv;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// This test's one kind of job.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
enum TestJob {
    #[serde(rename = "test.kind")]
    Test(Value),
}

impl Queued for TestJob {
    const QUEUE: QueueName = QueueName::Jobs;
}

const TRACE: &str = "Root=1-67a0c0de-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1";
const TRACE_ID: &str = "1-67a0c0de-0123456789abcdef01234567";

/// Job ids, each with the trace id it ran in.
type Seen = Vec<(String, Option<String>)>;

/// Fails jobs whose payload says so; remembers the trace each job ran in.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Seen>>);

impl Handler for Recorder {
    type Job = TestJob;

    async fn handle(
        &self,
        TestJob::Test(payload): TestJob,
        job: &JobRecord,
        _attempt: Attempt,
    ) -> Result<(), JobError> {
        let trace = TraceHeader::current().map(|t| t.trace_id().to_owned());
        self.0.lock().unwrap().push((job.id.clone(), trace));
        if payload.get("fail").is_some() {
            Err(JobError::Retryable("asked to fail".into()))
        } else {
            Ok(())
        }
    }
}

struct Queue {
    env: TestEnv,
    producer: Producer,
    jobs: JobRepo,
    recorder: Recorder,
    worker: Arc<Worker<Recorder>>,
}

async fn queue(max_receives: u32) -> Queue {
    let env = TestEnv::new().await;
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    let urls = QueueUrls::from_env(&env.env(&[]), &[QueueName::Jobs]).unwrap();
    let recorder = Recorder::default();
    let config = WorkerConfig {
        max_receives,
        backoff: std::time::Duration::ZERO,
        otlp: None,
    };
    let worker = Worker::new(
        table.clone(),
        env.clients.sqs(),
        env.queue_url("JobsQueue"),
        config,
        recorder.clone(),
    );
    Queue {
        producer: Producer::new(&env.clients, JobRepo::new(table.clone()), urls),
        jobs: JobRepo::new(table),
        recorder,
        worker: Arc::new(worker),
        env,
    }
}

impl Queue {
    async fn receive(&self) -> Vec<Message> {
        self.env
            .clients
            .sqs()
            .receive_message()
            .queue_url(self.env.queue_url("JobsQueue"))
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
    }

    /// Runs `messages` through the worker as one Lambda batch.
    async fn process(&self, messages: &[Message]) {
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(record).collect();
        self.worker.process(event).await;
    }
}

/// The SQS event record Lambda builds from a received message.
fn record(message: &Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id.clone();
    record.receipt_handle = message.receipt_handle.clone();
    record.body = message.body.clone();
    record.attributes = message
        .attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
        .collect();
    record
}

fn job(payload: Value) -> NewJob {
    TestJob::Test(payload).new_job().unwrap()
}

#[tokio::test]
async fn an_enqueue_in_a_trace_stores_its_id_and_sends_its_header() {
    let queue = queue(5).await;
    let trace = TraceHeader::parse(TRACE).unwrap();

    let record = trace
        .clone()
        .scope(queue.producer.enqueue(job(json!({}))))
        .await
        .unwrap();

    assert_eq!(record.trace_id.as_deref(), Some(TRACE_ID));
    let stored = queue.jobs.get(&record.id).await.unwrap().unwrap();
    assert_eq!(stored.trace_id.as_deref(), Some(TRACE_ID));
    let messages = queue.receive().await;
    let attributes = messages[0].attributes().unwrap();
    // No spans exported: X-Ray's header as it came, its segment the parent.
    assert_eq!(
        attributes[&MessageSystemAttributeName::AwsTraceHeader],
        TRACE
    );
}

#[tokio::test]
async fn an_enqueue_outside_any_trace_sends_no_header() {
    let queue = queue(5).await;

    let record = queue.producer.enqueue(job(json!({}))).await.unwrap();

    assert_eq!(record.trace_id, None);
    let messages = queue.receive().await;
    let attributes = messages[0].attributes().unwrap();
    assert!(!attributes.contains_key(&MessageSystemAttributeName::AwsTraceHeader));
}

#[tokio::test]
async fn the_worker_runs_each_message_in_its_own_trace_or_a_new_one() {
    let queue = queue(5).await;
    let traced = TraceHeader::parse(TRACE)
        .unwrap()
        .scope(queue.producer.enqueue(job(json!({}))))
        .await
        .unwrap();
    let untraced = queue.producer.enqueue(job(json!({}))).await.unwrap();
    let _metrics = metrics::Capture::start();

    queue.process(&queue.receive().await).await;

    let seen = queue.recorder.0.lock().unwrap().clone();
    let trace_of = |id: &str| {
        seen.iter()
            .find(|(job, _)| job == id)
            .and_then(|(_, trace)| trace.clone())
            .unwrap()
    };
    assert_eq!(trace_of(&traced.id), TRACE_ID);
    let fresh = trace_of(&untraced.id);
    assert_ne!(fresh, TRACE_ID);
    assert!(
        TraceHeader::parse(&format!("Root={fresh}")).is_some(),
        "{fresh}"
    );
}

#[tokio::test]
async fn each_outcome_is_counted_per_kind_and_the_last_failure_as_dead() {
    let queue = queue(2).await;
    queue.producer.enqueue(job(json!({}))).await.unwrap();
    queue
        .producer
        .enqueue(job(json!({"fail": true})))
        .await
        .unwrap();
    let captured = metrics::Capture::start();

    // First receive: one succeeds, one fails; the second receive is the failing one's last.
    queue.process(&queue.receive().await).await;
    queue.process(&queue.receive().await).await;

    let counted = |name: &str| -> f64 {
        captured
            .documents()
            .iter()
            .filter(|d| d["Kind"] == "test.kind")
            .filter_map(|d| d[name].as_f64())
            .sum()
    };
    assert_eq!(counted("JobsSucceeded"), 1.0);
    assert_eq!(counted("JobsFailed"), 1.0);
    assert_eq!(counted("JobsDead"), 1.0);
}

#[tokio::test]
async fn a_job_that_is_not_its_queues_kind_is_dead_at_once_with_the_reason() {
    let queue = queue(5).await;
    let stranger = NewJob {
        kind: "test.unknown".into(),
        ..job(json!({}))
    };
    let record = queue.producer.enqueue(stranger).await.unwrap();

    queue.process(&queue.receive().await).await;

    let job = queue.jobs.get(&record.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Dead, "no attempt can run it");
    assert_eq!(job.attempts, 1);
    let error = job.last_error.unwrap_or_default();
    assert!(error.contains("test.unknown"), "{error}");
    assert!(
        queue.recorder.0.lock().unwrap().is_empty(),
        "the handler never saw it"
    );
    assert!(queue.receive().await.is_empty(), "its message is deleted");
}
