//! Plays API Gateway's WebSocket API locally for the `realtime` function served by cargo
//! lambda watch: `ws://127.0.0.1:9001/api/v1/app/ws?token=…`, and the `@connections`
//! management API on the same port. Started by `infra/stack.sh` (`make dev`); runs until
//! stopped.
//!
//! Env: `ALOFT_API_URL` (cargo lambda watch, default http://127.0.0.1:9000),
//! `ALOFT_WS_ADDRESS` (default 127.0.0.1:9001), `RUST_LOG` (default `info`).

use std::{io::Write, process::ExitCode};

use aloft_config::Env;
use aloft_local::{
    sqs_shim::{DEFAULT_API_URL, DEFAULT_INVOKE_TIMEOUT, HttpInvoker},
    ws_gateway::{DEFAULT_ADDRESS, Gateway},
};

#[tokio::main]
async fn main() -> ExitCode {
    aloft_local::init_logging();
    let env = Env::process();
    let api_url = env
        .optional("ALOFT_API_URL")
        .unwrap_or_else(|| DEFAULT_API_URL.into());
    let address = env
        .optional("ALOFT_WS_ADDRESS")
        .unwrap_or_else(|| DEFAULT_ADDRESS.into());
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "ws-gateway: cannot listen on {address}: {e}"
            );
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %address, "WebSocket gateway on ws://{address}/api/v1/app/ws");
    let invoker = HttpInvoker::new(api_url, DEFAULT_INVOKE_TIMEOUT);
    Gateway::new(invoker).serve(listener).await;
    ExitCode::SUCCESS
}
