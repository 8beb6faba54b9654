//! The SQS shim against the local emulator, with in-test workers in place of the
//! functions: what is deleted, what comes back, what reaches the DLQ, and the event shape.
//! Needs the emulator (`make emulator`, or `infra/stack.sh emulator -- cargo test ...`).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::sync::Mutex;

use aloft_local::sqs_shim::{self, Invoke, InvokeError, PollOutcome, Poller, QueueBinding};
use aloft_provision::Template;
use aloft_testkit::TestEnv;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::{
    Client,
    types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName},
};
use serde_json::Value;

/// A worker like ours: fails the messages whose body `fails` picks, and (for backoff)
/// makes them visible again at once instead of after the queue's 60 s.
struct Worker {
    sqs: Client,
    queue_url: String,
    fails: fn(&str) -> bool,
    events: Mutex<Vec<Value>>,
}

impl Worker {
    fn new(env: &TestEnv, fails: fn(&str) -> bool) -> Self {
        Self {
            sqs: env.clients.sqs(),
            queue_url: env.queue_url("JobsQueue"),
            fails,
            events: Mutex::new(Vec::new()),
        }
    }
}

impl Invoke for Worker {
    async fn invoke(&self, _function: &str, event: Value) -> Result<Value, InvokeError> {
        self.events.lock().unwrap().push(event.clone());
        let event: SqsEvent = serde_json::from_value(event).unwrap();
        let mut response = SqsBatchResponse::default();
        for record in event.records {
            if (self.fails)(record.body.as_deref().unwrap_or_default()) {
                self.sqs
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .set_receipt_handle(record.receipt_handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
                response.add_failure(record.message_id.unwrap());
            }
        }
        Ok(serde_json::to_value(response).unwrap())
    }
}

/// A function that always errors, like a panicking handler.
struct Broken;

impl Invoke for Broken {
    async fn invoke(&self, _function: &str, _event: Value) -> Result<Value, InvokeError> {
        Err(InvokeError::Function {
            error_type: "Panic".into(),
            error_message: "boom".into(),
        })
    }
}

/// The jobs worker's mapping from the template, bound to this test's jobs queue.
async fn jobs_binding(env: &TestEnv) -> QueueBinding {
    let template = Template::bundled().unwrap();
    let mapping = template
        .sqs_mappings
        .iter()
        .find(|m| m.queue_logical_id == "JobsQueue")
        .unwrap();
    QueueBinding::for_queue_url(&env.clients.sqs(), mapping, env.queue_url("JobsQueue"))
        .await
        .unwrap()
}

async fn send(env: &TestEnv, queue_url: &str, bodies: &[String]) {
    for body in bodies {
        env.clients
            .sqs()
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
}

/// Messages on the queue, visible or in flight.
async fn messages_on(env: &TestEnv, queue_url: &str) -> usize {
    let attributes = env
        .clients
        .sqs()
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    attributes
        .values()
        .map(|n| n.parse::<usize>().unwrap())
        .sum()
}

fn jobs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("job-{i}")).collect()
}

#[tokio::test]
async fn only_the_reported_failure_stays_on_the_queue() {
    let env = TestEnv::new().await;
    let binding = jobs_binding(&env).await;
    send(&env, &binding.queue_url, &jobs(10)).await;
    let worker = Worker::new(&env, |body| body == "job-3");

    let outcome = Poller::new(env.clients.sqs())
        .poll_once(&binding, &worker)
        .await
        .unwrap();

    let expected = PollOutcome {
        received: 10,
        deleted: 9,
        failed: 1,
        batch_error: None,
    };
    assert_eq!(outcome, expected);
    assert_eq!(messages_on(&env, &binding.queue_url).await, 1);
    let again = env
        .clients
        .sqs()
        .receive_message()
        .queue_url(&binding.queue_url)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body(), Some("job-3"));
    let count =
        &again[0].attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount];
    assert_eq!(count, "2");
}

#[tokio::test]
async fn a_function_error_deletes_nothing() {
    let env = TestEnv::new().await;
    let binding = jobs_binding(&env).await;
    send(&env, &binding.queue_url, &jobs(3)).await;

    let outcome = Poller::new(env.clients.sqs())
        .poll_once(&binding, &Broken)
        .await
        .unwrap();

    assert_eq!(
        (outcome.received, outcome.deleted, outcome.failed),
        (3, 0, 3)
    );
    assert!(outcome.batch_error.unwrap().contains("boom"));
    assert_eq!(messages_on(&env, &binding.queue_url).await, 3);
}

#[tokio::test]
async fn a_message_that_always_fails_moves_to_the_dlq_after_max_receive_count() {
    let env = TestEnv::new().await;
    let template = Template::bundled().unwrap();
    let jobs_queue = template.queues.iter().find(|q| q.logical_id == "JobsQueue");
    let redrive = jobs_queue.unwrap().redrive_policy.clone().unwrap();
    let dlq_url = env.queue_url(&redrive.dead_letter_queue().unwrap());
    let binding = jobs_binding(&env).await;
    send(&env, &binding.queue_url, &["poison".to_owned()]).await;
    let worker = Worker::new(&env, |_| true);
    let poller = Poller::new(env.clients.sqs());

    for receive in 1..=redrive.max_receive_count {
        let outcome = poller.poll_once(&binding, &worker).await.unwrap();
        assert_eq!(
            (outcome.received, outcome.failed),
            (1, 1),
            "receive {receive}"
        );
    }
    let after = poller.poll_once(&binding, &worker).await.unwrap();

    assert_eq!(after.received, 0, "the emulator's redrive took it");
    assert_eq!(messages_on(&env, &binding.queue_url).await, 0);
    let dead = env
        .clients
        .sqs()
        .receive_message()
        .queue_url(&dlq_url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("poison"));
}

#[tokio::test]
async fn the_function_gets_a_real_sqs_event_from_the_queue() {
    let env = TestEnv::new().await;
    let binding = jobs_binding(&env).await;
    let kind = MessageAttributeValue::builder()
        .data_type("String")
        .string_value("welcome-email")
        .build()
        .unwrap();
    env.clients
        .sqs()
        .send_message()
        .queue_url(&binding.queue_url)
        .message_body(r#"{"job":"welcome-email"}"#)
        .message_attributes("kind", kind)
        .send()
        .await
        .unwrap();
    let worker = Worker::new(&env, |_| false);

    let outcome = Poller::new(env.clients.sqs())
        .poll_once(&binding, &worker)
        .await
        .unwrap();

    assert_eq!((outcome.received, outcome.deleted), (1, 1));
    let sent = worker.events.lock().unwrap().pop().unwrap();
    let event: SqsEvent = serde_json::from_value(sent).unwrap();
    let record = &event.records[0];
    assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
    assert_eq!(
        record.event_source_arn.as_deref(),
        Some(binding.queue_arn.as_str())
    );
    assert_eq!(record.aws_region.as_deref(), Some("us-east-1"));
    assert_eq!(record.body.as_deref(), Some(r#"{"job":"welcome-email"}"#));
    assert!(record.message_id.is_some() && record.receipt_handle.is_some());
    assert!(record.md5_of_body.is_some());
    assert_eq!(record.attributes["ApproximateReceiveCount"], "1");
    for name in [
        "SentTimestamp",
        "ApproximateFirstReceiveTimestamp",
        "SenderId",
    ] {
        assert!(record.attributes.contains_key(name), "{name}");
    }
    let kind = &record.message_attributes["kind"];
    assert_eq!(kind.string_value.as_deref(), Some("welcome-email"));
    assert_eq!(kind.data_type.as_deref(), Some("String"));
}

#[tokio::test]
async fn bindings_locate_each_workers_queue_by_its_template_name() {
    let env = TestEnv::new().await;
    let prefix = env.table().strip_suffix("-app-table").unwrap().to_owned();
    let template = Template::bundled().unwrap();

    let bindings = sqs_shim::bindings(&env.clients.sqs(), &template, &prefix)
        .await
        .unwrap();

    let found: Vec<(&str, &str)> = bindings
        .iter()
        .map(|b| (b.function.as_str(), b.queue_url.as_str()))
        .collect();
    let (webhooks, jobs) = (env.queue_url("WebhooksQueue"), env.queue_url("JobsQueue"));
    assert_eq!(
        found,
        [
            ("webhook-worker", webhooks.as_str()),
            ("jobs-worker", jobs.as_str())
        ]
    );
    assert!(
        bindings[1]
            .queue_arn
            .ends_with(&format!(":{prefix}-jobs-queue"))
    );
}
