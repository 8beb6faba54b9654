//! Plays the Lambda SQS poller locally: feeds the worker functions served by cargo lambda
//! watch from the emulator's queues, per the SQS events of `template.yaml`. Started by
//! `infra/stack.sh` (`make dev`) after bootstrap and watch; runs until stopped.
//!
//! Env: `AWS_ENDPOINT_URL` (the emulator), `ALOFT_API_URL` (cargo lambda watch, default
//! http://127.0.0.1:9000), `RUST_LOG` (default `info`).

use std::{io::Write, process::ExitCode};

use aloft_config::Env;
use aloft_local::{
    LOCAL_PREFIX,
    sqs_shim::{self, DEFAULT_API_URL, DEFAULT_INVOKE_TIMEOUT, HttpInvoker, Poller},
};
use aloft_provision::Template;
use aloft_store::{AwsClients, AwsSettings};

#[tokio::main]
async fn main() -> ExitCode {
    aloft_local::init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "sqs-shim: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let env = Env::process();
    let endpoint = env
        .required("AWS_ENDPOINT_URL")
        .map_err(|e| format!("{e} (the emulator URL, e.g. http://127.0.0.1:5100)"))?;
    let api_url = env
        .optional("ALOFT_API_URL")
        .unwrap_or_else(|| DEFAULT_API_URL.into());
    let clients = AwsClients::connect(&AwsSettings::local(endpoint)).await;
    let template = Template::bundled().map_err(|e| e.to_string())?;
    // The queues appear when bootstrap runs (again, after an emulator restart): wait.
    let bindings = loop {
        match sqs_shim::bindings(&clients.sqs(), &template, LOCAL_PREFIX).await {
            Ok(bindings) => break bindings,
            Err(e) => {
                tracing::warn!(error = %e, "queues not ready, retrying: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    for binding in &bindings {
        tracing::info!(
            function = %binding.function,
            queue = %binding.queue_url,
            "feeding {} from {}",
            binding.function,
            binding.queue_url
        );
    }
    let invoker = HttpInvoker::new(api_url, DEFAULT_INVOKE_TIMEOUT);
    sqs_shim::run(Poller::new(clients.sqs()), bindings, invoker).await;
    Ok(())
}
