//! Projects: tenant-owned items in one partition per tenant (`T#<tenant>#PROJECT`), so a
//! tenant's list never reads another tenant's items and its cost does not grow with the
//! number of tenants. Every write checks and bumps `version` (optimistic concurrency).

use aws_sdk_dynamodb::types::ReturnValue;
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table, TenantId,
    table::{from_item, n, s},
};

const KIND: &str = "PROJECT";

/// A stored project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub id: String,
    pub name: String,
    /// Lower-cased name, for case-insensitive search.
    pub name_lower: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub owner_id: String,
    pub created_at: String,
    pub updated_at: String,
    /// Set by a (soft) delete; such a project is gone for every reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    pub version: u64,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Why an update did not happen.
#[derive(Debug)]
pub enum UpdateOutcome {
    Updated(ProjectRecord),
    /// No such live project in this tenant.
    NotFound,
    /// It exists, but not at the version the caller said (`If-Match`).
    VersionMismatch,
}

#[derive(Debug, Clone)]
pub struct ProjectRepo {
    table: Table,
}

impl ProjectRepo {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    pub async fn create(
        &self,
        tenant: &TenantId,
        project: &ProjectRecord,
    ) -> Result<(), StoreError> {
        self.table
            .put_new(&Key::tenant_item(tenant, KIND, &project.id), project)
            .await
    }

    /// A live project of `tenant`.
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        let project: Option<ProjectRecord> =
            self.table.get(&Key::tenant_item(tenant, KIND, id)).await?;
        Ok(project.filter(|p| p.deleted_at.is_none()))
    }

    /// Every live project of `tenant`: one partition, read page by page.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<ProjectRecord>, StoreError> {
        let partition = Key::tenant_item(tenant, KIND, "").pk;
        self.table
            .query_all(|query| {
                query
                    .key_condition_expression("pk = :partition")
                    .filter_expression("attribute_not_exists(deleted_at)")
                    .expression_attribute_values(":partition", s(&partition))
            })
            .await
    }

    /// Applies `change` if the project is live and, when `expected_version` is given, still
    /// at that version; bumps the version.
    pub async fn update(
        &self,
        tenant: &TenantId,
        id: &str,
        change: &ProjectChange,
        expected_version: Option<u64>,
        now: &str,
    ) -> Result<UpdateOutcome, StoreError> {
        let mut set = String::from("SET updated_at = :now");
        let mut request = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::tenant_item(tenant, KIND, id).attributes()))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        if let Some(name) = &change.name {
            set.push_str(", #name = :name, name_lower = :name_lower");
            request = request
                .expression_attribute_names("#name", "name")
                .expression_attribute_values(":name", s(name))
                .expression_attribute_values(":name_lower", s(name.to_lowercase()));
        }
        if let Some(description) = &change.description {
            set.push_str(", description = :description");
            request = request.expression_attribute_values(":description", s(description));
        }
        let expression = format!("{set} ADD version :one");
        let mut condition =
            String::from("attribute_exists(pk) AND attribute_not_exists(deleted_at)");
        if let Some(version) = expected_version {
            condition.push_str(" AND version = :expected");
            request = request.expression_attribute_values(":expected", n(version));
        }
        let result = request
            .update_expression(expression)
            .condition_expression(condition)
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match result {
            Ok(output) => Ok(output
                .attributes
                .map(from_item)
                .transpose()?
                .map_or(UpdateOutcome::NotFound, UpdateOutcome::Updated)),
            Err(StoreError::ConditionFailed) => Ok(match self.get(tenant, id).await? {
                Some(_) if expected_version.is_some() => UpdateOutcome::VersionMismatch,
                _ => UpdateOutcome::NotFound,
            }),
            Err(e) => Err(e),
        }
    }

    /// Marks the project deleted; `false` if there was no live project to delete.
    pub async fn soft_delete(
        &self,
        tenant: &TenantId,
        id: &str,
        now: &str,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        let result = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::tenant_item(tenant, KIND, id).attributes()))
            .update_expression("SET deleted_at = :now, updated_at = :now ADD version :one")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleted_at)")
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match result {
            Ok(output) => output.attributes.map(from_item).transpose(),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
