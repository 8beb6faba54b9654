//! `files`: uploads and downloads straight between the client and S3 with presigned
//! URLs; the function only signs and keeps records. `upload-url` checks the content type
//! and size and signs the PUT over both, so S3 itself refuses another body; `confirm`
//! checks the object really arrived with the declared size. Records of uploads never
//! confirmed expire by TTL.

mod handlers;
mod model;

use std::{sync::Arc, time::Duration};

use aloft_auth::{App, AppParts, Plan};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_queue::{Producer, Publisher, QueueName, QueueUrls};
use aloft_store::{AwsClients, FileRepo, JobRepo, Objects, StorageQuota, Table, UsageMeter};
use axum::{
    Router,
    routing::{get, post},
};
use utoipa::OpenApi;

const DEFAULT_ALLOWED_TYPES: &str = "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,text/csv,application/json,application/zip";

/// Upload rules, from `FILES_ALLOWED_TYPES`, `FILES_MAX_BYTES`, `FILES_URL_TTL_SECONDS`
/// and the storage quotas `FILES_QUOTA_{FILES,BYTES}_{FREE,PRO,ENTERPRISE}`.
#[derive(Debug, Clone)]
pub struct FileRules {
    pub allowed_types: Arc<[String]>,
    pub max_bytes: u64,
    pub url_ttl: Duration,
    /// By plan: free, pro, enterprise.
    pub quotas: [StorageQuota; 3],
}

impl FileRules {
    /// What a tenant on `plan` may store.
    pub fn quota(&self, plan: Plan) -> StorageQuota {
        match plan {
            Plan::Free => self.quotas[0],
            Plan::Pro => self.quotas[1],
            Plan::Enterprise => self.quotas[2],
        }
    }
}

const GIB: u64 = 1024 * 1024 * 1024;

impl FileRules {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut allowed = env.list("FILES_ALLOWED_TYPES");
        if allowed.is_empty() {
            allowed = DEFAULT_ALLOWED_TYPES
                .split(',')
                .map(str::to_owned)
                .collect();
        }
        Ok(Self {
            allowed_types: allowed.into_iter().map(|t| t.to_lowercase()).collect(),
            max_bytes: env.parse_or("FILES_MAX_BYTES", 10 * 1024 * 1024)?,
            url_ttl: Duration::from_secs(env.parse_or("FILES_URL_TTL_SECONDS", 3600)?),
            quotas: [
                StorageQuota {
                    files: env.parse_or("FILES_QUOTA_FILES_FREE", 1_000)?,
                    bytes: env.parse_or("FILES_QUOTA_BYTES_FREE", GIB)?,
                },
                StorageQuota {
                    files: env.parse_or("FILES_QUOTA_FILES_PRO", 100_000)?,
                    bytes: env.parse_or("FILES_QUOTA_BYTES_PRO", 100 * GIB)?,
                },
                StorageQuota {
                    files: env.parse_or("FILES_QUOTA_FILES_ENTERPRISE", 0)?,
                    bytes: env.parse_or("FILES_QUOTA_BYTES_ENTERPRISE", 0)?,
                },
            ],
        })
    }
}

/// What the files function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Files {
    pub files: FileRepo,
    /// The files bucket's objects: presigned URLs, HEAD and DELETE.
    pub objects: Objects,
    pub rules: FileRules,
    pub usage: UsageMeter,
    /// `file.uploaded` and `file.deleted` to webhooks and the tenant's and owner's channels.
    pub publisher: Publisher,
}

impl AppParts for Files {
    fn build(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        Ok(Self {
            files: FileRepo::new(table.clone()),
            objects: Objects::new(aws, env.required("BUCKET_NAME")?),
            rules: FileRules::from_env(env)?,
            usage: UsageMeter::new(table.clone()),
            publisher: Publisher::new(Producer::new(
                aws,
                JobRepo::new(table.clone()),
                QueueUrls::from_env(env, &[QueueName::Jobs])?,
            )),
        })
    }
}

/// The function's state: the guard and [`Files`].
pub type AppState = App<Files>;

/// The function's app: routes under every API version, behind the guard and the edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/app/files", get(handlers::list_files))
        .route("/app/files/upload-url", post(handlers::create_upload_url))
        .route("/app/files/confirm", post(handlers::confirm_upload))
        .route(
            "/app/files/{file_id}/download-url",
            get(handlers::create_download_url),
        )
        .route(
            "/app/files/{file_id}",
            get(handlers::get_file).delete(handlers::delete_file),
        );
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(FilesApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        handlers::list_files,
        handlers::create_upload_url,
        handlers::confirm_upload,
        handlers::create_download_url,
        handlers::get_file,
        handlers::delete_file
    ),
    tags((name = "Files", description = "Presigned uploads and downloads"))
)]
struct FilesApi;
