//! Plays API Gateway's HTTP API locally in front of cargo lambda watch: routes and CORS
//! from `template.yaml`, payload 2.0 events built here (see `aloft_local::api_front`).
//! Started by `infra/stack.sh` (`make dev`); runs until stopped.
//!
//! Env: `ALOFT_API_ADDRESS` (default 127.0.0.1:9000), `ALOFT_LAMBDA_URL` (watch's Invoke
//! API, default http://127.0.0.1:9010), `ALOFT_TEMPLATE` (default template.yaml),
//! `CORS_ALLOW_ORIGINS` (default: the template's `CorsAllowOrigins`), `ALOFT_DOCS_ASSETS`
//! (the docs UI packages, default infra/local/docs-ui/node_modules), `ALOFT_EMULATOR_URL`
//! (whose sent emails `/_local/mail` shows, default http://127.0.0.1:5100; `stack.sh`
//! sets it), `RUST_LOG` (default `info`).

use std::{io::Write, process::ExitCode};

use aloft_config::Env;
use aloft_local::{
    api_front::{
        DEFAULT_ADDRESS, DEFAULT_EMULATOR_URL, DEFAULT_LAMBDA_URL, Front, INTEGRATION_TIMEOUT,
        Settings, assets,
    },
    sqs_shim::HttpInvoker,
};
use aloft_provision::CORS_ALLOW_ORIGINS;

#[tokio::main]
async fn main() -> ExitCode {
    aloft_local::init_logging();
    let env = Env::process();
    let address = env
        .optional("ALOFT_API_ADDRESS")
        .unwrap_or_else(|| DEFAULT_ADDRESS.into());
    let lambda_url = env
        .optional("ALOFT_LAMBDA_URL")
        .unwrap_or_else(|| DEFAULT_LAMBDA_URL.into());
    let template_path = env
        .optional("ALOFT_TEMPLATE")
        .unwrap_or_else(|| "template.yaml".into());
    let front = std::fs::read_to_string(&template_path)
        .map_err(|e| format!("cannot read {template_path}: {e}"))
        .and_then(|template| {
            let invoker = HttpInvoker::new(lambda_url.clone(), INTEGRATION_TIMEOUT);
            let settings = Settings {
                lambda_url,
                cors_allow_origins: env.optional(CORS_ALLOW_ORIGINS),
                docs_assets: env
                    .optional("ALOFT_DOCS_ASSETS")
                    .unwrap_or_else(|| assets::DEFAULT_DIR.into())
                    .into(),
                emulator_url: env
                    .optional("ALOFT_EMULATOR_URL")
                    .unwrap_or_else(|| DEFAULT_EMULATOR_URL.into()),
            };
            Front::from_template(&template, settings, invoker).map_err(|e| e.to_string())
        });
    let front = match front {
        Ok(front) => front,
        Err(e) => return fail(&e),
    };
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(e) => return fail(&format!("cannot listen on {address}: {e}")),
    };
    tracing::info!(address = %address, "API on http://{address}");
    front.serve(listener).await;
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "api-front: {message}");
    ExitCode::FAILURE
}
