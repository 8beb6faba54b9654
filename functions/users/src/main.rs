//! Lambda entry point of the `users` function: wiring only.

use aloft_config::Env;
use aloft_http::HttpConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    aloft_http::init_tracing();
    let env = aloft_store::parameters::load(Env::process()).await?;
    let http = HttpConfig::from_env(&env)?;
    let state = fn_users::AppState::from_env(&env).await?;
    aloft_http::run(fn_users::router(state, &http)).await
}
