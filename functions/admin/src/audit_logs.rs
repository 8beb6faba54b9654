//! `GET /admin/dashboard/audit-logs`: the audit log, newest first, by actor, action,
//! resource type and time, paged with a cursor.

use aloft_auth::{
    AdminUser,
    audit::{AuditFilter, AuditLogPage, LogPaging},
};
use aloft_core::ApiError;
use aloft_http::{
    Paging, Query, Reply,
    openapi::{AdminOnly, ErrorBody, InvalidQuery},
};
use axum::extract::State;

use crate::AppState;

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
    let page = aloft_auth::audit::list_page(state.guard.audit_log(), None, filter, paging).await?;
    Ok(Reply::ok(page))
}
