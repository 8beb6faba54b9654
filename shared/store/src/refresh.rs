//! Refresh tokens: stored by hash, rotated on every use, grouped in families so that
//! presenting a token that was already rotated revokes every token of its family.

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table,
    table::{n, s, to_item},
};

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub user_id: String,
    pub family_id: String,
    pub rotated: bool,
    /// Epoch seconds; also the table's TTL attribute.
    pub expires_at: u64,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: the new token replaces it in the same family.
    Rotated { user_id: String, family_id: String },
    /// Unknown or expired token.
    Invalid,
    /// The token had been rotated already: a stolen copy is in use; the family is now
    /// revoked.
    Reused,
}

/// Tokens are listed per user in `gsi1`, so deactivation can revoke their families.
fn owner_partition(user_id: &str) -> String {
    format!("USER#{user_id}#REFRESH")
}

fn owner_index(token_hash: &str, record: &RefreshRecord) -> (String, String) {
    (owner_partition(&record.user_id), token_hash.to_owned())
}

#[derive(Debug, Clone)]
pub struct RefreshTokens {
    table: Table,
}

impl RefreshTokens {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Stores a new token (the first of a family at login).
    pub async fn issue(&self, token_hash: &str, record: &RefreshRecord) -> Result<(), StoreError> {
        let (pk, sk) = owner_index(token_hash, record);
        self.table
            .put_new_indexed(&Key::refresh_token(token_hash), record, Some((pk, sk)))
            .await
    }

    /// Revokes every family of the user's tokens (deactivation). Idempotent.
    pub async fn revoke_user(&self, user_id: &str) -> Result<(), StoreError> {
        let tokens: Vec<RefreshRecord> = self
            .table
            .query_all(|query| {
                query
                    .index_name("gsi1")
                    .key_condition_expression("gsi1pk = :owner")
                    .expression_attribute_values(":owner", s(owner_partition(user_id)))
            })
            .await?;
        let mut families: Vec<_> = tokens
            .iter()
            .map(|t| (t.family_id.as_str(), t.expires_at))
            .collect();
        // The revocation must outlive the family's longest-lived token.
        families.sort_unstable_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
        families.dedup_by_key(|(family, _)| *family);
        for (family, expires_at) in families {
            self.revoke_family(family, expires_at).await?;
        }
        Ok(())
    }

    /// Replaces `old_hash` with `new_hash` if the old token is current and its family not
    /// revoked; revokes the family if the old token was already used.
    pub async fn rotate(
        &self,
        old_hash: &str,
        new_hash: &str,
        now: u64,
        new_expires_at: u64,
    ) -> Result<Rotation, StoreError> {
        let Some(old) = self
            .table
            .get::<RefreshRecord>(&Key::refresh_token(old_hash))
            .await?
            .filter(|r| r.expires_at > now)
        else {
            return Ok(Rotation::Invalid);
        };
        if old.rotated {
            self.revoke_family(&old.family_id, old.expires_at).await?;
            return Ok(Rotation::Reused);
        }
        let next = RefreshRecord {
            rotated: false,
            expires_at: new_expires_at,
            ..old.clone()
        };
        match self.swap(old_hash, new_hash, &next).await {
            Ok(()) => Ok(Rotation::Rotated {
                user_id: old.user_id,
                family_id: old.family_id,
            }),
            // Lost a race with another use of the same token, or the family was revoked
            // meanwhile: either way the caller must sign in again.
            Err(StoreError::ConditionFailed) => {
                self.revoke_family(&old.family_id, old.expires_at).await?;
                Ok(Rotation::Reused)
            }
            Err(e) => Err(e),
        }
    }

    /// Marks the old token rotated, checks the family, and stores the new token, all or
    /// nothing.
    async fn swap(
        &self,
        old_hash: &str,
        new_hash: &str,
        next: &RefreshRecord,
    ) -> Result<(), StoreError> {
        let table = self.table.name();
        let build_error = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Other(e.to_string());
        let mark_rotated = Update::builder()
            .table_name(table)
            .set_key(Some(Key::refresh_token(old_hash).attributes()))
            .update_expression("SET rotated = :yes")
            .condition_expression("rotated = :no")
            .expression_attribute_values(
                ":yes",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true),
            )
            .expression_attribute_values(
                ":no",
                aws_sdk_dynamodb::types::AttributeValue::Bool(false),
            )
            .build()
            .map_err(build_error)?;
        let family_alive = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(Key::refresh_family(&next.family_id).attributes()))
            .condition_expression("attribute_not_exists(revoked)")
            .build()
            .map_err(build_error)?;
        let mut new_item = to_item(&Key::refresh_token(new_hash), next)?;
        let (pk, sk) = owner_index(new_hash, next);
        new_item.extend([("gsi1pk".to_owned(), s(pk)), ("gsi1sk".to_owned(), s(sk))]);
        let store_new = Put::builder()
            .table_name(table)
            .set_item(Some(new_item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        self.table
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark_rotated).build())
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(family_alive)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().put(store_new).build())
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Revokes every token of a family (logout, reuse). Idempotent.
    pub async fn revoke_family(&self, family_id: &str, expires_at: u64) -> Result<(), StoreError> {
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::refresh_family(family_id).attributes()))
            .update_expression("SET revoked = :yes, expires_at = :exp")
            .expression_attribute_values(":yes", s("true"))
            .expression_attribute_values(":exp", n(expires_at))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// The family of a current token, for logout.
    pub async fn family_of(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StoreError> {
        self.table.get(&Key::refresh_token(token_hash)).await
    }
}
