//! Request and response bodies of the projects routes, parsed into checked values.

use aloft_core::ApiError;
use aloft_store::{ProjectChange, ProjectRecord, ProjectSort};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

const NAME_MAX: usize = 255;
const DESCRIPTION_MAX: usize = 2000;

/// A project as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner_id: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&ProjectRecord> for Project {
    fn from(record: &ProjectRecord) -> Self {
        Self {
            id: record.id.clone(),
            name: record.name.clone(),
            description: record.description.clone(),
            owner_id: record.owner_id.clone(),
            created_at: record.created_at.clone(),
            updated_at: record.updated_at.clone(),
        }
    }
}

/// `POST /app/projects`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateProjectRequest {
    /// 1–255 characters, not all spaces.
    #[schema(min_length = 1, max_length = 255, pattern = r"\S")]
    pub name: String,
    /// At most 2000 characters.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
}

/// `PATCH /app/projects/{project_id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProjectRequest {
    /// 1–255 characters, not all spaces.
    #[schema(min_length = 1, max_length = 255, pattern = r"\S")]
    pub name: Option<String>,
    /// At most 2000 characters.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
}

pub(crate) fn parse_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::validation(
            "name",
            "Name must be at least 1 character",
        ));
    }
    if name.chars().count() > NAME_MAX {
        return Err(ApiError::validation(
            "name",
            "Name must be at most 255 characters",
        ));
    }
    Ok(name.to_owned())
}

pub(crate) fn parse_description(raw: Option<String>) -> Result<Option<String>, ApiError> {
    match raw {
        Some(text) if text.chars().count() > DESCRIPTION_MAX => Err(ApiError::validation(
            "description",
            "Description must be at most 2000 characters",
        )),
        other => Ok(other),
    }
}

impl UpdateProjectRequest {
    pub(crate) fn parse(self) -> Result<ProjectChange, ApiError> {
        Ok(ProjectChange {
            name: self.name.as_deref().map(parse_name).transpose()?,
            description: parse_description(self.description)?,
        })
    }
}

/// Sort keys of the list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    #[default]
    CreatedAt,
    UpdatedAt,
    Name,
}

impl From<SortField> for ProjectSort {
    fn from(field: SortField) -> Self {
        match field {
            SortField::CreatedAt => ProjectSort::CreatedAt,
            SortField::UpdatedAt => ProjectSort::UpdatedAt,
            SortField::Name => ProjectSort::Name,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

/// Query of `GET /app/projects`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProjectsQuery {
    /// Case-insensitive part of the name. Looks through at most 1,000 projects per
    /// request (the newest, or from `cursor` on): `truncated` and `next_cursor` say
    /// where to continue.
    pub search: Option<String>,
    /// `created_at` (default; read in key order, any list size), `updated_at` or `name`
    /// (these sort the 1,000 newest projects: `truncated` when there are more).
    #[serde(default)]
    #[param(value_type = Option<SortField>)]
    pub sort: SortField,
    /// `desc` (default) or `asc`.
    #[serde(default)]
    #[param(value_type = Option<SortOrder>)]
    pub order: SortOrder,
}

/// `project_id` must be a UUID; anything else cannot name a project.
pub(crate) fn parse_project_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::validation("project_id", "project_id must be a UUID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  Apollo ").unwrap(), "Apollo");
        assert!(parse_name("   ").is_err());
        assert!(parse_name(&"x".repeat(256)).is_err());
        assert!(parse_name(&"x".repeat(255)).is_ok());
    }
}
