//! The AWS clients of a function, built once per cold start.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aloft_config::{ConfigError, Env};
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::Credentials;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared as _;

use crate::capacity::{CallCounter, DynamoDbCapacity};

/// The access key id of local tools and tests on the emulator.
const LOCAL_KEY_ID: &str = "local";

/// Where the AWS APIs are: the real ones, or the local emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// `AWS_ENDPOINT_URL`: set locally, unset in AWS.
    pub endpoint_url: Option<String>,
    /// `AWS_REGION`; in Lambda the runtime always sets it.
    pub region: String,
    /// An emulator gets fixed dummy credentials, so the credential chain never probes
    /// the network for an instance role: this access key id (`AWS_ACCESS_KEY_ID`, or
    /// `local`). Under the local stack each function's is its own name, which the
    /// emulator's call log records for the IAM check (infra/iam).
    pub dummy_key_id: Option<String>,
}

impl AwsSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let endpoint_url = env.optional("AWS_ENDPOINT_URL");
        let dummy_key_id = endpoint_url.is_some().then(|| {
            env.optional("AWS_ACCESS_KEY_ID")
                .unwrap_or_else(|| LOCAL_KEY_ID.into())
        });
        Ok(Self {
            dummy_key_id,
            endpoint_url,
            region: env.required("AWS_REGION")?,
        })
    }

    /// Settings for the local emulator at `endpoint_url`.
    pub fn local(endpoint_url: impl Into<String>) -> Self {
        Self {
            endpoint_url: Some(endpoint_url.into()),
            region: "us-east-1".into(),
            dummy_key_id: Some(LOCAL_KEY_ID.into()),
        }
    }
}

/// The AWS clients of a function, cheap to clone (each is an `Arc` inside). Every
/// function uses DynamoDB; S3 and SQS are built from the shared config on their first
/// use and shared by every clone, so a cold start whose first request sends no message
/// does not build an SQS client, and a function that never asks for S3 carries none of
/// its code.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// For the other clients (SES in the jobs worker).
    pub sdk: SdkConfig,
    /// Talking to the local emulator (which needs path-style S3 addressing).
    local: bool,
    s3: Arc<OnceLock<aws_sdk_s3::Client>>,
    sqs: Arc<OnceLock<aws_sdk_sqs::Client>>,
}

/// Every call has a deadline: a slow dependency must fail the request, not hang it
/// until the Lambda timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

impl AwsClients {
    /// Builds all clients from one shared config. Credentials come from the environment,
    /// where Lambda puts the function role's (re-read whenever the cached ones run out),
    /// or are the emulator's dummy ones: not `aws_config`'s default chain, whose profile,
    /// SSO, web-identity (STS), ECS and IMDS providers a function never uses and which
    /// weighed about 300 KB of every binary.
    pub async fn connect(settings: &AwsSettings) -> Self {
        let credentials = match &settings.dummy_key_id {
            Some(key_id) => SharedCredentialsProvider::new(Credentials::new(
                key_id,
                "local",
                None,
                None,
                "aloft-local",
            )),
            None => SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()),
        };
        let mut config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .http_client(http_client(settings.endpoint_url.as_deref()));
        config.set_endpoint_url(settings.endpoint_url.clone());
        let clients = Self::from_sdk_config(&config.build(), settings.endpoint_url.is_some());
        aloft_core::cold_start::mark("aws clients");
        clients
    }

    fn from_sdk_config(config: &SdkConfig, local: bool) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(config)
                    .interceptor(DynamoDbCapacity)
                    .build(),
            ),
            sdk: config.clone(),
            local,
            s3: Arc::default(),
            sqs: Arc::default(),
        }
    }

    /// The S3 client on the shared config (path-style addressing locally).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let build = || {
            let config = aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(self.local)
                .interceptor(CallCounter::S3)
                .build();
            aws_sdk_s3::Client::from_conf(config)
        };
        self.s3.get_or_init(build).clone()
    }

    /// The SQS client on the shared config.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let build = || {
            let config = aws_sdk_sqs::config::Builder::from(&self.sdk)
                .interceptor(CallCounter::Sqs)
                .build();
            aws_sdk_sqs::Client::from_conf(config)
        };
        self.sqs.get_or_init(build).clone()
    }
}

/// The SDK's hyper client, minus the work a cold start does not need. The SDK's default
/// client reads and parses the system's TLS roots when each service client is built
/// (three parses for DynamoDB, S3 and SQS, plus one on the first call). Here the roots
/// are parsed once, on the first call ([`FirstUseTls`]), and not at all for a plain-HTTP
/// endpoint (the local emulator), whose client trusts no root.
fn http_client(endpoint_url: Option<&str>) -> SharedHttpClient {
    let plain_http = endpoint_url.is_some_and(|url| url.starts_with("http://"));
    let trust = if plain_http {
        TrustStore::empty()
    } else {
        TrustStore::default()
    };
    // Building a context cannot fail (it only stores the trust store); the default is
    // the SDK's own.
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    FirstUseTls(https).into_shared()
}

/// The SDK's HTTPS client, without its eager root loading: building a service client
/// validates the HTTP client, and the SDK's validation builds a TLS connector (reading
/// and parsing every root certificate) only to throw it away. Connectors are still built
/// and cached by the inner client, on the first call.
#[derive(Debug)]
struct FirstUseTls(SharedHttpClient);

impl HttpClient for FirstUseTls {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}
