//! The credential a handshake presents, and when it ends. The connection records that
//! end, so a push or a frame after it closes the connection instead of serving it: a
//! token's `exp` (own, impersonation or provider token), an API key's `expires_at`.

use aloft_auth::{Credential, Principal};
use aloft_store::ApiKeyRepo;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// What `$connect` was given: `?token=` (own or provider token) or `?api_key=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presented<'a> {
    Token(&'a str),
    ApiKey(&'a str),
}

impl Presented<'_> {
    /// As the request headers the authenticator reads; `None` when it cannot be one.
    pub(crate) fn headers(self) -> Option<HeaderMap> {
        let (name, value) = match self {
            Presented::Token(token) => (
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {token}")).ok()?,
            ),
            Presented::ApiKey(key) => (
                HeaderName::from_static("x-api-key"),
                HeaderValue::from_str(key).ok()?,
            ),
        };
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        Some(headers)
    }
}

/// When the credential `principal` was verified from ends, in epoch seconds (`None`: a
/// key that never expires). `Err` is the status refusing the handshake: 401 when it
/// cannot be told (a key deleted since), 500 when the key is not read.
pub(crate) async fn expiry(
    presented: Presented<'_>,
    principal: &Principal,
    keys: &ApiKeyRepo,
) -> Result<Option<u64>, i64> {
    match (presented, &principal.credential) {
        (Presented::Token(token), Credential::Token { .. }) => {
            token_expiry(token).map(Some).ok_or(401)
        }
        (Presented::ApiKey(_), Credential::ApiKey { id, .. }) => key_expiry(keys, id).await,
        // The authenticator verifies the credential it is given: not reached.
        _ => Err(401),
    }
}

/// The `exp` claim of a token the authenticator has just verified, read again from its
/// payload (not verified again). Both our tokens and providers' must carry it.
fn token_expiry(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?.trim_end_matches('=');
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    claims.get("exp")?.as_u64()
}

/// The key's `expires_at` (RFC 3339, as its record holds it) in epoch seconds.
async fn key_expiry(keys: &ApiKeyRepo, id: &str) -> Result<Option<u64>, i64> {
    let record = match keys.get(id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(401),
        Err(e) => {
            tracing::error!(error.cause = %e, api_key.id = id, "API key not read");
            return Err(500);
        }
    };
    let Some(at) = record.expires_at else {
        return Ok(None);
    };
    match OffsetDateTime::parse(&at, &Rfc3339) {
        Ok(at) => Ok(Some(u64::try_from(at.unix_timestamp()).unwrap_or(0))),
        Err(e) => {
            tracing::error!(error.cause = %e, api_key.id = id, "API key expiry unreadable");
            Err(500)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tokens_expiry_is_its_exp_claim() {
        let now = aloft_core::timestamp::unix_now();
        let token = aloft_testkit::token_for("ann", aloft_auth::Role::User);
        let exp = token_expiry(&token).unwrap_or_default();
        assert!(exp > now && exp <= now + 3600, "{exp} against {now}");
    }

    #[test]
    fn a_token_without_a_readable_payload_has_no_expiry() {
        for token in ["", "not-a-jwt", "a.!!!.c", "a.e30.c"] {
            assert_eq!(token_expiry(token), None, "{token}");
        }
    }

    #[test]
    fn a_credential_becomes_the_header_the_authenticator_reads() {
        let token = Presented::Token("abc").headers().unwrap_or_default();
        assert_eq!(token[header::AUTHORIZATION], "Bearer abc");
        let key = Presented::ApiKey("aloft_x").headers().unwrap_or_default();
        assert_eq!(key["x-api-key"], "aloft_x");
        assert_eq!(Presented::Token("a\nb").headers(), None);
    }
}
