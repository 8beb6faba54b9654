//! S3 objects without the S3 SDK: the files function needs four calls — presigned PUT
//! and GET URLs, `HeadObject` and `DeleteObject` — and the SDK's S3 client cost its
//! binary about a megabyte. URLs are presigned with `aws-sigv4` exactly as the SDK's
//! presigner does (the tests compare the two for a fixed clock); HEAD and DELETE are
//! signed the same way in headers ([`crate::signing`]) and sent over the shared
//! outbound HTTPS client.

use std::{
    borrow::Cow,
    time::{Duration, SystemTime},
};

use aloft_outbound::{Client, OutboundError};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::Full;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{AwsClients, StoreError, signing::Signer};

/// Characters S3 keeps as they are in a key's path: RFC 3986 unreserved, and `/`.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Each HEAD or DELETE attempt; a retry comes after a transport error or a 5xx.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPTS: usize = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// One bucket's objects.
#[derive(Debug, Clone)]
pub struct Objects {
    region: String,
    /// `https://{bucket}.s3.{region}.amazonaws.com` in AWS; `{endpoint}/{bucket}`
    /// (path-style, which the emulator needs) under `AWS_ENDPOINT_URL`.
    base: String,
    credentials: Option<SharedCredentialsProvider>,
    /// Its TLS roots load on the first HEAD or DELETE: presigning needs no connection.
    http: Client,
}

impl Objects {
    pub fn new(aws: &AwsClients, bucket: impl Into<String>) -> Self {
        let bucket = bucket.into();
        let region = aws
            .sdk
            .region()
            .map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        let base = match aws.sdk.endpoint_url() {
            Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        };
        Self {
            region,
            base,
            credentials: aws.sdk.credentials_provider(),
            http: Client::new(CONNECT_TIMEOUT),
        }
    }

    fn url(&self, key: &str) -> String {
        format!("{}/{}", self.base, utf8_percent_encode(key, KEY))
    }

    /// A URL that uploads `key` with exactly this content type and length (both signed,
    /// so S3 refuses an upload that differs), valid for `expires_in` from `now`.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
        now: SystemTime,
    ) -> Result<String, StoreError> {
        let url = format!("{}?x-id=PutObject", self.url(key));
        let length = content_length.to_string();
        let headers = [
            ("content-length", length.as_str()),
            ("content-type", content_type),
        ];
        self.presign(Method::PUT, &url, &headers, expires_in, now)
            .await
    }

    /// A URL that downloads `key`, valid for `expires_in` from `now`.
    pub async fn presign_get(
        &self,
        key: &str,
        expires_in: Duration,
        now: SystemTime,
    ) -> Result<String, StoreError> {
        let url = format!("{}?x-id=GetObject", self.url(key));
        self.presign(Method::GET, &url, &[], expires_in, now).await
    }

    async fn presign(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        expires_in: Duration,
        now: SystemTime,
    ) -> Result<String, StoreError> {
        let mut settings = s3_settings();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);
        let request = self.signed(method, url, headers, settings, now).await?;
        Ok(request.uri().to_string())
    }

    /// The object's size, or `None` when there is no such object.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let response = self.call(Method::HEAD, key).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => Ok(response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            status => Err(StoreError::Other(format!("HeadObject answered {status}"))),
        }
    }

    /// Deletes the object; deleting one that is not there succeeds, as in S3.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let response = self.call(Method::DELETE, key).await?;
        match response.status() {
            status if status.is_success() || status == StatusCode::NOT_FOUND => Ok(()),
            status => Err(StoreError::Other(format!("DeleteObject answered {status}"))),
        }
    }

    /// A header-signed call on `key`, retried after a transport error, a timeout or a
    /// 5xx (HEAD and DELETE are idempotent).
    async fn call(&self, method: Method, key: &str) -> Result<http::Response<()>, StoreError> {
        let url = self.url(key);
        let mut settings = s3_settings();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            let signed = self
                .signed(
                    method.clone(),
                    &url,
                    &[],
                    settings.clone(),
                    SystemTime::now(),
                )
                .await?;
            let (parts, ()) = signed.into_parts();
            let request = Request::from_parts(parts, Full::new(Bytes::new()));
            aloft_core::aws_usage::record(|usage| usage.s3_calls += 1);
            match self.http.send(request, ATTEMPT_TIMEOUT).await {
                Ok(response) if response.status().is_server_error() => {
                    last = format!("{method} answered {}", response.status());
                }
                Ok(response) => return Ok(response.map(|_| ())),
                Err(e @ (OutboundError::Timeout(_) | OutboundError::Unreachable { .. })) => {
                    last = e.to_string();
                }
                Err(e) => return Err(StoreError::Other(e.to_string())),
            }
        }
        Err(StoreError::Unavailable(format!(
            "S3 {method} {key}: {last}"
        )))
    }

    /// `method url` with `headers`, signed for S3 at `now`.
    async fn signed(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        settings: SigningSettings,
        now: SystemTime,
    ) -> Result<Request<()>, StoreError> {
        let identity = self.identity().await?;
        let signer = Signer {
            identity: &identity,
            region: &self.region,
            service: "s3",
            time: now,
        };
        signer
            .sign(
                settings,
                method,
                url,
                headers,
                SignableBody::UnsignedPayload,
            )
            .map_err(StoreError::Other)
    }

    async fn identity(&self) -> Result<Identity, StoreError> {
        crate::signing::identity(self.credentials.as_ref()).await
    }
}

/// What S3 expects of a SigV4 signature: the path encoded once and not normalised.
fn s3_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.excluded_headers = Some(vec![Cow::Borrowed("user-agent")]);
    settings
}
