//! `/app/organizations`: tenants with members (docs/api.md, "Organizations"). Every user
//! keeps a personal tenant; an organization is a tenant with members, one of them its
//! owner. An organization the caller is not a member of is 404, never 403, so its
//! existence does not leak.

use aloft_auth::{
    Audit, AuthUser, PersonUser, Plan, Principal,
    audit::{AuditFilter, AuditLogPage, LogPaging},
};
use aloft_core::ApiError;
use aloft_http::{
    Json, Paging, Query, Reply,
    openapi::{ErrorBody, InvalidQuery, JsonBody, SignedIn},
};
use aloft_queue::{Event, Staged};
use aloft_store::{
    Joined, MemberRole, MembershipRecord, OrganizationChange, OrganizationRecord, StoreError,
    TenantId, TransactWriteItem, UserRecord,
};
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;

/// `POST /app/organizations`, `PATCH /app/organizations/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrganizationName {
    /// 1–100 characters, not all spaces.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
}

/// `PATCH /app/organizations/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrganizationUpdate {
    /// 1–100 characters, not all spaces.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// AI calls made in the organization use only its own provider keys
    /// (`…/credentials/{provider}`); without one for any provider that could answer, 424
    /// `MISSING_TENANT_CREDENTIALS`.
    pub require_own_credentials: Option<bool>,
}

/// `personal` (the user's own tenant, no members) or `organization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantKind {
    Personal,
    Organization,
}

/// A tenant the caller belongs to, with their role in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    /// The tenant's id.
    pub id: String,
    pub name: String,
    pub kind: TenantKind,
    /// `owner`, `admin`, `member` or `viewer`; `owner` of the personal tenant.
    #[schema(value_type = String)]
    pub role: MemberRole,
    /// AI calls made here use only the organization's own provider keys.
    pub require_own_credentials: bool,
    pub created_at: String,
}

/// The caller's tenants: the personal one first, then organizations oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    pub items: Vec<OrganizationView>,
}

/// A member as the organization's members see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub full_name: Option<String>,
    #[schema(value_type = String)]
    pub role: MemberRole,
    pub joined_at: String,
}

/// The organization's members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<MemberView>,
    pub total: usize,
}

/// `PATCH /app/organizations/{id}/members/{user_id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MemberRoleChange {
    /// `owner` (transfers ownership: the old owner becomes `admin`), `admin`, `member` or
    /// `viewer`.
    pub role: String,
}

fn organization_view(organization: &OrganizationRecord, role: MemberRole) -> OrganizationView {
    OrganizationView {
        id: organization.id.clone(),
        name: organization.name.clone(),
        kind: TenantKind::Organization,
        role,
        require_own_credentials: organization.require_own_credentials,
        created_at: organization.created_at.clone(),
    }
}

fn personal_view(user: &UserRecord) -> OrganizationView {
    OrganizationView {
        id: user.tenant_id.clone(),
        name: user.full_name.clone().unwrap_or_else(|| user.email.clone()),
        kind: TenantKind::Personal,
        role: MemberRole::Owner,
        require_own_credentials: false,
        created_at: user.created_at.clone(),
    }
}

fn parse_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation(
            "name",
            "name must be 1–100 characters, not all spaces",
        ));
    }
    Ok(name.to_owned())
}

fn parse_role(raw: &str) -> Result<MemberRole, ApiError> {
    MemberRole::parse(raw)
        .ok_or_else(|| ApiError::validation("role", "role must be owner, admin, member or viewer"))
}

/// The caller's own record; an account deleted meanwhile is 401.
async fn caller(state: &AppState, principal: &Principal) -> Result<UserRecord, ApiError> {
    state
        .users
        .get(&principal.user_id)
        .await?
        .ok_or_else(|| ApiError::Authentication("Account not found".into()))
}

/// The organization `id` and the caller's membership of it; 404 for anyone else.
async fn membership(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(OrganizationRecord, MembershipRecord), ApiError> {
    let tenant = TenantId::new(id);
    let (organization, member) = tokio::join!(
        state.organizations.get(&tenant),
        state.organizations.membership(&tenant, &principal.user_id)
    );
    match (organization?, member?) {
        (Some(organization), Some(member)) => Ok((organization, member)),
        _ => Err(ApiError::not_found("Organization", id)),
    }
}

/// As [`membership`], for an owner or admin only (403 for other members).
pub(crate) async fn managed(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(OrganizationRecord, MembershipRecord), ApiError> {
    let (organization, member) = membership(state, principal, id).await?;
    if !member.role.manages() {
        return Err(ApiError::Authorization(
            "Only the organization's owner or an admin may do this".into(),
        ));
    }
    Ok((organization, member))
}

/// A new access token for another of the caller's tenants.
#[derive(Debug, Serialize, ToSchema)]
pub struct SwitchedTenant {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub tenant_id: String,
}

/// Act in another of the caller's tenants: an organization they belong to, or their
/// personal tenant. The answer is an access token for it; the session's refresh cookie
/// keeps it (a refresh signs tokens for it while the caller is a member).
#[utoipa::path(
    post,
    path = "/app/organizations/{id}/switch",
    tag = "Organizations",
    security(("BearerJWT" = [])),
    params(("id" = String, Path, description = "The tenant's id")),
    responses(
        SignedIn,
        (status = 200, description = "An access token acting in that tenant", body = SwitchedTenant),
        (status = 403, description = "An API key or an impersonation token", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is not a member", body = ErrorBody),
    )
)]
pub(crate) async fn switch_organization(
    State(state): State<AppState>,
    PersonUser(principal): PersonUser,
    Path(id): Path<String>,
) -> Result<Reply<SwitchedTenant>, ApiError> {
    let user = caller(&state, &principal).await?;
    // The plan is the tenant's: the user's own in their personal tenant.
    let (role, plan) = if id == user.tenant_id {
        (None, user.subscription_plan)
    } else {
        let (organization, member) = membership(&state, &principal, &id).await?;
        (Some(member.role), organization.subscription_plan)
    };
    if let Some(session) = principal.session_id() {
        let organization = role.map(|_| id.as_str());
        state
            .refresh_tokens
            .set_tenant(&principal.user_id, session, organization)
            .await?;
    }
    let switched = Principal {
        tenant_id: TenantId::new(&id),
        membership: role,
        plan: Plan::parse(&plan),
        ..principal
    };
    let keys = state.guard.authenticator().jwt();
    let access_token = keys
        .issue(&switched, aloft_core::timestamp::unix_now())
        .map_err(ApiError::internal)?;
    Ok(Reply::ok(SwitchedTenant {
        access_token,
        token_type: "bearer".into(),
        expires_in: keys.access_ttl().as_secs(),
        tenant_id: id,
    }))
}

/// A change of one member's role in an organization (`None`: not a member), and the
/// event announcing it to the organization's webhook subscriptions and `tenant:` channel.
#[derive(Debug)]
pub(crate) struct MemberChange<'a> {
    pub(crate) event: Event,
    pub(crate) tenant: &'a TenantId,
    pub(crate) user_id: &'a str,
    pub(crate) before: Option<MemberRole>,
    pub(crate) after: Option<MemberRole>,
}

impl MemberChange<'_> {
    /// The change's event, to be written in the change's own transaction (the outbox):
    /// it exists exactly when the change does.
    pub(crate) fn stage(&self, state: &AppState) -> Result<Staged, StoreError> {
        let data = serde_json::json!({
            "organization_id": self.tenant.as_str(),
            "user_id": self.user_id,
            "role": self.after.map(MemberRole::as_str),
        });
        let channels = vec![format!("tenant:{}", self.tenant.as_str())];
        (state.publisher).stage(self.event, self.tenant, data, channels)
    }

    /// What follows the change once it is made, in order: the member's credentials for
    /// the organization follow it (`marks`: from their next request), the organization's
    /// audit log records it, and its event, stored with it, is sent on its way
    /// (`announced`; `None` when this request wrote none). Only the marking can fail the
    /// request (a retry marks again); an event left unsent by it is sent by the relay.
    pub(crate) async fn follow(
        &self,
        state: &AppState,
        audit: &Audit,
        announced: Option<&Staged>,
    ) -> Result<(), ApiError> {
        (state.marks)
            .record(self.user_id, self.tenant, self.after)
            .await?;
        let role = |role: Option<MemberRole>| role.map(|r| serde_json::json!({"role": r}));
        audit
            .clone()
            .in_organization(self.tenant)
            .record(
                self.event.name(),
                "member",
                Some(self.user_id),
                role(self.before),
                role(self.after),
            )
            .await;
        if let Some(staged) = announced {
            state.publisher.dispatch(staged).await;
        }
        Ok(())
    }
}

/// The writes of `staged` events (each its job and the job's count), for the transaction
/// of the change they announce.
pub(crate) fn writes<'a>(staged: impl IntoIterator<Item = &'a Staged>) -> Vec<TransactWriteItem> {
    staged.into_iter().flat_map(|s| s.writes.clone()).collect()
}

/// Member `user_id` of organization `id`, unless they are its owner (409 `why`): the
/// owner's membership changes only by transfer.
async fn not_the_owner(
    state: &AppState,
    id: &str,
    user_id: &str,
    why: &'static str,
) -> Result<MembershipRecord, ApiError> {
    let member = state
        .organizations
        .membership(&TenantId::new(id), user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Member", user_id))?;
    if member.role == MemberRole::Owner {
        return Err(ApiError::Conflict(why.into()));
    }
    Ok(member)
}

/// The changes giving member `user_id` (now `before`) `role` makes: giving `owner`
/// transfers ownership, so the organization's owner becomes `admin` too.
fn role_changes<'a>(
    organization: &'a OrganizationRecord,
    tenant: &'a TenantId,
    user_id: &'a str,
    (before, role): (MemberRole, MemberRole),
) -> Vec<MemberChange<'a>> {
    let changed = |user_id, before, after| MemberChange {
        event: Event::MemberRoleChanged,
        tenant,
        user_id,
        before: Some(before),
        after: Some(after),
    };
    let mut changes = vec![changed(user_id, before, role)];
    if role == MemberRole::Owner {
        let owner = organization.owner_id.as_str();
        changes.push(changed(owner, MemberRole::Owner, MemberRole::Admin));
    }
    changes
}

/// Create an organization; the caller is its owner.
#[utoipa::path(
    post,
    path = "/app/organizations",
    tag = "Organizations",
    security(("BearerJWT" = [])),
    request_body = OrganizationName,
    responses(
        SignedIn, JsonBody,
        (status = 201, description = "Created; the caller is its owner", body = OrganizationView),
        (status = 403, description = "An API key or an impersonation token", body = ErrorBody),
        (status = 409, description = "The caller is in as many organizations as allowed", body = ErrorBody),
    )
)]
pub(crate) async fn create_organization(
    State(state): State<AppState>,
    PersonUser(principal): PersonUser,
    audit: Audit,
    Json(body): Json<OrganizationName>,
) -> Result<(StatusCode, Reply<OrganizationView>), ApiError> {
    let name = parse_name(&body.name)?;
    let now = aloft_core::timestamp::now();
    let organization = OrganizationRecord::new(
        uuid::Uuid::now_v7().to_string(),
        name,
        principal.user_id.clone(),
        &now,
    );
    let owner = MembershipRecord {
        tenant_id: organization.id.clone(),
        user_id: principal.user_id.clone(),
        role: MemberRole::Owner,
        joined_at: now,
    };
    match state
        .organizations
        .create(&organization, &owner, state.limits)
        .await?
    {
        Joined::Joined => {
            let view = organization_view(&organization, MemberRole::Owner);
            audit
                .in_organization(&TenantId::new(&organization.id))
                .record(
                    "organization.create",
                    "organization",
                    Some(&organization.id),
                    None,
                    Some(serde_json::json!({"name": organization.name})),
                )
                .await;
            Ok((StatusCode::CREATED, Reply::created(view)))
        }
        _ => Err(ApiError::Conflict(
            format!(
                "You are in {} organizations, the most allowed",
                state.limits.organizations_per_user
            )
            .into(),
        )),
    }
}

/// The caller's tenants: the personal one first, then their organizations.
#[utoipa::path(
    get,
    path = "/app/organizations",
    tag = "Organizations",
    responses(SignedIn, (status = 200, description = "The caller's tenants", body = OrganizationList))
)]
pub(crate) async fn list_organizations(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Reply<OrganizationList>, ApiError> {
    let (user, organizations) = tokio::join!(
        caller(&state, &principal),
        state.organizations.for_user(&principal.user_id)
    );
    let mut items = vec![personal_view(&user?)];
    items.extend(
        organizations?
            .iter()
            .map(|(member, organization)| organization_view(organization, member.role)),
    );
    Ok(Reply::ok(OrganizationList { items }))
}

/// One of the caller's tenants.
#[utoipa::path(
    get,
    path = "/app/organizations/{id}",
    tag = "Organizations",
    params(("id" = String, Path, description = "The tenant's id")),
    responses(
        SignedIn,
        (status = 200, description = "The tenant, with the caller's role", body = OrganizationView),
        (status = 404, description = "No such organization, or the caller is not a member", body = ErrorBody),
    )
)]
pub(crate) async fn get_organization(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Reply<OrganizationView>, ApiError> {
    let user = caller(&state, &principal).await?;
    if id == user.tenant_id {
        return Ok(Reply::ok(personal_view(&user)));
    }
    let (organization, member) = membership(&state, &principal, &id).await?;
    Ok(Reply::ok(organization_view(&organization, member.role)))
}

/// Rename an organization, or make its AI calls use only its own provider keys (owner
/// or admin).
#[utoipa::path(
    patch,
    path = "/app/organizations/{id}",
    tag = "Organizations",
    params(("id" = String, Path, description = "The organization's id")),
    request_body = OrganizationUpdate,
    responses(
        SignedIn, JsonBody,
        (status = 200, description = "Changed", body = OrganizationView),
        (status = 403, description = "A member who is neither owner nor admin", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is not a member", body = ErrorBody),
        (status = 422, description = "A bad name, or nothing to change", body = ErrorBody),
    )
)]
pub(crate) async fn update_organization(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    audit: Audit,
    Path(id): Path<String>,
    Json(body): Json<OrganizationUpdate>,
) -> Result<Reply<OrganizationView>, ApiError> {
    let change = OrganizationChange {
        name: body.name.as_deref().map(parse_name).transpose()?,
        require_own_credentials: body.require_own_credentials,
    };
    if change == OrganizationChange::default() {
        return Err(ApiError::validation(
            "name",
            "Give name or require_own_credentials",
        ));
    }
    let (before, member) = managed(&state, &principal, &id).await?;
    let now = aloft_core::timestamp::now();
    let tenant = TenantId::new(&id);
    let after = state
        .organizations
        .update(&tenant, &change, &now)
        .await?
        .ok_or_else(|| ApiError::not_found("Organization", &id))?;
    let settings = |o: &OrganizationRecord| serde_json::json!({"name": o.name, "require_own_credentials": o.require_own_credentials});
    audit
        .in_organization(&tenant)
        .record(
            "organization.update",
            "organization",
            Some(&id),
            Some(settings(&before)),
            Some(settings(&after)),
        )
        .await;
    Ok(Reply::ok(organization_view(&after, member.role)))
}

/// Delete an organization (owner only). Its members lose access on their next request.
#[utoipa::path(
    delete,
    path = "/app/organizations/{id}",
    tag = "Organizations",
    security(("BearerJWT" = [])),
    params(("id" = String, Path, description = "The organization's id")),
    responses(
        SignedIn,
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not the owner, or an API key or impersonation token", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is not a member", body = ErrorBody),
        (status = 409, description = "The organization has an active subscription", body = ErrorBody),
    )
)]
pub(crate) async fn delete_organization(
    State(state): State<AppState>,
    PersonUser(principal): PersonUser,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (organization, member) = membership(&state, &principal, &id).await?;
    if member.role != MemberRole::Owner {
        return Err(ApiError::Authorization(
            "Only the organization's owner may delete it".into(),
        ));
    }
    if organization.has_active_subscription() {
        return Err(ApiError::Conflict(
            "The organization has an active subscription; cancel it first".into(),
        ));
    }
    let tenant = TenantId::new(&id);
    let members = state.organizations.members(&tenant).await?;
    state.organizations.delete(&tenant).await?;
    for member in &members {
        state.marks.record(&member.user_id, &tenant, None).await?;
    }
    audit
        .in_organization(&tenant)
        .record(
            "organization.delete",
            "organization",
            Some(&id),
            Some(serde_json::json!({"name": organization.name, "members": members.len()})),
            None,
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's members (any member may list them).
#[utoipa::path(
    get,
    path = "/app/organizations/{id}/members",
    tag = "Organizations",
    params(("id" = String, Path, description = "The organization's id")),
    responses(
        SignedIn,
        (status = 200, description = "Every member", body = MemberList),
        (status = 404, description = "No such organization, or the caller is not a member", body = ErrorBody),
    )
)]
pub(crate) async fn list_members(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Reply<MemberList>, ApiError> {
    membership(&state, &principal, &id).await?;
    let members = state.organizations.members(&TenantId::new(&id)).await?;
    let ids: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
    let users = state.users.get_many(&ids).await?;
    let items: Vec<MemberView> = members
        .iter()
        .filter_map(|member| {
            let user = users.iter().find(|u| u.id == member.user_id)?;
            Some(MemberView {
                user_id: member.user_id.clone(),
                email: user.email.clone(),
                full_name: user.full_name.clone(),
                role: member.role,
                joined_at: member.joined_at.clone(),
            })
        })
        .collect();
    Ok(Reply::ok(MemberList {
        total: items.len(),
        items,
    }))
}

/// Change a member's role (owner or admin). Giving `owner` transfers ownership (owner
/// only): the old owner becomes `admin`. The owner's own role changes only by transfer.
#[utoipa::path(
    patch,
    path = "/app/organizations/{id}/members/{user_id}",
    tag = "Organizations",
    params(
        ("id" = String, Path, description = "The organization's id"),
        ("user_id" = String, Path, description = "The member's user id"),
    ),
    request_body = MemberRoleChange,
    responses(
        SignedIn, JsonBody,
        (status = 200, description = "The member with their new role", body = MemberView),
        (status = 403, description = "Not owner or admin; or an admin transferring ownership", body = ErrorBody),
        (status = 404, description = "No such organization or member", body = ErrorBody),
        (status = 409, description = "The owner's role, which changes only by transfer", body = ErrorBody),
    )
)]
pub(crate) async fn update_member(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    audit: Audit,
    Path((id, user_id)): Path<(String, String)>,
    Json(body): Json<MemberRoleChange>,
) -> Result<Reply<MemberView>, ApiError> {
    let role = parse_role(&body.role)?;
    let (organization, caller_member) = managed(&state, &principal, &id).await?;
    if role == MemberRole::Owner && caller_member.role != MemberRole::Owner {
        return Err(ApiError::Authorization(
            "Only the owner may transfer ownership".into(),
        ));
    }
    let target = not_the_owner(
        &state,
        &id,
        &user_id,
        "The owner's role changes only when they transfer ownership to another member",
    )
    .await?;
    let tenant = TenantId::new(&id);
    let changes = role_changes(&organization, &tenant, &user_id, (target.role, role));
    // Each staged job counts itself in the next shard of the process's turn: the two
    // of a transfer never name the same counter item, which a transaction refuses.
    let staged = changes
        .iter()
        .map(|change| change.stage(&state))
        .collect::<Result<Vec<_>, _>>()?;
    match state
        .organizations
        .set_role(&organization, &user_id, role, writes(&staged))
        .await
    {
        Ok(()) => {}
        // Nothing written, the events included.
        Err(StoreError::ConditionFailed) => {
            return Err(ApiError::Conflict(
                "The membership changed meanwhile; read it again".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    for (change, staged) in changes.iter().zip(&staged) {
        change.follow(&state, &audit, Some(staged)).await?;
    }
    let user = state
        .users
        .get(&user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Member", &user_id))?;
    Ok(Reply::ok(MemberView {
        user_id,
        email: user.email,
        full_name: user.full_name,
        role,
        joined_at: target.joined_at,
    }))
}

/// Remove a member (owner or admin), or leave (any member but the owner, for
/// themselves). They lose access to the organization on their next request.
#[utoipa::path(
    delete,
    path = "/app/organizations/{id}/members/{user_id}",
    tag = "Organizations",
    params(
        ("id" = String, Path, description = "The organization's id"),
        ("user_id" = String, Path, description = "The member's user id; the caller's own to leave"),
    ),
    responses(
        SignedIn,
        (status = 204, description = "Removed"),
        (status = 403, description = "Removing another member without being owner or admin", body = ErrorBody),
        (status = 404, description = "No such organization or member", body = ErrorBody),
        (status = 409, description = "The owner, who must transfer ownership first", body = ErrorBody),
    )
)]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    audit: Audit,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (_, caller_member) = membership(&state, &principal, &id).await?;
    let leaving = user_id == principal.user_id;
    if !leaving && !caller_member.role.manages() {
        return Err(ApiError::Authorization(
            "Only the organization's owner or an admin may remove members".into(),
        ));
    }
    let target = not_the_owner(
        &state,
        &id,
        &user_id,
        "The owner cannot leave or be removed; transfer ownership first",
    )
    .await?;
    let tenant = TenantId::new(&id);
    let removed = MemberChange {
        event: Event::MemberRemoved,
        tenant: &tenant,
        user_id: &user_id,
        before: Some(target.role),
        after: None,
    };
    let staged = removed.stage(&state)?;
    let announced = match (state.organizations)
        .remove_member(&tenant, &user_id, writes([&staged]))
        .await
    {
        Ok(()) => Some(&staged),
        // Removed by a concurrent request: the outcome asked for, announced by that
        // request (this one wrote nothing, its event included). Marked again below,
        // which finishes a retried request whose marking failed.
        Err(StoreError::ConditionFailed) => None,
        Err(e) => return Err(e.into()),
    };
    removed.follow(&state, &audit, announced).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's audit log, newest first: its creation and renaming, invitations,
/// and every membership change (owner or admin only). Filters and paging as the admin
/// console's log, within this organization alone.
#[utoipa::path(
    get,
    path = "/app/organizations/{id}/audit-logs",
    tag = "Organizations",
    operation_id = "list_organization_audit_logs",
    params(("id" = String, Path, description = "The organization's id"), AuditFilter, LogPaging),
    responses(
        SignedIn, InvalidQuery,
        (status = 200, description = "One page, newest first; a filtered page may hold fewer than `limit` entries and still have a `next_cursor`", body = AuditLogPage),
        (status = 403, description = "Neither owner nor admin", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is not a member", body = ErrorBody),
        (status = 422, description = "`limit` outside 1–100, or a time that is not RFC 3339", body = ErrorBody),
    )
)]
pub(crate) async fn list_audit_logs(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    Query(filter): Query<AuditFilter>,
    paging: Paging,
) -> Result<Reply<AuditLogPage>, ApiError> {
    managed(&state, &principal, &id).await?;
    let log = state.guard.audit_log();
    let page = aloft_auth::audit::list_page(log, Some(&TenantId::new(&id)), filter, paging).await?;
    Ok(Reply::ok(page))
}
