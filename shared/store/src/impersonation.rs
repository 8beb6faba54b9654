//! Impersonation sessions: one item per impersonation token (`IMPERSONATION#<jti>`),
//! written when an admin starts it and marked revoked when it is stopped. A token whose
//! session is missing, revoked or past its end is refused, so `stop` ends a token before
//! it expires. The table's TTL removes sessions after their end.
//!
//! A session is listed by its admin in `gsi1` (`IMPERSONATIONS#<admin>`) and with every
//! admin's in `gsi2` (`IMPERSONATIONS`), both sorted by its end (`<expires_at, 20
//! digits>#<jti>`), so the active ones are a range read; `stop` takes it off both.
//! Sessions started before they were listed carry no index keys and are not listed.

use serde::{Deserialize, Serialize};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::{
    Key, StoreError, Table,
    table::{n, s, to_item},
};

/// A started impersonation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpersonationSession {
    /// The admin acting.
    pub admin_id: String,
    /// The user acted as.
    pub user_id: String,
    /// Unix seconds; also the table's TTL attribute.
    pub expires_at: u64,
    #[serde(default)]
    pub revoked: bool,
}

/// An active session as listed: its token's id, and when it started and ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveImpersonation {
    /// The impersonation token's `jti`.
    pub jti: String,
    /// The admin acting.
    pub admin_id: String,
    /// The user acted as.
    pub user_id: String,
    /// Unix seconds.
    pub started_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
}

/// A session item as the listing reads it.
#[derive(Debug, Deserialize)]
struct Listed {
    jti: String,
    admin_id: String,
    user_id: String,
    started_at: u64,
    expires_at: u64,
    #[serde(default)]
    revoked: bool,
}

/// `gsi2`'s partition of every admin's sessions.
const EVERY_ADMIN: &str = "IMPERSONATIONS";

/// `gsi1`'s partition of `admin_id`'s sessions.
fn of_admin_partition(admin_id: &str) -> String {
    format!("IMPERSONATIONS#{admin_id}")
}

/// A listed session's sort key: its end, zero-padded so the text sorts as the number.
fn by_end(expires_at: u64, jti: &str) -> String {
    format!("{expires_at:020}#{jti}")
}

#[derive(Debug, Clone)]
pub struct ImpersonationSessions {
    table: Table,
}

impl ImpersonationSessions {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Records the session of token `jti`, started now, listed under its admin and with
    /// every admin's. A session of that `jti` already there is
    /// [`StoreError::ConditionFailed`].
    pub async fn start(&self, jti: &str, session: &ImpersonationSession) -> Result<(), StoreError> {
        let started_at = aloft_core::timestamp::unix_now();
        let sort = by_end(session.expires_at, jti);
        let mut item = to_item(&Key::impersonation(jti), session)?;
        item.extend([
            ("jti".to_owned(), s(jti)),
            ("started_at".to_owned(), n(started_at)),
            (
                "gsi1pk".to_owned(),
                s(of_admin_partition(&session.admin_id)),
            ),
            ("gsi1sk".to_owned(), s(&sort)),
            ("gsi2pk".to_owned(), s(EVERY_ADMIN)),
            ("gsi2sk".to_owned(), s(sort)),
        ]);
        self.table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Whether token `jti` may still be used at `now` (unix seconds).
    pub async fn is_active(&self, jti: &str, now: u64) -> Result<bool, StoreError> {
        let session: Option<ImpersonationSession> =
            self.table.get(&Key::impersonation(jti)).await?;
        Ok(session.is_some_and(|s| !s.revoked && now < s.expires_at))
    }

    /// `admin_id`'s sessions active at `now` (unix seconds): neither ended nor stopped,
    /// the latest to end first.
    pub async fn of_admin(
        &self,
        admin_id: &str,
        now: u64,
    ) -> Result<Vec<ActiveImpersonation>, StoreError> {
        self.active("gsi1", of_admin_partition(admin_id), now).await
    }

    /// Every admin's sessions active at `now`, like [`Self::of_admin`].
    pub async fn all_active(&self, now: u64) -> Result<Vec<ActiveImpersonation>, StoreError> {
        self.active("gsi2", EVERY_ADMIN.to_owned(), now).await
    }

    /// The sessions in `partition` of `index` that end after `now` and are not revoked
    /// (`stop` takes a session off the indexes; the check covers an index read that has
    /// not seen it yet: index reads are eventually consistent).
    async fn active(
        &self,
        index: &'static str,
        partition: String,
        now: u64,
    ) -> Result<Vec<ActiveImpersonation>, StoreError> {
        let listed: Vec<Listed> = self
            .table
            .query_all(|query| {
                query
                    .index_name(index)
                    .key_condition_expression("#pk = :partition AND #sk >= :unended")
                    .expression_attribute_names("#pk", format!("{index}pk"))
                    .expression_attribute_names("#sk", format!("{index}sk"))
                    .expression_attribute_values(":partition", s(partition.as_str()))
                    // Sorts after the keys of sessions that ended by `now`, before the others.
                    .expression_attribute_values(":unended", s(format!("{:020}", now + 1)))
                    .scan_index_forward(false)
            })
            .await?;
        Ok(listed
            .into_iter()
            .filter(|session| !session.revoked && now < session.expires_at)
            .map(|session| ActiveImpersonation {
                jti: session.jti,
                admin_id: session.admin_id,
                user_id: session.user_id,
                started_at: session.started_at,
                expires_at: session.expires_at,
            })
            .collect())
    }

    /// Ends token `jti`'s session and takes it off the listings; `false` if there was
    /// none. Stopping twice is fine.
    pub async fn revoke(&self, jti: &str) -> Result<bool, StoreError> {
        let revoked = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::impersonation(jti).attributes()))
            .update_expression("SET revoked = :yes REMOVE gsi1pk, gsi1sk, gsi2pk, gsi2sk")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match revoked {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_sort_keys_sort_as_their_ends() {
        let sooner = by_end(999, "b");
        let later = by_end(1_000, "a");
        assert!(sooner < later, "{sooner} < {later}");
        assert!(
            format!("{:020}", 1_000) <= later,
            "ending at 1000: after `now` 999"
        );
        assert!(
            format!("{:020}", 1_001) > later,
            "ending at 1000: not after `now` 1000"
        );
    }
}
