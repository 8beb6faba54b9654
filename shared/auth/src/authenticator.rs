//! Turns the credentials of a request into a [`Principal`]: an `X-API-Key`, or a bearer
//! access token.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aloft_core::ApiError;
use aloft_store::{
    AdminChange, ApiKeyRecord, ApiKeyRepo, ImpersonationSessions, MemberRole, StoreError, TenantId,
    UserRecord, UserRepo,
};
use http::{HeaderMap, header};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::{
    Credential, ExternalIdentity, ExternalIdp, JwtKeys, Plan, Principal, Role, Scope, TokenError,
    opaque,
};

/// API keys look like `aloft_<32 hex id>_<secret>`.
const KEY_PREFIX: &str = "aloft";

/// Everything needed to verify a caller, built once per cold start; cheap to clone.
#[derive(Debug, Clone)]
pub struct Authenticator {
    jwt: Arc<JwtKeys>,
    api_keys: Option<ApiKeyRepo>,
    external: Option<Arc<ExternalLogin>>,
    /// Where impersonation tokens are checked; without it they are refused.
    sessions: Option<ImpersonationSessions>,
}

/// How long a provider identity's user is remembered in the warm sandbox, sparing a
/// DynamoDB read per request.
const KNOWN_IDENTITY_TTL: Duration = Duration::from_secs(300);
const KNOWN_IDENTITY_CAPACITY: usize = 10_000;

/// Provider tokens, and the users they map to (created on first sight).
#[derive(Debug)]
struct ExternalLogin {
    idp: ExternalIdp,
    users: UserRepo,
    /// `AUTH_ROLE_CLAIM`: the dotted path of the claim that says `admin`.
    role_claim: Option<String>,
    known: Mutex<HashMap<String, (Principal, Instant)>>,
}

impl Authenticator {
    /// `api_keys: None` accepts bearer tokens only.
    pub fn new(jwt: Arc<JwtKeys>, api_keys: Option<ApiKeyRepo>) -> Self {
        Self {
            jwt,
            api_keys,
            external: None,
            sessions: None,
        }
    }

    /// Also accepts impersonation tokens whose session in `sessions` is still active.
    pub fn with_sessions(mut self, sessions: ImpersonationSessions) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// Also accepts the provider's RS256/ES256 tokens; their users live in `users`.
    /// With `role_claim` (a dotted claim path), a token whose claim there is `admin` acts
    /// as an admin and any other as a user; the user record follows the claim.
    pub fn with_external(
        mut self,
        idp: ExternalIdp,
        users: UserRepo,
        role_claim: Option<String>,
    ) -> Self {
        self.external = Some(Arc::new(ExternalLogin {
            idp,
            users,
            role_claim,
            known: Mutex::new(HashMap::new()),
        }));
        self
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
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| token_error(TokenError::Invalid))?;
        match &self.external {
            Some(external) if ExternalIdp::accepts(&header) => {
                external.principal(token, &header).await.map(Some)
            }
            _ => {
                let principal = self.jwt.verify(token).map_err(token_error)?;
                self.check_impersonation(&principal).await?;
                Ok(Some(principal))
            }
        }
    }

    /// An impersonation token counts only while its session is active: `stop` ends it
    /// before it expires. Other tokens need no read.
    async fn check_impersonation(&self, principal: &Principal) -> Result<(), ApiError> {
        if principal.impersonator.is_none() {
            return Ok(());
        }
        let ended = || ApiError::Authentication("Impersonation has ended".into());
        let (Some(sessions), Some(jti)) = (&self.sessions, &principal.token_id) else {
            return Err(ended());
        };
        if sessions
            .is_active(jti, aloft_core::timestamp::unix_now())
            .await?
        {
            Ok(())
        } else {
            Err(ended())
        }
    }

    async fn verify_api_key(&self, key: &str) -> Result<Principal, ApiError> {
        let (id, secret) = parse_api_key(key).ok_or_else(invalid_key)?;
        let repo = self.api_keys.as_ref().ok_or_else(invalid_key)?;
        let record = repo.get(id).await?.ok_or_else(invalid_key)?;
        let presented = opaque::secret_hash(secret);
        if !bool::from(presented.as_bytes().ct_eq(record.secret_hash.as_bytes())) {
            return Err(invalid_key());
        }
        if record.disabled {
            return Err(deactivated());
        }
        let now = OffsetDateTime::now_utc();
        // Both sides are `timestamp::format` strings (UTC, whole seconds, `Z`), which
        // sort as the times they name: no date parser on every key request.
        let expired = record
            .expires_at
            .as_deref()
            .is_some_and(|at| at <= aloft_core::timestamp::format(now).as_str());
        if expired {
            return Err(ApiError::Authentication("API key has expired".into()));
        }
        let minute = aloft_core::timestamp::format(now.replace_second(0).unwrap_or(now));
        if record.last_used_at.as_deref() < Some(minute.as_str()) {
            // At most once a minute per key; a failure costs the note, never the request.
            if let Err(e) = repo.touch(id, &minute).await {
                tracing::warn!(error.cause = %e, api_key.id = id, "last use not noted");
            }
        }
        principal_of_key(record).ok_or_else(invalid_key)
    }
}

fn token_error(error: TokenError) -> ApiError {
    match error {
        TokenError::Expired => ApiError::Authentication("Token has expired".into()),
        TokenError::Invalid => ApiError::Authentication("Invalid token".into()),
    }
}

impl ExternalLogin {
    async fn principal(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
    ) -> Result<Principal, ApiError> {
        let identity = self.idp.verify(token, header).await.map_err(token_error)?;
        let claimed = self.claimed_role(&identity);
        // A remembered principal serves while the token claims the role it has.
        let remembered = self.remembered(&identity.sub).filter(|known| {
            claimed.is_none_or(|role| known.role == role || known.role == Role::Superadmin)
        });
        if let Some(principal) = remembered {
            return Ok(principal);
        }
        let mut first = external_user(identity.email.as_deref());
        first.email_verified = identity.email_verified.unwrap_or(false);
        let mut user = self
            .users
            .find_or_create_external(self.idp.issuer(), &identity.sub, &first)
            .await
            .map_err(|e: StoreError| ApiError::from(e))?;
        if !user.is_active {
            return Err(deactivated());
        }
        let current = Role::parse(&user.role);
        // A superadmin (granted here, never by a provider) keeps that role.
        if let Some(role) = claimed.filter(|&r| r != current && current != Role::Superadmin) {
            user = self.follow_claim(user, role).await?;
        }
        let principal = principal_of_user(&user);
        self.remember(&identity.sub, &principal);
        Ok(principal)
    }

    /// The role `AUTH_ROLE_CLAIM` gives, if configured: `admin` when the claim says so,
    /// else `user`.
    fn claimed_role(&self, identity: &ExternalIdentity) -> Option<Role> {
        let path = self.role_claim.as_deref()?;
        Some(match claim_at(&identity.claims, path) {
            Some("admin") => Role::Admin,
            _ => Role::User,
        })
    }

    /// Writes the provider's role onto the user record (so their API keys follow it).
    async fn follow_claim(&self, user: UserRecord, role: Role) -> Result<UserRecord, ApiError> {
        let change = AdminChange {
            role: Some(role.as_str().to_owned()),
            ..AdminChange::default()
        };
        let now = aloft_core::timestamp::now();
        match self.users.admin_update(&user, &change, &now).await {
            Ok(after) => Ok(after),
            // Changed meanwhile (another request of theirs did the same): as it is now.
            Err(StoreError::ConditionFailed) => self
                .users
                .get(&user.id)
                .await?
                .ok_or_else(|| ApiError::Authentication("Invalid token".into())),
            Err(e) => Err(e.into()),
        }
    }

    fn remembered(&self, subject: &str) -> Option<Principal> {
        let known = self.known.lock().ok()?;
        known
            .get(subject)
            .filter(|(_, at)| at.elapsed() < KNOWN_IDENTITY_TTL)
            .map(|(principal, _)| principal.clone())
    }

    fn remember(&self, subject: &str, principal: &Principal) {
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= KNOWN_IDENTITY_CAPACITY {
                known.clear();
            }
            known.insert(subject.to_owned(), (principal.clone(), Instant::now()));
        }
    }
}

/// The user record made for a provider identity seen for the first time (on sign-in or
/// from the provider's webhook): a personal tenant, the `user` role, the free plan, no
/// password.
pub fn external_user(email: Option<&str>) -> UserRecord {
    let now = aloft_core::timestamp::now();
    UserRecord {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.map(aloft_store::normalize_email).unwrap_or_default(),
        full_name: None,
        avatar_url: None,
        role: Role::User.as_str().to_owned(),
        is_active: true,
        tenant_id: uuid::Uuid::new_v4().to_string(),
        subscription_plan: Plan::Free.as_str().to_owned(),
        subscription_status: None,
        subscription_period_end: None,
        cancel_at_period_end: false,
        subscription_id: None,
        stripe_customer_id: None,
        created_at: now.clone(),
        updated_at: now,
        password_hash: None,
        email_verified: false,
    }
}

/// The claim at a dotted `path` (`app_metadata.role`), if it is a string.
fn claim_at<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> Option<&'a str> {
    let mut segments = path.split('.');
    let mut value = claims.get(segments.next()?)?;
    for segment in segments {
        value = value.get(segment)?;
    }
    value.as_str()
}

fn principal_of_user(user: &UserRecord) -> Principal {
    Principal {
        user_id: user.id.clone(),
        tenant_id: TenantId::new(user.tenant_id.clone()),
        membership: None,
        role: Role::parse(&user.role),
        plan: Plan::parse(&user.subscription_plan),
        email: (!user.email.is_empty()).then(|| user.email.clone()),
        impersonator: None,
        token_id: None,
        credential: Credential::SESSIONLESS,
    }
}

/// The answer to any credential of a deactivated user.
pub fn deactivated() -> ApiError {
    ApiError::Authentication("This account is deactivated".into())
}

fn invalid_key() -> ApiError {
    ApiError::Authentication("Invalid API key".into())
}

/// `None` for a key of an organization whose role there does not parse: never read as a
/// key of a personal tenant, which manages everything in it.
fn principal_of_key(record: ApiKeyRecord) -> Option<Principal> {
    let membership = match record.member_role.as_deref() {
        Some(raw) => Some(MemberRole::parse(raw)?),
        None => None,
    };
    Some(Principal {
        user_id: record.user_id,
        tenant_id: TenantId::new(record.tenant_id),
        membership,
        role: Role::parse(&record.role),
        plan: Plan::parse(&record.plan),
        email: None,
        impersonator: None,
        token_id: None,
        credential: Credential::ApiKey {
            id: record.id,
            scopes: record
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
        },
    })
}

/// A new key: (id, the full key to show once, the hash to store).
pub fn new_api_key() -> Result<(String, String, String), getrandom::Error> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = opaque::random_secret()?;
    let key = format!("{KEY_PREFIX}_{id}_{secret}");
    Ok((id, key, opaque::secret_hash(&secret)))
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
        assert_eq!(opaque::secret_hash(secret), hash);
    }

    #[test]
    fn role_claims_are_found_by_their_dotted_path() {
        let claims = serde_json::json!({
            "role": "authenticated",
            "app_metadata": {"role": "admin"},
            "public_metadata": {"nested": {"role": 7}}
        });
        let claims = claims.as_object().unwrap();
        assert_eq!(claim_at(claims, "app_metadata.role"), Some("admin"));
        assert_eq!(claim_at(claims, "role"), Some("authenticated"));
        assert_eq!(claim_at(claims, "public_metadata.nested.role"), None);
        assert_eq!(claim_at(claims, "missing.role"), None);
        assert_eq!(claim_at(claims, ""), None);
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
