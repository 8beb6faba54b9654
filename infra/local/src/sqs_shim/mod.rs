//! The local SQS event source: plays the Lambda SQS poller for the worker functions.
//!
//! For each `Type: SQS` event of a function in `template.yaml`, one task long-polls the
//! queue, invokes the function through cargo lambda watch's Invoke API with a real
//! `SqsEvent` batch, and deletes every message the function did not list in
//! `batchItemFailures`. Failed messages reappear after their visibility timeout; after
//! `maxReceiveCount` receives the emulator's RedrivePolicy moves them to the DLQ (moto
//! does this on receive, as SQS does), so the shim never touches a DLQ itself.
//!
//! Like Lambda's poller (which starts at five), each queue has a few batches in flight at
//! once ([`POLLERS_PER_QUEUE`]), so one slow job (a webhook receiver taking its full
//! timeout) does not hold back the queue behind it; cargo lambda watch runs four
//! invocations of a function at a time, and the schedule needs one.

mod batch;
mod invoke;
mod poller;
pub mod schedule;

use std::time::Duration;

use aloft_provision::{SqsMapping, Template, resource_name};
use aws_sdk_sqs::{Client, error::DisplayErrorContext, types::QueueAttributeName};
use tokio::task::JoinSet;

pub use invoke::{DEFAULT_API_URL, DEFAULT_INVOKE_TIMEOUT, HttpInvoker, Invoke, InvokeError};
pub use poller::{PollOutcome, Poller, QueueBinding};

/// Why a poll, or locating a queue, failed.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("SQS {operation} on {queue}: {cause}")]
    Sqs {
        operation: &'static str,
        queue: String,
        cause: String,
    },
    #[error("encoding the SqsEvent: {0}")]
    Event(String),
}

/// A pause after a failed poll: the emulator or cargo lambda watch may not be up yet.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl QueueBinding {
    /// Binds `mapping`'s function to the queue at `queue_url`, asking SQS for its ARN.
    pub async fn for_queue_url(
        sqs: &Client,
        mapping: &SqsMapping,
        queue_url: impl Into<String>,
    ) -> Result<Self, ShimError> {
        let mut binding = Self {
            function: mapping.binary.clone(),
            queue_url: queue_url.into(),
            queue_arn: String::new(),
            batch_size: mapping.batch_size,
            report_batch_item_failures: mapping.report_batch_item_failures,
        };
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&binding.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| poller::sqs_failed("GetQueueAttributes", &binding, &e))?;
        binding.queue_arn = attributes
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| ShimError::Sqs {
                operation: "GetQueueAttributes",
                queue: binding.queue_url.clone(),
                cause: "no QueueArn in the answer".into(),
            })?;
        Ok(binding)
    }
}

/// The template's SQS mappings bound to the queues named under `prefix`.
pub async fn bindings(
    sqs: &Client,
    template: &Template,
    prefix: &str,
) -> Result<Vec<QueueBinding>, ShimError> {
    let mut bindings = Vec::with_capacity(template.sqs_mappings.len());
    for mapping in &template.sqs_mappings {
        let name = resource_name(prefix, &mapping.queue_logical_id);
        let not_found = |cause: String| ShimError::Sqs {
            operation: "GetQueueUrl",
            queue: name.clone(),
            cause,
        };
        let url = sqs
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| not_found(DisplayErrorContext(&e).to_string()))?
            .queue_url
            .ok_or_else(|| not_found("no QueueUrl in the answer".into()))?;
        bindings.push(QueueBinding::for_queue_url(sqs, mapping, url).await?);
    }
    Ok(bindings)
}

/// Batches of one queue in flight at once.
pub const POLLERS_PER_QUEUE: usize = 3;

/// Polls every binding's queue forever, [`POLLERS_PER_QUEUE`] tasks each.
pub async fn run<I>(poller: Poller, bindings: Vec<QueueBinding>, invoker: I)
where
    I: Invoke + Clone + Send + Sync + 'static,
{
    let mut tasks = JoinSet::new();
    for binding in bindings {
        for _ in 0..POLLERS_PER_QUEUE {
            let (poller, invoker, binding) = (poller.clone(), invoker.clone(), binding.clone());
            tasks.spawn(async move { poll_forever(&poller, &binding, &invoker).await });
        }
    }
    while let Some(ended) = tasks.join_next().await {
        if let Err(e) = ended {
            tracing::error!(error = %e, "a queue's polling task ended: {e}");
        }
    }
}

async fn poll_forever(poller: &Poller, binding: &QueueBinding, invoker: &impl Invoke) {
    let function = binding.function.as_str();
    loop {
        match poller.poll_once(binding, invoker).await {
            // The long poll ended empty: poll again.
            Ok(outcome) if outcome.received == 0 => {}
            Ok(PollOutcome {
                received,
                deleted,
                failed,
                batch_error,
            }) => {
                tracing::info!(
                    function,
                    batch.received = received,
                    batch.deleted = deleted,
                    batch.failed = failed,
                    "{function}: {received} received, {deleted} deleted, {failed} failed"
                );
                if let Some(error) = batch_error {
                    tracing::warn!(function, error, "{function}: whole batch failed: {error}");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
            Err(e) => {
                tracing::warn!(function, error = %e, "{function}: poll failed, retrying: {e}");
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}
