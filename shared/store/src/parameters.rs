//! Secrets from SSM Parameter Store parameters, read once per cold start.
//!
//! A deployed function names its secrets in `SECRET_NAMES` (`JWT_SECRET,STRIPE_SECRET_KEY`)
//! and where they live in `SECRETS_PATH` (`/aloft/prod/`). [`load`] reads each from the
//! SecureString parameter `${SECRETS_PATH}${NAME}` and lays the values over the
//! environment, so configuration keeps reading [`Env`] as it always has. Without
//! `SECRETS_PATH` (the local stack) nothing is fetched.
//!
//! No SSM SDK client (binary size, cold start): `GetParameters` is one AWS JSON 1.1 call
//! ([`crate::aws_json`]), at most 10 names a call (the API's limit), the calls
//! concurrent. A parameter that does not
//! exist leaves its variable unset; any other failure fails the cold start with an error
//! naming the path, and never carries a value.

use std::{collections::HashMap, sync::Arc};

use aloft_config::{ConfigError, Env};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::identity::Identity;
use tokio::task::JoinSet;

use crate::{AwsSettings, aws_json::AwsJson};
use get_parameters::{Answer, request_body};

mod get_parameters;

/// `GetParameters` takes at most this many names.
const NAMES_PER_CALL: usize = 10;
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
    ssm: AwsJson,
    identity: Identity,
}

impl ParameterStore {
    /// `AWS_ENDPOINT_URL_SSM`, else `AWS_ENDPOINT_URL`, else SSM in `AWS_REGION`.
    async fn connect(env: &Env, settings: &AwsSettings) -> Result<Self, String> {
        let endpoint = env
            .optional("AWS_ENDPOINT_URL_SSM")
            .or_else(|| settings.endpoint_url.clone());
        Ok(Self {
            ssm: AwsJson::new(endpoint.as_deref(), &settings.region, "ssm"),
            identity: credentials(env)?,
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

    /// `(name, value)` of each of `names` that exists.
    async fn get_parameters(&self, names: &[String]) -> Result<Vec<(String, String)>, String> {
        let body = request_body(names)?;
        let answer = self
            .ssm
            .call(
                &self.identity,
                "AmazonSSM.GetParameters",
                body.as_bytes(),
                MAX_ANSWER_BYTES,
            )
            .await?;
        Answer::parse(&answer)?.parameters(names)
    }
}

/// The credentials in the environment (where Lambda puts the role's), read through
/// `env` so tests need not set process variables.
fn credentials(env: &Env) -> Result<Identity, String> {
    match (
        env.optional("AWS_ACCESS_KEY_ID"),
        env.optional("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(key), Some(secret)) => {
            let token = env.optional("AWS_SESSION_TOKEN");
            Ok(Credentials::new(key, secret, token, None, "environment").into())
        }
        _ => Err(
            "no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set"
                .into(),
        ),
    }
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
}
