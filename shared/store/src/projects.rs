//! Projects: tenant-owned items in one partition per tenant (`T#<tenant>#PROJECT` /
//! `<id>`), so a tenant's list never reads another tenant's items. Ids are UUID v7 taken
//! at `created_at`, so the partition's key order is creation order and the default list
//! (newest first) is read in key order, a page at a time (see `listing`). The partition
//! holds live projects only: a delete moves the project to `T#<tenant>#PROJECT_DELETED`,
//! and a count item (`T#<tenant>#COUNT` / `PROJECT`), changed in the same transaction
//! as every create and delete, is the list's `total`. Every write checks and bumps
//! `version` (optimistic concurrency), and carries the write of the event that announces
//! it (`Announce`) in its transaction: no change without its event, no event without its
//! change.

mod listing;

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table, TenantId,
    table::{ITEM_COUNT, n, to_item},
};

pub use listing::{ProjectListing, ProjectSort};

const KIND: &str = "PROJECT";
/// Where deleted projects are kept (for audit), out of the live partition's way.
const DELETED: &str = "PROJECT_DELETED";

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

/// The writes that announce a change (its event, as a job record, with the job's count on
/// the dashboard), given the project as the change leaves it; they join the change's
/// transaction.
pub type Announce<'a> =
    &'a mut (dyn FnMut(&ProjectRecord) -> Result<Vec<TransactWriteItem>, StoreError> + Send);

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

    /// Stores a new project, counts it and announces it, in one transaction. A project
    /// with this id already there is [`StoreError::ConditionFailed`] (and nothing is
    /// counted or announced).
    pub async fn create(
        &self,
        tenant: &TenantId,
        project: &ProjectRecord,
        announce: Announce<'_>,
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(self.table.name())
            .set_item(Some(to_item(
                &Key::tenant_item(tenant, KIND, &project.id),
                project,
            )?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let count = self
            .table
            .add_to_count(&Key::tenant_count(tenant, KIND), 1)?;
        let mut writes = vec![TransactWriteItem::builder().put(put).build(), count];
        writes.extend(announce(project)?);
        self.table.transact(writes).await
    }

    /// How many live projects `tenant` has: one read of the count item.
    pub async fn count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        self.table
            .counter(&Key::tenant_count(tenant, KIND), ITEM_COUNT)
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

    /// Applies `change` if the project is live and, when `expected_version` is given, still
    /// at that version; bumps the version and announces the result, in one transaction
    /// that applies only to the version read.
    pub async fn update(
        &self,
        tenant: &TenantId,
        id: &str,
        change: &ProjectChange,
        expected_version: Option<u64>,
        now: &str,
        announce: Announce<'_>,
    ) -> Result<UpdateOutcome, StoreError> {
        // A concurrent update between the (consistent) read and the write makes the
        // write miss: read again (a few times; updates of one project are rare).
        for _ in 0..3 {
            let Some(live) = self.get(tenant, id).await? else {
                return Ok(UpdateOutcome::NotFound);
            };
            if expected_version.is_some_and(|expected| expected != live.version) {
                return Ok(UpdateOutcome::VersionMismatch);
            }
            let mut updated = ProjectRecord {
                updated_at: now.to_owned(),
                version: live.version + 1,
                ..live.clone()
            };
            if let Some(name) = &change.name {
                updated.name_lower = name.to_lowercase();
                updated.name = name.clone();
            }
            if let Some(description) = &change.description {
                updated.description = Some(description.clone());
            }
            let put = Put::builder()
                .table_name(self.table.name())
                .set_item(Some(to_item(
                    &Key::tenant_item(tenant, KIND, id),
                    &updated,
                )?))
                .condition_expression("version = :read")
                .expression_attribute_values(":read", n(live.version))
                .build()
                .map_err(build_error)?;
            let mut writes = vec![TransactWriteItem::builder().put(put).build()];
            writes.extend(announce(&updated)?);
            match self.table.transact(writes).await {
                Ok(()) => return Ok(UpdateOutcome::Updated(updated)),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::ConditionFailed)
    }

    /// Deletes the project (soft: it moves, marked `deleted_at`, to the tenant's deleted
    /// projects) and uncounts it, in one transaction that applies only to the version
    /// read; returns it as deleted, or `None` if there was no live project. A retry finds
    /// nothing to delete, so the count moves once.
    pub async fn soft_delete(
        &self,
        tenant: &TenantId,
        id: &str,
        now: &str,
        announce: Announce<'_>,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        // A concurrent update between the read and the move makes the move miss: read
        // again (a few times; updates of one project are rare).
        for _ in 0..3 {
            let Some(live) = self.get(tenant, id).await? else {
                return Ok(None);
            };
            let deleted = ProjectRecord {
                deleted_at: Some(now.to_owned()),
                updated_at: now.to_owned(),
                version: live.version + 1,
                ..live.clone()
            };
            let announced = announce(&deleted)?;
            match self
                .move_to_deleted(tenant, &live, &deleted, announced)
                .await
            {
                Ok(()) => return Ok(Some(deleted)),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::ConditionFailed)
    }

    async fn move_to_deleted(
        &self,
        tenant: &TenantId,
        live: &ProjectRecord,
        deleted: &ProjectRecord,
        announced: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let remove = Delete::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::tenant_item(tenant, KIND, &live.id).attributes()))
            .condition_expression("version = :read")
            .expression_attribute_values(":read", n(live.version))
            .build()
            .map_err(build_error)?;
        let keep = Put::builder()
            .table_name(self.table.name())
            .set_item(Some(to_item(
                &Key::tenant_item(tenant, DELETED, &live.id),
                deleted,
            )?))
            .build()
            .map_err(build_error)?;
        let count = self
            .table
            .add_to_count(&Key::tenant_count(tenant, KIND), -1)?;
        let mut writes = vec![
            TransactWriteItem::builder().delete(remove).build(),
            TransactWriteItem::builder().put(keep).build(),
            count,
        ];
        writes.extend(announced);
        self.table.transact(writes).await
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(e.to_string())
}
