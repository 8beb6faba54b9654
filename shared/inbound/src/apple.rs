//! App Store Server Notifications v2: the body is `{"signedPayload": "<JWS>"}`, and the
//! transaction and renewal inside it are JWS of their own, signed the same way. All three
//! are verified; the payload handed on holds their decoded claims, not the signed strings.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    AppleConfig, Provider, Rejection, VerifiedEvent,
    request::{fields, json_body},
    x5c,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    #[serde(rename = "notificationUUID")]
    notification_uuid: String,
    /// `SUBSCRIBED`, `DID_RENEW`... The `subtype` stays in the payload.
    notification_type: String,
    /// Milliseconds.
    signed_date: i64,
}

/// Signed fields of `data` and where their decoded claims go.
const NESTED: [(&str, &str); 2] = [
    ("signedTransactionInfo", "transactionInfo"),
    ("signedRenewalInfo", "renewalInfo"),
];

pub(crate) fn verify(
    config: &AppleConfig,
    body: &[u8],
    now_unix: i64,
) -> Result<VerifiedEvent, Rejection> {
    let body = json_body(body)?;
    let signed = body
        .get("signedPayload")
        .ok_or(Rejection::MissingSignature("signedPayload"))?
        .as_str()
        .ok_or_else(|| Rejection::malformed("signedPayload is not a string"))?;
    let root = config.root.anchor();
    // Apple signs all three with one certificate chain: checked once, by the first.
    let mut verified_chain = None;
    let mut payload = x5c::verify(signed, root, now_unix, &mut verified_chain)?;
    let notification: Notification = fields(
        &payload,
        "an App Store notification with notificationUUID, notificationType and signedDate",
    )?;
    if let Some(data) = payload.get_mut("data").and_then(Value::as_object_mut) {
        for (signed_field, decoded_field) in NESTED {
            replace_signed(data, signed_field, decoded_field, |jws| {
                x5c::verify(jws, root, now_unix, &mut verified_chain)
            })?;
        }
    }
    if let Some(expected) = &config.bundle_id
        && bundle_id(&payload) != Some(expected.as_str())
    {
        return Err(Rejection::malformed(
            "the notification is for another app (bundleId)",
        ));
    }
    Ok(VerifiedEvent {
        provider: Provider::Apple,
        id: notification.notification_uuid,
        kind: notification.notification_type,
        created: notification.signed_date.div_euclid(1000),
        payload,
    })
}

/// Swaps `data[signed_field]` (a JWS) for `data[decoded_field]` (its verified claims).
fn replace_signed(
    data: &mut Map<String, Value>,
    signed_field: &str,
    decoded_field: &str,
    mut verify: impl FnMut(&str) -> Result<Value, Rejection>,
) -> Result<(), Rejection> {
    let Some(signed) = data.remove(signed_field) else {
        return Ok(());
    };
    let jws = signed
        .as_str()
        .ok_or_else(|| Rejection::Malformed(format!("{signed_field} is not a string")))?;
    data.insert(decoded_field.to_owned(), verify(jws)?);
    Ok(())
}

/// The app a notification is for: most carry `data`, renewal-extension summaries carry
/// `summary`, external purchase notifications `externalPurchaseToken`.
fn bundle_id(payload: &Value) -> Option<&str> {
    ["data", "summary", "externalPurchaseToken"]
        .into_iter()
        .find_map(|section| payload.get(section)?.get("bundleId")?.as_str())
}

#[cfg(test)]
mod tests;
