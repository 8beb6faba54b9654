//! Single-use tokens sent by email (verify an address, reset a password): stored only as
//! the SHA-256 of the secret, for one purpose, with an expiry (also the table's TTL).
//! Using one deletes it in the same request that reads it, so two uses of one link can
//! never both succeed.

use aws_sdk_dynamodb::types::ReturnValue;
use serde::{Deserialize, Serialize};

use crate::{Key, StoreError, Table, table::from_item};

/// What a token is for: a token of one purpose is unknown to every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify-email",
            Purpose::ResetPassword => "reset-password",
        }
    }
}

/// A stored single-use token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeRecord {
    pub user_id: String,
    /// The address the link was sent to: a token is void once the user's email differs.
    pub email: String,
    /// Epoch seconds; also the table's TTL attribute (which deletes lazily, so it is
    /// checked on use too).
    pub expires_at: u64,
}

#[derive(Debug, Clone)]
pub struct OneTimeTokens {
    table: Table,
}

impl OneTimeTokens {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    pub async fn issue(
        &self,
        purpose: Purpose,
        token_hash: &str,
        record: &OneTimeRecord,
    ) -> Result<(), StoreError> {
        self.table
            .put_new(&Key::one_time(purpose.as_str(), token_hash), record)
            .await
    }

    /// Deletes the token and returns it if it was there and unexpired at `now`; `None`
    /// for an unknown, used or expired token.
    pub async fn consume(
        &self,
        purpose: Purpose,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<OneTimeRecord>, StoreError> {
        let deleted = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .set_key(Some(
                Key::one_time(purpose.as_str(), token_hash).attributes(),
            ))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match deleted.map_err(StoreError::from_sdk) {
            Ok(output) => {
                let record: OneTimeRecord = from_item(output.attributes.unwrap_or_default())?;
                Ok((record.expires_at > now).then_some(record))
            }
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_have_distinct_keys() {
        let verify = Key::one_time(Purpose::VerifyEmail.as_str(), "h");
        let reset = Key::one_time(Purpose::ResetPassword.as_str(), "h");
        assert_ne!(verify, reset);
    }
}
