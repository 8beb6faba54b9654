//! File records: tenant-owned items (`T#<tenant>#FILE` / `<id>`, ids UUID v7 so key order
//! is time order). A record is `pending` until the upload is confirmed. A count item
//! (`T#<tenant>#COUNT` / `FILE`: `item_count` files of `bytes` bytes), changed in the same
//! transaction as each confirmation and each delete of an uploaded file, is the list's
//! `total` and what the storage quota is checked against, by that same write's condition.
//!
//! A pending record is listed in `gsi1` under the day its upload is given up
//! (`FILES_PENDING#<yyyy-mm-dd>` / `<unix seconds>#<tenant>#<id>`) until it is
//! confirmed: [`FileRepo::abandoned`] finds the uploads to remove, object and record (the
//! jobs worker's schedule). Its `expires_at` (a day later) is the TTL's backstop.

use aloft_core::{PageRequest, Slice};
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table, TenantId,
    table::{ITEM_COUNT, Range, applied, from_item, n, s},
};

const KIND: &str = "FILE";
const UPLOADED: &str = "uploaded";
const PENDING: &str = "pending";
/// The count item's bytes.
const BYTES: &str = "bytes";
/// After the upload is given up, the record lives this long for the sweep to find it;
/// then the TTL removes it.
const TTL_BACKSTOP_SECONDS: u64 = 24 * 3600;

/// What a tenant may store, by its plan; 0 is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageQuota {
    pub files: u64,
    pub bytes: u64,
}

/// What a tenant stores: its uploaded files and their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    pub files: u64,
    pub bytes: u64,
}

impl StorageQuota {
    /// Whether one more file of `size` bytes fits beside `stored`; else which limit it
    /// breaks (`files` or `storage_bytes`) and that limit.
    pub fn room_for(&self, stored: Stored, size: u64) -> Result<(), (&'static str, u64, u64)> {
        if self.files > 0 && stored.files >= self.files {
            return Err(("files", self.files, stored.files));
        }
        if self.bytes > 0 && stored.bytes.saturating_add(size) > self.bytes {
            return Err(("storage_bytes", self.bytes, stored.bytes));
        }
        Ok(())
    }
}

/// What a confirmation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// This call marked it uploaded (and counted and announced it).
    Marked(FileRecord),
    /// It was uploaded already (a repeated or racing confirmation): nothing counted.
    Already(FileRecord),
    /// It does not fit the quota beside what the tenant stores.
    OverQuota(Stored),
}

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

impl FileRecord {
    /// The record once its upload is confirmed.
    pub fn uploaded(&self) -> FileRecord {
        FileRecord {
            status: UPLOADED.to_owned(),
            expires_at: None,
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileRepo {
    table: Table,
}

impl FileRepo {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Stores a pending upload that is given up at `abandon_at` (unix seconds) unless
    /// confirmed by then.
    pub async fn create(
        &self,
        tenant: &TenantId,
        file: &FileRecord,
        abandon_at: u64,
    ) -> Result<(), StoreError> {
        let record = FileRecord {
            expires_at: Some(abandon_at + TTL_BACKSTOP_SECONDS),
            ..file.clone()
        };
        let index = (
            pending_index(abandon_at)?,
            format!("{abandon_at:011}#{}#{}", tenant.as_str(), file.id),
        );
        self.table
            .put_new_indexed(
                &Key::tenant_item(tenant, KIND, &file.id),
                &record,
                Some(index),
            )
            .await
    }

    /// What `tenant` stores now (one read of the count item).
    pub async fn stored(&self, tenant: &TenantId) -> Result<Stored, StoreError> {
        let item: Option<crate::table::Item> = self
            .table
            .client()
            .get_item()
            .table_name(self.table.name())
            .set_key(Some(Key::tenant_count(tenant, KIND).attributes()))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?
            .item;
        let number = |name| {
            item.as_ref()
                .and_then(|i| i.get(name))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .map_or(0, |v| u64::try_from(v).unwrap_or(0))
        };
        Ok(Stored {
            files: number(ITEM_COUNT),
            bytes: number(BYTES),
        })
    }

    /// Pending uploads given up before `now` (unix seconds), oldest first, at most
    /// `limit`: those of the last two days' partitions of the index.
    pub async fn abandoned(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<(TenantId, FileRecord)>, StoreError> {
        let mut found = Vec::new();
        for day in [now.saturating_sub(86_400), now] {
            let page = self
                .table
                .client()
                .query()
                .table_name(self.table.name())
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :day AND gsi1sk < :now")
                .expression_attribute_values(":day", s(pending_index(day)?))
                .expression_attribute_values(":now", s(format!("{now:011}")))
                .set_limit(i32::try_from(limit).ok())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for item in page.items.unwrap_or_default() {
                let tenant = item
                    .get("gsi1sk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.split('#').nth(1))
                    .map(TenantId::new);
                let record: FileRecord = from_item(item)?;
                if let (Some(tenant), true) = (tenant, record.status == PENDING) {
                    found.push((tenant, record));
                }
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    /// Removes a pending record (its object is gone); `false` if it was confirmed
    /// meanwhile or is gone.
    pub async fn remove_pending(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        let removed = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .set_key(Some(Key::tenant_item(tenant, KIND, id).attributes()))
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(PENDING))
            .send()
            .await
            .map_err(StoreError::from_sdk);
        applied(removed)
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

    /// Marks `file` (as the caller read it) uploaded and counts it, with `also` (its
    /// usage and its event), in one transaction that applies only if the file still is
    /// pending and fits `quota` beside what the tenant stores, so two confirmations racing
    /// each other count one upload, and concurrent ones cannot pass the quota together.
    pub async fn mark_uploaded(
        &self,
        tenant: &TenantId,
        file: FileRecord,
        quota: StorageQuota,
        also: Vec<TransactWriteItem>,
    ) -> Result<Confirmation, StoreError> {
        let id = file.id.as_str();
        if file.status == UPLOADED {
            return Ok(Confirmation::Already(file));
        }
        let mark = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::tenant_item(tenant, KIND, id).attributes()))
            .update_expression("SET #status = :uploaded REMOVE expires_at, gsi1pk, gsi1sk")
            .condition_expression("attribute_exists(pk) AND #status <> :uploaded")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":uploaded", s(UPLOADED))
            .build()
            .map_err(build_error)?;
        let mut room = Vec::new();
        let mut count = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::tenant_count(tenant, KIND).attributes()))
            .update_expression("ADD #count :one, #bytes :size")
            .expression_attribute_names("#count", ITEM_COUNT)
            .expression_attribute_names("#bytes", BYTES)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":size", n(file.size));
        if quota.files > 0 {
            room.push("(attribute_not_exists(#count) OR #count < :files)");
            count = count.expression_attribute_values(":files", n(quota.files));
        }
        if quota.bytes > 0 {
            let Some(left) = quota.bytes.checked_sub(file.size) else {
                return Ok(Confirmation::OverQuota(self.stored(tenant).await?));
            };
            room.push("(attribute_not_exists(#bytes) OR #bytes <= :left)");
            count = count.expression_attribute_values(":left", n(left));
        }
        if !room.is_empty() {
            count = count.condition_expression(room.join(" AND "));
        }
        let count = count.build().map_err(build_error)?;
        let mut writes = vec![
            TransactWriteItem::builder().update(mark).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        writes.extend(also);
        match self.table.transact(writes).await {
            // The other fields of a file never change: the record read is the one marked.
            Ok(()) => Ok(Confirmation::Marked(file.uploaded())),
            // Marked since the caller read it, gone, or over the quota.
            Err(StoreError::ConditionFailed) => match self.get(tenant, id).await? {
                Some(record) if record.status == UPLOADED => Ok(Confirmation::Already(record)),
                Some(_) => Ok(Confirmation::OverQuota(self.stored(tenant).await?)),
                None => Err(StoreError::ConditionFailed),
            },
            Err(e) => Err(e),
        }
    }

    /// Deletes the record (and, if it was uploaded, uncounts it with `also`, its usage
    /// and its event, given the record, in the same transaction) and returns it; deleting
    /// twice is fine (the second finds nothing), so a retried delete takes its usage back
    /// once.
    pub async fn delete(
        &self,
        tenant: &TenantId,
        id: &str,
        also: &mut (dyn FnMut(&FileRecord) -> Result<Vec<TransactWriteItem>, StoreError> + Send),
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
                let size = i64::try_from(file.size).unwrap_or(i64::MAX);
                let uncount = Update::builder()
                    .table_name(self.table.name())
                    .set_key(Some(Key::tenant_count(tenant, KIND).attributes()))
                    .update_expression("ADD #count :minus_one, #bytes :minus_size")
                    .expression_attribute_names("#count", ITEM_COUNT)
                    .expression_attribute_names("#bytes", BYTES)
                    .expression_attribute_values(":minus_one", n(-1))
                    .expression_attribute_values(":minus_size", n(-size))
                    .build()
                    .map_err(build_error)?;
                writes.push(TransactWriteItem::builder().update(uncount).build());
                writes.extend(also(&file)?);
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

/// The index partition of the pending uploads given up on the day of `at`.
fn pending_index(at: u64) -> Result<String, StoreError> {
    let day = time::OffsetDateTime::from_unix_timestamp(i64::try_from(at).unwrap_or(i64::MAX))
        .map_err(|e| StoreError::Other(e.to_string()))?
        .date();
    Ok(format!("FILES_PENDING#{day}"))
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(e.to_string())
}
