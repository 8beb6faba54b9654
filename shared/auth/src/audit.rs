//! The one way functions write the audit log: the [`Audit`] extractor knows who acts
//! (and for whom, under impersonation), in which organization, from which address and
//! in which request; [`Audit::record`] appends what they did. And the one way they read
//! it: [`list_page`], for the admin console (everything) and an organization's owner
//! and admins (their organization's entries).

use aloft_core::{ApiError, Page, Position, Slice};
use aloft_http::{Paging, RequestId};
use aloft_store::{AuditEntry, AuditLog, AuditQuery, TenantId};
use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::{App, AuthUser, Principal, guard::source_ip};

/// The audit context of a signed-in request; 401 without valid credentials.
#[derive(Debug, Clone)]
pub struct Audit {
    log: AuditLog,
    actor_id: String,
    impersonator_id: Option<String>,
    tenant_id: Option<String>,
    ip_address: String,
    request_id: Option<String>,
}

impl<P: Send + Sync> FromRequestParts<App<P>> for Audit {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App<P>) -> Result<Self, ApiError> {
        let AuthUser(principal) = AuthUser::from_request_parts(parts, app).await?;
        Ok(Audit::of(
            app.guard.audit_log(),
            &principal,
            &parts.extensions,
        ))
    }
}

impl Audit {
    pub(crate) fn of(log: &AuditLog, principal: &Principal, extensions: &http::Extensions) -> Self {
        Self {
            log: log.clone(),
            actor_id: principal.user_id.clone(),
            impersonator_id: principal.impersonator.clone(),
            // Acting in an organization: the action is the organization's.
            tenant_id: principal
                .membership
                .map(|_| principal.tenant_id.as_str().to_owned()),
            ip_address: source_ip(extensions),
            request_id: extensions
                .get::<RequestId>()
                .and_then(|id| id.0.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// The same context, for an action on `tenant` (an organization) wherever the caller
    /// acts: its owner and admins read it in the organization's log.
    pub fn in_organization(mut self, tenant: &TenantId) -> Self {
        self.tenant_id = Some(tenant.as_str().to_owned());
        self
    }

    /// Appends that the caller did `action` to `resource_type`/`resource_id`, with the
    /// resource `before` and `after` when it changed. The action is done by now: a log
    /// that cannot be written is reported as an error in the logs, not to the caller.
    pub async fn record(
        &self,
        action: &str,
        resource_type: &str,
        resource_id: Option<&str>,
        before: Option<Value>,
        after: Option<Value>,
    ) {
        let entry = AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            created_at: aloft_core::timestamp::now(),
            actor_id: self.actor_id.clone(),
            impersonator_id: self.impersonator_id.clone(),
            tenant_id: self.tenant_id.clone(),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.map(str::to_owned),
            before: before.map(|v| v.to_string()),
            after: after.map(|v| v.to_string()),
            ip_address: Some(self.ip_address.clone()),
            request_id: self.request_id.clone(),
        };
        if let Err(e) = self.log.append(&entry).await {
            tracing::error!(
                error.cause = %e,
                audit.action = action,
                audit.resource_type = resource_type,
                "audit entry not written"
            );
        }
    }
}

/// The filters; each but `resource_id` is served by a key or an index of the table.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Who acted (under impersonation: the impersonated user).
    pub actor_id: Option<String>,
    /// `impersonate.start`, `job.retry`, `flag.update`, `request`, …
    pub action: Option<String>,
    /// `user`, `job`, `flag`, `route`, …
    pub resource_type: Option<String>,
    /// The resource's id (a user's, a job's, …). No index serves it: it narrows what the
    /// other filters read, so a page may hold fewer than `limit` entries and still have
    /// a `next_cursor`.
    pub resource_id: Option<String>,
    /// Oldest `created_at` to include (RFC 3339, UTC).
    pub since: Option<String>,
    /// Newest `created_at` to include (RFC 3339, UTC).
    pub until: Option<String>,
}

/// The audit log's paging, read by [`Paging`]: by cursor only (the log is not counted),
/// 50 entries a page by default. Documentation only.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "describes the query string Paging reads")]
pub struct LogPaging {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 50.
    limit: Option<u32>,
}

/// Entries on a page of the audit log unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 50;

/// One audited action.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogView {
    pub id: String,
    pub actor_id: String,
    /// The admin acting as `actor_id`, when impersonating.
    pub impersonator_id: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// `{"before": …, "after": …}` when the action changed the resource.
    #[schema(value_type = Object)]
    pub details: Value,
    pub ip_address: Option<String>,
    pub request_id: Option<String>,
    pub created_at: String,
}

impl From<AuditEntry> for AuditLogView {
    fn from(entry: AuditEntry) -> Self {
        let json = |text: Option<String>| {
            text.and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null)
        };
        Self {
            details: serde_json::json!({
                "before": json(entry.before),
                "after": json(entry.after),
            }),
            id: entry.id,
            actor_id: entry.actor_id,
            impersonator_id: entry.impersonator_id,
            action: entry.action,
            resource_type: entry.resource_type,
            resource_id: entry.resource_id,
            ip_address: entry.ip_address,
            request_id: entry.request_id,
            created_at: entry.created_at,
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogPage {
    pub items: Vec<AuditLogView>,
    /// Entries on this page (the log is paged by cursor, not counted).
    pub total: usize,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// One page of the entries `filter` selects, newest first: of `tenant` alone when given
/// (an organization's log), else of everyone (the admin console).
pub async fn list_page(
    log: &AuditLog,
    tenant: Option<&TenantId>,
    filter: AuditFilter,
    paging: Paging,
) -> Result<AuditLogPage, ApiError> {
    let query = AuditQuery {
        tenant_id: tenant.map(|t| t.as_str().to_owned()),
        actor_id: given(filter.actor_id),
        action: given(filter.action),
        resource_type: given(filter.resource_type),
        resource_id: given(filter.resource_id),
        since: normalized_time("since", given(filter.since).as_deref())?,
        until: normalized_time("until", given(filter.until).as_deref())?,
        after: None,
        limit: 0,
    };
    // A cursor is valid only for the log and filters that issued it.
    let scope = format!(
        "audit:{:?}:{:?}:{:?}:{:?}:{:?}:{:?}:{:?}",
        query.tenant_id,
        query.actor_id,
        query.action,
        query.resource_type,
        query.resource_id,
        query.since,
        query.until
    );
    let request = paging.parse_or_limit(&scope, DEFAULT_LIMIT)?;
    let query = AuditQuery {
        after: request.after.clone(),
        limit: i32::try_from(request.limit).unwrap_or(i32::MAX),
        ..query
    };
    let page = log.list(&query).await?;
    let slice = Slice {
        total: page.items.len() as u64,
        items: page.items,
        next: page.next_after.map(Position::After),
        total_exact: true,
        truncated: false,
    };
    let page = Page::from_slice(slice, &request, AuditLogView::from);
    Ok(AuditLogPage {
        total: page.items.len(),
        items: page.items,
        next_cursor: page.next_cursor,
    })
}

/// A filter left empty (`?actor_id=`, as a form sends an empty field) filters nothing.
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// An RFC 3339 time in the stored format (UTC, as `created_at` is written), so bounds
/// compare with stored times as text.
fn normalized_time(field: &'static str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    value
        .map(|text| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(|at| aloft_core::timestamp::format(at.to_offset(time::UtcOffset::UTC)))
                .map_err(|_| {
                    ApiError::validation(field, format!("{field} must be an RFC 3339 time"))
                })
        })
        .transpose()
}
