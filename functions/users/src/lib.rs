//! `users`: the signed-in user's own profile, `GET` and `PATCH /api/{v1,v2}/app/users/me`.
//! v2 adds `is_premium` and `days_since_joined`. An inactive account gets 403. Also the
//! caller's API keys (`GET/POST /app/api-keys`, `DELETE /app/api-keys/{id}`) and their
//! organizations (`/app/organizations`, members), and their open WebSocket connections
//! (`GET /app/ws/status`). (Their password, sessions and verification mail are the `auth`
//! function's.)

mod api_keys;
mod connections;
mod credentials;
mod invitations;
mod me;
mod organizations;

use aloft_auth::{App, AppParts, MembershipMarks};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_queue::{Producer, Publisher, QueueName, QueueUrls};
use aloft_store::{
    ApiKeyRepo, AwsClients, Connections, JobRepo, MembershipLimits, OrganizationRepo,
    RefreshTokens, Table, TenantCredentials, UserRepo,
};
use axum::{
    Router,
    routing::{delete, get, patch, post, put},
};
use utoipa::OpenApi;

/// What the users function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Users {
    pub users: UserRepo,
    pub api_keys: ApiKeyRepo,
    pub organizations: OrganizationRepo,
    /// `ORGANIZATION_MEMBERS_MAX` (100), `ORGANIZATIONS_PER_USER_MAX` (20).
    pub limits: MembershipLimits,
    /// Invitation mails, through the jobs queue (`JOBS_QUEUE_URL`).
    pub producer: Producer,
    /// `member.*` events to the organization's webhook subscriptions and its `tenant:`
    /// channel.
    pub publisher: Publisher,
    /// The session `switch` moves to another tenant.
    pub refresh_tokens: RefreshTokens,
    /// Makes a membership change refuse the member's older credentials.
    pub marks: MembershipMarks,
    /// Organizations' own provider keys (`TENANT_CREDENTIALS_KEY_ID`); `None`: 503.
    pub credentials: Option<TenantCredentials>,
    /// The caller's WebSocket connections, as the realtime function records them.
    pub connections: Connections,
}

impl AppParts for Users {
    fn build(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let urls = QueueUrls::from_env(env, &[QueueName::Jobs])?;
        let producer = Producer::new(aws, JobRepo::new(table.clone()), urls);
        Ok(Self {
            publisher: Publisher::new(producer.clone()),
            producer,
            refresh_tokens: RefreshTokens::new(table.clone()),
            marks: MembershipMarks::from_env(env, table)?,
            users: UserRepo::new(table.clone()),
            api_keys: ApiKeyRepo::new(table.clone()),
            organizations: OrganizationRepo::new(table.clone()),
            credentials: TenantCredentials::from_env(env, aws, table),
            connections: Connections::new(table.clone()),
            limits: MembershipLimits {
                members_per_organization: env.parse_or("ORGANIZATION_MEMBERS_MAX", 100)?,
                organizations_per_user: env.parse_or("ORGANIZATIONS_PER_USER_MAX", 20)?,
            },
        })
    }
}

/// The function's state: the guard and [`Users`].
pub type AppState = App<Users>;

/// The function's app: routes under every API version, wrapped by the shared edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/app/users/me", get(me::get_me).patch(me::update_me))
        .route(
            "/app/api-keys",
            get(api_keys::list_api_keys).post(api_keys::create_api_key),
        )
        .route("/app/api-keys/{id}", delete(api_keys::delete_api_key))
        .route(
            "/app/organizations",
            get(organizations::list_organizations).post(organizations::create_organization),
        )
        .route(
            "/app/organizations/{id}",
            get(organizations::get_organization)
                .patch(organizations::update_organization)
                .delete(organizations::delete_organization),
        )
        .route(
            "/app/organizations/{id}/members",
            get(organizations::list_members),
        )
        .route(
            "/app/organizations/{id}/switch",
            post(organizations::switch_organization),
        )
        .route(
            "/app/organizations/{id}/members/{user_id}",
            patch(organizations::update_member).delete(organizations::remove_member),
        )
        .route(
            "/app/organizations/{id}/invitations",
            get(invitations::list_invitations).post(invitations::create_invitation),
        )
        .route(
            "/app/organizations/{id}/invitations/{invitation_id}",
            delete(invitations::revoke_invitation),
        )
        .route(
            "/app/organizations/{id}/credentials",
            get(credentials::list_credentials),
        )
        .route(
            "/app/organizations/{id}/credentials/{provider}",
            put(credentials::put_credential).delete(credentials::delete_credential),
        )
        .route(
            "/app/organizations/{id}/audit-logs",
            get(organizations::list_audit_logs),
        )
        .route(
            "/app/invitations/accept",
            post(invitations::accept_invitation),
        )
        .route("/app/ws/status", get(connections::get_ws_status));
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(UsersApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        me::get_me,
        me::update_me,
        api_keys::list_api_keys,
        api_keys::create_api_key,
        api_keys::delete_api_key,
        organizations::create_organization,
        organizations::list_organizations,
        organizations::get_organization,
        organizations::update_organization,
        organizations::delete_organization,
        organizations::list_members,
        organizations::update_member,
        organizations::remove_member,
        organizations::switch_organization,
        organizations::list_audit_logs,
        credentials::list_credentials,
        credentials::put_credential,
        credentials::delete_credential,
        invitations::create_invitation,
        invitations::list_invitations,
        invitations::revoke_invitation,
        invitations::accept_invitation,
        connections::get_ws_status
    ),
    tags(
        (name = "Users", description = "The signed-in user's profile"),
        (name = "API keys", description = "Keys for service accounts, sent as X-API-Key"),
        (name = "Organizations", description = "Tenants with members: the caller's organizations, their members and roles"),
        (name = "Realtime", description = "The caller's WebSocket connections")
    )
)]
struct UsersApi;
