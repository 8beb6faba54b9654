//! Key builders of the single table. Keys of tenant-owned items take a [`TenantId`], so
//! code that forgets the tenant does not compile, and another tenant's item is simply
//! not found.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

/// The tenant that owns data. It only ever comes from a verified credential or a stored
/// record, never from the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    pub fn new(id: impl Into<String>) -> Self {
        TenantId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Key { pk, sk: sk.into() }
    }

    /// Within DynamoDB's key sizes (partition key 2048 bytes, sort key 1024).
    pub fn storable(&self) -> bool {
        self.pk.len() <= 2048 && self.sk.len() <= 1024
    }

    pub fn attributes(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(self.pk.clone())),
            ("sk".to_owned(), AttributeValue::S(self.sk.clone())),
        ])
    }

    /// A user's profile.
    pub fn user(user_id: &str) -> Self {
        Key::new(format!("USER#{user_id}"), "PROFILE")
    }

    /// Guards email uniqueness; holds the owner's user id.
    pub fn email(normalized_email: &str) -> Self {
        Key::new(format!("EMAIL#{normalized_email}"), "EMAIL")
    }

    /// Maps an external identity (issuer + subject) to our user.
    pub fn external_identity(issuer: &str, subject: &str) -> Self {
        Key::new(format!("EXTID#{issuer}#{subject}"), "EXTID")
    }

    /// A refresh token, by the SHA-256 of its secret.
    pub fn refresh_token(token_hash: &str) -> Self {
        Key::new(format!("REFRESH#{token_hash}"), "TOKEN")
    }

    /// The revocation marker of a refresh-token family.
    pub fn refresh_family(family_id: &str) -> Self {
        Key::new(format!("FAMILY#{family_id}"), "FAMILY")
    }

    /// A single-use token (email verification, password reset), by purpose and the
    /// SHA-256 of its secret.
    pub fn one_time(purpose: &str, token_hash: &str) -> Self {
        Key::new(format!("ONCE#{purpose}#{token_hash}"), "ONCE")
    }

    /// An API key, by its public id.
    pub fn api_key(key_id: &str) -> Self {
        Key::new(format!("APIKEY#{key_id}"), "KEY")
    }

    /// An item owned by a tenant: `T#<tenant>#<kind>` / `<id>`.
    pub fn tenant_item(tenant: &TenantId, kind: &str, id: &str) -> Self {
        Key::new(format!("T#{}#{kind}", tenant.as_str()), id)
    }

    /// How many items of `kind` the tenant has (`item_count`), kept in the same
    /// transaction as each create and delete, so a list's `total` is one read. It has
    /// its own partition: a list of `kind` never reads it.
    pub fn tenant_count(tenant: &TenantId, kind: &str) -> Self {
        Key::new(format!("T#{}#COUNT", tenant.as_str()), kind)
    }

    /// How many API keys the user has, kept with each create and delete (the cap).
    pub fn api_key_count(user_id: &str) -> Self {
        Key::new(format!("USER#{user_id}"), "APIKEYS")
    }

    /// An organization: a tenant with members.
    pub fn organization(tenant: &TenantId) -> Self {
        Key::new(format!("ORG#{}", tenant.as_str()), "ORG")
    }

    /// How many organizations the user belongs to, kept with each join and leave (the
    /// cap).
    pub fn organization_count(user_id: &str) -> Self {
        Key::new(format!("USER#{user_id}"), "ORGS")
    }

    /// An invitation's link, by the SHA-256 of its token.
    pub fn invitation_token(token_hash: &str) -> Self {
        Key::new(format!("INVITE#{token_hash}"), "INVITE")
    }

    /// A queued job.
    pub fn job(job_id: &str) -> Self {
        Key::new(format!("JOB#{job_id}"), "JOB")
    }

    /// A provider event we accepted (exactly-once processing).
    pub fn inbound_event(provider: &str, event_id: &str) -> Self {
        Key::new(format!("WEBHOOK#{provider}#{event_id}"), "EVENT")
    }

    /// Maps a billing provider's customer (e.g. a Stripe customer id) to our user.
    pub fn billing_customer(provider: &str, customer_id: &str) -> Self {
        Key::new(format!("CUSTOMER#{provider}#{customer_id}"), "CUSTOMER")
    }

    /// An open WebSocket connection.
    pub fn connection(connection_id: &str) -> Self {
        Key::new(format!("CONN#{connection_id}"), "CONN")
    }

    /// A connection's membership of a channel, in the channel's partition.
    pub fn channel_member(channel: &str, connection_id: &str) -> Self {
        Key::new(
            format!("CHANNEL#{channel}"),
            format!("CONN#{connection_id}"),
        )
    }

    /// The partition of the dashboard's running totals.
    pub const STATS_TOTALS: &str = "STATS";

    /// What the sort key of every item of the running totals begins with.
    pub const STATS_TOTALS_PREFIX: &str = "TOTALS";

    /// The partition of the dashboard's hourly counter buckets.
    pub const STATS_HOURS: &str = "STATS#HOURLY";

    /// One shard of the dashboard's running totals (`TOTALS#<NN>`, `NN` two digits): a
    /// change adds to one shard, a read sums them all.
    pub fn stats_totals(shard: u8) -> Self {
        Key::new(
            Key::STATS_TOTALS.into(),
            format!("{}#{shard:02}", Key::STATS_TOTALS_PREFIX),
        )
    }

    /// The dashboard's running totals as one item, as they were written before they were
    /// sharded: still read (summed with the shards), never written.
    pub fn stats_totals_unsharded() -> Self {
        Key::new(Key::STATS_TOTALS.into(), Key::STATS_TOTALS_PREFIX)
    }

    /// One shard of one hour's bucket of dashboard counters (`<hour>#<NN>`, `hour` =
    /// `YYYY-MM-DDTHH`): it sorts with its hour, before the next hour's buckets.
    pub fn stats_hour(hour: &str, shard: u8) -> Self {
        Key::new(Key::STATS_HOURS.into(), format!("{hour}#{shard:02}"))
    }

    /// One fixed window of a rate-limit counter.
    pub fn rate_window(subject: &str, class: &str, window_start: u64) -> Self {
        Key::new(format!("RL#{subject}#{class}"), window_start.to_string())
    }

    /// An impersonation token's session, by its `jti`.
    pub fn impersonation(jti: &str) -> Self {
        Key::new(format!("IMPERSONATION#{jti}"), "SESSION")
    }

    /// An audit entry in its month's partition (`sort` = `<created_at>#<id>`).
    pub fn audit(month: &str, sort: &str) -> Self {
        Key::new(format!("AUDIT#{month}"), sort)
    }

    /// The copy of an audit entry listed under its resource type.
    pub fn audit_by_type(resource_type: &str, sort: &str) -> Self {
        Key::new(format!("AUDIT_TYPE#{resource_type}"), sort)
    }

    /// The copy of an audit entry listed under the organization it was taken in.
    pub fn audit_by_tenant(tenant_id: &str, sort: &str) -> Self {
        Key::new(format!("AUDIT_TENANT#{tenant_id}"), sort)
    }

    /// A user's usage of one metric in one month (`YYYY-MM`), see `usage`.
    pub fn usage(user_id: &str, metric: &str, period: &str) -> Self {
        Key::new(format!("USAGE#{user_id}"), format!("{metric}#{period}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_storable_up_to_dynamodbs_key_sizes() {
        let key = |pk: usize, sk: usize| Key::new("p".repeat(pk), "s".repeat(sk));
        assert!(key(2048, 1024).storable());
        assert!(!key(2049, 1).storable());
        assert!(!key(1, 1025).storable());
    }

    #[test]
    fn dashboard_shards_are_numbered_with_two_digits_after_their_item() {
        assert_eq!(Key::stats_totals(7).sk, "TOTALS#07");
        assert_eq!(Key::stats_totals(15).pk, Key::stats_totals_unsharded().pk);
        assert_eq!(Key::stats_totals_unsharded().sk, "TOTALS");
        let hour = Key::stats_hour("2025-12-01T05", 3);
        assert_eq!(
            (hour.pk.as_str(), hour.sk.as_str()),
            ("STATS#HOURLY", "2025-12-01T05#03")
        );
    }

    #[test]
    fn tenant_items_are_prefixed_by_their_tenant() {
        let key = Key::tenant_item(&TenantId::new("t1"), "PROJECT", "p1");
        assert_eq!(key.pk, "T#t1#PROJECT");
        assert_eq!(key.sk, "p1");
    }
}
