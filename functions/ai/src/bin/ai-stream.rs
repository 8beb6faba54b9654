//! Lambda entry point of `ai-stream`: the `ai` router on a function URL in
//! `RESPONSE_STREAM` mode, so SSE events reach the client as they are produced.

use aloft_config::Env;
use aloft_http::HttpConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    aloft_http::init_tracing();
    let env = aloft_store::parameters::load(Env::process()).await?;
    let http = HttpConfig::from_env(&env)?;
    let mut state = fn_ai::AppState::from_env(&env).await?;
    state.serves_streams = true;
    lambda_http::run_with_streaming_response(fn_ai::router(state, &http)).await
}
