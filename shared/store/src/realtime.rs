//! WebSocket connections and their channel memberships. A connection item says who is on
//! it and which channels it joined; each membership is also an item in its channel's
//! partition, so "everyone on channel X" is one query. Both expire with API Gateway's
//! own two-hour connection limit, so a connection whose `$disconnect` never ran goes away
//! by itself. The connection item is also listed in `gsi1` under its user, so "every
//! connection of user U" is one query whichever channels it left (closing them when the
//! user is deactivated). Each carries when the credential it was opened with ends, so a
//! push or a frame can close a connection that outlived its credential.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::{
    Key, StoreError, Table,
    table::{s, to_item},
};

/// API Gateway closes a WebSocket connection after two hours.
pub const CONNECTION_TTL_SECS: u64 = 2 * 3600;

/// An open connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub connection_id: String,
    pub user_id: String,
    pub tenant_id: String,
    /// RFC 3339.
    pub connected_at: String,
    /// The channels it joined: a string set in the table, absent while empty (DynamoDB
    /// has no empty sets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Epoch seconds; also the table's TTL attribute.
    pub expires_at: u64,
    /// Epoch seconds at which the credential it was opened with ends: a token's `exp`,
    /// an API key's `expires_at`. `None` for a key that never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_expires_at: Option<u64>,
    /// The impersonation session (the token's `jti`) it was opened with, which
    /// `POST /admin/impersonate/stop` ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonation_session: Option<String>,
}

impl ConnectionRecord {
    /// Its credential has ended by `now`: close it rather than serve it.
    pub fn credential_ended(&self, now: u64) -> bool {
        ended(self.credential_expires_at, now)
    }
}

/// One connection on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub connection_id: String,
    pub user_id: String,
    pub expires_at: u64,
    /// The connection's [`ConnectionRecord::credential_expires_at`], copied so a fan-out
    /// needs no read per member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_expires_at: Option<u64>,
}

impl Member {
    /// Its connection's credential has ended by `now`: close it rather than send to it.
    pub fn credential_ended(&self, now: u64) -> bool {
        ended(self.credential_expires_at, now)
    }
}

fn ended(credential_expires_at: Option<u64>, now: u64) -> bool {
    credential_expires_at.is_some_and(|at| at <= now)
}

/// The `gsi1` partition listing a user's connections.
fn user_index(user_id: &str) -> String {
    format!("USER#{user_id}#CONNECTIONS")
}

#[derive(Debug, Clone)]
pub struct Connections {
    table: Table,
}

impl Connections {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Records a new connection, listed under its user in `gsi1` (a retried `$connect`
    /// writes the same item again).
    pub async fn open(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        let mut item = to_item(&Key::connection(&connection.connection_id), connection)?;
        let sort = format!("{}#{}", connection.connected_at, connection.connection_id);
        item.insert("gsi1pk".into(), s(user_index(&connection.user_id)));
        item.insert("gsi1sk".into(), s(sort));
        self.table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Every recorded connection of `user_id`, oldest first, whichever channels it is
    /// on: one Query of `gsi1` (eventually consistent: a connection opened a moment ago
    /// may be missing).
    pub async fn of_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        let owner = user_index(user_id);
        self.table
            .query_all(|query| {
                query
                    .index_name("gsi1")
                    .key_condition_expression("gsi1pk = :owner")
                    .expression_attribute_values(":owner", s(&owner))
            })
            .await
    }

    pub async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        self.table.get(&Key::connection(connection_id)).await
    }

    /// Adds the connection to `channel`: the channel on the connection item (if it is
    /// still open), then the membership in the channel's partition. Idempotent.
    /// `false` when the connection is gone.
    pub async fn join(
        &self,
        connection: &ConnectionRecord,
        channel: &str,
    ) -> Result<bool, StoreError> {
        if !self
            .change_channels(&connection.connection_id, "ADD", channel)
            .await?
        {
            return Ok(false);
        }
        let member = Member {
            connection_id: connection.connection_id.clone(),
            user_id: connection.user_id.clone(),
            expires_at: connection.expires_at,
            credential_expires_at: connection.credential_expires_at,
        };
        let key = Key::channel_member(channel, &connection.connection_id);
        self.table.put(&key, &member).await?;
        Ok(true)
    }

    /// Takes the connection off `channel`. Idempotent.
    pub async fn leave(&self, connection_id: &str, channel: &str) -> Result<(), StoreError> {
        self.change_channels(connection_id, "DELETE", channel)
            .await?;
        self.table
            .delete_all(vec![Key::channel_member(channel, connection_id)])
            .await
    }

    /// `ADD`s `channel` to (or `DELETE`s it from) the connection's set, if the
    /// connection is still open; `false` when it is gone.
    async fn change_channels(
        &self,
        connection_id: &str,
        operation: &str,
        channel: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::connection(connection_id).attributes()))
            .update_expression(format!("{operation} channels :channel"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":channel", AttributeValue::Ss(vec![channel.to_owned()]))
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match changed {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Forgets the connection and all its memberships (`$disconnect`, or a push that
    /// found it gone). Idempotent.
    pub async fn close(&self, connection_id: &str) -> Result<(), StoreError> {
        let Some(connection) = self.get(connection_id).await? else {
            return Ok(());
        };
        let mut keys: Vec<Key> = connection
            .channels
            .iter()
            .map(|channel| Key::channel_member(channel, connection_id))
            .collect();
        keys.push(Key::connection(connection_id));
        self.table.delete_all(keys).await
    }

    /// The connections on `channel` that have not expired.
    pub async fn members(&self, channel: &str, now: u64) -> Result<Vec<Member>, StoreError> {
        let partition = Key::channel_member(channel, "").pk;
        let members: Vec<Member> = self
            .table
            .query_all(|query| {
                query
                    .key_condition_expression("pk = :channel")
                    .expression_attribute_values(":channel", s(&partition))
            })
            .await?;
        Ok(members.into_iter().filter(|m| m.expires_at > now).collect())
    }
}
