//! Google Play real-time developer notifications, pushed by Pub/Sub. The push carries a
//! Google-signed OIDC token (`Authorization: Bearer`) whose audience is the one set on
//! the subscription; the body wraps the notification in base64:
//! `{"message": {"data": "<base64 DeveloperNotification>", "messageId": "..."}, ...}`.

use aloft_auth::{ExternalIdp, TokenError};
use aloft_config::ConfigError;
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::{
    GoogleConfig, Provider, Rejection, VerifiedEvent,
    request::{bearer, fields, json_body},
};

/// Verifies pushes; holds the cached Google key set.
#[derive(Debug)]
pub(crate) struct PubSubPush {
    idp: ExternalIdp,
    service_account: String,
    package_name: Option<String>,
}

/// Claims of the push token beyond those [`ExternalIdp`] checks.
#[derive(Deserialize)]
struct PushClaims {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
}

#[derive(Deserialize)]
struct PushMessage {
    data: String,
    // Pub/Sub sends the id under both spellings.
    #[serde(rename = "messageId", default)]
    message_id: Option<String>,
    #[serde(rename = "message_id", default)]
    message_id_snake: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeveloperNotification {
    package_name: String,
    /// A string of digits in Google's JSON; a number is accepted too.
    event_time_millis: Value,
    #[serde(default)]
    subscription_notification: Option<SubscriptionNotification>,
    #[serde(default)]
    test_notification: Option<Value>,
    #[serde(default)]
    one_time_product_notification: Option<Value>,
    #[serde(default)]
    voided_purchase_notification: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionNotification {
    notification_type: i64,
}

impl PubSubPush {
    pub(crate) fn new(config: GoogleConfig) -> Result<Self, ConfigError> {
        // ExternalIdp names its own variable in errors; ours is a different one.
        let idp = ExternalIdp::new(config.idp).map_err(|e| ConfigError::Invalid {
            name: "GOOGLE_PUBSUB_JWKS_URL",
            reason: e.to_string(),
        })?;
        Ok(Self {
            idp,
            service_account: config.service_account,
            package_name: config.package_name,
        })
    }

    pub(crate) async fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedEvent, Rejection> {
        self.verify_token(bearer(headers)?).await?;
        let (id, payload) = unwrap_push(body)?;
        let notification: DeveloperNotification = fields(
            &payload,
            "a DeveloperNotification with packageName and eventTimeMillis",
        )?;
        if self
            .package_name
            .as_ref()
            .is_some_and(|expected| *expected != notification.package_name)
        {
            return Err(Rejection::malformed(
                "the notification is for another app (packageName)",
            ));
        }
        let created = millis(&notification.event_time_millis)
            .ok_or_else(|| Rejection::malformed("eventTimeMillis is not a number"))?
            .div_euclid(1000);
        Ok(VerifiedEvent {
            provider: Provider::Google,
            id,
            kind: kind(&notification)?,
            created,
            payload,
        })
    }

    /// Signature, issuer, audience and expiry through [`ExternalIdp`]; then that the token
    /// was minted for our service account.
    async fn verify_token(&self, token: &str) -> Result<(), Rejection> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Rejection::malformed("the bearer token is not a JWT"))?;
        self.idp.verify(token, &header).await.map_err(|e| match e {
            TokenError::Expired => Rejection::Stale,
            TokenError::Invalid => Rejection::BadSignature,
        })?;
        match verified_claims(token) {
            Some(PushClaims {
                email: Some(email),
                email_verified: true,
            }) if email == self.service_account => Ok(()),
            _ => Err(Rejection::BadSignature),
        }
    }
}

/// The Pub/Sub message id and the notification decoded from `message.data`.
fn unwrap_push(body: &[u8]) -> Result<(String, Value), Rejection> {
    let push = json_body(body)?;
    let message: PushMessage = fields(
        push.get("message").unwrap_or(&Value::Null),
        "a Pub/Sub push with message.data and message.messageId",
    )?;
    let id = message
        .message_id
        .or(message.message_id_snake)
        .ok_or_else(|| Rejection::malformed("the Pub/Sub message has no messageId"))?;
    let decoded = STANDARD
        .decode(&message.data)
        .map_err(|_| Rejection::malformed("message.data is not base64"))?;
    let notification = serde_json::from_slice(&decoded)
        .map_err(|_| Rejection::malformed("message.data is not JSON"))?;
    Ok((id, notification))
}

/// The claims of a token whose signature was verified already.
fn verified_claims(token: &str) -> Option<PushClaims> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn millis(value: &Value) -> Option<i64> {
    match value {
        Value::String(digits) => digits.parse().ok(),
        other => other.as_i64(),
    }
}

fn kind(notification: &DeveloperNotification) -> Result<String, Rejection> {
    if let Some(subscription) = &notification.subscription_notification {
        return Ok(subscription_kind(subscription.notification_type));
    }
    let kind = if notification.test_notification.is_some() {
        "TEST"
    } else if notification.one_time_product_notification.is_some() {
        "ONE_TIME_PRODUCT"
    } else if notification.voided_purchase_notification.is_some() {
        "VOIDED_PURCHASE"
    } else {
        return Err(Rejection::malformed(
            "the DeveloperNotification carries no known notification",
        ));
    };
    Ok(kind.to_owned())
}

/// The RTDN name of a subscription `notificationType`. A number Google adds later is still
/// an authentic notification: refusing it would make Pub/Sub retry it for days, so it
/// passes as `SUBSCRIPTION_TYPE_<n>`.
fn subscription_kind(notification_type: i64) -> String {
    let name = match notification_type {
        1 => "SUBSCRIPTION_RECOVERED",
        2 => "SUBSCRIPTION_RENEWED",
        3 => "SUBSCRIPTION_CANCELED",
        4 => "SUBSCRIPTION_PURCHASED",
        5 => "SUBSCRIPTION_ON_HOLD",
        6 => "SUBSCRIPTION_IN_GRACE_PERIOD",
        7 => "SUBSCRIPTION_RESTARTED",
        8 => "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED",
        9 => "SUBSCRIPTION_DEFERRED",
        10 => "SUBSCRIPTION_PAUSED",
        11 => "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
        12 => "SUBSCRIPTION_REVOKED",
        13 => "SUBSCRIPTION_EXPIRED",
        20 => "SUBSCRIPTION_PENDING_PURCHASE_CANCELED",
        other => return format!("SUBSCRIPTION_TYPE_{other}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_types_have_their_rtdn_names() {
        assert_eq!(subscription_kind(4), "SUBSCRIPTION_PURCHASED");
        assert_eq!(
            subscription_kind(20),
            "SUBSCRIPTION_PENDING_PURCHASE_CANCELED"
        );
        assert_eq!(subscription_kind(99), "SUBSCRIPTION_TYPE_99");
    }

    #[test]
    fn event_time_is_read_from_a_string_or_a_number() {
        assert_eq!(
            millis(&Value::from("1503349566168")),
            Some(1_503_349_566_168)
        );
        assert_eq!(
            millis(&Value::from(1_503_349_566_168_i64)),
            Some(1_503_349_566_168)
        );
        assert_eq!(millis(&Value::from("soon")), None);
    }
}
