//! What one request cost in AWS calls: DynamoDB capacity units (as DynamoDB reports them
//! with `ReturnConsumedCapacity`) and calls per service. The edge measures each request
//! ([`measure`]); the store's SDK interceptor and object client [`record`] into it.

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

/// The AWS calls made while serving one request, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AwsUsage {
    pub dynamodb_calls: u32,
    /// Read capacity units consumed, summed over every call.
    pub dynamodb_read_units: f64,
    /// Write capacity units consumed, summed over every call.
    pub dynamodb_write_units: f64,
    pub s3_calls: u32,
    pub sqs_calls: u32,
}

impl AwsUsage {
    /// `ddb_rcu=1.5, ddb_wcu=1, ddb_calls=3, s3_calls=0, sqs_calls=0`: the value of the
    /// `x-aloft-aws-usage` header.
    pub fn to_header_value(&self) -> String {
        format!(
            "ddb_rcu={}, ddb_wcu={}, ddb_calls={}, s3_calls={}, sqs_calls={}",
            self.dynamodb_read_units,
            self.dynamodb_write_units,
            self.dynamodb_calls,
            self.s3_calls,
            self.sqs_calls
        )
    }

    /// Parses [`Self::to_header_value`]; `None` for anything else.
    pub fn from_header_value(value: &str) -> Option<Self> {
        let mut usage = Self::default();
        for pair in value.split(',') {
            let (name, number) = pair.trim().split_once('=')?;
            match name {
                "ddb_rcu" => usage.dynamodb_read_units = number.parse().ok()?,
                "ddb_wcu" => usage.dynamodb_write_units = number.parse().ok()?,
                "ddb_calls" => usage.dynamodb_calls = number.parse().ok()?,
                "s3_calls" => usage.s3_calls = number.parse().ok()?,
                "sqs_calls" => usage.sqs_calls = number.parse().ok()?,
                _ => return None,
            }
        }
        Some(usage)
    }
}

/// The header the edge puts the usage in, when `AWS_USAGE_HEADER=true` (local stacks and
/// benchmarks; it tells callers about internals, so deployed stages leave it off).
pub const HEADER: &str = "x-aloft-aws-usage";

tokio::task_local! {
    static CURRENT: Arc<Mutex<AwsUsage>>;
}

/// Runs `future`, summing the AWS usage recorded while it runs (in this task: work joined
/// with `tokio::join!` counts, a `tokio::spawn`ed task does not).
pub async fn measure<F: Future>(future: F) -> (F::Output, AwsUsage) {
    let usage = Arc::new(Mutex::new(AwsUsage::default()));
    let output = CURRENT.scope(usage.clone(), future).await;
    let total = *usage
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    (output, total)
}

/// Adds to the usage of the request being measured; does nothing outside [`measure`].
pub fn record(add: impl FnOnce(&mut AwsUsage)) {
    let _ = CURRENT.try_with(|usage| {
        add(&mut usage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sums_what_is_recorded_inside_and_ignores_the_rest() {
        record(|u| u.s3_calls += 1);
        let ((), usage) = measure(async {
            record(|u| {
                u.dynamodb_calls += 1;
                u.dynamodb_read_units += 0.5;
            });
            let joined = async { record(|u| u.sqs_calls += 1) };
            tokio::join!(joined, async { record(|u| u.dynamodb_write_units += 2.0) });
        })
        .await;
        assert_eq!(
            usage,
            AwsUsage {
                dynamodb_calls: 1,
                dynamodb_read_units: 0.5,
                dynamodb_write_units: 2.0,
                s3_calls: 0,
                sqs_calls: 1,
            }
        );
        assert_eq!(
            AwsUsage::from_header_value(&usage.to_header_value()),
            Some(usage)
        );
    }
}
