//! The five project routes.

use aloft_auth::AuthUser;
use aloft_core::{ApiError, Page, PageParams};
use aloft_http::{
    Json, Paging, Query, Reply, etag,
    openapi::{ErrorBody, InvalidQuery, JsonBody, SignedIn},
};
use aloft_queue::{Event, Staged};
use aloft_store::{
    ProjectListing, ProjectRecord, StoreError, TenantId, TransactWriteItem, UpdateOutcome,
};
use axum::{
    extract::{Path, State},
    response::Response,
};
use http::{HeaderMap, StatusCode};
use time::OffsetDateTime;

use crate::{
    AppState,
    model::{
        CreateProjectRequest, ListProjectsQuery, Project, SortOrder, UpdateProjectRequest,
        parse_description, parse_name, parse_project_id,
    },
};

fn now() -> String {
    aloft_core::timestamp::format(OffsetDateTime::now_utc())
}

/// 200/201 with the project and its `ETag`.
fn with_etag(status: StatusCode, record: &ProjectRecord) -> Response {
    etag::with_etag(status, record.version, Project::from(record))
}

/// The event announcing a change to a project of `tenant`, for the project's and the
/// tenant's channels: staged in the change's transaction by the store, kept here to be
/// dispatched once the change is in.
struct Announcement<'a> {
    state: &'a AppState,
    event: Event,
    tenant: &'a TenantId,
    staged: Option<Staged>,
}

impl<'a> Announcement<'a> {
    fn new(state: &'a AppState, event: Event, tenant: &'a TenantId) -> Self {
        Self {
            state,
            event,
            tenant,
            staged: None,
        }
    }

    /// The writes of the event for `record` as the change leaves it (its job and the
    /// job's count).
    fn write(&mut self, record: &ProjectRecord) -> Result<Vec<TransactWriteItem>, StoreError> {
        let data = serde_json::to_value(Project::from(record)).unwrap_or_default();
        let channels = vec![
            format!("project:{}", record.id),
            format!("tenant:{}", self.tenant.as_str()),
        ];
        let staged = (self.state.publisher).stage(self.event, self.tenant, data, channels)?;
        let writes = staged.writes.clone();
        self.staged = Some(staged);
        Ok(writes)
    }

    /// Sends the event on its way, once its change is in.
    async fn dispatch(self) {
        if let Some(staged) = &self.staged {
            self.state.publisher.dispatch(staged).await;
        }
    }
}

/// List the tenant's projects, newest first unless asked otherwise.
///
/// Newest first (the default) or oldest first by `created_at` is the key order: every
/// page reads `limit + 1` projects (by `cursor`) or `skip + limit + 1` (by `skip`), and
/// `total` is one read of the tenant's count. A `search`, `sort=updated_at|name`, or a
/// `skip` past 1,000 examines at most the 1,000 newest projects (from the cursor on,
/// for a search) and then says so: `truncated` when those were not all of them, and for
/// a search `total` counts only the matches found (`total_exact: false`). Page large
/// lists with `next_cursor`.
#[utoipa::path(
    get,
    path = "/app/projects",
    tag = "Projects",
    params(PageParams, ListProjectsQuery),
    responses(
        SignedIn, InvalidQuery,
        (status = 200, description = "One page of projects; `next_cursor` continues the list. \
            Reads are bounded: a search, a sort other than `created_at`, or a `skip` past \
            1,000 examines at most 1,000 projects and sets `truncated` when that was not all", body = Page<Project>,
            links(
                ("GetProject" = (operation_id = "get_project", parameters(("project_id" = "$response.body#/items/0/id")))),
            )),
    )
)]
pub(crate) async fn list_projects(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Query(query): Query<ListProjectsQuery>,
    paging: Paging,
) -> Result<Reply<Page<Project>>, ApiError> {
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase);
    let listing = ProjectListing {
        sort: query.sort.into(),
        descending: query.order == SortOrder::Desc,
        search,
    };
    // A cursor is valid only for the list (tenant, sort, order, search) that issued it.
    let scope = format!(
        "projects:{}:{:?}:{}:{}",
        principal.tenant_id.as_str(),
        listing.sort,
        listing.descending,
        listing.search.as_deref().unwrap_or_default()
    );
    let request = paging.parse(&scope)?;
    let slice = state
        .projects
        .list(&principal.tenant_id, &listing, &request)
        .await?;
    Ok(Reply::ok(Page::from_slice(slice, &request, |p| {
        Project::from(&p)
    })))
}

/// Create a project in the caller's tenant.
#[utoipa::path(
    post,
    path = "/app/projects",
    tag = "Projects",
    request_body = CreateProjectRequest,
    responses(
        SignedIn, JsonBody,
        (status = 201, description = "Created; `ETag` names its version", body = Project,
            headers(("ETag" = String, description = "The project's version, for `If-Match`")),
            links(
                ("GetProject" = (operation_id = "get_project", parameters(("project_id" = "$response.body#/id")))),
                ("UpdateProject" = (operation_id = "update_project", parameters(("project_id" = "$response.body#/id"), ("If-Match" = "$response.header.ETag")))),
                ("DeleteProject" = (operation_id = "delete_project", parameters(("project_id" = "$response.body#/id")))),
            )),
    )
)]
pub(crate) async fn create_project(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Json(body): Json<CreateProjectRequest>,
) -> Result<Response, ApiError> {
    let name = parse_name(&body.name)?;
    let description = parse_description(body.description)?;
    // `created_at` is the id's own time: the id (the sort key) orders projects exactly as
    // (`created_at`, `id`) does, which is what lets the default list read in key order.
    let id = uuid::Uuid::now_v7();
    let created_at = id
        .get_timestamp()
        .and_then(|at| i64::try_from(at.to_unix().0).ok())
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
        // A v7 id always has its time; `now` only satisfies the types.
        .map_or_else(now, aloft_core::timestamp::format);
    let record = ProjectRecord {
        id: id.to_string(),
        name_lower: name.to_lowercase(),
        name,
        description,
        owner_id: principal.user_id.clone(),
        created_at: created_at.clone(),
        updated_at: created_at,
        deleted_at: None,
        version: 1,
    };
    let mut created = Announcement::new(&state, Event::ProjectCreated, &principal.tenant_id);
    (state.projects)
        .create(&principal.tenant_id, &record, &mut |r| created.write(r))
        .await?;
    created.dispatch().await;
    Ok(with_etag(StatusCode::CREATED, &record))
}

/// One project of the caller's tenant.
#[utoipa::path(
    get,
    path = "/app/projects/{project_id}",
    tag = "Projects",
    params(("project_id" = String, Path, format = Uuid, description = "The project's UUID")),
    responses(
        SignedIn,
        (status = 200, description = "The project; `ETag` names its version", body = Project,
            headers(("ETag" = String, description = "The project's version, for `If-Match`")),
            links(
                ("UpdateProject" = (operation_id = "update_project", parameters(("project_id" = "$response.body#/id"), ("If-Match" = "$response.header.ETag")))),
                ("DeleteProject" = (operation_id = "delete_project", parameters(("project_id" = "$response.body#/id")))),
            )),
        (status = 404, description = "No such project in the caller's tenant", body = ErrorBody),
        (status = 422, description = "`project_id` is not a UUID", body = ErrorBody),
    )
)]
pub(crate) async fn get_project(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(project_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_project_id(&project_id)?;
    let record = state
        .projects
        .get(&principal.tenant_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("Project", &id))?;
    Ok(with_etag(StatusCode::OK, &record))
}

/// Change a project's name or description. With `If-Match`, only if the project is still
/// at that version (412 otherwise), so concurrent edits never silently overwrite.
#[utoipa::path(
    patch,
    path = "/app/projects/{project_id}",
    tag = "Projects",
    params(
        ("project_id" = String, Path, format = Uuid, description = "The project's UUID"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change is based on"),
    ),
    request_body = UpdateProjectRequest,
    responses(
        SignedIn, JsonBody,
        (status = 200, description = "Updated; the new `ETag`", body = Project,
            headers(("ETag" = String, description = "The project's new version")),
            links(
                ("GetProject" = (operation_id = "get_project", parameters(("project_id" = "$response.body#/id")))),
                ("DeleteProject" = (operation_id = "delete_project", parameters(("project_id" = "$response.body#/id")))),
            )),
        (status = 404, description = "No such project in the caller's tenant", body = ErrorBody),
        (status = 412, description = "The project changed since that `ETag`, or `If-Match` names no version of it", body = ErrorBody),
        (status = 422, description = "A field breaks a rule, or `project_id` is not a UUID; `details.field` names it", body = ErrorBody),
    )
)]
pub(crate) async fn update_project(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<UpdateProjectRequest>,
) -> Result<Response, ApiError> {
    let id = parse_project_id(&project_id)?;
    let change = body.parse()?;
    let expected = etag::if_match(&headers, "project")?;
    let mut updated = Announcement::new(&state, Event::ProjectUpdated, &principal.tenant_id);
    let outcome = (state.projects)
        .update(
            &principal.tenant_id,
            &id,
            &change,
            expected,
            &now(),
            &mut |r| updated.write(r),
        )
        .await?;
    match outcome {
        UpdateOutcome::Updated(record) => {
            updated.dispatch().await;
            Ok(with_etag(StatusCode::OK, &record))
        }
        UpdateOutcome::NotFound => Err(ApiError::not_found("Project", &id)),
        UpdateOutcome::VersionMismatch => Err(ApiError::PreconditionFailed(
            "The project was changed by another request; fetch it again".into(),
        )),
    }
}

/// Delete a project (soft: it disappears for every reader, the item stays for audit).
#[utoipa::path(
    delete,
    path = "/app/projects/{project_id}",
    tag = "Projects",
    params(("project_id" = String, Path, format = Uuid, description = "The project's UUID")),
    responses(
        SignedIn,
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such project in the caller's tenant", body = ErrorBody),
        (status = 422, description = "`project_id` is not a UUID", body = ErrorBody),
    )
)]
pub(crate) async fn delete_project(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(project_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_project_id(&project_id)?;
    let mut deleted = Announcement::new(&state, Event::ProjectDeleted, &principal.tenant_id);
    let gone = (state.projects)
        .soft_delete(&principal.tenant_id, &id, &now(), &mut |r| deleted.write(r))
        .await?;
    if gone.is_none() {
        return Err(ApiError::not_found("Project", &id));
    }
    deleted.dispatch().await;
    Ok(StatusCode::NO_CONTENT)
}
