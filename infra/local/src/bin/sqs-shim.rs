//! Plays the Lambda SQS poller and EventBridge schedules locally: feeds the worker
//! functions served by cargo lambda watch from the emulator's queues, per the SQS events
//! of `template.yaml`, and invokes the functions of its `Schedule` events on their rate.
//! Started by `infra/stack.sh` (`make dev`) after bootstrap and watch; runs until stopped.
//!
//! Env: `AWS_ENDPOINT_URL` (the emulator), `ALOFT_API_URL` (cargo lambda watch, default
//! http://127.0.0.1:9000), `ALOFT_SCHEDULE_SECONDS` (run every schedule this often instead
//! of its rate), `RUST_LOG` (default `info`).

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
    let every = env
        .optional("ALOFT_SCHEDULE_SECONDS")
        .map(|raw| raw.parse().map(std::time::Duration::from_secs))
        .transpose()
        .map_err(|e| format!("ALOFT_SCHEDULE_SECONDS: {e}"))?;
    for schedule in &template.schedules {
        let period = every.unwrap_or(schedule.every);
        tracing::info!(function = %schedule.binary, "running {} every {period:?}", schedule.binary);
    }
    let invoker = HttpInvoker::new(api_url, DEFAULT_INVOKE_TIMEOUT);
    tokio::join!(
        sqs_shim::run(Poller::new(clients.sqs()), bindings, invoker.clone()),
        sqs_shim::schedule::run(template.schedules.clone(), every, invoker),
    );
    Ok(())
}
