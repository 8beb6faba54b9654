//! Settings of the HTTP edge, read once at cold start.

use aloft_config::{ConfigError, Env, Stage};
use http::HeaderValue;

/// Edge settings shared by every HTTP function.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body a handler will read (`MAX_BODY_BYTES`, default 1 MiB).
    pub max_body_bytes: usize,
    /// Deprecated versions and their sunset (`API_DEPRECATED_VERSIONS`, `API_SUNSET`).
    pub deprecation: Deprecation,
    pub stage: Stage,
    /// Whether responses carry the request's AWS usage in `x-aloft-aws-usage`
    /// (`AWS_USAGE_HEADER`, default false: it tells callers about our internals, so only
    /// local stacks and benchmarks turn it on).
    pub aws_usage_header: bool,
    /// Where spans go (`OTEL_EXPORTER_OTLP_*`); `None`: nowhere, and none are kept.
    pub otlp: Option<std::sync::Arc<crate::otlp::Exporter>>,
}

/// Which API versions are deprecated, and the headers that say so.
#[derive(Debug, Clone, Default)]
pub struct Deprecation {
    pub versions: Vec<String>,
    /// An HTTP-date, sent as `Sunset` on deprecated versions.
    pub sunset: Option<HeaderValue>,
}

impl HttpConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let sunset = env
            .optional("API_SUNSET")
            .map(|raw| {
                HeaderValue::from_str(&raw).map_err(|e| ConfigError::Invalid {
                    name: "API_SUNSET",
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        Ok(Self {
            max_body_bytes: env.parse_or("MAX_BODY_BYTES", 1024 * 1024)?,
            deprecation: Deprecation {
                versions: env.list("API_DEPRECATED_VERSIONS"),
                sunset,
            },
            stage: Stage::from_env(env),
            aws_usage_header: env.parse_or("AWS_USAGE_HEADER", false)?,
            otlp: crate::otlp::Exporter::from_env(env)?,
        })
    }
}
