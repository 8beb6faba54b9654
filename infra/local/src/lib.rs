//! The local stack's own programs. `bootstrap` creates the resources of `template.yaml`
//! on the emulator, under the names the functions are configured with in the workspace
//! `Cargo.toml` (`[workspace.metadata.lambda.watch.env]`).
//!
//! The SQS event-source shim and the WebSocket shim will live here as further binaries.

/// Prefix of every local resource name: `aloft-local-app-table`, …
pub const LOCAL_PREFIX: &str = "aloft-local";
