//! The admin routes that list, read, create, delete and `check` flags, and the caller's
//! evaluated flags. Changes to an existing flag are in [`crate::edits`].

use std::collections::BTreeMap;

use aloft_auth::{AdminUser, Audit, AuthUser, Plan};
use aloft_core::{ApiError, Page, PageParams};
use aloft_http::{
    Json, Paging, Query, Reply, etag,
    openapi::{AdminOnly, ErrorBody, InvalidQuery, JsonBody, SignedIn},
};
use aloft_store::{CreateFlagOutcome, FlagRecord, MAX_FLAGS};
use axum::{
    extract::{Path, State},
    response::Response,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::{
    AppState,
    evaluate::{Reason, evaluate},
    model::{Checked, CreateFlagRequest, Flag, FlagType, USER_ID_MAX, parse_flag_id, parse_key},
};

/// How flag changes appear in the audit log (the edits' actions are in [`crate::edits`]).
pub(crate) const AUDIT_RESOURCE: &str = "flag";
const AUDIT_CREATE: &str = "flag.create";
const AUDIT_DELETE: &str = "flag.delete";

/// 200/201 with the flag and its `ETag` (`"<version>"`).
pub(crate) fn with_etag(status: StatusCode, record: &FlagRecord) -> Response {
    etag::with_etag(status, record.version, Flag::from(record))
}

/// `fields` written over `record` (id, key, timestamps and version stay: the write that
/// stores it sets those).
pub(crate) fn record_of(mut record: FlagRecord, fields: Checked) -> FlagRecord {
    record.name = fields.name;
    record.description = fields.description;
    record.flag_type = fields.flag_type.as_str().to_owned();
    record.is_enabled = fields.is_enabled;
    record.percentage = fields.percentage;
    record.user_ids = fields.user_ids;
    record.plans = fields.plans;
    record.expires_at = fields.expires_at;
    record
}

/// Every flag, sorted by key (read fresh, not from the cache).
///
/// The whole set is one Query of a partition capped at 100 flags (a count item in every
/// create's transaction), so it is paged in memory; its cursors are offsets.
#[utoipa::path(
    get,
    path = "/admin/feature-flags",
    tag = "Feature Flags",
    params(PageParams),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "One page of flags; `total` counts them all (at most 100)", body = Page<Flag>),
        (status = 422, description = "`skip` or `limit` out of range, or a cursor of another list", body = ErrorBody),
    )
)]
pub(crate) async fn list_flags(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    paging: Paging,
) -> Result<Reply<Page<Flag>>, ApiError> {
    let request = paging.parse("flags")?;
    let flags = state.flags.list().await?;
    Ok(Reply::ok(Page::select(flags, &request, |f| {
        Flag::from(&f)
    })?))
}

/// One flag, with the `ETag` a change names in `If-Match`.
#[utoipa::path(
    get,
    path = "/admin/feature-flags/{flag_id}",
    tag = "Feature Flags",
    params(("flag_id" = String, Path, description = "The flag's id (UUID)")),
    responses(
        AdminOnly,
        (status = 200, description = "The flag; `ETag` names its version", body = Flag,
            headers(("ETag" = String, description = "The flag's version, for `If-Match`")),
            links(
                ("UpdateFlag" = (operation_id = "update_flag", parameters(("flag_id" = "$response.body#/id"), ("If-Match" = "$response.header.ETag")))),
            )),
        (status = 404, description = "No flag has this id", body = ErrorBody),
    )
)]
pub(crate) async fn get_flag(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(flag_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_flag_id(&flag_id)?;
    let flag = state
        .flags
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("FeatureFlag", &id))?;
    Ok(with_etag(StatusCode::OK, &flag))
}

/// One flag by its key, with the `ETag` a change names in `If-Match`.
#[utoipa::path(
    get,
    path = "/admin/feature-flags/key/{key}",
    tag = "Feature Flags",
    params(("key" = String, Path, description = "The flag's key")),
    responses(
        AdminOnly,
        (status = 200, description = "The flag; `ETag` names its version", body = Flag,
            headers(("ETag" = String, description = "The flag's version, for `If-Match`")),
            links(
                ("UpdateFlag" = (operation_id = "update_flag", parameters(("flag_id" = "$response.body#/id"), ("If-Match" = "$response.header.ETag")))),
            )),
        (status = 404, description = "No flag has this key", body = ErrorBody),
    )
)]
pub(crate) async fn get_flag_by_key(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let flag = match parse_key(&key) {
        Ok(key) => state.flags.get_by_key(&key).await?,
        // No flag can have a key that breaks the rules; and a long one is not sent on to
        // the table, whose sort key it could not be.
        Err(_) => None,
    };
    let Some(flag) = flag else {
        let shown: String = key.chars().take(64).collect();
        return Err(ApiError::not_found("FeatureFlag", shown));
    };
    Ok(with_etag(StatusCode::OK, &flag))
}

/// Create a flag. Its key is unique (409 when taken) and cannot change later.
#[utoipa::path(
    post,
    path = "/admin/feature-flags",
    tag = "Feature Flags",
    request_body = CreateFlagRequest,
    responses(
        AdminOnly, JsonBody,
        (status = 201, description = "Created; `ETag` names its version", body = Flag,
            headers(("ETag" = String, description = "The flag's version, for `If-Match`")),
            links(
                ("UpdateFlag" = (operation_id = "update_flag", parameters(("flag_id" = "$response.body#/id"), ("If-Match" = "$response.header.ETag")))),
                ("CheckFlag" = (operation_id = "check_flag", parameters(("flag_key" = "$response.body#/key")))),
                ("DeleteFlag" = (operation_id = "delete_flag", parameters(("flag_id" = "$response.body#/id")))),
            )),
        (status = 409, description = "A flag with this key exists, or there are 100 flags already", body = ErrorBody),
        (status = 422, description = "A field breaks a rule; `details.field` names it", body = ErrorBody),
    )
)]
pub(crate) async fn create_flag(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Json(body): Json<CreateFlagRequest>,
) -> Result<Response, ApiError> {
    let (key, fields) = body.parse()?;
    let now = aloft_core::timestamp::now();
    let blank = FlagRecord {
        id: uuid::Uuid::now_v7().to_string(),
        key: key.clone(),
        name: String::new(),
        description: None,
        flag_type: String::new(),
        is_enabled: false,
        percentage: None,
        user_ids: Vec::new(),
        plans: Vec::new(),
        expires_at: None,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    };
    let record = record_of(blank, fields);
    match state.flags.create(&record).await? {
        CreateFlagOutcome::Created => {}
        CreateFlagOutcome::DuplicateKey => {
            return Err(ApiError::Conflict(
                format!("A flag with key '{key}' already exists").into(),
            ));
        }
        CreateFlagOutcome::Full => {
            return Err(ApiError::Conflict(
                format!("There are {MAX_FLAGS} flags already; delete one first").into(),
            ));
        }
    }
    state.cache.invalidate();
    tracing::info!(flag.key = %key, admin.id = %admin.user_id, "feature flag {key} created");
    let after = serde_json::to_value(Flag::from(&record)).ok();
    audit
        .record(AUDIT_CREATE, AUDIT_RESOURCE, Some(&record.id), None, after)
        .await;
    Ok(with_etag(StatusCode::CREATED, &record))
}

/// Delete a flag; evaluations answer `not_found` for its key from then on.
#[utoipa::path(
    delete,
    path = "/admin/feature-flags/{flag_id}",
    tag = "Feature Flags",
    params(("flag_id" = String, Path, description = "The flag's id (UUID)")),
    responses(
        AdminOnly,
        (status = 204, description = "Deleted"),
        (status = 404, description = "No flag has this id", body = ErrorBody),
    )
)]
pub(crate) async fn delete_flag(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(flag_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_flag_id(&flag_id)?;
    let not_found = || ApiError::not_found("FeatureFlag", &id);
    let flag = state.flags.get(&id).await?.ok_or_else(not_found)?;
    if !state.flags.delete(&flag).await? {
        return Err(not_found());
    }
    state.cache.invalidate();
    tracing::info!(flag.key = %flag.key, admin.id = %admin.user_id, "feature flag {} deleted", flag.key);
    let before = serde_json::to_value(Flag::from(&flag)).ok();
    audit
        .record(AUDIT_DELETE, AUDIT_RESOURCE, Some(&id), before, None)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `?user_id=` of `check`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// The user to evaluate for (required, 1–256 characters; need not exist unless the
    /// flag is `plan_based`, whose plan is read from the user's profile).
    #[param(required = true, min_length = 1, max_length = 256)]
    pub user_id: Option<String>,
}

/// How one flag evaluates for one user.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResult {
    pub flag_key: String,
    pub is_enabled: bool,
    pub reason: Reason,
}

/// How a flag evaluates for a user, exactly as that user's `GET /app/feature-flags`
/// would (same cache, same evaluation). An unknown key is `not_found`, not a 404.
#[utoipa::path(
    get,
    path = "/admin/feature-flags/{flag_key}/check",
    tag = "Feature Flags",
    params(
        ("flag_key" = String, Path, description = "The flag's key"),
        CheckQuery,
    ),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "Whether the flag is on for the user, and which rule decided", body = CheckResult),
        (status = 422, description = "`user_id` missing or longer than 256 characters", body = ErrorBody),
    )
)]
pub(crate) async fn check_flag(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(flag_key): Path<String>,
    Query(query): Query<CheckQuery>,
) -> Result<Reply<CheckResult>, ApiError> {
    let user_id = query
        .user_id
        .filter(|id| !id.is_empty() && id.chars().count() <= USER_ID_MAX)
        .ok_or_else(|| ApiError::validation("user_id", "user_id is required (1-256 characters)"))?;
    let flags = state.current().await?;
    let flag = flags.iter().find(|f| f.key == flag_key);
    let plan = match flag {
        Some(f) if FlagType::parse(&f.flag_type) == Some(FlagType::PlanBased) => state
            .users
            .get(&user_id)
            .await?
            .map(|user| Plan::parse(&user.subscription_plan)),
        _ => None,
    };
    let (is_enabled, reason) = evaluate(flag, &user_id, plan, OffsetDateTime::now_utc());
    Ok(Reply::ok(CheckResult {
        flag_key,
        is_enabled,
        reason,
    }))
}

/// Every flag evaluated for the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallerFlags {
    /// Flag key → whether it is on for the caller (docs/api.md: `{"flags": {"key": bool}}`).
    pub flags: BTreeMap<String, bool>,
}

/// Every flag, evaluated for the caller (their id and the plan in their token), as the
/// admin `check` route would answer for them. Served from this instance's cache of the
/// flags: a change shows within `FEATURE_FLAGS_CACHE_SECONDS`.
#[utoipa::path(
    get,
    path = "/app/feature-flags",
    tag = "Feature Flags",
    responses(
        SignedIn,
        (status = 200, description = "Each flag's key and whether it is on for the caller", body = CallerFlags,
            example = json!({"flags": {"new_dashboard": true, "beta_feature": false}})),
    )
)]
pub(crate) async fn my_flags(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Reply<CallerFlags>, ApiError> {
    let flags = state.current().await?;
    let now = OffsetDateTime::now_utc();
    Ok(Reply::ok(CallerFlags {
        flags: flags
            .iter()
            .map(|flag| {
                let (on, _) = evaluate(Some(flag), &principal.user_id, Some(principal.plan), now);
                (flag.key.clone(), on)
            })
            .collect(),
    }))
}
