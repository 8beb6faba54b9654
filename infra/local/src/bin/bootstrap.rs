//! Creates the table, bucket and queues of `template.yaml` on the local emulator, and
//! verifies the functions' email sender (`MAIL_FROM`) in its SES, which sends only from
//! a verified identity. Run by `make dev` after the emulator starts; safe to run again.

use std::{io::Write, process::ExitCode};

use aloft_config::Env;
use aloft_local::LOCAL_PREFIX;
use aloft_provision::{CORS_ALLOW_ORIGINS, LOCAL_MAIL_FROM, Template, provision, verify_sender};
use aloft_store::{AwsClients, AwsSettings};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(summary) => {
            let _ = writeln!(std::io::stdout(), "{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "bootstrap: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<String, String> {
    let env = Env::process();
    let endpoint = env
        .required("AWS_ENDPOINT_URL")
        .map_err(|e| format!("{e} (the emulator URL, e.g. http://127.0.0.1:5100)"))?;
    let clients = AwsClients::connect(&AwsSettings::local(endpoint.clone())).await;
    // The bucket's CORS rule allows what the API front allows: CORS_ALLOW_ORIGINS.
    let template = Template::bundled()
        .and_then(|t| t.allowing(env.optional(CORS_ALLOW_ORIGINS).as_deref()))
        .map_err(|e| e.to_string())?;
    let done = provision(&clients, &template, LOCAL_PREFIX)
        .await
        .map_err(|e| e.to_string())?;
    verify_sender(&clients, LOCAL_MAIL_FROM)
        .await
        .map_err(|e| e.to_string())?;
    let mut summary = format!("bootstrap: resources from template.yaml on {endpoint}");
    let names = done
        .tables
        .values()
        .chain(done.buckets.values())
        .chain(done.queue_urls.values());
    for name in names {
        summary.push_str("\n  ");
        summary.push_str(name);
    }
    summary.push_str("\n  email sender ");
    summary.push_str(LOCAL_MAIL_FROM);
    Ok(summary)
}
