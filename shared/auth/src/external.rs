//! Tokens of an external identity provider (Clerk, Supabase, Cognito, any OIDC issuer):
//! RS256/ES256 signatures checked against the provider's JWKS, which is fetched with a
//! timeout, cached across invocations and fetched again when a token names an unknown
//! `kid` (the provider rotated its keys). Issuer and audience are always checked.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use aloft_config::{ConfigError, Env};
use http::{Request, Uri};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, errors::ErrorKind, jwk::JwkSet};
use serde::Deserialize;
use tokio::sync::RwLock;

use crate::TokenError;

/// The only algorithms accepted from a provider.
const ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// A key set is a few KB; a provider answering megabytes is broken.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Keys are fetched again after this long, or sooner for an unknown `kid`...
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// ...but not more often than this, so tokens with made-up `kid`s cannot make us hammer
/// the provider.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// `AUTH_JWKS_URL`, `AUTH_ISSUER`, `AUTH_AUDIENCE`: all three, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdpConfig {
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
}

impl ExternalIdpConfig {
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let Some(jwks_url) = env.optional("AUTH_JWKS_URL") else {
            return Ok(None);
        };
        Ok(Some(Self {
            jwks_url,
            issuer: env.required("AUTH_ISSUER")?,
            audience: env.required("AUTH_AUDIENCE")?,
        }))
    }
}

/// Who the provider says the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExternalIdentity {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    /// The provider's word that `email` is the caller's (OIDC's `email_verified`).
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// Every other claim (a role claim among them).
    #[serde(flatten)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    fetched_at: Option<Instant>,
}

/// Verifies provider tokens; built once per cold start, keys fetched on first use.
pub struct ExternalIdp {
    config: ExternalIdpConfig,
    http: aloft_outbound::Client,
    cache: RwLock<KeyCache>,
    min_refetch_interval: Duration,
}

impl std::fmt::Debug for ExternalIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalIdp")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl ExternalIdp {
    pub fn new(config: ExternalIdpConfig) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: "AUTH_JWKS_URL",
            reason,
        };
        config
            .jwks_url
            .parse::<Uri>()
            .map_err(|e| invalid(e.to_string()))?;
        let http = aloft_outbound::Client::new(FETCH_TIMEOUT);
        Ok(Self {
            config,
            http,
            cache: RwLock::new(KeyCache::default()),
            min_refetch_interval: MIN_REFETCH_INTERVAL,
        })
    }

    /// Shortens the pause between key fetches (tests of key rotation).
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// Whether a token with this header is meant for this verifier.
    pub fn accepts(header: &Header) -> bool {
        ALGORITHMS.contains(&header.alg)
    }

    pub async fn verify(
        &self,
        token: &str,
        header: &Header,
    ) -> Result<ExternalIdentity, TokenError> {
        if !Self::accepts(header) {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.as_deref().ok_or(TokenError::Invalid)?;
        let (algorithm, key) = self.key(kid).await?;
        // The key decides the algorithm: a token cannot pick a weaker one.
        if algorithm != header.alg {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = 5;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<ExternalIdentity>(token, &key, &validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            },
        )?;
        if data.claims.sub.is_empty() {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }

    async fn key(&self, kid: &str) -> Result<(Algorithm, DecodingKey), TokenError> {
        {
            let cache = self.cache.read().await;
            let fresh = cache
                .fetched_at
                .is_some_and(|at| at.elapsed() < MAX_KEY_AGE);
            if let (true, Some(found)) = (fresh, cache.keys.get(kid)) {
                return Ok(found.clone());
            }
        }
        let mut cache = self.cache.write().await;
        let may_fetch = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.min_refetch_interval);
        if may_fetch {
            match self.fetch().await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at = Some(Instant::now());
                }
                Err(e) => tracing::warn!(error.cause = %e, "could not fetch the JWKS"),
            }
        }
        cache.keys.get(kid).cloned().ok_or(TokenError::Invalid)
    }

    async fn fetch(&self) -> Result<HashMap<String, (Algorithm, DecodingKey)>, String> {
        let uri: Uri = self.config.jwks_url.parse().map_err(|e| format!("{e}"))?;
        let download = async {
            let request = Request::get(uri)
                .body(Full::default())
                .map_err(|e| e.to_string())?;
            let response = self
                .http
                .send(request, FETCH_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("JWKS answered {}", response.status()));
            }
            let body = aloft_outbound::read_body(response, MAX_JWKS_BYTES, FETCH_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
            serde_json::from_slice::<JwkSet>(&body).map_err(|e| e.to_string())
        };
        let set = tokio::time::timeout(FETCH_TIMEOUT, download)
            .await
            .map_err(|_| format!("no JWKS within {FETCH_TIMEOUT:?}"))??;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let algorithm = match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => return None,
                };
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, (algorithm, key)))
            })
            .collect();
        Ok(keys)
    }
}
