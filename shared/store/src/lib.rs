//! DynamoDB, S3 and SQS access: clients built once from one `SdkConfig`, and the single
//! place where SDK failures become API errors.
//!
//! Locally, `AWS_ENDPOINT_URL` points every client at the emulator (moto), and S3 uses
//! path-style addressing because the emulator cannot serve virtual-host buckets.

mod clients;
mod error;

pub use clients::{AwsClients, AwsSettings};
pub use error::StoreError;
