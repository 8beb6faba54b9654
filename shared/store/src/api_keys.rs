//! API keys for service accounts: looked up by their public id, verified against the
//! stored SHA-256 of the secret, listed per user through `gsi1`. A user has at most
//! [`MAX_API_KEYS`]: a count item (`USER#<id>` / `APIKEYS`) is changed in the same
//! transaction as every create and delete, so the list (one Query) stays small.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table,
    table::{ITEM_COUNT, n, s, to_item},
};
use aws_sdk_dynamodb::types::AttributeValue::Bool;

/// Most keys one user holds. Listing them (and disabling them all on deactivation) is
/// one Query of at most this many small items.
pub const MAX_API_KEYS: u32 = 100;

/// How a create ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateApiKeyOutcome {
    Created,
    /// The user holds [`MAX_API_KEYS`] keys already.
    Full,
}

/// A stored API key. The secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub user_id: String,
    pub tenant_id: String,
    /// The owner's role and plan when the key was made; the key acts with them.
    pub role: String,
    pub plan: String,
    pub name: String,
    /// The first characters of the key, to tell keys apart in a list.
    pub prefix: String,
    pub secret_hash: String,
    pub created_at: String,
    /// Set while the owner is deactivated: the key is refused until they are activated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

#[derive(Debug, Clone)]
pub struct ApiKeyRepo {
    table: Table,
}

fn owner_index(user_id: &str) -> String {
    format!("USER#{user_id}#APIKEYS")
}

impl ApiKeyRepo {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Stores the key and counts it, in one transaction that refuses a user's key past
    /// [`MAX_API_KEYS`]. A key with this id already there is
    /// [`StoreError::ConditionFailed`].
    pub async fn create(&self, record: &ApiKeyRecord) -> Result<CreateApiKeyOutcome, StoreError> {
        let mut item = to_item(&Key::api_key(&record.id), record)?;
        item.insert("gsi1pk".into(), s(owner_index(&record.user_id)));
        item.insert(
            "gsi1sk".into(),
            s(format!("{}#{}", record.created_at, record.id)),
        );
        let put = Put::builder()
            .table_name(self.table.name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let count = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::api_key_count(&record.user_id).attributes()))
            .update_expression("ADD #count :one")
            .condition_expression("attribute_not_exists(#count) OR #count < :max")
            .expression_attribute_names("#count", ITEM_COUNT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(MAX_API_KEYS))
            .build()
            .map_err(build_error)?;
        let writes = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        match self.table.transact(writes).await {
            Ok(()) => Ok(CreateApiKeyOutcome::Created),
            // Which condition failed: the id is taken, or else the user is at the cap.
            Err(StoreError::ConditionFailed) => match self.get(&record.id).await? {
                Some(_) => Err(StoreError::ConditionFailed),
                None => Ok(CreateApiKeyOutcome::Full),
            },
            Err(e) => Err(e),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.table.get(&Key::api_key(id)).await
    }

    /// The user's keys, oldest first: at most [`MAX_API_KEYS`], one Query.
    pub async fn list_for_user(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let owner = owner_index(user_id);
        self.table
            .query_all(|query| {
                query
                    .index_name("gsi1")
                    .key_condition_expression("gsi1pk = :owner")
                    .expression_attribute_values(":owner", s(&owner))
            })
            .await
    }

    /// Disables (or enables again) every key of the user, for their deactivation.
    /// Idempotent; a key deleted meanwhile is skipped.
    pub async fn set_disabled(&self, user_id: &str, disabled: bool) -> Result<(), StoreError> {
        for key in self.list_for_user(user_id).await? {
            let updated = self
                .table
                .client()
                .update_item()
                .table_name(self.table.name())
                .set_key(Some(Key::api_key(&key.id).attributes()))
                .update_expression("SET disabled = :disabled")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":disabled", Bool(disabled))
                .send()
                .await;
            match updated.map_err(StoreError::from_sdk) {
                Ok(_) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Deletes the key if `user_id` owns it; `false` when there is no such key of theirs
    /// (another user's key is indistinguishable from a missing one).
    pub async fn delete_owned(&self, id: &str, user_id: &str) -> Result<bool, StoreError> {
        let remove = Delete::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::api_key(id).attributes()))
            .condition_expression("user_id = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(user_id.to_owned()))
            .build()
            .map_err(build_error)?;
        let count = self.table.add_to_count(&Key::api_key_count(user_id), -1)?;
        let writes = vec![TransactWriteItem::builder().delete(remove).build(), count];
        match self.table.transact(writes).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(e.to_string())
}
