//! The AWS clients of a function, built once per cold start.

use std::time::Duration;

use aloft_config::{ConfigError, Env};
use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::config::Credentials;

/// Where the AWS APIs are: the real ones, or the local emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// `AWS_ENDPOINT_URL`: set locally, unset in AWS.
    pub endpoint_url: Option<String>,
    /// `AWS_REGION`; in Lambda the runtime always sets it.
    pub region: String,
    /// An emulator gets fixed dummy credentials, so the credential chain never probes
    /// the network for an instance role.
    pub dummy_credentials: bool,
}

impl AwsSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let endpoint_url = env.optional("AWS_ENDPOINT_URL");
        Ok(Self {
            dummy_credentials: endpoint_url.is_some(),
            endpoint_url,
            region: env.required("AWS_REGION")?,
        })
    }

    /// Settings for the local emulator at `endpoint_url`.
    pub fn local(endpoint_url: impl Into<String>) -> Self {
        Self {
            endpoint_url: Some(endpoint_url.into()),
            region: "us-east-1".into(),
            dummy_credentials: true,
        }
    }
}

/// Every AWS client a function may use, cheap to clone (each is an `Arc` inside).
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// For clients only some functions need (SES in the jobs worker).
    pub sdk: SdkConfig,
}

/// Every call has a deadline: a slow dependency must fail the request, not hang it
/// until the Lambda timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

impl AwsClients {
    /// Loads credentials the standard way (environment, then the Lambda role) and builds
    /// all clients from one shared config.
    pub async fn connect(settings: &AwsSettings) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(endpoint) = &settings.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if settings.dummy_credentials {
            loader = loader.credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "aloft-local",
            ));
        }
        Self::from_sdk_config(&loader.load().await, settings.endpoint_url.is_some())
    }

    fn from_sdk_config(config: &SdkConfig, local: bool) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(local)
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sqs: aws_sdk_sqs::Client::new(config),
            sdk: config.clone(),
        }
    }
}
