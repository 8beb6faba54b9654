//! `/admin/organizations`: every organization, newest first, and one with its members.

use aloft_auth::{AdminUser, Plan};
use aloft_core::{ApiError, Page, PageParams};
use aloft_http::{
    Paging, Query, Reply,
    openapi::{AdminOnly, ErrorBody, InvalidQuery},
};
use aloft_store::{MemberRole, OrganizationRecord, TenantId};
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;

/// `?search=&skip=&limit=&cursor=` of the organization list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationFilter {
    /// Case-insensitive. Two characters or more that begin a word of the name (one of
    /// its first four) find those organizations, in name order, from an index; otherwise
    /// the text is looked for anywhere in the name (at most 1,000 examined).
    pub search: Option<String>,
}

/// An organization as admins see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminOrganizationView {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub member_count: i64,
    pub subscription_plan: Plan,
    pub subscription_status: Option<String>,
    pub stripe_customer_id: Option<String>,
    /// ISO 8601, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl From<OrganizationRecord> for AdminOrganizationView {
    fn from(organization: OrganizationRecord) -> Self {
        Self {
            subscription_plan: Plan::parse(&organization.subscription_plan),
            id: organization.id,
            name: organization.name,
            owner_id: organization.owner_id,
            member_count: organization.member_count,
            subscription_status: organization.subscription_status,
            stripe_customer_id: organization.stripe_customer_id,
            created_at: organization.created_at,
            updated_at: organization.updated_at,
        }
    }
}

/// A member, as admins see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminMemberView {
    pub user_id: String,
    /// Empty when the account is gone.
    pub email: String,
    /// `owner`, `admin`, `member` or `viewer`.
    #[schema(value_type = String)]
    pub role: MemberRole,
    pub joined_at: String,
}

/// One organization with its members.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminOrganizationDetail {
    #[serde(flatten)]
    pub organization: AdminOrganizationView,
    /// In user-id order; at most the member cap.
    pub members: Vec<AdminMemberView>,
}

/// List organizations, newest first.
///
/// A page at a time from the organization index. A `search` of two characters or more
/// that begins a word of a name (one of its first four) reads only its page from the
/// name index, whatever the number of organizations, in name order; `total` counts the
/// matches read and is exact when they were all. Any other search examines at most
/// 1,000 organizations per request (from the cursor on), and `truncated`/`total_exact`
/// say when that was not all of them.
#[utoipa::path(
    get,
    path = "/admin/organizations",
    tag = "Admin",
    operation_id = "admin_list_organizations",
    params(OrganizationFilter, PageParams),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "One page of organizations, newest first (a search by the start of a name word: in name order)", body = Page<AdminOrganizationView>,
            links(("GetOrganization" = (operation_id = "admin_get_organization", parameters(("id" = "$response.body#/items/0/id")))))),
        (status = 422, description = "Bad skip, limit or cursor", body = ErrorBody),
    )
)]
pub(crate) async fn list_organizations(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Query(filter): Query<OrganizationFilter>,
    paging: Paging,
) -> Result<Reply<Page<AdminOrganizationView>>, ApiError> {
    let search = crate::search_term(filter.search.as_deref());
    // A cursor is valid only for the same search.
    let scope = format!("organizations:{}", search.as_deref().unwrap_or_default());
    let request = paging.parse(&scope)?;
    let slice = match &search {
        Some(search) => state.organizations.search(&request, search).await?,
        None => {
            let everyone = |_: &OrganizationRecord| true;
            state.organizations.directory(&request, everyone).await?
        }
    };
    Ok(Reply::ok(Page::from_slice(
        slice,
        &request,
        AdminOrganizationView::from,
    )))
}

/// One organization, with its members.
#[utoipa::path(
    get,
    path = "/admin/organizations/{id}",
    tag = "Admin",
    operation_id = "admin_get_organization",
    params(("id" = String, Path, description = "The organization's id")),
    responses(
        AdminOnly,
        (status = 200, description = "The organization and its members", body = AdminOrganizationDetail),
        (status = 404, description = "No such organization", body = ErrorBody),
    )
)]
pub(crate) async fn get_organization(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Reply<AdminOrganizationDetail>, ApiError> {
    let tenant = TenantId::new(&id);
    let (organization, members) = tokio::join!(
        state.organizations.get(&tenant),
        state.organizations.members(&tenant)
    );
    let organization = organization?.ok_or_else(|| ApiError::not_found("Organization", &id))?;
    let members = members?;
    let ids: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
    let users = state.users.get_many(&ids).await?;
    let email = |id: &str| {
        users
            .iter()
            .find(|user| user.id == id)
            .map(|user| user.email.clone())
            .unwrap_or_default()
    };
    Ok(Reply::ok(AdminOrganizationDetail {
        organization: organization.into(),
        members: members
            .into_iter()
            .map(|member| AdminMemberView {
                email: email(&member.user_id),
                user_id: member.user_id,
                role: member.role,
                joined_at: member.joined_at,
            })
            .collect(),
    }))
}
