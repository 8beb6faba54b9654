//! Changes to an existing flag: `PATCH`, and the targeted edits `enable`, `disable`,
//! `add-user` and `remove-user`. Each one says only what it makes of the current flag;
//! [`change_flag`] is the one read → `If-Match` → conditional write → audit loop they share.

use aloft_auth::{AdminUser, Audit};
use aloft_core::ApiError;
use aloft_http::{
    Json, etag,
    openapi::{AdminOnly, ErrorBody, JsonBody},
};
use aloft_store::FlagRecord;
use axum::{
    extract::{Path, State},
    response::Response,
};
use http::{HeaderMap, StatusCode};

use crate::{
    AppState,
    handlers::{AUDIT_RESOURCE, record_of, with_etag},
    model::{Draft, Flag, FlagUserRequest, UpdateFlagRequest, parse_flag_id},
};

/// Read, apply, conditional write: how often an edit without `If-Match` starts over after
/// losing a race before it answers 409.
const UPDATE_ATTEMPTS: usize = 3;

/// How each edit appears in the audit log.
const AUDIT_UPDATE: &str = "flag.update";
const AUDIT_ENABLE: &str = "flag.enable";
const AUDIT_DISABLE: &str = "flag.disable";
const AUDIT_ADD_USER: &str = "flag.add_user";
const AUDIT_REMOVE_USER: &str = "flag.remove_user";

/// The one way a flag changes. Reads it, checks `If-Match`, lets `edit` make the next flag
/// of it, and writes that only if the stored flag is still the version read. A lost race
/// starts over on the newest version (the edit applied again, so it keeps the other
/// change) unless `If-Match` named a version (412); after [`UPDATE_ATTEMPTS`] it is 409.
/// An edit that returns `None` (the flag is already so) writes and records nothing.
async fn change_flag(
    state: &AppState,
    admin_id: &str,
    audit: &Audit,
    flag_id: &str,
    headers: &HeaderMap,
    action: &str,
    edit: impl Fn(&FlagRecord) -> Result<Option<FlagRecord>, ApiError>,
) -> Result<Response, ApiError> {
    let id = parse_flag_id(flag_id)?;
    let expected = etag::if_match(headers, "flag")?;
    let stale = || ApiError::PreconditionFailed("The flag was changed; fetch it again".into());
    for _ in 0..UPDATE_ATTEMPTS {
        let current = state
            .flags
            .get(&id)
            .await?
            .ok_or_else(|| ApiError::not_found("FeatureFlag", &id))?;
        if expected.is_some_and(|version| version != current.version) {
            return Err(stale());
        }
        let Some(mut next) = edit(&current)? else {
            return Ok(with_etag(StatusCode::OK, &current));
        };
        next.version = current.version + 1;
        next.updated_at = aloft_core::timestamp::now();
        if state.flags.replace(&next, current.version).await? {
            state.cache.invalidate();
            tracing::info!(flag.key = %next.key, admin.id = %admin_id, flag.action = action, "feature flag {} changed: {action}", next.key);
            let before = serde_json::to_value(Flag::from(&current)).ok();
            let after = serde_json::to_value(Flag::from(&next)).ok();
            audit
                .record(action, AUDIT_RESOURCE, Some(&id), before, after)
                .await;
            return Ok(with_etag(StatusCode::OK, &next));
        }
        if expected.is_some() {
            return Err(stale());
        }
    }
    Err(ApiError::Conflict(
        "The flag kept changing under concurrent edits; try again".into(),
    ))
}

/// `current` turned on or off; `None` when it already is.
fn switched(current: &FlagRecord, on: bool) -> Option<FlagRecord> {
    (current.is_enabled != on).then(|| FlagRecord {
        is_enabled: on,
        ..current.clone()
    })
}

/// `current` naming `user_ids` instead, every rule checked again: at most 100 ids, and a
/// `user_list` flag keeps at least one (422 naming `user_ids`).
fn with_user_ids(current: &FlagRecord, user_ids: Vec<String>) -> Result<FlagRecord, ApiError> {
    let fields = Draft {
        user_ids,
        ..Draft::of(current)
    }
    .check()?;
    Ok(record_of(current.clone(), fields))
}

/// Change a flag. Concurrent edits never silently overwrite each other: every write is
/// conditional on the version it was based on. With `If-Match`, a flag changed since that
/// `ETag` is 412. Without it, the change is applied again to the newest version (fields
/// it does not name keep the other edit), up to 3 times, then 409.
#[utoipa::path(
    patch,
    path = "/admin/feature-flags/{flag_id}",
    tag = "Feature Flags",
    params(
        ("flag_id" = String, Path, description = "The flag's id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change is based on"),
    ),
    request_body = UpdateFlagRequest,
    responses(
        AdminOnly, JsonBody,
        (status = 200, description = "Updated; the new `ETag`", body = Flag,
            headers(("ETag" = String, description = "The flag's version, for `If-Match`")),
            links(
                ("CheckFlag" = (operation_id = "check_flag", parameters(("flag_key" = "$response.body#/key")))),
                ("DeleteFlag" = (operation_id = "delete_flag", parameters(("flag_id" = "$response.body#/id")))),
            )),
        (status = 404, description = "No flag has this id", body = ErrorBody),
        (status = 409, description = "Other edits kept winning the race; try again", body = ErrorBody),
        (status = 412, description = "The flag changed since that `ETag`", body = ErrorBody),
        (status = 422, description = "The result breaks a rule (or names `key`); `details.field` says which", body = ErrorBody),
    )
)]
pub(crate) async fn update_flag(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(flag_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<UpdateFlagRequest>,
) -> Result<Response, ApiError> {
    change_flag(
        &state,
        &admin.user_id,
        &audit,
        &flag_id,
        &headers,
        AUDIT_UPDATE,
        |current| Ok(Some(record_of(current.clone(), body.apply(current)?))),
    )
    .await
}

/// Switch a flag on (`is_enabled`). Already on: nothing changes, 200 with the flag as it
/// is. `If-Match`, races and 409 as for `PATCH`.
#[utoipa::path(
    post,
    path = "/admin/feature-flags/{flag_id}/enable",
    tag = "Feature Flags",
    params(
        ("flag_id" = String, Path, description = "The flag's id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change is based on"),
    ),
    responses(
        AdminOnly,
        (status = 200, description = "The flag, on; the new `ETag`", body = Flag,
            headers(("ETag" = String, description = "The flag's version, for `If-Match`"))),
        (status = 404, description = "No flag has this id", body = ErrorBody),
        (status = 409, description = "Other edits kept winning the race; try again", body = ErrorBody),
        (status = 412, description = "The flag changed since that `ETag`", body = ErrorBody),
    )
)]
pub(crate) async fn enable_flag(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(flag_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    change_flag(
        &state,
        &admin.user_id,
        &audit,
        &flag_id,
        &headers,
        AUDIT_ENABLE,
        |current| Ok(switched(current, true)),
    )
    .await
}

/// Switch a flag off (`is_enabled`) for everyone. Already off: nothing changes, 200 with
/// the flag as it is. `If-Match`, races and 409 as for `PATCH`.
#[utoipa::path(
    post,
    path = "/admin/feature-flags/{flag_id}/disable",
    tag = "Feature Flags",
    params(
        ("flag_id" = String, Path, description = "The flag's id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change is based on"),
    ),
    responses(
        AdminOnly,
        (status = 200, description = "The flag, off; the new `ETag`", body = Flag,
            headers(("ETag" = String, description = "The flag's version, for `If-Match`"))),
        (status = 404, description = "No flag has this id", body = ErrorBody),
        (status = 409, description = "Other edits kept winning the race; try again", body = ErrorBody),
        (status = 412, description = "The flag changed since that `ETag`", body = ErrorBody),
    )
)]
pub(crate) async fn disable_flag(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(flag_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    change_flag(
        &state,
        &admin.user_id,
        &audit,
        &flag_id,
        &headers,
        AUDIT_DISABLE,
        |current| Ok(switched(current, false)),
    )
    .await
}

/// Add a user to a flag's `user_ids` (at most 100). Already there: nothing changes, 200
/// with the flag as it is. `If-Match`, races and 409 as for `PATCH`.
#[utoipa::path(
    post,
    path = "/admin/feature-flags/{flag_id}/add-user",
    tag = "Feature Flags",
    params(
        ("flag_id" = String, Path, description = "The flag's id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change is based on"),
    ),
    request_body = FlagUserRequest,
    responses(
        AdminOnly, JsonBody,
        (status = 200, description = "The flag naming the user; the new `ETag`", body = Flag,
            headers(("ETag" = String, description = "The flag's version, for `If-Match`"))),
        (status = 404, description = "No flag has this id", body = ErrorBody),
        (status = 409, description = "Other edits kept winning the race; try again", body = ErrorBody),
        (status = 412, description = "The flag changed since that `ETag`", body = ErrorBody),
        (status = 422, description = "`user_id` is not 1-256 characters, or the flag names 100 users already (`details.field` says which)", body = ErrorBody),
    )
)]
pub(crate) async fn add_flag_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(flag_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<FlagUserRequest>,
) -> Result<Response, ApiError> {
    let user_id = body.parse()?;
    change_flag(
        &state,
        &admin.user_id,
        &audit,
        &flag_id,
        &headers,
        AUDIT_ADD_USER,
        |current| {
            if current.user_ids.contains(&user_id) {
                return Ok(None);
            }
            let mut user_ids = current.user_ids.clone();
            user_ids.push(user_id.clone());
            with_user_ids(current, user_ids).map(Some)
        },
    )
    .await
}

/// Remove a user from a flag's `user_ids`. Not there: nothing changes, 200 with the flag
/// as it is. A `user_list` flag keeps at least one user (422). `If-Match`, races and 409
/// as for `PATCH`.
#[utoipa::path(
    post,
    path = "/admin/feature-flags/{flag_id}/remove-user",
    tag = "Feature Flags",
    params(
        ("flag_id" = String, Path, description = "The flag's id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change is based on"),
    ),
    request_body = FlagUserRequest,
    responses(
        AdminOnly, JsonBody,
        (status = 200, description = "The flag without the user; the new `ETag`", body = Flag,
            headers(("ETag" = String, description = "The flag's version, for `If-Match`"))),
        (status = 404, description = "No flag has this id", body = ErrorBody),
        (status = 409, description = "Other edits kept winning the race; try again", body = ErrorBody),
        (status = 412, description = "The flag changed since that `ETag`", body = ErrorBody),
        (status = 422, description = "`user_id` is not 1-256 characters, or it is the last user of a `user_list` flag (`details.field` says which)", body = ErrorBody),
    )
)]
pub(crate) async fn remove_flag_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(flag_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<FlagUserRequest>,
) -> Result<Response, ApiError> {
    let user_id = body.parse()?;
    change_flag(
        &state,
        &admin.user_id,
        &audit,
        &flag_id,
        &headers,
        AUDIT_REMOVE_USER,
        |current| {
            if !current.user_ids.contains(&user_id) {
                return Ok(None);
            }
            let user_ids = current
                .user_ids
                .iter()
                .filter(|id| **id != user_id)
                .cloned()
                .collect();
            with_user_ids(current, user_ids).map(Some)
        },
    )
    .await
}
