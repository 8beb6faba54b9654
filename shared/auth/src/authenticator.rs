//! Turns the credentials of a request into a [`Principal`]: an `X-API-Key`, or a bearer
//! access token.

use std::sync::Arc;

use aloft_http::ApiError;
use aloft_store::{ApiKeyRecord, ApiKeyRepo, TenantId};
use http::{HeaderMap, header};
use subtle::ConstantTimeEq;

use crate::{JwtKeys, Plan, Principal, Role, TokenError, secrets};

/// API keys look like `aloft_<32 hex id>_<secret>`.
const KEY_PREFIX: &str = "aloft";

/// Everything needed to verify a caller, built once per cold start; cheap to clone.
#[derive(Debug, Clone)]
pub struct Authenticator {
    jwt: Arc<JwtKeys>,
    api_keys: Option<ApiKeyRepo>,
}

impl Authenticator {
    /// `api_keys: None` accepts bearer tokens only.
    pub fn new(jwt: Arc<JwtKeys>, api_keys: Option<ApiKeyRepo>) -> Self {
        Self { jwt, api_keys }
    }

    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    /// `Ok(None)` when the request carries no credentials; an error when it carries bad
    /// ones.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
        if let Some(key) = headers.get("x-api-key") {
            let key = key.to_str().map_err(|_| invalid_key())?;
            return self.verify_api_key(key).await.map(Some);
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(None);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::Authentication(
                "Authorization header must be 'Bearer <token>'".into(),
            ))?;
        self.jwt.verify(token).map(Some).map_err(|e| match e {
            TokenError::Expired => ApiError::Authentication("Token has expired".into()),
            TokenError::Invalid => ApiError::Authentication("Invalid token".into()),
        })
    }

    async fn verify_api_key(&self, key: &str) -> Result<Principal, ApiError> {
        let (id, secret) = parse_api_key(key).ok_or_else(invalid_key)?;
        let repo = self.api_keys.as_ref().ok_or_else(invalid_key)?;
        let record = repo.get(id).await?.ok_or_else(invalid_key)?;
        let presented = secrets::secret_hash(secret);
        if !bool::from(presented.as_bytes().ct_eq(record.secret_hash.as_bytes())) {
            return Err(invalid_key());
        }
        Ok(principal_of_key(record))
    }
}

fn invalid_key() -> ApiError {
    ApiError::Authentication("Invalid API key".into())
}

fn principal_of_key(record: ApiKeyRecord) -> Principal {
    Principal {
        user_id: record.user_id,
        tenant_id: TenantId::new(record.tenant_id),
        role: Role::parse(&record.role),
        plan: Plan::parse(&record.plan),
        email: None,
        impersonator: None,
    }
}

/// A new key: (id, the full key to show once, the hash to store).
pub fn new_api_key() -> Result<(String, String, String), getrandom::Error> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = secrets::random_secret()?;
    let key = format!("{KEY_PREFIX}_{id}_{secret}");
    Ok((id, key, secrets::secret_hash(&secret)))
}

/// `aloft_<id>_<secret>` → (id, secret). The secret may itself contain `_`.
fn parse_api_key(key: &str) -> Option<(&str, &str)> {
    let mut parts = key.splitn(3, '_');
    let (prefix, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let id_ok = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (prefix == KEY_PREFIX && id_ok && !secret.is_empty()).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_parse_back_to_their_id_and_secret() {
        let (id, key, hash) = new_api_key().unwrap();
        let (parsed_id, secret) = parse_api_key(&key).unwrap();
        assert_eq!(parsed_id, id);
        assert_eq!(secrets::secret_hash(secret), hash);
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for key in [
            "",
            "aloft",
            "aloft_123_abc",
            "other_0123456789abcdef0123456789abcdef_x",
        ] {
            assert!(parse_api_key(key).is_none(), "{key}");
        }
    }
}
