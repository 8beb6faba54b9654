//! The local stack's own programs. `bootstrap` creates the resources of `template.yaml`
//! on the emulator, under the names the functions are configured with in the workspace
//! `Cargo.toml` (`[workspace.metadata.lambda.watch.env]`).
//!
//! `sqs-shim` ([`sqs_shim`]) plays the Lambda SQS poller for the worker functions. The
//! WebSocket shim will live here as a further binary.

pub mod sqs_shim;

/// Prefix of every local resource name: `aloft-local-app-table`, …
pub const LOCAL_PREFIX: &str = "aloft-local";
