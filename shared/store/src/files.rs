//! File records: tenant-owned items (`T#<tenant>#FILE` / `<id>`, ids UUID v7 so key order
//! is time order). A record is `pending` until the upload is confirmed; a pending record
//! carries `expires_at`, so uploads never confirmed are removed by the table's TTL. A
//! count item (`T#<tenant>#COUNT` / `FILE`), changed in the same transaction as each
//! confirmation and each delete of an uploaded file, is the list's `total`.

use aloft_core::{PageRequest, Slice};
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table, TenantId,
    table::{ITEM_COUNT, Range, s},
};

const KIND: &str = "FILE";
const UPLOADED: &str = "uploaded";

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

    /// One page of `tenant`'s uploaded files, newest first, read in key order:
    /// `skip + limit + 1` uploaded files at most, and at most [`aloft_core::MAX_EXAMINED`]
    /// items (pending uploads are passed over; they expire within a day of their URL).
    /// `total` is one read of the count item.
    pub async fn page(
        &self,
        tenant: &TenantId,
        request: &PageRequest,
    ) -> Result<Slice<FileRecord>, StoreError> {
        let range = Range::table(Key::tenant_item(tenant, KIND, "").pk).descending(true);
        let uploaded = |item: &crate::table::Item| {
            item.get("status")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(UPLOADED)
        };
        let count = Key::tenant_count(tenant, KIND);
        self.table
            .counted_page(&range, request, uploaded, &count, ITEM_COUNT)
            .await
    }

    /// Marks `file` (as the caller read it) uploaded, stops its expiry and counts it, in
    /// one transaction; returns the record, and whether this call was the one that marked
    /// it (so two confirmations racing each other count one upload).
    pub async fn mark_uploaded(
        &self,
        tenant: &TenantId,
        file: FileRecord,
    ) -> Result<(FileRecord, bool), StoreError> {
        let id = file.id.as_str();
        if file.status == UPLOADED {
            return Ok((file, false));
        }
        let mark = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::tenant_item(tenant, KIND, id).attributes()))
            .update_expression("SET #status = :uploaded REMOVE expires_at")
            .condition_expression("attribute_exists(pk) AND #status <> :uploaded")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":uploaded", s(UPLOADED))
            .build()
            .map_err(build_error)?;
        let count = self
            .table
            .add_to_count(&Key::tenant_count(tenant, KIND), 1)?;
        let marked = self
            .table
            .transact(vec![
                TransactWriteItem::builder().update(mark).build(),
                count,
            ])
            .await;
        match marked {
            // The other fields of a file never change: the record read is the one marked.
            Ok(()) => Ok((
                FileRecord {
                    status: UPLOADED.to_owned(),
                    expires_at: None,
                    ..file
                },
                true,
            )),
            // Marked since the caller read it, or gone.
            Err(StoreError::ConditionFailed) => {
                let record = self.get(tenant, id).await?;
                let uploaded = record.filter(|r| r.status == UPLOADED);
                Ok((uploaded.ok_or(StoreError::ConditionFailed)?, false))
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the record (and uncounts it if it was uploaded, in the same transaction)
    /// and returns it; deleting twice is fine (the second finds nothing), so a retried
    /// delete takes its usage back once.
    pub async fn delete(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<FileRecord>, StoreError> {
        // A confirmation between the read and the delete makes the delete miss: read
        // again (once more is enough: a file is confirmed at most once).
        for _ in 0..3 {
            let Some(file) = self.get(tenant, id).await? else {
                return Ok(None);
            };
            let remove = Delete::builder()
                .table_name(self.table.name())
                .set_key(Some(Key::tenant_item(tenant, KIND, id).attributes()))
                .condition_expression("#status = :read")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":read", s(&file.status))
                .build()
                .map_err(build_error)?;
            let mut writes = vec![TransactWriteItem::builder().delete(remove).build()];
            if file.status == UPLOADED {
                writes.push(
                    self.table
                        .add_to_count(&Key::tenant_count(tenant, KIND), -1)?,
                );
            }
            match self.table.transact(writes).await {
                Ok(()) => return Ok(Some(file)),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::ConditionFailed)
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(e.to_string())
}
