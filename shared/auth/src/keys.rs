//! Signing and verifying our own access tokens.

use std::{collections::HashMap, time::Duration};

use aloft_config::{ConfigError, Env};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use aloft_store::{MemberRole, TenantId};

use crate::{Credential, Plan, Principal, Role};

/// The one algorithm our own tokens use. Pinned: the token's header cannot choose.
const ALGORITHM: Algorithm = Algorithm::HS256;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 5;
/// HS256 keys shorter than the hash output weaken it; refuse them at start-up.
const MIN_SECRET_BYTES: usize = 32;

/// Token settings, from `JWT_SECRET`, `JWT_KID`, `JWT_PREVIOUS_SECRETS`, `JWT_ISSUER`,
/// `JWT_AUDIENCE`, `JWT_ACCESS_TTL_SECONDS`.
#[derive(Clone)]
pub struct AuthConfig {
    /// Signs new tokens.
    pub current: (String, String),
    /// Still verify tokens signed before a rotation: `kid=secret` pairs.
    pub previous: Vec<(String, String)>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
}

impl std::fmt::Debug for AuthConfig {
    // Never print secrets, not even in a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("kid", &self.current.0)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl AuthConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let secret = env.required("JWT_SECRET")?;
        check_secret("JWT_SECRET", &secret)?;
        let previous = env
            .list("JWT_PREVIOUS_SECRETS")
            .into_iter()
            .map(|pair| match pair.split_once('=') {
                Some((kid, secret)) => {
                    check_secret("JWT_PREVIOUS_SECRETS", secret)?;
                    Ok((kid.to_owned(), secret.to_owned()))
                }
                None => Err(ConfigError::Invalid {
                    name: "JWT_PREVIOUS_SECRETS",
                    reason: "expected comma-separated kid=secret pairs".into(),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            current: (
                env.optional("JWT_KID").unwrap_or_else(|| "k1".into()),
                secret,
            ),
            previous,
            issuer: env.required("JWT_ISSUER")?,
            audience: env.required("JWT_AUDIENCE")?,
            access_ttl: access_ttl(env)?,
        })
    }
}

/// `JWT_ACCESS_TTL_SECONDS`, default 15 minutes.
pub(crate) fn access_ttl(env: &Env) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(
        env.parse_or("JWT_ACCESS_TTL_SECONDS", 900)?,
    ))
}

fn check_secret(name: &'static str, secret: &str) -> Result<(), ConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("must be at least {MIN_SECRET_BYTES} bytes"),
        });
    }
    Ok(())
}

/// Why a token was refused. The message is safe to show the client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("Token has expired")]
    Expired,
    #[error("Invalid token")]
    Invalid,
}

/// The claims of our access tokens.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    tid: String,
    /// The caller's role in the organization `tid` names; absent in a personal tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trole: Option<MemberRole>,
    #[serde(default)]
    role: Role,
    #[serde(default)]
    plan: Plan,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    iss: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    act: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// The session (refresh family) the token was issued in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Actor {
    sub: String,
}

/// Parsed keys and the validation rules, built once per cold start.
pub struct JwtKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(config: &AuthConfig) -> Self {
        let (kid, secret) = &config.current;
        let decoding = std::iter::once(&config.current)
            .chain(&config.previous)
            .map(|(kid, secret)| (kid.clone(), DecodingKey::from_secret(secret.as_bytes())))
            .collect();
        let mut validation = Validation::new(ALGORITHM);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            kid: kid.clone(),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding,
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            access_ttl: config.access_ttl,
        }
    }

    /// How long an access token lives.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Signs an access token for `principal`, valid from `now` for the configured TTL.
    pub fn issue(
        &self,
        principal: &Principal,
        now: u64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.issue_with_ttl(principal, now, self.access_ttl)
    }

    /// Signs a token with an explicit lifetime (impersonation tokens are shorter).
    pub fn issue_with_ttl(
        &self,
        principal: &Principal,
        now: u64,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: principal.user_id.clone(),
            tid: principal.tenant_id.as_str().to_owned(),
            trole: principal.membership,
            role: principal.role,
            plan: principal.plan,
            email: principal.email.clone(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + ttl.as_secs(),
            nbf: now,
            iat: now,
            act: principal.impersonator.clone().map(|sub| Actor { sub }),
            jti: principal.token_id.clone(),
            sid: principal.session_id().map(str::to_owned),
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
    }

    /// Verifies signature, algorithm, `kid`, `iss`, `aud`, `exp` and `nbf`.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::Invalid);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(TokenError::Invalid)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                }
            })?;
        let claims = data.claims;
        if claims.sub.is_empty() || claims.tid.is_empty() {
            return Err(TokenError::Invalid);
        }
        Ok(Principal {
            user_id: claims.sub,
            tenant_id: TenantId::new(claims.tid),
            membership: claims.trole,
            role: claims.role,
            plan: claims.plan,
            email: claims.email,
            impersonator: claims.act.map(|a| a.sub),
            token_id: claims.jti,
            credential: Credential::Token {
                session_id: claims.sid,
            },
        })
    }
}
