//! Refresh tokens: stored by hash, rotated on every use, grouped in families so that
//! presenting a token that was already rotated revokes every token of its family.
//!
//! A family is a session: its item (`FAMILY#<id>`) says who signed in, when, from where,
//! and when it was last used; it lives as long as the family's newest token (its
//! `expires_at`, the table's TTL, moves with every rotation), and so does its revocation.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
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

/// A session: one family of refresh tokens, from a sign-in to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user_id: String,
    pub family_id: String,
    /// RFC 3339.
    pub created_at: String,
    pub last_used_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Epoch seconds: the newest token's expiry; also the table's TTL attribute.
    pub expires_at: u64,
    /// Set (to `"true"`) once the family is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// The organization the session acts in (`switch`); absent: the personal tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// Where and when a session was used: at sign-in and at each refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUse {
    /// RFC 3339.
    pub at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Tokens are listed per user in `gsi1`, so deactivation can revoke their families.
fn owner_partition(user_id: &str) -> String {
    format!("USER#{user_id}#REFRESH")
}

/// Sessions are listed per user in `gsi1`, oldest first.
fn sessions_partition(user_id: &str) -> String {
    format!("USER#{user_id}#SESSIONS")
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

    /// Starts a session (a sign-in): its first token and its family item, together.
    pub async fn start(
        &self,
        token_hash: &str,
        record: &RefreshRecord,
        seen: &SessionUse,
    ) -> Result<(), StoreError> {
        let session = SessionRecord {
            user_id: record.user_id.clone(),
            family_id: record.family_id.clone(),
            created_at: seen.at.clone(),
            last_used_at: seen.at.clone(),
            user_agent: seen.user_agent.clone(),
            ip: seen.ip.clone(),
            expires_at: record.expires_at,
            revoked: None,
            tenant_id: None,
        };
        let mut family = to_item(&Key::refresh_family(&record.family_id), &session)?;
        family.extend([
            ("gsi1pk".to_owned(), s(sessions_partition(&record.user_id))),
            (
                "gsi1sk".to_owned(),
                s(format!("{}#{}", seen.at, record.family_id)),
            ),
        ]);
        let mut token = to_item(&Key::refresh_token(token_hash), record)?;
        let (pk, sk) = owner_index(token_hash, record);
        token.extend([("gsi1pk".to_owned(), s(pk)), ("gsi1sk".to_owned(), s(sk))]);
        let puts = [token, family].into_iter().map(|item| {
            Put::builder()
                .table_name(self.table.name())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(|e| StoreError::Other(e.to_string()))
        });
        self.table.transact(puts.collect::<Result<_, _>>()?).await
    }

    /// The user's live sessions (not revoked, not expired), oldest first.
    pub async fn sessions(
        &self,
        user_id: &str,
        now: u64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sessions: Vec<SessionRecord> = self
            .table
            .query_all(|query| {
                query
                    .index_name("gsi1")
                    .key_condition_expression("gsi1pk = :owner")
                    .expression_attribute_values(":owner", s(sessions_partition(user_id)))
            })
            .await?;
        Ok(sessions
            .into_iter()
            .filter(|session| session.revoked.is_none() && session.expires_at > now)
            .collect())
    }

    /// The session `family_id`, if it exists.
    pub async fn session(&self, family_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.table.get(&Key::refresh_family(family_id)).await
    }

    /// Makes the user's session act in organization `tenant` from its next refresh on
    /// (`None`: the personal tenant); `false` when the session is not theirs.
    pub async fn set_tenant(
        &self,
        user_id: &str,
        family_id: &str,
        tenant: Option<&str>,
    ) -> Result<bool, StoreError> {
        let call = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::refresh_family(family_id).attributes()))
            .condition_expression("user_id = :owner")
            .expression_attribute_values(":owner", s(user_id));
        let call = match tenant {
            Some(tenant) => call
                .update_expression("SET tenant_id = :tenant")
                .expression_attribute_values(":tenant", s(tenant)),
            None => call.update_expression("REMOVE tenant_id"),
        };
        match call.send().await.map_err(StoreError::from_sdk) {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Revokes one of the user's sessions; `false` when it is not theirs (or unknown).
    /// Idempotent.
    pub async fn revoke_session(&self, user_id: &str, family_id: &str) -> Result<bool, StoreError> {
        let revoked = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::refresh_family(family_id).attributes()))
            .update_expression("SET revoked = :yes")
            .condition_expression("user_id = :owner")
            .expression_attribute_values(":yes", s("true"))
            .expression_attribute_values(":owner", s(user_id))
            .send()
            .await;
        match revoked.map_err(StoreError::from_sdk) {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Revokes every family of the user's tokens but `keep` (deactivation, a password
    /// reset or change). Idempotent.
    pub async fn revoke_user(&self, user_id: &str, keep: Option<&str>) -> Result<(), StoreError> {
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
        for (family, expires_at) in families.into_iter().filter(|(f, _)| Some(*f) != keep) {
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
        seen: &SessionUse,
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
        match self.swap(old_hash, new_hash, &next, seen).await {
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

    /// Marks the old token rotated, notes the use on the family unless it is revoked
    /// (extending its life to the new token's), and stores the new token, all or
    /// nothing.
    async fn swap(
        &self,
        old_hash: &str,
        new_hash: &str,
        next: &RefreshRecord,
        seen: &SessionUse,
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
        // A family from before sessions had items gets one here (created now).
        let mut expression = String::from(
            "SET user_id = :user, family_id = :family, last_used_at = :at, expires_at = :exp, \
             created_at = if_not_exists(created_at, :at), gsi1pk = :sessions, \
             gsi1sk = if_not_exists(gsi1sk, :listed)",
        );
        let mut values = vec![
            (":user", s(&next.user_id)),
            (":family", s(&next.family_id)),
            (":at", s(&seen.at)),
            (":exp", n(next.expires_at)),
            (":sessions", s(sessions_partition(&next.user_id))),
            (":listed", s(format!("{}#{}", seen.at, next.family_id))),
        ];
        for (field, placeholder, value) in [
            ("user_agent", ":agent", &seen.user_agent),
            ("ip", ":ip", &seen.ip),
        ] {
            if let Some(value) = value {
                expression.push_str(&format!(", {field} = {placeholder}"));
                values.push((placeholder, s(value)));
            }
        }
        let mut used = Update::builder()
            .table_name(table)
            .set_key(Some(Key::refresh_family(&next.family_id).attributes()))
            .update_expression(expression)
            .condition_expression("attribute_not_exists(revoked)");
        for (placeholder, value) in values {
            used = used.expression_attribute_values(placeholder, value);
        }
        let family_alive = used.build().map_err(build_error)?;
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
            .transact_items(TransactWriteItem::builder().update(family_alive).build())
            .transact_items(TransactWriteItem::builder().put(store_new).build())
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Revokes every token of a family (logout, reuse). Idempotent. The marker lives as
    /// long as the family's item, which the newest token's expiry keeps alive;
    /// `expires_at` (the presented token's) only dates a family that has no item.
    pub async fn revoke_family(&self, family_id: &str, expires_at: u64) -> Result<(), StoreError> {
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::refresh_family(family_id).attributes()))
            .update_expression("SET revoked = :yes, expires_at = if_not_exists(expires_at, :exp)")
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
