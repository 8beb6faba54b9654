//! Impersonation sessions: one item per impersonation token (`IMPERSONATION#<jti>`),
//! written when an admin starts it and marked revoked when it is stopped. A token whose
//! session is missing, revoked or past its end is refused, so `stop` ends a token before
//! it expires. The table's TTL removes sessions after their end.

use serde::{Deserialize, Serialize};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::{Key, StoreError, Table};

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

#[derive(Debug, Clone)]
pub struct ImpersonationSessions {
    table: Table,
}

impl ImpersonationSessions {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Records the session of token `jti`.
    pub async fn start(&self, jti: &str, session: &ImpersonationSession) -> Result<(), StoreError> {
        self.table.put_new(&Key::impersonation(jti), session).await
    }

    /// Whether token `jti` may still be used at `now` (unix seconds).
    pub async fn is_active(&self, jti: &str, now: u64) -> Result<bool, StoreError> {
        let session: Option<ImpersonationSession> =
            self.table.get(&Key::impersonation(jti)).await?;
        Ok(session.is_some_and(|s| !s.revoked && now < s.expires_at))
    }

    /// Ends token `jti`'s session; `false` if there was none. Stopping twice is fine.
    pub async fn revoke(&self, jti: &str) -> Result<bool, StoreError> {
        let revoked = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::impersonation(jti).attributes()))
            .update_expression("SET revoked = :yes")
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
