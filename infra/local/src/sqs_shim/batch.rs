//! The two ends of one invocation in Lambda's wire format: the `SqsEvent` built from a
//! ReceiveMessage result, and what the function's answer means for each message.

use std::collections::{HashMap, HashSet};

use aws_lambda_events::{
    encodings::Base64Data,
    sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute},
};
use aws_sdk_sqs::types::{Message, MessageAttributeValue};
use serde_json::Value;

/// The event Lambda's SQS poller sends for `messages` received from the queue `queue_arn`.
pub(super) fn sqs_event(messages: &[Message], queue_arn: &str, region: &str) -> SqsEvent {
    // The aws_lambda_events types are `#[non_exhaustive]`: built from `Default`, field by
    // field.
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|message| record(message, queue_arn, region))
        .collect();
    event
}

fn record(message: &Message, queue_arn: &str, region: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id.clone();
    record.receipt_handle = message.receipt_handle.clone();
    record.body = message.body.clone();
    record.md5_of_body = message.md5_of_body.clone();
    record.md5_of_message_attributes = message.md5_of_message_attributes.clone();
    record.attributes = message
        .attributes()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    record.message_attributes = message
        .message_attributes()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| (name.clone(), message_attribute(value)))
                .collect::<HashMap<_, _>>()
        })
        .unwrap_or_default();
    record.event_source = Some("aws:sqs".into());
    record.event_source_arn = Some(queue_arn.to_owned());
    record.aws_region = Some(region.to_owned());
    record
}

fn message_attribute(value: &MessageAttributeValue) -> SqsMessageAttribute {
    let base64 = |bytes: &[u8]| {
        let mut data = Base64Data::default();
        data.extend_from_slice(bytes);
        data
    };
    let mut attribute = SqsMessageAttribute::default();
    attribute.string_value = value.string_value().map(str::to_owned);
    attribute.binary_value = value.binary_value().map(|blob| base64(blob.as_ref()));
    attribute.string_list_values = value.string_list_values().to_vec();
    attribute.binary_list_values = value
        .binary_list_values()
        .iter()
        .map(|blob| base64(blob.as_ref()))
        .collect();
    attribute.data_type = Some(value.data_type().to_owned());
    attribute
}

/// What a successful invocation's answer means for the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Delete every message.
    AllSucceeded,
    /// Delete every message but these (message ids).
    SomeFailed(HashSet<String>),
    /// Delete nothing: the answer does not make sense, so Lambda retries the whole batch.
    AllFailed(String),
}

/// Reads the function's answer the way the Lambda SQS poller does. Without
/// `ReportBatchItemFailures` any answer is success; with it, an empty or null answer or an
/// empty `batchItemFailures` is success, and an identifier that is empty or not one of
/// `batch`'s message ids fails the whole batch.
pub(super) fn verdict(response: &Value, batch: &HashSet<&str>, report_failures: bool) -> Verdict {
    if !report_failures {
        return Verdict::AllSucceeded;
    }
    let reports_nothing = match response {
        Value::Null => true,
        Value::Object(fields) => fields.get("batchItemFailures").is_none_or(Value::is_null),
        _ => false,
    };
    if reports_nothing {
        return Verdict::AllSucceeded;
    }
    let parsed: SqsBatchResponse = match serde_json::from_value(response.clone()) {
        Ok(parsed) => parsed,
        Err(e) => return Verdict::AllFailed(format!("not an SqsBatchResponse: {e}")),
    };
    let mut failed = HashSet::new();
    for failure in parsed.batch_item_failures {
        if !batch.contains(failure.item_identifier.as_str()) {
            return Verdict::AllFailed(format!(
                "itemIdentifier {:?} is not a message of the batch",
                failure.item_identifier
            ));
        }
        failed.insert(failure.item_identifier);
    }
    if failed.is_empty() {
        Verdict::AllSucceeded
    } else {
        Verdict::SomeFailed(failed)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn batch() -> HashSet<&'static str> {
        HashSet::from(["m1", "m2"])
    }

    #[test]
    fn the_event_carries_the_messages_trace_header_as_lambda_does() {
        use aws_sdk_sqs::types::MessageSystemAttributeName;
        let trace = "Root=1-67a0c0de-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1";
        let message = Message::builder()
            .message_id("m1")
            .body("{}")
            .attributes(MessageSystemAttributeName::AwsTraceHeader, trace)
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .build();
        let event = sqs_event(&[message], "arn:aws:sqs:us-east-1:1:q", "us-east-1");
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["Records"][0]["attributes"]["AWSTraceHeader"], trace);
        assert_eq!(
            json["Records"][0]["attributes"]["ApproximateReceiveCount"],
            "2"
        );
    }

    #[test]
    fn empty_answers_mean_the_whole_batch_succeeded() {
        for answer in [
            Value::Null,
            json!({}),
            json!({"batchItemFailures": null}),
            json!({"batchItemFailures": []}),
        ] {
            assert_eq!(
                verdict(&answer, &batch(), true),
                Verdict::AllSucceeded,
                "{answer}"
            );
        }
    }

    #[test]
    fn listed_messages_are_the_only_failures() {
        let answer = json!({"batchItemFailures": [{"itemIdentifier": "m2"}]});
        assert_eq!(
            verdict(&answer, &batch(), true),
            Verdict::SomeFailed(HashSet::from(["m2".to_owned()]))
        );
    }

    #[test]
    fn unknown_empty_or_missing_identifiers_fail_the_whole_batch() {
        for answer in [
            json!({"batchItemFailures": [{"itemIdentifier": "other"}]}),
            json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
            json!({"batchItemFailures": [{"itemIdentifier": null}]}),
            json!({"batchItemFailures": [{"id": "m1"}]}),
            json!("done"),
        ] {
            assert!(
                matches!(verdict(&answer, &batch(), true), Verdict::AllFailed(_)),
                "{answer}"
            );
        }
    }

    #[test]
    fn without_report_batch_item_failures_any_answer_is_success() {
        let answer = json!({"batchItemFailures": [{"itemIdentifier": "m1"}]});
        assert_eq!(verdict(&answer, &batch(), false), Verdict::AllSucceeded);
    }
}
