//! The one mapping from SDK failures to API errors.

use aloft_core::ApiError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// A failed storage call, classified by what the client should be told.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item exists, changed, or is gone.
    #[error("conditional check failed")]
    ConditionFailed,
    /// The service is throttling or unreachable; the request may be retried later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a misconfiguration.
    #[error("storage error: {0}")]
    Other(String),
}

impl StoreError {
    /// Classifies any SDK error. Error codes are the services' own, so this works for
    /// DynamoDB, S3 and SQS alike.
    pub fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().map(str::to_owned);
        match (&err, code.as_deref()) {
            (_, Some("ConditionalCheckFailedException")) => StoreError::ConditionFailed,
            // DynamoDB lists each item's reason in the message ("… reasons [None,
            // ConditionalCheckFailed]"): a failed condition is an answer, a conflict
            // with another transaction (or a throttled item) is worth a retry.
            (_, Some("TransactionCanceledException"))
                if err
                    .message()
                    .is_some_and(|m| m.contains("ConditionalCheckFailed")) =>
            {
                StoreError::ConditionFailed
            }
            (
                _,
                Some(
                    "TransactionCanceledException"
                    | "TransactionConflictException"
                    | "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "Throttling"
                    | "RequestThrottled"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "InternalError"
                    | "InternalFailure"
                    | "ServiceUnavailable"
                    | "SlowDown",
                ),
            )
            | (
                SdkError::TimeoutError(_)
                | SdkError::DispatchFailure(_)
                | SdkError::ResponseError(_),
                _,
            ) => StoreError::Unavailable(describe(&err)),
            _ => StoreError::Other(describe(&err)),
        }
    }
}

/// The SDK's `Display` says only "service error"; the source chain says which.
fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::ConditionFailed => {
                ApiError::Conflict("The resource was changed by another request".into())
            }
            StoreError::Unavailable(cause) => {
                tracing::warn!(error.cause = cause.as_str(), "storage unavailable: {cause}");
                ApiError::unavailable("Storage is temporarily unavailable")
            }
            StoreError::Other(cause) => ApiError::internal(cause),
        }
    }
}
