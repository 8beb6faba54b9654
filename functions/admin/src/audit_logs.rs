//! `GET /admin/dashboard/audit-logs`: the audit log, newest first, by actor, action,
//! resource type, resource id and time, paged with a cursor; and
//! `GET /admin/dashboard/audit-logs/{id}`: one entry.

use aloft_auth::{
    AdminUser,
    audit::{AuditFilter, AuditLogPage, AuditLogView, LogPaging},
};
use aloft_core::ApiError;
use aloft_http::{
    Paging, Query, Reply,
    openapi::{AdminOnly, ErrorBody, InvalidQuery},
};
use axum::extract::{Path, State};

use crate::AppState;

/// The audit log, newest first.
#[utoipa::path(
    get,
    path = "/admin/dashboard/audit-logs",
    tag = "Admin",
    params(AuditFilter, LogPaging),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "One page, newest first; a filtered page may hold fewer than `limit` entries and still have a `next_cursor`", body = AuditLogPage,
            links(("GetAuditLog" = (operation_id = "get_audit_log", parameters(("id" = "$response.body#/items/0/id")))))),
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

/// One entry of the audit log.
#[utoipa::path(
    get,
    path = "/admin/dashboard/audit-logs/{id}",
    tag = "Admin",
    params(("id" = String, Path, description = "The entry's id (a UUID v7, as listed)")),
    responses(
        AdminOnly,
        (status = 200, description = "The entry", body = AuditLogView),
        (status = 404, description = "No such entry (an id that is not a UUID v7 names none)", body = ErrorBody),
    )
)]
pub(crate) async fn get_audit_log(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Reply<AuditLogView>, ApiError> {
    let entry = state
        .guard
        .audit_log()
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("Audit log entry", id))?;
    Ok(Reply::ok(entry.into()))
}
