//! API keys for service accounts: looked up by their public id, verified against the
//! stored SHA-256 of the secret, listed per user through `gsi1`. A user has at most
//! [`MAX_API_KEYS`]: a count item (`USER#<id>` / `APIKEYS`) is changed in the same
//! transaction as every create and delete, so the list (one Query) stays small.
//!
//! A key acts as its owner is now: each key item carries a copy of the owner's role,
//! plan and activity, which [`ApiKeyRepo::follow_owner`] rewrites whenever the user
//! record changes them (the one lookup a key request makes reads them with the key).
//! A key made in an organization belongs to it and carries its owner's role there,
//! which [`ApiKeyRepo::follow_membership`] rewrites on every membership change; leaving
//! the organization deletes the key.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table, TenantId,
    organizations::member_key,
    table::{ITEM_COUNT, n, s},
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
    /// The owner's role, plan or activity (or their role in the key's organization)
    /// changed since they were read: read again.
    OwnerChanged,
}

/// A stored API key. The secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub user_id: String,
    pub tenant_id: String,
    /// The owner's role in the organization `tenant_id` names, as it is now
    /// ([`ApiKeyRepo::follow_membership`]); absent for a key of a personal tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_role: Option<String>,
    /// The owner's role and plan as they are now ([`ApiKeyRepo::follow_owner`]).
    pub role: String,
    pub plan: String,
    /// What the key may do: `read`, `write`, `admin` (docs/api.md). Keys made before scopes
    /// existed read and write.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// RFC 3339; refused after. A string, so the table's TTL (a number attribute named
    /// `expires_at`) never deletes the item behind the owner's key count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// RFC 3339 to the minute: written at most once a minute per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    pub name: String,
    /// The first characters of the key, to tell keys apart in a list.
    pub prefix: String,
    pub secret_hash: String,
    pub created_at: String,
    /// Set while the owner is deactivated: the key is refused until they are activated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// The count item of a user's keys.
#[derive(Deserialize)]
struct KeyCount {
    #[serde(default)]
    item_count: i64,
}

fn default_scopes() -> Vec<String> {
    vec!["read".into(), "write".into()]
}

/// What a key copies of its owner (see [`ApiKeyRepo::follow_owner`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner<'a> {
    pub user_id: &'a str,
    pub role: &'a str,
    pub plan: &'a str,
    pub is_active: bool,
}

impl<'a> From<&'a crate::UserRecord> for KeyOwner<'a> {
    fn from(user: &'a crate::UserRecord) -> Self {
        Self {
            user_id: &user.id,
            role: &user.role,
            plan: &user.subscription_plan,
            is_active: user.is_active,
        }
    }
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
    /// [`MAX_API_KEYS`] and a key whose copy of its owner (`record.role`, `plan`) is
    /// already stale: a role change racing the creation cannot leave a key behind with
    /// the old role. A key of an organization is made only while its owner still has
    /// `record.member_role` there. A key with this id already there is
    /// [`StoreError::ConditionFailed`].
    pub async fn create(&self, record: &ApiKeyRecord) -> Result<CreateApiKeyOutcome, StoreError> {
        let listed = (
            owner_index(&record.user_id),
            format!("{}#{}", record.created_at, record.id),
        );
        let put = self
            .table
            .put_new_write(&Key::api_key(&record.id), record, Some(listed))?;
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
        // The plan is the user's for a personal key, the organization's for its keys
        // (one check per item: a transaction touches each item once; DynamoDB refuses
        // a value a condition does not use).
        let check = |key: Key, condition: &str| {
            ConditionCheck::builder()
                .table_name(self.table.name())
                .set_key(Some(key.attributes()))
                .condition_expression(condition)
        };
        let owner = |condition: &str| {
            check(Key::user(&record.user_id), condition)
                .expression_attribute_names("#role", "role")
                .expression_attribute_values(":role", s(&record.role))
                .expression_attribute_values(":active", Bool(true))
        };
        let plan = s(&record.plan);
        let checks = match &record.member_role {
            None => vec![
                owner("#role = :role AND is_active = :active AND subscription_plan = :plan")
                    .expression_attribute_values(":plan", plan),
            ],
            Some(member_role) => {
                let tenant = TenantId::new(&record.tenant_id);
                vec![
                    owner("#role = :role AND is_active = :active"),
                    check(Key::organization(&tenant), "subscription_plan = :plan")
                        .expression_attribute_values(":plan", plan),
                    check(member_key(&tenant, &record.user_id), "#role = :member_role")
                        .expression_attribute_names("#role", "role")
                        .expression_attribute_values(":member_role", s(member_role)),
                ]
            }
        };
        let mut writes = vec![put, TransactWriteItem::builder().update(count).build()];
        for check in checks {
            let check = check.build().map_err(build_error)?;
            writes.push(TransactWriteItem::builder().condition_check(check).build());
        }
        match self.table.transact(writes).await {
            Ok(()) => Ok(CreateApiKeyOutcome::Created),
            // Which condition failed: the id is taken, the user is at the cap, or else
            // the owner changed since the caller read them.
            Err(StoreError::ConditionFailed) => {
                if self.get(&record.id).await?.is_some() {
                    return Err(StoreError::ConditionFailed);
                }
                let count: Option<KeyCount> =
                    self.table.get(&Key::api_key_count(&record.user_id)).await?;
                Ok(match count {
                    Some(count) if count.item_count >= i64::from(MAX_API_KEYS) => {
                        CreateApiKeyOutcome::Full
                    }
                    _ => CreateApiKeyOutcome::OwnerChanged,
                })
            }
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

    /// Copies the owner's role, plan and activity onto each of their keys: what makes a
    /// key act as its owner is now. Called by every writer of those fields of the user
    /// record, after it; idempotent, so a retry of a failed change finishes the job. A
    /// key deleted meanwhile is skipped.
    pub async fn follow_owner(&self, owner: KeyOwner<'_>) -> Result<(), StoreError> {
        for key in self.list_for_user(owner.user_id).await? {
            // A key of an organization has the organization's plan, not its owner's.
            let plan = match key.member_role {
                Some(_) => key.plan.as_str(),
                None => owner.plan,
            };
            let unchanged =
                key.role == owner.role && key.plan == plan && key.disabled != owner.is_active;
            if unchanged {
                continue;
            }
            let updated = self
                .table
                .client()
                .update_item()
                .table_name(self.table.name())
                .set_key(Some(Key::api_key(&key.id).attributes()))
                .update_expression("SET #role = :role, #plan = :plan, disabled = :disabled")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#role", "role")
                .expression_attribute_names("#plan", "plan")
                .expression_attribute_values(":role", s(owner.role))
                .expression_attribute_values(":plan", s(plan))
                .expression_attribute_values(":disabled", Bool(!owner.is_active))
                .send()
                .await;
            match updated.map_err(StoreError::from_sdk) {
                Ok(_) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Copies the owner's role in `tenant` (an organization) onto each of their keys
    /// there; `None` (no longer a member) deletes those keys. Called after every
    /// membership change; idempotent, so a retried change finishes the job.
    pub async fn follow_membership(
        &self,
        user_id: &str,
        tenant: &TenantId,
        role: Option<&str>,
    ) -> Result<(), StoreError> {
        let keys = self.list_for_user(user_id).await?;
        for key in keys.iter().filter(|k| k.tenant_id == tenant.as_str()) {
            let Some(role) = role else {
                self.delete_owned(&key.id, user_id).await?;
                continue;
            };
            if key.member_role.as_deref() != Some(role) {
                self.set_field(&key.id, "member_role", role).await?;
            }
        }
        Ok(())
    }

    /// Copies organization `tenant`'s new plan onto `user_id`'s keys there. Called for
    /// every member after the organization's subscription changes; idempotent.
    pub async fn follow_tenant_plan(
        &self,
        user_id: &str,
        tenant: &TenantId,
        plan: &str,
    ) -> Result<(), StoreError> {
        let keys = self.list_for_user(user_id).await?;
        for key in keys.iter().filter(|k| k.tenant_id == tenant.as_str()) {
            if key.plan != plan {
                self.set_field(&key.id, "plan", plan).await?;
            }
        }
        Ok(())
    }

    /// Sets one string field of a key, unless it was deleted meanwhile.
    async fn set_field(&self, id: &str, field: &str, value: &str) -> Result<(), StoreError> {
        let updated = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::api_key(id).attributes()))
            .update_expression("SET #field = :value")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#field", field)
            .expression_attribute_values(":value", s(value))
            .send()
            .await;
        match updated.map_err(StoreError::from_sdk) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Notes that the key was used at `minute` (RFC 3339 to the minute), unless that
    /// minute is noted already: at most one write per key and minute.
    pub async fn touch(&self, id: &str, minute: &str) -> Result<(), StoreError> {
        let updated = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::api_key(id).attributes()))
            .update_expression("SET last_used_at = :minute")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :minute)",
            )
            .expression_attribute_values(":minute", s(minute))
            .send()
            .await;
        match updated.map_err(StoreError::from_sdk) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
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
