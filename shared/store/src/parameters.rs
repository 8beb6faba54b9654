//! Secrets from SSM Parameter Store parameters, read once per cold start.
//!
//! A deployed function names its secrets in `SECRET_NAMES` (`JWT_SECRET,STRIPE_SECRET_KEY`)
//! and where they live in `SECRETS_PATH` (`/aloft/prod/`). [`load`] reads each from the
//! SecureString parameter `${SECRETS_PATH}${NAME}` and lays the values over the
//! environment, so configuration keeps reading [`Env`] as it always has. Without
//! `SECRETS_PATH` (the local stack) nothing is fetched.
//!
//! No SSM SDK client (binary size, cold start): `GetParameters` is one AWS JSON 1.1 call,
//! signed with SigV4 ([`crate::signing`]) and sent over the outbound HTTPS client, at most
//! 10 names a call (the API's limit), the calls concurrent. A parameter that does not
//! exist leaves its variable unset; any other failure fails the cold start with an error
//! naming the path, and never carries a value.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aloft_config::{ConfigError, Env};
use aloft_outbound::{Client, OutboundError, read_body};
use aws_config::{Region, default_provider::credentials::DefaultCredentialsChain};
use aws_credential_types::{Credentials, provider::ProvideCredentials};
use aws_sigv4::http_request::{SignableBody, SigningSettings};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use tokio::task::JoinSet;

use crate::{AwsSettings, signing::Signer};
use get_parameters::{Answer, aws_error, request_body};

mod get_parameters;

/// `GetParameters` takes at most this many names.
const NAMES_PER_CALL: usize = 10;
/// Each attempt's wait for the answer, and for its body; a retry follows a transport
/// error, a timeout, a 5xx or throttling (many cold starts at once can exceed the
/// account's GetParameters rate).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The whole fetch (credentials, calls, retries) unless `SECRETS_TIMEOUT_SECONDS` says
/// otherwise; well inside Lambda's 10 s init phase.
const DEFAULT_DEADLINE_SECONDS: f64 = 5.0;
/// Ten parameters of at most 8 KB each, with room for the JSON around them.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Why the secrets could not be loaded. The messages name the path and the parameter
/// names, never a value.
#[derive(Debug, thiserror::Error)]
pub enum ParameterError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not read the secrets under {path} from SSM Parameter Store: {reason}")]
    Unavailable { path: String, reason: String },
}

/// `env` with the secrets of `SECRET_NAMES` read from under `SECRETS_PATH` in front of
/// it; `env` itself when `SECRETS_PATH` or `SECRET_NAMES` is unset.
pub async fn load(env: Env) -> Result<Env, ParameterError> {
    let Some(path) = env.optional("SECRETS_PATH") else {
        return Ok(env);
    };
    let names = secret_names(&env)?;
    if names.is_empty() {
        return Ok(env);
    }
    let deadline = env.seconds_or("SECRETS_TIMEOUT_SECONDS", DEFAULT_DEADLINE_SECONDS)?;
    let settings = AwsSettings::from_env(&env)?;
    let fetch = async {
        let store = Arc::new(ParameterStore::connect(&env, &settings).await?);
        store.fetch(&path, &names).await
    };
    let found = tokio::time::timeout(deadline, fetch)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {deadline:?}")))
        .map_err(|reason| ParameterError::Unavailable {
            path: path.clone(),
            reason,
        })?;
    let env = env.overlaid(overlay(&path, names, found));
    aloft_core::cold_start::mark("secrets");
    Ok(env)
}

/// Each of `names` with its value, or `None` (unset) when it has no parameter; logs the
/// names of both, never a value.
fn overlay(
    path: &str,
    names: Vec<String>,
    mut found: HashMap<String, String>,
) -> Vec<(String, Option<String>)> {
    let missing: Vec<&str> = names
        .iter()
        .filter(|name| !found.contains_key(*name))
        .map(String::as_str)
        .collect();
    let loaded = names.len() - missing.len();
    let missing = missing.join(",");
    tracing::info!(
        secrets.path = %path,
        secrets.loaded = loaded,
        secrets.missing = %missing,
        "loaded {loaded} secrets from {path}; not found: [{missing}]",
    );
    names
        .into_iter()
        .map(|name| {
            let value = found.remove(&name);
            (name, value)
        })
        .collect()
}

/// `SECRET_NAMES` without repeats; each must be an environment variable name, since it
/// becomes one.
fn secret_names(env: &Env) -> Result<Vec<String>, ConfigError> {
    let mut names: Vec<String> = Vec::new();
    for name in env.list("SECRET_NAMES") {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ConfigError::Invalid {
                name: "SECRET_NAMES",
                reason: format!("'{name}' is not an environment variable name"),
            });
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The `GetParameters` endpoint, with the credentials to sign for it.
struct ParameterStore {
    url: String,
    region: String,
    identity: Identity,
    http: Client,
}

impl ParameterStore {
    /// `AWS_ENDPOINT_URL_SSM`, else `AWS_ENDPOINT_URL`, else SSM in `AWS_REGION`.
    async fn connect(env: &Env, settings: &AwsSettings) -> Result<Self, String> {
        let endpoint = env
            .optional("AWS_ENDPOINT_URL_SSM")
            .or_else(|| settings.endpoint_url.clone())
            .unwrap_or_else(|| format!("https://ssm.{}.amazonaws.com", settings.region));
        Ok(Self {
            url: format!("{}/", endpoint.trim_end_matches('/')),
            region: settings.region.clone(),
            identity: credentials(env, &settings.region).await?,
            http: Client::new(CONNECT_TIMEOUT),
        })
    }

    /// The values of `names` found under `path`, by name; calls of ten names at a time,
    /// all at once.
    async fn fetch(
        self: &Arc<Self>,
        path: &str,
        names: &[String],
    ) -> Result<HashMap<String, String>, String> {
        let mut calls = JoinSet::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let store = Arc::clone(self);
            let asked: Vec<String> = chunk.iter().map(|name| format!("{path}{name}")).collect();
            calls.spawn(async move { store.get_parameters(&asked).await });
        }
        let mut found = HashMap::new();
        while let Some(call) = calls.join_next().await {
            let parameters = call.map_err(|e| format!("a GetParameters call stopped: {e}"))??;
            for (full_name, value) in parameters {
                if let Some(name) = full_name.strip_prefix(path) {
                    found.insert(name.to_owned(), value);
                }
            }
        }
        Ok(found)
    }

    /// `(name, value)` of each of `names` that exists, retried as [`ATTEMPTS`] says.
    async fn get_parameters(&self, names: &[String]) -> Result<Vec<(String, String)>, String> {
        let body = request_body(names)?;
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            match self.call(body.as_bytes()).await {
                Ok(answer) => return answer.parameters(names),
                Err(Failure::Retry(reason)) => last = reason,
                Err(Failure::Final(reason)) => return Err(reason),
            }
        }
        Err(format!("{last} ({ATTEMPTS} attempts)"))
    }

    /// One signed `GetParameters` request and its answer.
    async fn call(&self, body: &[u8]) -> Result<Answer, Failure> {
        let signer = Signer {
            identity: &self.identity,
            region: &self.region,
            service: "ssm",
            time: SystemTime::now(),
        };
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonSSM.GetParameters"),
        ];
        let signed = signer
            .sign(
                SigningSettings::default(),
                Method::POST,
                &self.url,
                &headers,
                SignableBody::Bytes(body),
            )
            .map_err(Failure::Final)?;
        let (parts, ()) = signed.into_parts();
        let request = Request::from_parts(parts, Full::new(Bytes::copy_from_slice(body)));
        let response = self
            .http
            .send(request, ATTEMPT_TIMEOUT)
            .await
            .map_err(Failure::transport)?;
        let status = response.status();
        let bytes = read_body(response, MAX_ANSWER_BYTES, ATTEMPT_TIMEOUT)
            .await
            .map_err(Failure::transport)?;
        if status.is_success() {
            return Answer::parse(&bytes).map_err(Failure::Final);
        }
        let (kind, message) = aws_error(&bytes);
        let reason = format!("GetParameters answered {status}: {kind}: {message}");
        if status.is_server_error() || kind == "ThrottlingException" {
            Err(Failure::Retry(reason))
        } else {
            Err(Failure::Final(reason))
        }
    }
}

/// The standard credential chain, its first link (the environment, where Lambda puts
/// the role's credentials) read through `env` so tests need not set process variables.
async fn credentials(env: &Env, region: &str) -> Result<Identity, String> {
    if let (Some(key), Some(secret)) = (
        env.optional("AWS_ACCESS_KEY_ID"),
        env.optional("AWS_SECRET_ACCESS_KEY"),
    ) {
        let token = env.optional("AWS_SESSION_TOKEN");
        return Ok(Credentials::new(key, secret, token, None, "environment").into());
    }
    let chain = DefaultCredentialsChain::builder()
        .region(Region::new(region.to_owned()))
        .build()
        .await;
    chain
        .provide_credentials()
        .await
        .map(Identity::from)
        .map_err(|e| format!("no AWS credentials: {e}"))
}

enum Failure {
    /// Worth another attempt.
    Retry(String),
    Final(String),
}

impl Failure {
    fn transport(error: OutboundError) -> Self {
        match error {
            OutboundError::TooLarge(_) => Self::Final(error.to_string()),
            _ => Self::Retry(error.to_string()),
        }
    }
}

/// Doubling from 100 ms, with jitter so throttled cold starts do not retry in step. The
/// clock's nanoseconds are random enough for spreading retries.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(100) * 2_u32.pow(attempt - 1);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deduplicated_and_must_be_variable_names() {
        let env = Env::from_pairs([("SECRET_NAMES", "JWT_SECRET, B,JWT_SECRET")]);
        assert_eq!(
            secret_names(&env),
            Ok(vec!["JWT_SECRET".into(), "B".into()])
        );
        let env = Env::from_pairs([("SECRET_NAMES", "JWT_SECRET,../x")]);
        let error = secret_names(&env).unwrap_err().to_string();
        assert!(
            error.contains("SECRET_NAMES") && error.contains("../x"),
            "{error}"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        let first = backoff(1);
        let second = backoff(2);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
    }
}
