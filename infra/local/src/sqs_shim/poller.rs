//! One poll of one queue, as the Lambda SQS poller does it: receive a batch, invoke the
//! function with it, delete the messages that did not fail.

use std::collections::HashSet;

use aws_sdk_sqs::{
    Client,
    error::DisplayErrorContext,
    types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName},
};

use super::{
    Invoke, ShimError,
    batch::{Verdict, sqs_event, verdict},
};

/// A worker function fed by a queue (a template `SqsMapping` with the queue located).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueBinding {
    /// The function's name under cargo lambda watch (its binary).
    pub function: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: u32,
    pub report_batch_item_failures: bool,
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollOutcome {
    pub received: usize,
    pub deleted: usize,
    /// Messages left on the queue to come back after their visibility timeout.
    pub failed: usize,
    /// Why the whole batch failed (function error, unusable answer), if it did.
    pub batch_error: Option<String>,
}

/// SQS returns at most 10 messages per ReceiveMessage, and deletes at most 10 per call.
const SQS_MAX_BATCH: u32 = 10;

/// Receives from queues and invokes their functions.
#[derive(Debug, Clone)]
pub struct Poller {
    sqs: Client,
    region: String,
    wait_time_seconds: i32,
}

impl Poller {
    /// A poller using `sqs`; events carry the client's region.
    pub fn new(sqs: Client) -> Self {
        let region = sqs
            .config()
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.as_ref().to_owned());
        Self {
            sqs,
            region,
            wait_time_seconds: 1,
        }
    }

    /// How long a receive waits for messages (long polling). Keep it under the SDK
    /// client's attempt timeout (2 s for `AwsClients`), or every empty poll times out.
    pub fn with_wait_time_seconds(mut self, seconds: i32) -> Self {
        self.wait_time_seconds = seconds;
        self
    }

    /// Receives one batch from the binding's queue, invokes its function and deletes every
    /// message the function did not report as failed. A function error deletes nothing.
    /// Redrive to the DLQ is the queue's own (its RedrivePolicy acts on receive).
    pub async fn poll_once(
        &self,
        binding: &QueueBinding,
        invoker: &impl Invoke,
    ) -> Result<PollOutcome, ShimError> {
        let messages = self.receive(binding).await?;
        if messages.is_empty() {
            return Ok(PollOutcome::default());
        }
        let event = serde_json::to_value(sqs_event(&messages, &binding.queue_arn, &self.region))
            .map_err(|e| ShimError::Event(e.to_string()))?;
        let ids: HashSet<&str> = messages.iter().filter_map(Message::message_id).collect();
        let verdict = match invoker.invoke(&binding.function, event).await {
            Ok(answer) => verdict(&answer, &ids, binding.report_batch_item_failures),
            Err(e) => Verdict::AllFailed(e.to_string()),
        };
        let (succeeded, batch_error): (Vec<&Message>, _) = match verdict {
            Verdict::AllSucceeded => (messages.iter().collect(), None),
            Verdict::SomeFailed(failed) => (
                messages
                    .iter()
                    .filter(|m| !m.message_id().is_some_and(|id| failed.contains(id)))
                    .collect(),
                None,
            ),
            Verdict::AllFailed(reason) => (Vec::new(), Some(reason)),
        };
        let deleted = self.delete(binding, &succeeded).await?;
        Ok(PollOutcome {
            received: messages.len(),
            deleted,
            failed: messages.len() - succeeded.len(),
            batch_error,
        })
    }

    /// No VisibilityTimeout is passed: the queue's own applies, as with Lambda.
    async fn receive(&self, binding: &QueueBinding) -> Result<Vec<Message>, ShimError> {
        // A larger BatchSize needs Lambda's batching window across receives; ours are 10.
        let max = i32::try_from(binding.batch_size.clamp(1, SQS_MAX_BATCH)).unwrap_or(10);
        let output = self
            .sqs
            .receive_message()
            .queue_url(&binding.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(self.wait_time_seconds)
            // All: ApproximateReceiveCount for the workers' attempts, AWSTraceHeader for
            // their traces (as Lambda's poller passes them).
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| sqs_failed("ReceiveMessage", binding, &e))?;
        Ok(output.messages.unwrap_or_default())
    }

    /// Deletes `messages` in batches of 10; returns how many SQS confirmed.
    async fn delete(
        &self,
        binding: &QueueBinding,
        messages: &[&Message],
    ) -> Result<usize, ShimError> {
        let mut deleted = 0;
        for chunk in messages.chunks(SQS_MAX_BATCH as usize) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, message)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_receipt_handle(message.receipt_handle.clone())
                        .build()
                        .map_err(|e| sqs_failed("DeleteMessageBatch", binding, &e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .sqs
                .delete_message_batch()
                .queue_url(&binding.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sqs_failed("DeleteMessageBatch", binding, &e))?;
            deleted += output.successful.len();
        }
        Ok(deleted)
    }
}

pub(super) fn sqs_failed<E: std::error::Error>(
    operation: &'static str,
    binding: &QueueBinding,
    cause: &E,
) -> ShimError {
    ShimError::Sqs {
        operation,
        queue: binding.queue_url.clone(),
        cause: DisplayErrorContext(cause).to_string(),
    }
}
