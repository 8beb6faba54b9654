//! Supabase database webhooks on `auth.users`. The scheme is a shared secret that the
//! webhook sends as `Authorization: Bearer <secret>`; nothing is signed, and the request
//! carries neither an event id nor a timestamp. So there is no freshness check to make: a
//! replayed body gets the same id (the SHA-256 of the body) and is dropped as a duplicate
//! downstream, and its `created` comes from the row's own `updated_at`.

use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    Provider, Rejection, Secret, VerifiedEvent,
    request::{bearer, fields, json_body},
    shared_secret::is_secret,
};

#[derive(Deserialize)]
struct TableChange {
    /// `INSERT`, `UPDATE` or `DELETE`.
    #[serde(rename = "type")]
    kind: String,
    table: String,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    record: Option<Value>,
    #[serde(default)]
    old_record: Option<Value>,
}

pub(crate) fn verify(
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<VerifiedEvent, Rejection> {
    if !is_secret(bearer(headers)?.as_bytes(), secret.expose()) {
        return Err(Rejection::BadSignature);
    }
    let payload = json_body(body)?;
    let change: TableChange = fields(&payload, "a database webhook with type and table")?;
    if change.table != "users" || change.schema.as_deref().is_some_and(|s| s != "auth") {
        return Err(Rejection::malformed(
            "only changes to auth.users are accepted",
        ));
    }
    let created = updated_at(change.record.as_ref())
        .or_else(|| updated_at(change.old_record.as_ref()))
        .unwrap_or(now_unix);
    Ok(VerifiedEvent {
        provider: Provider::Supabase,
        id: hex::encode(Sha256::digest(body)),
        kind: change.kind,
        created,
        payload,
    })
}

/// The row's `updated_at` (Postgres `to_jsonb` writes RFC 3339) as unix seconds.
fn updated_at(row: Option<&Value>) -> Option<i64> {
    let text = row?.get("updated_at")?.as_str()?;
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some(at.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn updated_at_reads_postgres_json_timestamps() {
        let row = json!({"updated_at": "2024-05-01T12:00:00.123456+00:00"});
        assert_eq!(updated_at(Some(&row)), Some(1_714_564_800));
        assert_eq!(updated_at(Some(&json!({"updated_at": "yesterday"}))), None);
        assert_eq!(updated_at(Some(&Value::Null)), None);
        assert_eq!(updated_at(None), None);
    }
}
