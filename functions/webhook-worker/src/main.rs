//! Lambda entry point of the `webhook-worker` function: wiring only.

use aloft_config::Env;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    aloft_http::init_tracing();
    let env = aloft_store::parameters::load(Env::process()).await?;
    fn_webhook_worker::worker(&env).await?.run().await
}
