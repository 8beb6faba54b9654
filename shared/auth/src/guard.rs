//! The guard every HTTP function puts in front of its routes: it identifies the caller
//! and enforces the rate limits of docs/api.md with one atomic DynamoDB update (two for
//! a provider webhook: its address's window, then its provider's). For a signed-in user
//! that update also meters `api_requests` ([`UsageMeter::count_request`]): one write per
//! request. Any other metering runs concurrently with the handler, adding no sequential
//! round trip. `X-RateLimit-*` headers go on every response, errors included.

use std::{sync::Arc, time::Duration};

use aloft_config::{ConfigError, Env};
use aloft_core::{ApiError, timestamp::unix_now};
use aloft_http::{CallerId, HttpConfig};
use aloft_store::{
    AuditLog, RateLimiter, Table, UsageMeter, Window,
    usage::{API_REQUESTS, ClaimedMembership, RequestLimit},
};
use axum::{
    Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, Method};
use lambda_http::request::RequestContext;
use tracing::Instrument;

use crate::{Audit, Authenticator, Plan, Principal, authenticator::deactivated};

/// A limiter call that takes longer than this has failed; what follows is the request
/// class's [`OnFailure`]. DynamoDB answers in milliseconds; the local emulator, which
/// serves one request at a time, is given longer (`RATE_LIMIT_TIMEOUT_MS`).
const LIMITER_TIMEOUT_MS: u64 = 250;

/// What a request meets when the limiter fails (docs/security.md, "When the limiter
/// fails"). No credential is ever accepted because the limiter failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnFailure {
    /// Through, uncounted: anonymous requests to public routes (health, documents,
    /// flags), which a limiter outage must not take down.
    Open,
    /// 503 with `Retry-After`: sign-in, sign-up and recovery routes (their limit is what
    /// stops password guessing), what costs money per request (the contact form, mail),
    /// and provider webhooks (their limits keep floods off the signature checks; providers
    /// retry a 503, and the handler's own write would fail as the limiter's did).
    Closed,
    /// A signed-in caller: the refusals the limiter's write enforces (deactivation, a
    /// changed membership) are read instead, strongly consistent; the request goes
    /// through uncounted if the credential stands, and meets 503 if that read fails too.
    Verify,
}

/// The answer when the limiter and its fallback cannot: retryable, in the envelope.
fn limiter_unavailable() -> ApiError {
    ApiError::unavailable("The service is busy; please retry")
}

/// Requests per window, by class (docs/api.md "Rate limits"), from `RATE_LIMIT_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub default_per_minute: u32,
    pub ai_per_minute: u32,
    /// Per client IP and route.
    pub auth_per_minute: u32,
    /// Per client IP.
    pub contact_per_hour: u32,
    /// Mail a caller can trigger to one address (verification resend, password reset),
    /// per hour; also per client IP.
    pub email_per_hour: u32,
    /// Provider webhooks per client IP and minute.
    pub webhook_per_ip_per_minute: u32,
    /// Provider webhooks per provider and minute, from every address together.
    pub webhook_per_provider_per_minute: u32,
    /// A signed-in user's requests per UTC day, every class together, by plan; `None`:
    /// unlimited.
    pub daily_free: Option<u32>,
    pub daily_pro: Option<u32>,
    pub daily_enterprise: Option<u32>,
    /// `RATE_LIMITS_ENABLED=false` turns limiting off, and with it the refusal of
    /// deactivated users' unexpired tokens: for benchmarks of the handler alone.
    pub enabled: bool,
    /// How long the limiter's write, or its fallback read, may take.
    pub deadline: Duration,
}

impl RateLimits {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            default_per_minute: env.parse_or("RATE_LIMIT_DEFAULT_PER_MINUTE", 60)?,
            ai_per_minute: env.parse_or("RATE_LIMIT_AI_PER_MINUTE", 10)?,
            auth_per_minute: env.parse_or("RATE_LIMIT_AUTH_PER_MINUTE", 5)?,
            contact_per_hour: contact_per_hour(env)?,
            email_per_hour: env.parse_or("RATE_LIMIT_EMAIL_PER_HOUR", 5)?,
            webhook_per_ip_per_minute: env.parse_or("RATE_LIMIT_WEBHOOK_PER_IP_PER_MINUTE", 120)?,
            webhook_per_provider_per_minute: env
                .parse_or("RATE_LIMIT_WEBHOOK_PER_PROVIDER_PER_MINUTE", 3000)?,
            daily_free: daily(env, "RATE_LIMIT_DAILY_FREE", 5_000)?,
            daily_pro: daily(env, "RATE_LIMIT_DAILY_PRO", 50_000)?,
            daily_enterprise: daily(env, "RATE_LIMIT_DAILY_ENTERPRISE", 0)?,
            enabled: env.parse_or("RATE_LIMITS_ENABLED", true)?,
            deadline: Duration::from_millis(
                env.parse_or("RATE_LIMIT_TIMEOUT_MS", LIMITER_TIMEOUT_MS)?,
            ),
        })
    }

    /// The daily allowance of `plan`.
    pub fn daily(&self, plan: Plan) -> Option<u32> {
        match plan {
            Plan::Free => self.daily_free,
            Plan::Pro => self.daily_pro,
            Plan::Enterprise => self.daily_enterprise,
        }
    }
}

/// A daily allowance: a count, `0` or `unlimited` for none.
fn daily(env: &Env, name: &'static str, default: u32) -> Result<Option<u32>, ConfigError> {
    let count = match env.optional(name) {
        Some(raw) if raw.trim().eq_ignore_ascii_case("unlimited") => 0,
        _ => env.parse_or(name, default)?,
    };
    Ok(Some(count).filter(|&count| count > 0))
}

/// The reference's `CONTACT_RATE_LIMIT` (`5/hour`) if set, else
/// `RATE_LIMIT_CONTACT_PER_HOUR`, else 5.
fn contact_per_hour(env: &Env) -> Result<u32, ConfigError> {
    let Some(raw) = env.optional("CONTACT_RATE_LIMIT") else {
        return env.parse_or("RATE_LIMIT_CONTACT_PER_HOUR", 5);
    };
    raw.trim()
        .strip_suffix("/hour")
        .and_then(|n| n.trim().parse().ok())
        .ok_or(ConfigError::Invalid {
            name: "CONTACT_RATE_LIMIT",
            reason: format!("'{raw}' is not <n>/hour"),
        })
}

/// The state of the guard layer, built once per cold start.
#[derive(Debug, Clone)]
pub struct Guard {
    authenticator: Authenticator,
    limiter: RateLimiter,
    usage: UsageMeter,
    audit: AuditLog,
    limits: RateLimits,
}

impl Guard {
    /// Token keys from `JWT_*`, an identity provider's from `AUTH_JWKS_URL`,
    /// `AUTH_ISSUER`, `AUTH_AUDIENCE` and `AUTH_ROLE_CLAIM` (when set), API keys and
    /// counters in `table`, limits from `RATE_LIMIT_*`. Every function that accepts a
    /// caller builds its guard here, so each accepts the same credentials.
    pub fn from_env(env: &Env, table: Table) -> Result<Self, ConfigError> {
        let jwt = Arc::new(crate::JwtKeys::new(&crate::AuthConfig::from_env(env)?));
        let mut authenticator =
            Authenticator::new(jwt, Some(aloft_store::ApiKeyRepo::new(table.clone())))
                .with_sessions(aloft_store::ImpersonationSessions::new(table.clone()));
        if let Some(config) = crate::ExternalIdpConfig::from_env(env)? {
            authenticator = authenticator.with_external(
                crate::ExternalIdp::new(config)?,
                aloft_store::UserRepo::new(table.clone()),
                env.optional("AUTH_ROLE_CLAIM"),
            );
        }
        Ok(Self::new(authenticator, table, RateLimits::from_env(env)?))
    }

    /// The audit log, for [`crate::Audit`].
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// The authenticator the guard uses, for extractors in the same function.
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    pub fn new(authenticator: Authenticator, table: Table, limits: RateLimits) -> Self {
        Self {
            authenticator,
            limiter: RateLimiter::new(table.clone()),
            usage: UsageMeter::new(table.clone()),
            audit: AuditLog::new(table),
            limits,
        }
    }
}

/// The whole layer stack of an HTTP function: the shared edge around the guard around
/// `router`.
pub fn guarded(router: Router, guard: Guard, http: &HttpConfig) -> Router {
    let router = router.layer(middleware::from_fn_with_state(
        Arc::new(guard),
        guard_request,
    ));
    aloft_http::edge(router, http)
}

/// The classes counted per user, and their window.
const DEFAULT: &str = "default";
const AI: &str = "ai";
const USER_WINDOW_SECS: u64 = 60;
/// Provider webhooks, per client IP and per provider.
const WEBHOOK: &str = "webhook";

/// What a request is counted against.
struct Class {
    key: String,
    limit: u32,
    window_secs: u64,
    per_ip: bool,
    /// For an anonymous caller; a signed-in one is verified.
    on_failure: OnFailure,
    /// A second window, shared by every caller, that a request the caller's own window
    /// allowed is counted in too.
    ceiling: Option<Ceiling>,
}

/// A window of `subject` (say `provider:stripe`) in the same class and window length.
struct Ceiling {
    subject: String,
    limit: u32,
}

impl Class {
    /// Contact form submissions, per client IP and hour.
    fn contact(limits: &RateLimits) -> Self {
        Class {
            key: "contact".into(),
            limit: limits.contact_per_hour,
            window_secs: 3600,
            per_ip: true,
            on_failure: OnFailure::Closed,
            ceiling: None,
        }
    }

    /// A provider webhook: per client IP, and under its provider's ceiling across every
    /// address (a flood from many addresses), both counted before the handler checks a
    /// signature (Apple's is a certificate chain). Requests through the function's URL
    /// meet it too: the URL's `rawPath` is the same `/api/{version}/public/webhooks/…`
    /// (`cargo lambda watch` strips its `/lambda-url/<fn>` prefix the same way).
    fn webhook(provider: &str, limits: &RateLimits) -> Self {
        Class {
            key: WEBHOOK.into(),
            limit: limits.webhook_per_ip_per_minute,
            window_secs: 60,
            per_ip: true,
            on_failure: OnFailure::Closed,
            ceiling: Some(Ceiling {
                subject: format!("provider:{}", provider_name(provider)),
                limit: limits.webhook_per_provider_per_minute,
            }),
        }
    }

    /// The class of a request to `path` (docs/api.md, "Rate limits").
    fn of(path: &str, method: &Method, limits: &RateLimits) -> Self {
        let route = path.splitn(4, '/').nth(3).unwrap_or(path);
        let class = |key: String, limit, window_secs, per_ip, on_failure| Class {
            key,
            limit,
            window_secs,
            per_ip,
            on_failure,
            ceiling: None,
        };
        if let Some(provider) = route.strip_prefix("public/webhooks/") {
            Class::webhook(provider, limits)
        } else if let Some(action) = route.strip_prefix("public/auth/") {
            let key = format!("auth:{action}");
            class(key, limits.auth_per_minute, 60, true, OnFailure::Closed)
        } else if route.starts_with("public/contact") && method == Method::POST {
            Class::contact(limits)
        } else if route.starts_with("app/ai/") {
            let limit = limits.ai_per_minute;
            class(AI.into(), limit, USER_WINDOW_SECS, false, OnFailure::Open)
        } else {
            let limit = limits.default_per_minute;
            class(
                DEFAULT.into(),
                limit,
                USER_WINDOW_SECS,
                false,
                OnFailure::Open,
            )
        }
    }
}

/// The provider a webhook path names, as the handler's `Path` reads it (percent-decoded:
/// `%73tripe` is `stripe`), so every spelling of a provider shares its ceiling; anything
/// but a short lowercase name is `other`.
fn provider_name(segment: &str) -> String {
    let mut name = String::new();
    let mut rest = segment;
    while let Some(first) = rest.chars().next() {
        let (decoded, len) = match first {
            '%' => {
                let hex = rest.get(1..3);
                let byte = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok());
                (byte.map(char::from), 3)
            }
            c => (Some(c), c.len_utf8()),
        };
        match decoded {
            Some(c) if c.is_ascii_lowercase() && name.len() < 32 => name.push(c),
            _ => return "other".into(),
        }
        rest = &rest[len..];
    }
    if name.is_empty() {
        "other".into()
    } else {
        name
    }
}

/// A credential acting in an organization whose membership changed since it was issued
/// (removed, another role, the organization deleted).
fn membership_changed() -> ApiError {
    ApiError::Authentication(
        "Your membership of this organization has changed: switch to it again".into(),
    )
}

async fn guard_request(
    State(guard): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response {
    // Bad credentials are not rejected here: a public route ignores them, and a
    // protected route's extractor verifies again and answers 401 with the reason.
    let principal = guard
        .authenticator
        .authenticate(request.headers())
        .await
        .ok()
        .flatten();
    if let Some(principal) = &principal {
        request.extensions_mut().insert(principal.clone());
    }
    let now = unix_now();
    let group = route_group(request.uri().path()).to_owned();
    let class = guard
        .limits
        .enabled
        .then(|| Class::of(request.uri().path(), request.method(), &guard.limits));
    let window = match &class {
        Some(class) => {
            // Read from the request first: a borrowed body cannot cross an await.
            let ip = client_ip(&request);
            match check_limit(&guard, class, &ip, principal.as_ref(), &group, now).await {
                Ok(window) => window,
                Err(unavailable) => {
                    let mut response = unavailable.into_response();
                    if let Some(p) = &principal {
                        response
                            .extensions_mut()
                            .insert(CallerId(p.user_id.clone()));
                    }
                    return response;
                }
            }
        }
        None => None,
    };
    if let Some(window) = window.filter(|w| !w.allowed) {
        let mut response = if window.blocked {
            deactivated().into_response()
        } else if window.membership_changed {
            membership_changed().into_response()
        } else {
            rate_limited(&window, now).into_response()
        };
        set_rate_headers(response.headers_mut(), &window);
        if let Some(p) = &principal {
            response
                .extensions_mut()
                .insert(CallerId(p.user_id.clone()));
        }
        return response;
    }
    // A user's own window counted the request into their usage too; else meter it here.
    let metered = window.is_some()
        && principal.is_some()
        && class.as_ref().is_some_and(|class| !class.per_ip);
    let meter = async {
        if let Some(principal) = principal.as_ref().filter(|_| !metered) {
            let usage = &guard.usage;
            usage
                .record(&principal.user_id, API_REQUESTS, 1, Some(&group))
                .await;
        }
    };
    // Every request made while impersonating is audited, and logged in a span that
    // names the admin.
    let impersonated = principal.as_ref().and_then(|p| {
        let admin = p.impersonator.as_deref()?;
        let span =
            tracing::info_span!("impersonated", user.id = %p.user_id, impersonator.id = %admin);
        let route = format!("{} {}", request.method(), request.uri().path());
        Some((
            Audit::of(&guard.audit, p, request.extensions()),
            route,
            span,
        ))
    });
    let span = impersonated
        .as_ref()
        .map_or_else(tracing::Span::none, |(_, _, span)| span.clone());
    let audited = async {
        if let Some((audit, route, _)) = &impersonated {
            audit
                .record("request", "route", Some(route), None, None)
                .await;
        }
    };
    let caller = principal.as_ref().map(|p| CallerId(p.user_id.clone()));
    let (mut response, (), ()) = tokio::join!(next.run(request).instrument(span), meter, audited);
    if let Some(window) = &window {
        set_rate_headers(response.headers_mut(), window);
    }
    if let Some(caller) = caller {
        response.extensions_mut().insert(caller);
    }
    response
}

/// A user's request is limited and metered in one write to their usage item; any other
/// request is limited per client IP, then under its class's ceiling if it has one (so a
/// caller refused by its own window spends nothing of the shared one). `Ok(None)`: the
/// limiter failed and the class lets the request through uncounted; `Err`: it failed and
/// the request must not pass.
async fn check_limit(
    guard: &Guard,
    class: &Class,
    ip: &str,
    principal: Option<&Principal>,
    route_group: &str,
    now: u64,
) -> Result<Option<Window>, ApiError> {
    match principal {
        Some(p) if !class.per_ip => {
            let limit = RequestLimit {
                class: &class.key,
                limit: class.limit.saturating_mul(p.plan.rate_multiplier()),
                window_secs: class.window_secs,
                daily: guard.limits.daily(p.plan),
                membership: p.membership.map(|role| ClaimedMembership {
                    tenant: p.tenant_id.as_str(),
                    role: role.as_str(),
                }),
            };
            let counted = guard
                .usage
                .count_request(&p.user_id, limit, route_group, now);
            if let Some(window) =
                within_deadline(guard.limits.deadline, counted, "rate limiter").await
            {
                return Ok(Some(window));
            }
            let standing = guard.usage.standing(&p.user_id, limit, now);
            match within_deadline(guard.limits.deadline, standing, "credential standing").await {
                Some(refusal) => Ok(refusal),
                None => Err(limiter_unavailable()),
            }
        }
        _ => {
            let own = count(guard, class, &format!("ip:{ip}"), class.limit, now).await?;
            let ceiling = (class.ceiling.as_ref()).filter(|_| own.is_none_or(|w| w.allowed));
            let Some(ceiling) = ceiling else {
                return Ok(own);
            };
            let shared = count(guard, class, &ceiling.subject, ceiling.limit, now).await?;
            // The caller's own window, unless the shared one refused the request.
            Ok(shared.filter(|w| !w.allowed).or(own))
        }
    }
}

/// One request of `subject` counted in `class` against `limit`, or the class's
/// [`OnFailure`] when the limiter does not answer.
async fn count(
    guard: &Guard,
    class: &Class,
    subject: &str,
    limit: u32,
    now: u64,
) -> Result<Option<Window>, ApiError> {
    let hit = (guard.limiter).hit(subject, &class.key, limit, class.window_secs, now);
    let answer = within_deadline(guard.limits.deadline, hit, "rate limiter").await;
    match (answer, class.on_failure) {
        (Some(window), _) => Ok(Some(window)),
        (None, OnFailure::Open) => Ok(None),
        (None, _) => Err(limiter_unavailable()),
    }
}

/// What `call` answers within `deadline`, or `None` (logged as a warning).
async fn within_deadline<T>(
    deadline: Duration,
    call: impl Future<Output = Result<T, aloft_store::StoreError>>,
    what: &str,
) -> Option<T> {
    match tokio::time::timeout(deadline, call).await {
        Ok(Ok(answer)) => Some(answer),
        Ok(Err(e)) => {
            tracing::warn!(error.cause = %e, "{what} failed");
            None
        }
        Err(_) => {
            tracing::warn!("{what} timed out");
            None
        }
    }
}

/// The group `api_requests` are broken down by: the segment after `app/` (`projects`,
/// `files`, …), else the area (`admin`, `public`).
fn route_group(path: &str) -> &str {
    let route = path.splitn(4, '/').nth(3).unwrap_or(path);
    let mut segments = route.split('/');
    match segments.next() {
        Some("app") => segments.next(),
        area => area,
    }
    .filter(|group| !group.is_empty())
    .unwrap_or("other")
}

impl Guard {
    /// Counts one request of `principal` in their per-user window, as the guard layer
    /// does for an HTTP request: for callers outside an HTTP router (WebSocket events).
    /// Refused while the user is deactivated or over their limit; like the layer, it
    /// verifies the credential instead when the limiter cannot answer.
    pub async fn admit(&self, principal: &Principal) -> Result<(), ApiError> {
        if !self.limits.enabled {
            return Ok(());
        }
        let class = Class {
            key: DEFAULT.into(),
            limit: self.limits.default_per_minute,
            window_secs: USER_WINDOW_SECS,
            per_ip: false,
            on_failure: OnFailure::Verify,
            ceiling: None,
        };
        let now = unix_now();
        match check_limit(self, &class, "unknown", Some(principal), "realtime", now).await? {
            Some(window) if window.blocked => Err(deactivated()),
            Some(window) if window.membership_changed => Err(membership_changed()),
            Some(window) if !window.allowed => Err(rate_limited(&window, now)),
            _ => Ok(()),
        }
    }

    /// Counts one request of `subject` (say `email:<address>`) in `class`, refusing it
    /// with 429 past `limit` per `window_secs`: for limits a route sets on something
    /// other than its caller. What it limits costs money (mail), so when the limiter
    /// cannot answer it refuses with 503.
    pub async fn throttle(
        &self,
        subject: &str,
        class: &str,
        limit: u32,
        window_secs: u64,
    ) -> Result<(), ApiError> {
        if !self.limits.enabled {
            return Ok(());
        }
        let now = unix_now();
        let hit = self.limiter.hit(subject, class, limit, window_secs, now);
        match within_deadline(self.limits.deadline, hit, "rate limiter").await {
            Some(window) if !window.allowed => Err(rate_limited(&window, now)),
            Some(_) => Ok(()),
            None => Err(limiter_unavailable()),
        }
    }

    /// The limits this guard enforces.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// The contact form's window for `ip`, without counting a request against it.
    pub async fn contact_window(&self, ip: &str) -> Result<Window, aloft_store::StoreError> {
        let class = Class::contact(&self.limits);
        let subject = format!("ip:{ip}");
        self.limiter
            .peek(
                &subject,
                &class.key,
                class.limit,
                class.window_secs,
                unix_now(),
            )
            .await
    }
}

/// The caller's address as API Gateway saw it (see [`client_ip`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(source_ip(&parts.extensions)))
    }
}

/// The caller's address as API Gateway saw it. Never `X-Forwarded-For`: a client can
/// write any header it likes.
fn client_ip(request: &Request) -> String {
    source_ip(request.extensions())
}

pub(crate) fn source_ip(extensions: &http::Extensions) -> String {
    match extensions.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .http
            .source_ip
            .clone()
            .unwrap_or_else(|| "unknown".into()),
        _ => "unknown".into(),
    }
}

/// The 429 for a full `window`, naming it.
fn rate_limited(window: &Window, now: u64) -> ApiError {
    ApiError::RateLimited {
        retry_after: window.reset_at.saturating_sub(now).max(1),
        window: period_name(window.period_secs),
        limit: window.limit,
    }
}

fn period_name(secs: u64) -> &'static str {
    match secs {
        86_400.. => "day",
        3_600.. => "hour",
        _ => "minute",
    }
}

fn set_rate_headers(headers: &mut HeaderMap, window: &Window) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(window.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(window.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(window.reset_at));
    headers.insert(
        "x-ratelimit-window",
        HeaderValue::from_static(period_name(window.period_secs)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RateLimits {
        RateLimits::from_env(&Env::from_pairs([])).unwrap()
    }

    #[test]
    fn daily_allowances_default_per_plan_and_zero_or_unlimited_means_none() {
        let defaults = limits();
        let of =
            |l: &RateLimits| [Plan::Free, Plan::Pro, Plan::Enterprise].map(|plan| l.daily(plan));
        assert_eq!(of(&defaults), [Some(5_000), Some(50_000), None]);
        let set = RateLimits::from_env(&Env::from_pairs([
            ("RATE_LIMIT_DAILY_FREE", "unlimited"),
            ("RATE_LIMIT_DAILY_PRO", "0"),
            ("RATE_LIMIT_DAILY_ENTERPRISE", "9"),
        ]))
        .unwrap();
        assert_eq!(of(&set), [None, None, Some(9)]);
        assert!(
            RateLimits::from_env(&Env::from_pairs([("RATE_LIMIT_DAILY_PRO", "lots")])).is_err()
        );
    }

    #[test]
    fn the_limiters_deadline_is_250_ms_unless_set() {
        assert_eq!(limits().deadline, Duration::from_millis(250));
        let set = RateLimits::from_env(&Env::from_pairs([("RATE_LIMIT_TIMEOUT_MS", "1000")]));
        assert_eq!(set.map(|l| l.deadline), Ok(Duration::from_secs(1)));
    }

    #[test]
    fn requests_are_grouped_by_their_first_app_segment_or_area() {
        assert_eq!(route_group("/api/v1/app/projects/42"), "projects");
        assert_eq!(route_group("/api/v2/app/users/me"), "users");
        assert_eq!(route_group("/api/v1/admin/jobs"), "admin");
        assert_eq!(route_group("/api/v1/public/contact"), "public");
        assert_eq!(route_group("/api/v1/app"), "other");
        assert_eq!(route_group("/"), "other");
    }

    #[test]
    fn routes_fall_into_the_classes_of_api_md() {
        let of = |path, method| Class::of(path, &method, &limits());
        let login = of("/api/v1/public/auth/login", Method::POST);
        assert_eq!(
            (login.key.as_str(), login.limit, login.per_ip),
            ("auth:login", 5, true)
        );
        let contact = of("/api/v2/public/contact", Method::POST);
        assert_eq!((contact.limit, contact.window_secs), (5, 3600));
        assert_eq!(of("/api/v1/app/ai/chat", Method::POST).limit, 10);
        let default = of("/api/v1/app/users/me", Method::GET);
        assert_eq!(
            (default.key.as_str(), default.limit, default.per_ip),
            ("default", 60, false)
        );
        let webhook = of("/api/v1/public/webhooks/stripe", Method::POST);
        assert_eq!(
            (webhook.key.as_str(), webhook.limit, webhook.window_secs),
            ("webhook", 120, 60)
        );
        assert_eq!(
            (webhook.per_ip, webhook.on_failure),
            (true, OnFailure::Closed)
        );
        let ceiling = webhook.ceiling.unwrap();
        assert_eq!(
            (ceiling.subject.as_str(), ceiling.limit),
            ("provider:stripe", 3000)
        );
        assert!(default.ceiling.is_none() && login.ceiling.is_none());
    }

    #[test]
    fn a_webhook_counts_against_the_provider_its_handler_reads() {
        assert_eq!(provider_name("stripe"), "stripe");
        assert_eq!(provider_name("%73tripe"), "stripe");
        assert_eq!(provider_name("%61pple"), "apple");
        for other in ["Stripe", "stripe/x", "%zz", "%7", "%", "", "00000000-0000"] {
            assert_eq!(provider_name(other), "other", "{other}");
        }
    }

    #[test]
    fn contact_rate_limit_reads_the_reference_format() {
        let of = |value| RateLimits::from_env(&Env::from_pairs([("CONTACT_RATE_LIMIT", value)]));
        assert_eq!(of("20/hour").unwrap().contact_per_hour, 20);
        assert!(of("20/minute").is_err());
        assert!(of("lots").is_err());
    }
}
