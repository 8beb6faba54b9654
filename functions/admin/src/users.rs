//! `/admin/users`: the user directory, and changes to a user's name, role, plan and
//! activity. Only a superadmin grants or removes admin roles or changes an admin at
//! all; nobody deactivates or demotes themselves. Deactivation takes effect on the
//! user's next request ([`aloft_auth::Deactivation`]).

use aloft_auth::{AdminUser, Audit, Plan, Principal, Role};
use aloft_core::{ApiError, Page, PageParams};
use aloft_http::{
    Json, Paging, Query, Reply,
    openapi::{AdminOnly, ErrorBody, InvalidQuery, JsonBody},
};
use aloft_store::{AdminChange, StoreError, UserRecord};
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;

/// `?is_active=&role=&plan=&search=&skip=&limit=&cursor=` of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    pub is_active: Option<bool>,
    pub role: Option<Role>,
    pub plan: Option<Plan>,
    /// Case-insensitive. Two characters or more that begin the email or a word of the
    /// full name (one of its first four) find those users, in the order of the matched
    /// text, from an index; otherwise the text is looked for anywhere in the email or
    /// name (at most 1,000 users examined).
    pub search: Option<String>,
}

/// A user as admins see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminUserView {
    pub id: String,
    pub email: String,
    pub full_name: Option<String>,
    pub avatar_url: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub tenant_id: String,
    pub subscription_plan: Plan,
    pub subscription_status: Option<String>,
    pub cancel_at_period_end: bool,
    pub stripe_customer_id: Option<String>,
    /// ISO 8601, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl From<UserRecord> for AdminUserView {
    fn from(user: UserRecord) -> Self {
        Self {
            role: Role::parse(&user.role),
            subscription_plan: Plan::parse(&user.subscription_plan),
            id: user.id,
            email: user.email,
            full_name: user.full_name,
            avatar_url: user.avatar_url,
            is_active: user.is_active,
            tenant_id: user.tenant_id,
            subscription_status: user.subscription_status,
            cancel_at_period_end: user.cancel_at_period_end,
            stripe_customer_id: user.stripe_customer_id,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// `PATCH /admin/users/{id}`: absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// At most 255 characters.
    #[schema(max_length = 255)]
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub plan: Option<Plan>,
    pub is_active: Option<bool>,
}

/// List users, newest first.
///
/// A page at a time from the directory index. Unfiltered, or filtered only by
/// `is_active=true` or only by `plan`, a page reads `limit + 1` users (by `cursor`;
/// `skip + limit + 1` by `skip`) and `total` is the dashboard's counter. A `search` of
/// two characters or more that begins an email or a word of a name (one of its first
/// four) reads only its page from the search index, whatever the number of users, in
/// the order of the matched text; `total` counts the matches read and is exact when they
/// were all. Other searches and filters examine at most 1,000 users per request (from
/// the cursor on): `total` counts the matches among them, and `truncated`/`total_exact`
/// say when that was not everyone.
#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "Admin",
    params(UserFilter, PageParams),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "One page of users, newest first (a search by the start of an email or \
            name word: in the order of the matched text); `next_cursor` continues the list. \
            Reads are bounded: filters other than `is_active=true` or `plan` alone, and searches \
            the index does not answer, examine at most 1,000 users, and `truncated`/`total_exact` \
            say when that was not everyone", body = Page<AdminUserView>,
            links(("GetUser" = (operation_id = "get_user", parameters(("id" = "$response.body#/items/0/id")))))),
        (status = 422, description = "Bad filter, skip, limit or cursor", body = ErrorBody),
    )
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Query(filter): Query<UserFilter>,
    paging: Paging,
) -> Result<Reply<Page<AdminUserView>>, ApiError> {
    let search = crate::search_term(filter.search.as_deref());
    // A cursor is valid only for the same filters.
    let scope = format!(
        "users:{:?}:{:?}:{:?}:{}",
        filter.is_active,
        filter.role.map(Role::as_str),
        filter.plan.map(Plan::as_str),
        search.as_deref().unwrap_or_default()
    );
    let request = paging.parse(&scope)?;
    let matches = |user: &UserRecord| {
        filter
            .is_active
            .is_none_or(|active| user.is_active == active)
            && filter
                .role
                .is_none_or(|role| Role::parse(&user.role) == role)
            && filter
                .plan
                .is_none_or(|plan| Plan::parse(&user.subscription_plan) == plan)
    };
    let slice = match &search {
        Some(search) => state.users.search(&request, search, matches).await?,
        None => {
            // The dashboard's counters count exactly these selections.
            let plan_counter = filter.plan.map(|plan| format!("plan_{}", plan.as_str()));
            let counter = match (filter.is_active, filter.role, &plan_counter) {
                (None, None, None) => Some("users_total"),
                (Some(true), None, None) => Some("users_active"),
                (None, None, Some(plan)) => Some(plan.as_str()),
                _ => None,
            };
            state.users.directory(&request, matches, counter).await?
        }
    };
    Ok(Reply::ok(Page::from_slice(
        slice,
        &request,
        AdminUserView::from,
    )))
}

/// One user.
#[utoipa::path(
    get,
    path = "/admin/users/{id}",
    tag = "Admin",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        AdminOnly,
        (status = 200, description = "The user", body = AdminUserView,
            links(
                ("UpdateUser" = (operation_id = "update_user", parameters(("id" = "$response.body#/id")))),
                ("DeactivateUser" = (operation_id = "deactivate_user", parameters(("id" = "$response.body#/id")))),
                ("UsageSummary" = (operation_id = "admin_summary", parameters(("user_id" = "$response.body#/id")))),
            )),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Reply<AdminUserView>, ApiError> {
    let user = find(&state, &id).await?;
    Ok(Reply::ok(user.into()))
}

/// Change a user's name, role, plan or activity.
#[utoipa::path(
    patch,
    path = "/admin/users/{id}",
    tag = "Admin",
    params(("id" = String, Path, description = "The user's id")),
    request_body = UpdateUserRequest,
    responses(
        AdminOnly, JsonBody,
        (status = 200, description = "The updated user", body = AdminUserView),
        (status = 403, description = "Not an admin; an admin role change by an admin; a change to oneself that demotes or deactivates", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The user changed meanwhile; read it again", body = ErrorBody),
        (status = 422, description = "Unknown field, role or plan; name too long", body = ErrorBody),
    )
)]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(id): Path<String>,
    Json(body): Json<UpdateUserRequest>,
) -> Result<Reply<AdminUserView>, ApiError> {
    let full_name = body.full_name.map(|n| n.trim().to_owned());
    if full_name.as_ref().is_some_and(|n| n.chars().count() > 255) {
        return Err(ApiError::validation(
            "full_name",
            "Full name must be at most 255 characters",
        ));
    }
    let change = AdminChange {
        full_name,
        role: body.role.map(|r| r.as_str().to_owned()),
        plan: body.plan.map(|p| p.as_str().to_owned()),
        is_active: body.is_active,
    };
    apply(&state, &admin, &audit, &id, change).await
}

/// Deactivate a user: their tokens, API keys and refresh cookies stop working on their
/// next request.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/deactivate",
    tag = "Admin",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        AdminOnly,
        (status = 200, description = "The deactivated user", body = AdminUserView,
            links(("ActivateUser" = (operation_id = "activate_user", parameters(("id" = "$response.body#/id")))))),
        (status = 403, description = "Not an admin; the target is an admin and the caller no superadmin; oneself", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The user changed meanwhile; try again", body = ErrorBody),
    )
)]
pub(crate) async fn deactivate_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<Reply<AdminUserView>, ApiError> {
    let change = AdminChange {
        is_active: Some(false),
        ..AdminChange::default()
    };
    apply(&state, &admin, &audit, &id, change).await
}

/// Activate a user again; they sign in anew (their refresh cookies stay revoked).
#[utoipa::path(
    post,
    path = "/admin/users/{id}/activate",
    tag = "Admin",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        AdminOnly,
        (status = 200, description = "The active user", body = AdminUserView),
        (status = 403, description = "Not an admin; the target is an admin and the caller no superadmin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The user changed meanwhile; try again", body = ErrorBody),
    )
)]
pub(crate) async fn activate_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<Reply<AdminUserView>, ApiError> {
    let change = AdminChange {
        is_active: Some(true),
        ..AdminChange::default()
    };
    apply(&state, &admin, &audit, &id, change).await
}

async fn find(state: &AppState, id: &str) -> Result<UserRecord, ApiError> {
    state
        .users
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("User", id.to_owned()))
}

/// The one path of every change: authorize, write (if the user is still as read),
/// make activity take effect everywhere, audit.
async fn apply(
    state: &AppState,
    admin: &Principal,
    audit: &Audit,
    id: &str,
    change: AdminChange,
) -> Result<Reply<AdminUserView>, ApiError> {
    let before = find(state, id).await?;
    authorize(admin, &before, &change)?;
    let now = aloft_core::timestamp::now();
    let after = match state.users.admin_update(&before, &change, &now).await {
        Ok(after) => after,
        Err(StoreError::ConditionFailed) => {
            return Err(ApiError::Conflict(
                "The user changed meanwhile; read it again".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    // Applied on every request that sets it, not only on a change: a retry after a
    // failure here finishes the job.
    match change.is_active {
        Some(false) => {
            state.deactivation.deactivate(&after.id).await?;
            state.publisher.disconnect_user(&after.id).await?;
        }
        Some(true) => state.deactivation.activate(&after.id).await?,
        None => {}
    }
    let action = if before.role != after.role {
        "user.role_change"
    } else if before.is_active != after.is_active {
        if after.is_active {
            "user.activate"
        } else {
            "user.deactivate"
        }
    } else {
        "user.update"
    };
    if before.role != after.role || before.subscription_plan != after.subscription_plan {
        let data = serde_json::json!({
            "title": "Your account was updated",
            "message": format!(
                "An administrator set your role to {} and your plan to {}.",
                after.role, after.subscription_plan
            ),
        });
        if let Err(e) = state.publisher.publish_to_user(&after.id, data).await {
            tracing::warn!(error.cause = %e, "account change not notified");
        }
    }
    let (before, after) = (AdminUserView::from(before), AdminUserView::from(after));
    audit
        .record(
            action,
            "user",
            Some(&after.id),
            serde_json::to_value(&before).ok(),
            serde_json::to_value(&after).ok(),
        )
        .await;
    tracing::info!(admin.id = %admin.user_id, user.id = %after.id, action, "user changed by an admin");
    Ok(Reply::ok(after))
}

/// The rules of docs/api.md: an admin manages users; only a superadmin grants or removes
/// admin roles or changes an admin; nobody demotes or deactivates themselves.
fn authorize(admin: &Principal, target: &UserRecord, change: &AdminChange) -> Result<(), ApiError> {
    let forbidden = |why: &'static str| Err(ApiError::Authorization(why.into()));
    let current = Role::parse(&target.role);
    let new_role = change.role.as_deref().map(Role::parse).unwrap_or(current);
    if target.id == admin.user_id {
        if change.is_active == Some(false) {
            return forbidden("You cannot deactivate yourself");
        }
        if new_role < current {
            return forbidden("You cannot demote yourself");
        }
    }
    let touches_admins = current != Role::User || new_role != Role::User;
    if touches_admins && admin.role != Role::Superadmin {
        return forbidden("Only a superadmin can grant admin roles or change an admin");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aloft_store::TenantId;

    fn principal(id: &str, role: Role) -> Principal {
        Principal {
            user_id: id.into(),
            tenant_id: TenantId::new("t"),
            membership: None,
            role,
            plan: Plan::Free,
            email: None,
            impersonator: None,
            token_id: None,
            credential: aloft_auth::Credential::SESSIONLESS,
        }
    }

    fn user(id: &str, role: Role) -> UserRecord {
        let mut user = aloft_auth::external_user(Some("u@example.com"));
        user.id = id.into();
        user.role = role.as_str().into();
        user
    }

    fn role(role: Role) -> AdminChange {
        AdminChange {
            role: Some(role.as_str().into()),
            ..AdminChange::default()
        }
    }

    fn deactivate() -> AdminChange {
        AdminChange {
            is_active: Some(false),
            ..AdminChange::default()
        }
    }

    #[test]
    fn admins_manage_users_but_not_admin_roles() {
        let admin = principal("a", Role::Admin);
        assert!(authorize(&admin, &user("u", Role::User), &deactivate()).is_ok());
        assert!(authorize(&admin, &user("u", Role::User), &role(Role::Admin)).is_err());
        assert!(authorize(&admin, &user("b", Role::Admin), &deactivate()).is_err());
        assert!(authorize(&admin, &user("b", Role::Admin), &role(Role::User)).is_err());
    }

    #[test]
    fn superadmins_grant_and_remove_admin_roles() {
        let root = principal("s", Role::Superadmin);
        assert!(authorize(&root, &user("u", Role::User), &role(Role::Admin)).is_ok());
        assert!(authorize(&root, &user("b", Role::Admin), &role(Role::User)).is_ok());
        assert!(authorize(&root, &user("b", Role::Admin), &deactivate()).is_ok());
    }

    #[test]
    fn nobody_demotes_or_deactivates_themselves() {
        let root = principal("s", Role::Superadmin);
        let me = user("s", Role::Superadmin);
        assert!(authorize(&root, &me, &deactivate()).is_err());
        assert!(authorize(&root, &me, &role(Role::Admin)).is_err());
        let rename = AdminChange {
            full_name: Some("Root".into()),
            ..AdminChange::default()
        };
        assert!(authorize(&root, &me, &rename).is_ok());
    }
}
