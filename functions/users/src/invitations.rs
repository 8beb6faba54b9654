//! Invitations to an organization (docs/api.md, "Organizations"): an owner or admin
//! invites an address with a role; the jobs worker mints the single-use link and mails
//! it; only a signed-in user whose verified email is the invited one may accept, within
//! 7 days, unless it was revoked.

use aloft_auth::{Audit, AuthUser, Principal, parse_email};
use aloft_core::ApiError;
use aloft_http::{
    Json, Reply,
    openapi::{ErrorBody, JsonBody, SignedIn},
};
use aloft_queue::{Event, InvitationMail, Job, Queued};
use aloft_store::{
    InvitationRecord, MemberRole, MembershipRecord, StoreError, TenantId, normalize_email,
};
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    AppState,
    organizations::{MemberChange, managed, writes},
};

/// How long an invitation's link works.
const INVITATION_TTL_SECONDS: u64 = 7 * 24 * 3600;

/// `POST /app/organizations/{id}/invitations`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InvitationRequest {
    pub email: String,
    /// `admin`, `member` or `viewer` (ownership moves only by transfer).
    pub role: String,
}

/// An open invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    #[schema(value_type = String)]
    pub role: MemberRole,
    /// RFC 3339: the link stops working then.
    pub expires_at: String,
}

/// The organization's open invitations.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub items: Vec<InvitationView>,
}

/// `POST /app/invitations/accept`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AcceptInvitation {
    /// The `token` of the invitation link.
    pub token: String,
}

/// The organization joined.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinedOrganization {
    pub organization: OrganizationRef,
    #[schema(value_type = String)]
    pub role: MemberRole,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationRef {
    pub id: String,
    pub name: String,
}

fn view(invitation: &InvitationRecord) -> InvitationView {
    let expires_at = i64::try_from(invitation.expires_at)
        .ok()
        .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok())
        .map(aloft_core::timestamp::format)
        .unwrap_or_default();
    InvitationView {
        id: invitation.id.clone(),
        email: invitation.email.clone(),
        role: invitation.role,
        expires_at,
    }
}

/// Invite an address to the organization (owner or admin); the link goes by email.
#[utoipa::path(
    post,
    path = "/app/organizations/{id}/invitations",
    tag = "Organizations",
    params(("id" = String, Path, description = "The organization's id")),
    request_body = InvitationRequest,
    responses(
        SignedIn, JsonBody,
        (status = 201, description = "Invited; the link is on its way", body = InvitationView),
        (status = 403, description = "Neither owner nor admin", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is not a member", body = ErrorBody),
        (status = 409, description = "The address is already a member's", body = ErrorBody),
        (status = 422, description = "A bad address or role, or the caller's personal tenant", body = ErrorBody),
    )
)]
pub(crate) async fn create_invitation(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    audit: Audit,
    Path(id): Path<String>,
    Json(body): Json<InvitationRequest>,
) -> Result<(StatusCode, Reply<InvitationView>), ApiError> {
    let email = parse_email(&body.email)?;
    let role = match MemberRole::parse(&body.role) {
        Some(role) if role != MemberRole::Owner => role,
        _ => {
            return Err(ApiError::validation(
                "role",
                "role must be admin, member or viewer",
            ));
        }
    };
    personal_is_not_an_organization(&state, &principal, &id).await?;
    managed(&state, &principal, &id).await?;
    let tenant = TenantId::new(&id);
    if let Some(user) = state.users.find_by_email(&email).await?
        && state
            .organizations
            .membership(&tenant, &user.id)
            .await?
            .is_some()
    {
        return Err(ApiError::Conflict(
            "That address belongs to a member already".into(),
        ));
    }
    let invitation = InvitationRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: id.clone(),
        email,
        role,
        invited_by: principal.user_id.clone(),
        created_at: aloft_core::timestamp::now(),
        expires_at: aloft_core::timestamp::unix_now() + INVITATION_TTL_SECONDS,
        token_hash: None,
    };
    state.organizations.invite(&invitation).await?;
    let mail = Job::Invitation(InvitationMail {
        tenant_id: id,
        invitation_id: invitation.id.clone(),
    });
    state.producer.enqueue(mail.new_job()?).await?;
    audit
        .in_organization(&tenant)
        .record(
            "invitation.create",
            "invitation",
            Some(&invitation.id),
            None,
            Some(serde_json::json!({"email": invitation.email, "role": invitation.role})),
        )
        .await;
    Ok((StatusCode::CREATED, Reply::created(view(&invitation))))
}

/// A personal tenant has no members to invite: 422, before anything is read of it.
async fn personal_is_not_an_organization(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(), ApiError> {
    let user = state.users.get(&principal.user_id).await?;
    if user.is_some_and(|user| user.tenant_id == id) {
        return Err(ApiError::validation(
            "id",
            "A personal tenant has no members; invite to an organization",
        ));
    }
    Ok(())
}

/// The organization's open invitations (owner or admin).
#[utoipa::path(
    get,
    path = "/app/organizations/{id}/invitations",
    tag = "Organizations",
    params(("id" = String, Path, description = "The organization's id")),
    responses(
        SignedIn,
        (status = 200, description = "Open invitations", body = InvitationList),
        (status = 403, description = "Neither owner nor admin", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is not a member", body = ErrorBody),
    )
)]
pub(crate) async fn list_invitations(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Reply<InvitationList>, ApiError> {
    managed(&state, &principal, &id).await?;
    let now = aloft_core::timestamp::unix_now();
    let invitations = state.organizations.invitations(&TenantId::new(&id)).await?;
    let items = invitations
        .iter()
        .filter(|invitation| invitation.expires_at > now)
        .map(view)
        .collect();
    Ok(Reply::ok(InvitationList { items }))
}

/// Revoke an invitation (owner or admin): its link stops working.
#[utoipa::path(
    delete,
    path = "/app/organizations/{id}/invitations/{invitation_id}",
    tag = "Organizations",
    params(
        ("id" = String, Path, description = "The organization's id"),
        ("invitation_id" = String, Path, description = "The invitation's id"),
    ),
    responses(
        SignedIn,
        (status = 204, description = "Revoked"),
        (status = 403, description = "Neither owner nor admin", body = ErrorBody),
        (status = 404, description = "No such organization or invitation", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_invitation(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    audit: Audit,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    managed(&state, &principal, &id).await?;
    let tenant = TenantId::new(&id);
    let revoked = state
        .organizations
        .revoke_invitation(&tenant, &invitation_id)
        .await?;
    if !revoked {
        return Err(ApiError::not_found("Invitation", invitation_id));
    }
    audit
        .in_organization(&tenant)
        .record(
            "invitation.revoke",
            "invitation",
            Some(&invitation_id),
            None,
            None,
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation: the signed-in user, whose verified email is the invited
/// address, joins the organization with the invited role.
#[utoipa::path(
    post,
    path = "/app/invitations/accept",
    tag = "Organizations",
    request_body = AcceptInvitation,
    responses(
        SignedIn, JsonBody,
        (status = 200, description = "Joined", body = JoinedOrganization),
        (status = 400, description = "The link was used, revoked or has expired", body = ErrorBody),
        (status = 403, description = "The caller's verified email is not the invited one", body = ErrorBody),
        (status = 409, description = "Already a member, or a member or organization cap is reached", body = ErrorBody),
    )
)]
pub(crate) async fn accept_invitation(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    audit: Audit,
    Json(body): Json<AcceptInvitation>,
) -> Result<Reply<JoinedOrganization>, ApiError> {
    let unusable =
        || ApiError::BadRequest("This invitation link was used, revoked or has expired".into());
    let hash = aloft_auth::opaque::secret_hash(body.token.trim());
    let invitation = state
        .organizations
        .invitation_by_token(&hash)
        .await?
        .filter(|i| i.expires_at > aloft_core::timestamp::unix_now())
        .ok_or_else(unusable)?;
    let user = state
        .users
        .get(&principal.user_id)
        .await?
        .ok_or_else(|| ApiError::Authentication("Account not found".into()))?;
    if !user.email_verified || normalize_email(&user.email) != invitation.email {
        return Err(ApiError::Authorization(
            "This invitation is for another address, or yours is not verified yet".into(),
        ));
    }
    let tenant = TenantId::new(&invitation.tenant_id);
    let organization = state
        .organizations
        .get(&tenant)
        .await?
        .ok_or_else(unusable)?;
    let member = MembershipRecord {
        tenant_id: invitation.tenant_id.clone(),
        user_id: user.id.clone(),
        role: invitation.role,
        joined_at: aloft_core::timestamp::now(),
    };
    let joined = MemberChange {
        event: Event::MemberAdded,
        tenant: &tenant,
        user_id: &user.id,
        before: None,
        after: Some(invitation.role),
    };
    let staged = joined.stage(&state)?;
    match state
        .organizations
        .accept_invitation(&invitation, &member, state.limits, writes([&staged]))
        .await
    {
        Ok(()) => {}
        // Nothing written, the event included: tell why.
        Err(StoreError::ConditionFailed) => {
            if state
                .organizations
                .membership(&tenant, &user.id)
                .await?
                .is_some()
            {
                return Err(ApiError::Conflict("You are a member already".into()));
            }
            if state
                .organizations
                .invitation_by_token(&hash)
                .await?
                .is_none()
            {
                return Err(unusable());
            }
            return Err(ApiError::Conflict(
                "The organization or you reached the most members or organizations allowed".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    // Also clears a marker left by an earlier removal from this organization.
    joined.follow(&state, &audit, Some(&staged)).await?;
    Ok(Reply::ok(JoinedOrganization {
        organization: OrganizationRef {
            id: organization.id,
            name: organization.name,
        },
        role: invitation.role,
    }))
}
