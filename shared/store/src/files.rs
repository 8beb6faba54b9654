//! File records: tenant-owned items (`T#<tenant>#FILE`). A record is `pending` until the
//! upload is confirmed; a pending record carries `expires_at`, so uploads never confirmed
//! are removed by the table's TTL.

use aws_sdk_dynamodb::types::ReturnValue;
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table, TenantId,
    table::{from_item, s},
};

const KIND: &str = "FILE";

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub id: String,
    pub owner_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// The S3 object key.
    pub key: String,
    /// `pending` or `uploaded`.
    pub status: String,
    pub created_at: String,
    /// TTL of a pending upload; removed when the upload is confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct FileRepo {
    table: Table,
}

impl FileRepo {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    pub async fn create(&self, tenant: &TenantId, file: &FileRecord) -> Result<(), StoreError> {
        self.table
            .put_new(&Key::tenant_item(tenant, KIND, &file.id), file)
            .await
    }

    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<Option<FileRecord>, StoreError> {
        self.table.get(&Key::tenant_item(tenant, KIND, id)).await
    }

    /// Every uploaded file of `tenant`: one partition.
    pub async fn list_uploaded(&self, tenant: &TenantId) -> Result<Vec<FileRecord>, StoreError> {
        let partition = Key::tenant_item(tenant, KIND, "").pk;
        self.table
            .query_all(|query| {
                query
                    .key_condition_expression("pk = :partition")
                    .filter_expression("#status = :uploaded")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":partition", s(&partition))
                    .expression_attribute_values(":uploaded", s("uploaded"))
            })
            .await
    }

    /// Marks a pending file uploaded and stops its expiry; returns the record, and
    /// whether this call was the one that marked it (so two confirmations racing each
    /// other count one upload).
    pub async fn mark_uploaded(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<(FileRecord, bool), StoreError> {
        let output = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::tenant_item(tenant, KIND, id).attributes()))
            .update_expression("SET #status = :uploaded REMOVE expires_at")
            .condition_expression("attribute_exists(pk) AND #status <> :uploaded")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":uploaded", s("uploaded"))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match output {
            Ok(output) => {
                let record = output.attributes.map(from_item).transpose()?;
                Ok((record.ok_or(StoreError::ConditionFailed)?, true))
            }
            Err(StoreError::ConditionFailed) => {
                let record = self.get(tenant, id).await?;
                let uploaded = record.filter(|r| r.status == "uploaded");
                Ok((uploaded.ok_or(StoreError::ConditionFailed)?, false))
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the record and returns it; deleting twice is fine (the second finds
    /// nothing), so a retried delete takes its usage back once.
    pub async fn delete(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<FileRecord>, StoreError> {
        let output = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .set_key(Some(Key::tenant_item(tenant, KIND, id).attributes()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        output.attributes.map(from_item).transpose()
    }
}
