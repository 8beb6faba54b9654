//! API keys for service accounts: looked up by their public id, verified against the
//! stored SHA-256 of the secret, listed per user through `gsi1`.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::{Key, StoreError, Table, table::s};
use aws_sdk_dynamodb::types::AttributeValue::Bool;

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

    pub async fn create(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let index = (
            owner_index(&record.user_id),
            format!("{}#{}", record.created_at, record.id),
        );
        self.table
            .put_new_indexed(&Key::api_key(&record.id), record, Some(index))
            .await
    }

    pub async fn get(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.table.get(&Key::api_key(id)).await
    }

    /// The user's keys, oldest first.
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
        let deleted = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .set_key(Some(Key::api_key(id).attributes()))
            .condition_expression("user_id = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(user_id.to_owned()))
            .send()
            .await;
        match deleted.map_err(StoreError::from_sdk) {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
