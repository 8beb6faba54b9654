//! SigV4 signing of the AWS calls made without an SDK client (S3 objects, SSM
//! parameters): one place that turns a method, URL, headers and body into a signed
//! `http::Request`, so each caller only says which service and settings it needs.

use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::{Method, Request};

use crate::StoreError;

/// The identity to sign as, from the SDK's credential provider (cached and refreshed by
/// it).
pub(crate) async fn identity(
    provider: Option<&SharedCredentialsProvider>,
) -> Result<Identity, StoreError> {
    let provider =
        provider.ok_or_else(|| StoreError::Other("no AWS credentials provider".into()))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| StoreError::Unavailable(format!("AWS credentials: {e}")))?;
    Ok(credentials.into())
}

/// Who signs, for which service and region, at what time.
#[derive(Debug)]
pub(crate) struct Signer<'a> {
    pub identity: &'a Identity,
    pub region: &'a str,
    /// The signing name: `s3`, `ssm`.
    pub service: &'a str,
    pub time: SystemTime,
}

impl Signer<'_> {
    /// `method url` with `headers`, signed over `body` as `settings` say (in headers, or
    /// in the query string for a presigned URL). The request has no body: the caller
    /// attaches the one it signed.
    pub fn sign(
        &self,
        settings: SigningSettings,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: SignableBody<'_>,
    ) -> Result<Request<()>, String> {
        let params = v4::SigningParams::builder()
            .identity(self.identity)
            .region(self.region)
            .name(self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let signable = SignableRequest::new(method.as_str(), url, headers.iter().copied(), body)
            .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(()).map_err(|e| e.to_string())?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}
