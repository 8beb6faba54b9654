//! The benchmark's floor: the smallest `lambda_http` function, built with the project's
//! release profile. Every function's cold start is reported as a ratio to this one's.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_: Request| async {
        Ok::<_, Error>(Response::new(Body::from("hello")))
    }))
    .await
}
