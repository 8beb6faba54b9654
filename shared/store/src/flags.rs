//! Feature flags: one item per flag in one small partition (`FLAG` / `<key>`), so the
//! whole set is a single Query; an id item (`FLAGID#<id>` / `FLAG`) maps a flag's public
//! id to its key for the routes that name a flag by id (a strongly consistent read, which
//! a GSI could not give right after a create); a counter item (`FLAGCOUNT` / `COUNT`),
//! written in the same transactions, keeps the partition within [`MAX_FLAGS`].
//!
//! Every replace checks and bumps `version` (optimistic concurrency).

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table,
    table::{n, s, to_item},
};

/// Most flags the partition holds. Every evaluation (on a cache miss) reads them all, so
/// the set stays small: 100 flags of at most [`MAX_USER_IDS`] ids each is ~1.3 MB at the
/// very worst, two Query pages; real sets are a few KB.
pub const MAX_FLAGS: u32 = 100;

/// Most user ids a `user_list` flag names (larger audiences belong in a plan or a
/// percentage); keeps one flag item far below DynamoDB's 400 KB.
pub const MAX_USER_IDS: usize = 100;

const PARTITION: &str = "FLAG";

fn flag_key(key: &str) -> Key {
    Key {
        pk: PARTITION.to_owned(),
        sk: key.to_owned(),
    }
}

fn id_key(id: &str) -> Key {
    Key {
        pk: format!("FLAGID#{id}"),
        sk: "FLAG".to_owned(),
    }
}

fn counter_key() -> Key {
    Key {
        pk: "FLAGCOUNT".to_owned(),
        sk: "COUNT".to_owned(),
    }
}

/// A stored flag. `flag_type`, `plans` and `expires_at` hold values the flags function
/// validated (see its model); the store keeps them as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagRecord {
    pub id: String,
    pub key: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `boolean`, `percentage`, `user_list` or `plan_based`.
    pub flag_type: String,
    pub is_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<u8>,
    #[serde(default)]
    pub user_ids: Vec<String>,
    #[serde(default)]
    pub plans: Vec<String>,
    /// RFC 3339. Stored under another name: `expires_at` is the table's TTL attribute, and
    /// an expired flag must stay readable (it evaluates to `expired`), not vanish.
    #[serde(
        rename = "flag_expires_at",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

/// The id item: which key a flag id names.
#[derive(Debug, Serialize, Deserialize)]
struct FlagIdLink {
    key: String,
}

/// How a create ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateFlagOutcome {
    Created,
    /// A flag with this key exists.
    DuplicateKey,
    /// The partition holds [`MAX_FLAGS`] flags already.
    Full,
}

#[derive(Debug, Clone)]
pub struct FlagRepo {
    table: Table,
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(e.to_string())
}

impl FlagRepo {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Every flag, by key: one strongly consistent Query of a partition bounded by
    /// [`MAX_FLAGS`] (consistent, so an uncached read sees a write at once).
    pub async fn list(&self) -> Result<Vec<FlagRecord>, StoreError> {
        self.table
            .query_all(|query| {
                query
                    .key_condition_expression("pk = :partition")
                    .expression_attribute_values(":partition", s(PARTITION))
                    .consistent_read(true)
            })
            .await
    }

    pub async fn get_by_key(&self, key: &str) -> Result<Option<FlagRecord>, StoreError> {
        self.table.get(&flag_key(key)).await
    }

    /// The flag with public id `id`: the id item, then the flag.
    pub async fn get(&self, id: &str) -> Result<Option<FlagRecord>, StoreError> {
        let Some(link) = self.table.get::<FlagIdLink>(&id_key(id)).await? else {
            return Ok(None);
        };
        Ok(self.get_by_key(&link.key).await?.filter(|f| f.id == id))
    }

    /// Writes a new flag, its id item and the count in one transaction: the key is unique
    /// and the partition never grows past [`MAX_FLAGS`], however many admins race.
    pub async fn create(&self, flag: &FlagRecord) -> Result<CreateFlagOutcome, StoreError> {
        let table = self.table.name();
        let link = FlagIdLink {
            key: flag.key.clone(),
        };
        let mut request = self.table.client().transact_write_items();
        for item in [
            to_item(&flag_key(&flag.key), flag)?,
            to_item(&id_key(&flag.id), &link)?,
        ] {
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_error)?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        let count = Update::builder()
            .table_name(table)
            .set_key(Some(counter_key().attributes()))
            .update_expression("ADD flag_count :one")
            .condition_expression("attribute_not_exists(flag_count) OR flag_count < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(MAX_FLAGS))
            .build()
            .map_err(build_error)?;
        let result = request
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match result {
            Ok(_) => Ok(CreateFlagOutcome::Created),
            // Which condition failed: the key is taken, or else the partition is full.
            Err(StoreError::ConditionFailed) => Ok(match self.get_by_key(&flag.key).await? {
                Some(_) => CreateFlagOutcome::DuplicateKey,
                None => CreateFlagOutcome::Full,
            }),
            Err(e) => Err(e),
        }
    }

    /// Writes `flag` over the stored one if that is still at `expected_version`; `false`
    /// when it changed or is gone. The caller bumps `flag.version`.
    pub async fn replace(
        &self,
        flag: &FlagRecord,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(to_item(&flag_key(&flag.key), flag)?))
            .condition_expression("version = :expected AND id = :id")
            .expression_attribute_values(":expected", n(expected_version))
            .expression_attribute_values(":id", s(&flag.id))
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes `flag`, its id item and its place in the count in one transaction; `false`
    /// when another request deleted it first.
    pub async fn delete(&self, flag: &FlagRecord) -> Result<bool, StoreError> {
        let table = self.table.name();
        let remove_flag = Delete::builder()
            .table_name(table)
            .set_key(Some(flag_key(&flag.key).attributes()))
            .condition_expression("id = :id")
            .expression_attribute_values(":id", s(&flag.id))
            .build()
            .map_err(build_error)?;
        let remove_link = Delete::builder()
            .table_name(table)
            .set_key(Some(id_key(&flag.id).attributes()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_error)?;
        let count = Update::builder()
            .table_name(table)
            .set_key(Some(counter_key().attributes()))
            .update_expression("ADD flag_count :minus_one")
            .expression_attribute_values(":minus_one", n(-1))
            .build()
            .map_err(build_error)?;
        let result = self
            .table
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(remove_flag).build())
            .transact_items(TransactWriteItem::builder().delete(remove_link).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
