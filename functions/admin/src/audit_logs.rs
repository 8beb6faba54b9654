//! `GET /admin/dashboard/audit-logs`: the audit log, newest first, by actor, action,
//! resource type and time, paged with a cursor.

use aloft_auth::AdminUser;
use aloft_core::{ApiError, Page, Position, Slice};
use aloft_http::{
    Paging, Query, Reply,
    openapi::{AdminOnly, ErrorBody, InvalidQuery},
};
use aloft_store::{AuditEntry, AuditQuery};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;

/// The filters; each is served by a key or an index of the table.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Who acted (under impersonation: the impersonated user).
    pub actor_id: Option<String>,
    /// `impersonate.start`, `job.retry`, `flag.update`, `request`, …
    pub action: Option<String>,
    /// `user`, `job`, `flag`, `route`, …
    pub resource_type: Option<String>,
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

/// The audit log, newest first.
#[utoipa::path(
    get,
    path = "/admin/dashboard/audit-logs",
    tag = "Admin",
    params(AuditFilter, LogPaging),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "One page, newest first; a filtered page may hold fewer than `limit` entries and still have a `next_cursor`", body = AuditLogPage),
        (status = 422, description = "`limit` outside 1–100, or a time that is not RFC 3339", body = ErrorBody),
    )
)]
pub(crate) async fn list_audit_logs(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(filter): Query<AuditFilter>,
    paging: Paging,
) -> Result<Reply<AuditLogPage>, ApiError> {
    let query = AuditQuery {
        actor_id: given(filter.actor_id),
        action: given(filter.action),
        resource_type: given(filter.resource_type),
        since: normalized_time("since", given(filter.since).as_deref())?,
        until: normalized_time("until", given(filter.until).as_deref())?,
        after: None,
        limit: 0,
    };
    // A cursor is valid only for the filters that issued it.
    let scope = format!(
        "audit:{:?}:{:?}:{:?}:{:?}:{:?}",
        query.actor_id, query.action, query.resource_type, query.since, query.until
    );
    let request = paging.parse_or_limit(&scope, DEFAULT_LIMIT)?;
    let query = AuditQuery {
        after: request.after.clone(),
        limit: i32::try_from(request.limit).unwrap_or(i32::MAX),
        ..query
    };
    let page = state.guard.audit_log().list(&query).await?;
    let slice = Slice {
        total: page.items.len() as u64,
        items: page.items,
        next: page.next_after.map(Position::After),
        total_exact: true,
        truncated: false,
    };
    let page = Page::from_slice(slice, &request, AuditLogView::from);
    Ok(Reply::ok(AuditLogPage {
        total: page.items.len(),
        items: page.items,
        next_cursor: page.next_cursor,
    }))
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
