//! Lambda entry point of the `realtime` function: wiring only.

use std::{future::Future, pin::Pin};

use aloft_config::Env;
use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use lambda_runtime::{LambdaEvent, service_fn};

type Answer =
    Pin<Box<dyn Future<Output = Result<ApiGatewayProxyResponse, lambda_runtime::Error>> + Send>>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    aloft_http::init_tracing();
    let env = aloft_store::parameters::load(Env::process()).await?;
    let realtime = fn_realtime::Realtime::from_env(&env).await?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<fn_realtime::WebsocketEvent>| -> Answer {
            let realtime = realtime.clone();
            // Boxed: the handler's future is deep enough to overflow the compiler's
            // layout depth when nested inside the runtime's.
            Box::pin(async move { Ok(realtime.handle(event.payload).await) })
        },
    ))
    .await
}
