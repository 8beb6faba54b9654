//! The six file routes.

use aloft_auth::{AuthUser, Principal};
use aloft_core::{ApiError, Page, PageParams};
use aloft_http::{
    Json, Paging, Reply,
    openapi::{ErrorBody, InvalidQuery, JsonBody, SignedIn},
};
use aloft_queue::{Event, Staged};
use aloft_store::{
    Confirmation, FileRecord, Metric, StorageQuota, StoreError, TransactWriteItem,
    usage::{FILE_DOWNLOADS, FILE_UPLOADS, STORAGE_BYTES},
};
use axum::extract::{Path, State};
use http::StatusCode;
use std::time::SystemTime;

use time::OffsetDateTime;

use crate::{
    AppState,
    model::{
        ConfirmRequest, DownloadUrl, FileView, UploadUrl, UploadUrlRequest, parse_file_id,
        safe_file_name,
    },
};

/// A pending upload is given up a day past its URL (the sweep then removes its object and
/// record): time for a client that uploaded just before the URL expired to confirm.
const PENDING_GRACE_SECONDS: u64 = 24 * 3600;

/// The event announcing a change to `file`, for the tenant's and the owner's channels,
/// to be written in the change's transaction.
fn stage(
    state: &AppState,
    event: Event,
    principal: &Principal,
    file: &FileRecord,
) -> Result<Staged, StoreError> {
    let data = serde_json::to_value(FileView::from(file)).unwrap_or_default();
    let channels = vec![
        format!("tenant:{}", principal.tenant_id.as_str()),
        format!("user:{}", file.owner_id),
    ];
    (state.publisher).stage(event, &principal.tenant_id, data, channels)
}

/// The caller's usage of each metric by its amount, as writes of the change's
/// transaction: the totals move exactly when the files do.
fn usage_writes(
    state: &AppState,
    principal: &Principal,
    amounts: &[(Metric, i64)],
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let owner = principal.usage_owner();
    let today = OffsetDateTime::now_utc().date();
    amounts
        .iter()
        .map(|(metric, amount)| state.usage.add_write(&owner, *metric, today, *amount, None))
        .collect()
}

/// The quota error for the limit a file does not fit.
fn over_quota((metric, limit, used): (&'static str, u64, u64)) -> ApiError {
    ApiError::QuotaExceeded {
        metric,
        limit,
        used,
        resets_at: None,
    }
}

async fn count(state: &AppState, principal: &Principal, metric: Metric, amount: i64) {
    state
        .usage
        .record_to(&principal.usage_owner(), metric, amount, None)
        .await;
}

/// A file of the caller's tenant, or 404.
async fn owned_file(
    state: &AppState,
    principal: &Principal,
    raw_id: &str,
) -> Result<FileRecord, ApiError> {
    let id = parse_file_id(raw_id)?;
    state
        .files
        .get(&principal.tenant_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("File", id))
}

/// Get a presigned PUT URL. It is signed over the content type and length, so S3 refuses
/// a body of another type or size.
#[utoipa::path(
    post,
    path = "/app/files/upload-url",
    tag = "Files",
    request_body = UploadUrlRequest,
    responses(
        SignedIn, JsonBody,
        (status = 200, description = "Where to PUT the bytes", body = UploadUrl,
            links(("DeleteFile" = (operation_id = "delete_file", parameters(("file_id" = "$response.body#/file_id")))))),
        (status = 422, description = "A field is missing, or the name, type or size is not allowed; `details.field` names it", body = ErrorBody),
    )
)]
pub(crate) async fn create_upload_url(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Json(body): Json<UploadUrlRequest>,
) -> Result<Reply<UploadUrl>, ApiError> {
    let upload = body.parse(&state.rules)?;
    // A cheap early refusal, against the declared size; confirm checks the real one.
    let quota = state.rules.quota(principal.plan);
    if quota != (StorageQuota { files: 0, bytes: 0 }) {
        let stored = state.files.stored(&principal.tenant_id).await?;
        quota.room_for(stored, upload.size).map_err(over_quota)?;
    }
    let id = uuid::Uuid::now_v7().to_string();
    let key = format!(
        "uploads/{}/{id}/{}",
        principal.user_id,
        safe_file_name(&upload.filename)
    );
    let upload_url = state
        .objects
        .presign_put(
            &key,
            &upload.content_type,
            upload.size,
            state.rules.url_ttl,
            SystemTime::now(),
        )
        .await?;
    let now = aloft_core::timestamp::unix_now();
    let record = FileRecord {
        id: id.clone(),
        owner_id: principal.user_id.clone(),
        filename: upload.filename,
        content_type: upload.content_type,
        size: upload.size,
        key: key.clone(),
        status: "pending".into(),
        created_at: aloft_core::timestamp::format(OffsetDateTime::now_utc()),
        expires_at: None,
    };
    let abandon_at = now + state.rules.url_ttl.as_secs() + PENDING_GRACE_SECONDS;
    state
        .files
        .create(&principal.tenant_id, &record, abandon_at)
        .await?;
    Ok(Reply::ok(UploadUrl {
        upload_url,
        file_id: id,
        key,
        expires_in: state.rules.url_ttl.as_secs(),
    }))
}

/// Confirm an upload: the object must exist with the declared size (409 otherwise).
/// Confirming twice returns the same file.
#[utoipa::path(
    post,
    path = "/app/files/confirm",
    tag = "Files",
    request_body = ConfirmRequest,
    responses(
        SignedIn, JsonBody,
        (status = 200, description = "The file, now `uploaded`", body = FileView,
            links(
                ("CreateDownloadUrl" = (operation_id = "create_download_url", parameters(("file_id" = "$response.body#/id")))),
                ("DeleteFile" = (operation_id = "delete_file", parameters(("file_id" = "$response.body#/id")))),
            )),
        (status = 404, description = "No such file in the caller's tenant", body = ErrorBody),
        (status = 409, description = "Nothing was uploaded, or not the declared size", body = ErrorBody),
        (status = 422, description = "`file_id` is missing or not a UUID", body = ErrorBody),
    )
)]
pub(crate) async fn confirm_upload(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Json(body): Json<ConfirmRequest>,
) -> Result<Reply<FileView>, ApiError> {
    let file = owned_file(&state, &principal, &body.file_id).await?;
    if file.status == "uploaded" {
        return Ok(Reply::ok(FileView::from(&file)));
    }
    let Some(stored_size) = state.objects.size(&file.key).await? else {
        return Err(ApiError::Conflict(
            "The file has not been uploaded yet".into(),
        ));
    };
    if stored_size != file.size {
        return Err(ApiError::Conflict(
            format!(
                "The uploaded object has {stored_size} bytes, not the declared {}",
                file.size
            )
            .into(),
        ));
    }
    let size = i64::try_from(file.size).unwrap_or(i64::MAX);
    let mut writes = usage_writes(
        &state,
        &principal,
        &[(FILE_UPLOADS, 1), (STORAGE_BYTES, size)],
    )?;
    let uploaded = stage(&state, Event::FileUploaded, &principal, &file.uploaded())?;
    writes.extend(uploaded.writes.clone());
    let quota = state.rules.quota(principal.plan);
    let declared = file.size;
    match (state.files)
        .mark_uploaded(&principal.tenant_id, file, quota, writes)
        .await?
    {
        Confirmation::Marked(file) => {
            state.publisher.dispatch(&uploaded).await;
            Ok(Reply::ok(FileView::from(&file)))
        }
        Confirmation::Already(file) => Ok(Reply::ok(FileView::from(&file))),
        Confirmation::OverQuota(stored) => {
            let broken = quota.room_for(stored, declared).err();
            Err(over_quota(broken.unwrap_or((
                "storage_bytes",
                quota.bytes,
                stored.bytes,
            ))))
        }
    }
}

/// The caller's tenant's uploaded files, newest first.
///
/// A page at a time in key order: `limit + 1` files per page by `cursor` (`skip + limit
/// + 1` by `skip`, at most 1,000 items examined), and `total` is one read of the
/// tenant's count of uploaded files.
#[utoipa::path(
    get,
    path = "/app/files",
    tag = "Files",
    params(PageParams),
    responses(
        SignedIn, InvalidQuery,
        (status = 200, description = "One page of files; `next_cursor` continues the list. \
            Reads are bounded: a `skip` past 1,000 files sets `truncated`", body = Page<FileView>),
        (status = 422, description = "`skip`/`limit` out of range, or a cursor of another list", body = ErrorBody),
    )
)]
pub(crate) async fn list_files(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    paging: Paging,
) -> Result<Reply<Page<FileView>>, ApiError> {
    let request = paging.parse(&format!("files:{}", principal.tenant_id.as_str()))?;
    let slice = state.files.page(&principal.tenant_id, &request).await?;
    Ok(Reply::ok(Page::from_slice(slice, &request, |f| {
        FileView::from(&f)
    })))
}

/// A presigned GET URL for an uploaded file.
#[utoipa::path(
    get,
    path = "/app/files/{file_id}/download-url",
    tag = "Files",
    params(("file_id" = String, Path, format = Uuid, description = "The file's UUID")),
    responses(
        SignedIn,
        (status = 200, description = "Where to GET the bytes", body = DownloadUrl),
        (status = 404, description = "No such uploaded file in the caller's tenant", body = ErrorBody),
        (status = 422, description = "`file_id` is not a UUID", body = ErrorBody),
    )
)]
pub(crate) async fn create_download_url(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(file_id): Path<String>,
) -> Result<Reply<DownloadUrl>, ApiError> {
    let file = owned_file(&state, &principal, &file_id).await?;
    if file.status != "uploaded" {
        return Err(ApiError::not_found("File", file.id));
    }
    let download_url = state
        .objects
        .presign_get(&file.key, state.rules.url_ttl, SystemTime::now())
        .await?;
    count(&state, &principal, FILE_DOWNLOADS, 1).await;
    Ok(Reply::ok(DownloadUrl {
        download_url,
        expires_in: state.rules.url_ttl.as_secs(),
    }))
}

/// One file of the caller's tenant, as the list shows it. A pending upload is shown too
/// (`status` says so): the client that asked for its URL may want to see where it stands.
#[utoipa::path(
    get,
    path = "/app/files/{file_id}",
    tag = "Files",
    params(("file_id" = String, Path, format = Uuid, description = "The file's UUID")),
    responses(
        SignedIn,
        (status = 200, description = "The file", body = FileView),
        (status = 404, description = "No such file in the caller's tenant", body = ErrorBody),
        (status = 422, description = "`file_id` is not a UUID", body = ErrorBody),
    )
)]
pub(crate) async fn get_file(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(file_id): Path<String>,
) -> Result<Reply<FileView>, ApiError> {
    let file = owned_file(&state, &principal, &file_id).await?;
    Ok(Reply::ok(FileView::from(&file)))
}

/// Delete a file: the object, then the record.
#[utoipa::path(
    delete,
    path = "/app/files/{file_id}",
    tag = "Files",
    params(("file_id" = String, Path, format = Uuid, description = "The file's UUID")),
    responses(
        SignedIn,
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such file in the caller's tenant", body = ErrorBody),
        (status = 422, description = "`file_id` is not a UUID", body = ErrorBody),
    )
)]
pub(crate) async fn delete_file(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(file_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let file = owned_file(&state, &principal, &file_id).await?;
    // Object first: a retry after a failure here finds the record and tries again.
    state.objects.delete(&file.key).await?;
    let mut deleted = None;
    (state.files)
        .delete(&principal.tenant_id, &file.id, &mut |file| {
            let size = i64::try_from(file.size).unwrap_or(i64::MAX);
            let mut writes = usage_writes(&state, &principal, &[(STORAGE_BYTES, -size)])?;
            let staged = stage(&state, Event::FileDeleted, &principal, file)?;
            writes.extend(staged.writes.clone());
            deleted = Some(staged);
            Ok(writes)
        })
        .await?;
    if let Some(staged) = &deleted {
        state.publisher.dispatch(staged).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
