//! What the jobs worker's tests share.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::sync::Arc;

use aloft_local::sqs_shim::{Invoke, InvokeError};
use aloft_queue::Worker;
use aws_lambda_events::sqs::SqsEvent;
use fn_jobs_worker::Jobs;
use serde_json::Value;

/// Runs the worker in this process, as cargo lambda would run its binary.
pub struct InProcess(pub Arc<Worker<Jobs>>);

impl Invoke for InProcess {
    async fn invoke(&self, _function: &str, event: Value) -> Result<Value, InvokeError> {
        let event: SqsEvent = serde_json::from_value(event).expect("an SqsEvent");
        Ok(serde_json::to_value(self.0.process(event).await).expect("a batch answer"))
    }
}
