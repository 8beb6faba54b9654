//! The local stack's own programs. `bootstrap` creates the resources of `template.yaml`
//! on the emulator, under the names the functions are configured with in the workspace
//! `Cargo.toml` (`[workspace.metadata.lambda.watch.env]`).
//!
//! `api-front` ([`api_front`]) plays API Gateway's HTTP API in front of cargo lambda watch;
//! `sqs-shim` ([`sqs_shim`]) plays the Lambda SQS poller for the worker functions;
//! `ws-gateway` ([`ws_gateway`]) plays API Gateway's WebSocket API for `realtime`.
//! [`mailbox`] reads back the emails sent to the emulator's SES (the front's
//! `/_local/mail`, and tests).

pub mod api_front;
mod call_log;
pub mod mailbox;
pub mod sqs_shim;
mod wire;
pub mod ws_gateway;

/// Prefix of every local resource name: `aloft-local-app-table`, …
pub const LOCAL_PREFIX: &str = "aloft-local";

/// Logs of a local program: `RUST_LOG` (default `info`), colour only on a terminal (not in
/// the `.local/*.log` files the stack writes).
pub fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}
