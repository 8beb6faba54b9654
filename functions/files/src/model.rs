//! Request and response bodies of the files routes, and file-name hygiene.

use aloft_core::ApiError;
use aloft_store::FileRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FileRules;

/// `POST /app/files/upload-url`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UploadUrlRequest {
    /// The original file name (1–255 characters); it is sanitised for the object key.
    pub filename: String,
    /// One of `FILES_ALLOWED_TYPES`.
    pub content_type: String,
    /// Bytes, 1 to `FILES_MAX_BYTES`.
    pub size: u64,
}

/// A checked upload request.
#[derive(Debug)]
pub(crate) struct Upload {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
}

impl UploadUrlRequest {
    pub(crate) fn parse(self, rules: &FileRules) -> Result<Upload, ApiError> {
        let filename = self.filename.trim().to_owned();
        if filename.is_empty() || filename.chars().count() > 255 {
            return Err(ApiError::validation(
                "filename",
                "filename must be 1 to 255 characters",
            ));
        }
        let content_type = self.content_type.trim().to_lowercase();
        if !rules.allowed_types.contains(&content_type) {
            return Err(ApiError::validation(
                "content_type",
                format!(
                    "content_type must be one of: {}",
                    rules.allowed_types.join(", ")
                ),
            ));
        }
        if self.size == 0 || self.size > rules.max_bytes {
            return Err(ApiError::validation(
                "size",
                format!("size must be between 1 and {} bytes", rules.max_bytes),
            ));
        }
        Ok(Upload {
            filename,
            content_type,
            size: self.size,
        })
    }
}

/// The presigned PUT.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadUrl {
    /// PUT the bytes here with exactly the declared `Content-Type` and `Content-Length`.
    pub upload_url: String,
    pub file_id: String,
    pub key: String,
    /// Seconds the URL stays valid.
    pub expires_in: u64,
}

/// `POST /app/files/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmRequest {
    pub file_id: String,
}

/// A file as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// `pending` or `uploaded`.
    pub status: String,
    pub created_at: String,
}

impl From<&FileRecord> for FileView {
    fn from(record: &FileRecord) -> Self {
        Self {
            id: record.id.clone(),
            filename: record.filename.clone(),
            content_type: record.content_type.clone(),
            size: record.size,
            status: record.status.clone(),
            created_at: record.created_at.clone(),
        }
    }
}

/// The presigned GET.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadUrl {
    pub download_url: String,
    pub expires_in: u64,
}

/// `file_id` must be a UUID; anything else cannot name a file.
pub(crate) fn parse_file_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::validation("file_id", "file_id must be a UUID"))
}

/// A name safe inside an S3 key: the last path component only, no control characters,
/// nothing but `[A-Za-z0-9._-]`, no leading dots, at most 100 characters.
pub(crate) fn safe_file_name(original: &str) -> String {
    let base = original.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut safe: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    safe = safe.trim_start_matches('.').chars().take(100).collect();
    if safe.is_empty() {
        "file".to_owned()
    } else {
        safe
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_escape_their_key() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(
            safe_file_name("my report (final).pdf"),
            "my_report__final_.pdf"
        );
        assert_eq!(safe_file_name("bad\u{0}\nname.txt"), "badname.txt");
        assert_eq!(safe_file_name("...hidden"), "hidden");
        assert_eq!(safe_file_name("../"), "file");
        assert_eq!(safe_file_name(&"a".repeat(300)).len(), 100);
    }
}
