//! Subscription state from Stripe, the App Store and Google Play.

use aloft_inbound::{Provider, VerifiedEvent};
use aloft_queue::Event;
use aloft_store::{Applied, BillingChange, StoreError, TenantId, is_paid_status};
use serde_json::{Value, json};

use crate::{Outcome, ProviderEvents, outcome};

const FREE: &str = "free";

/// A change for one user, or `None` for events we do not act on.
struct Change {
    user_id: String,
    billing: BillingChange,
    /// The creation time the change is ordered by (see [`CHECKOUT_ORDER`]).
    event_at: i64,
}

/// A Stripe checkout only guesses the plan (the session carries no price), and Stripe
/// creates the subscription's own event a moment *before* it. Ordered as the oldest
/// possible event, the guess applies to a user no subscription event has reached yet and
/// never overwrites one, even when that event is retried after the checkout.
const CHECKOUT_ORDER: i64 = 0;

pub(crate) async fn apply(
    events: &ProviderEvents,
    event: &VerifiedEvent,
) -> Result<Outcome, String> {
    let change = match event.provider {
        Provider::Stripe => stripe(events, event).await?,
        Provider::Apple => apple(events, event)?,
        Provider::Google => google(events, event).await?,
        _ => None,
    };
    let Some(change) = change else {
        return Ok(Outcome::Ignored);
    };
    let now = aloft_core::timestamp::now();
    let applied = events
        .users
        .apply_billing(&change.user_id, &change.billing, change.event_at, &now)
        .await
        .map_err(|e| e.to_string())?;
    if applied == Applied::Applied {
        publish(events, &change.user_id).await?;
    }
    outcome(applied, &change.user_id)
}

/// `subscription.updated` with the user's subscription as it now stands. A failure fails
/// the event, whose retry applies it again (a no-op) and publishes again.
async fn publish(events: &ProviderEvents, user_id: &str) -> Result<(), String> {
    let Some(user) = events.users.get(user_id).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let data = json!({
        "user_id": user.id,
        "plan": user.subscription_plan,
        "status": user.subscription_status,
        "current_period_end": user.subscription_period_end,
        "cancel_at_period_end": user.cancel_at_period_end,
    });
    let tenant = TenantId::new(user.tenant_id.clone());
    events
        .publisher
        .publish(
            Event::SubscriptionUpdated,
            Some(tenant),
            data,
            vec![format!("user:{}", user.id)],
        )
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn number(value: &Value, pointer: &str) -> Option<i64> {
    value.pointer(pointer).and_then(Value::as_i64)
}

/// Stripe: the checkout links the customer to our user (`client_reference_id`, or
/// `metadata.user_id`); later events find the user through that link.
async fn stripe(events: &ProviderEvents, event: &VerifiedEvent) -> Result<Option<Change>, String> {
    let object = event
        .payload
        .pointer("/data/object")
        .unwrap_or(&Value::Null);
    let customer = text(object, "/customer");
    let plan_of = |price: Option<&str>| -> String {
        text(object, "/metadata/plan")
            .map(str::to_owned)
            .unwrap_or_else(|| events.settings.plan(Provider::Stripe, price))
    };
    let billing = match event.kind.as_str() {
        "checkout.session.completed" => {
            if text(object, "/mode") != Some("subscription") {
                return Ok(None);
            }
            let user_id = text(object, "/client_reference_id")
                .or_else(|| text(object, "/metadata/user_id"))
                .ok_or("checkout session names no user (client_reference_id)")?;
            if let Some(customer) = customer {
                events
                    .users
                    .link_customer("stripe", customer, user_id)
                    .await
                    .map_err(|e| match e {
                        // The link is written only with its user: not there (yet).
                        StoreError::ConditionFailed => format!("no user {user_id}"),
                        other => other.to_string(),
                    })?;
            }
            // The id, or the whole object when the event was sent expanded.
            let subscription =
                text(object, "/subscription").or_else(|| text(object, "/subscription/id"));
            let change = BillingChange {
                plan: Some(plan_of(None)),
                status: Some("active".into()),
                subscription_id: subscription.map(str::to_owned),
                ..BillingChange::default()
            };
            return Ok(Some(Change {
                user_id: user_id.to_owned(),
                billing: change,
                event_at: CHECKOUT_ORDER,
            }));
        }
        "customer.subscription.created" | "customer.subscription.updated" => {
            let price = text(object, "/items/data/0/price/id");
            let period_end = number(object, "/current_period_end")
                .or_else(|| number(object, "/items/data/0/current_period_end"));
            let status = text(object, "/status").unwrap_or("active");
            BillingChange {
                plan: Some(if is_paid_status(status) {
                    plan_of(price)
                } else {
                    FREE.into()
                }),
                status: Some(status.to_owned()),
                period_end,
                cancel_at_period_end: object
                    .pointer("/cancel_at_period_end")
                    .and_then(Value::as_bool),
                subscription_id: text(object, "/id").map(str::to_owned),
            }
        }
        "customer.subscription.deleted" => BillingChange {
            plan: Some(FREE.into()),
            status: Some("canceled".into()),
            cancel_at_period_end: Some(false),
            ..BillingChange::default()
        },
        "invoice.paid" => BillingChange {
            status: Some("active".into()),
            period_end: number(object, "/lines/data/0/period/end")
                .or_else(|| number(object, "/period_end")),
            ..BillingChange::default()
        },
        "invoice.payment_failed" => BillingChange {
            status: Some("past_due".into()),
            ..BillingChange::default()
        },
        _ => return Ok(None),
    };
    let linked = match customer {
        Some(customer) => events
            .users
            .customer_user("stripe", customer)
            .await
            .map_err(|e| e.to_string())?,
        None => None,
    };
    let user_id = linked
        .or_else(|| text(object, "/metadata/user_id").map(str::to_owned))
        .ok_or_else(|| {
            format!(
                "no user linked to Stripe customer {}",
                customer.unwrap_or("?")
            )
        })?;
    Ok(Some(Change {
        user_id,
        billing,
        event_at: event.created,
    }))
}

/// App Store: the app sets the transaction's `appAccountToken` to our user id.
fn apple(events: &ProviderEvents, event: &VerifiedEvent) -> Result<Option<Change>, String> {
    let transaction = event
        .payload
        .pointer("/data/transactionInfo")
        .unwrap_or(&Value::Null);
    let product = text(transaction, "/productId");
    let expires = number(transaction, "/expiresDate").map(|ms| ms / 1000);
    let billing = match event.kind.as_str() {
        "SUBSCRIBED" | "DID_RENEW" => BillingChange {
            plan: Some(events.settings.plan(Provider::Apple, product)),
            status: Some("active".into()),
            period_end: expires,
            cancel_at_period_end: Some(false),
            ..BillingChange::default()
        },
        "DID_FAIL_TO_RENEW" => BillingChange {
            status: Some("past_due".into()),
            ..BillingChange::default()
        },
        "EXPIRED" => BillingChange {
            plan: Some(FREE.into()),
            status: Some("expired".into()),
            ..BillingChange::default()
        },
        "REFUND" => BillingChange {
            plan: Some(FREE.into()),
            status: Some("refunded".into()),
            ..BillingChange::default()
        },
        _ => return Ok(None),
    };
    let user_id = text(transaction, "/appAccountToken")
        .ok_or("the transaction has no appAccountToken (our user id)")?;
    Ok(Some(Change {
        user_id: user_id.to_owned(),
        billing,
        event_at: event.created,
    }))
}

/// Google Play: notifications carry only the purchase token; the app links it to the
/// user when it reports the purchase.
async fn google(events: &ProviderEvents, event: &VerifiedEvent) -> Result<Option<Change>, String> {
    let notification = event
        .payload
        .pointer("/subscriptionNotification")
        .unwrap_or(&Value::Null);
    let product = text(notification, "/subscriptionId");
    let billing = match event.kind.as_str() {
        "SUBSCRIPTION_PURCHASED"
        | "SUBSCRIPTION_RENEWED"
        | "SUBSCRIPTION_RECOVERED"
        | "SUBSCRIPTION_RESTARTED" => BillingChange {
            plan: Some(events.settings.plan(Provider::Google, product)),
            status: Some("active".into()),
            cancel_at_period_end: Some(false),
            ..BillingChange::default()
        },
        // Canceled: paid until the period ends, then EXPIRED follows.
        "SUBSCRIPTION_CANCELED" => BillingChange {
            cancel_at_period_end: Some(true),
            ..BillingChange::default()
        },
        "SUBSCRIPTION_ON_HOLD" => BillingChange {
            status: Some("past_due".into()),
            ..BillingChange::default()
        },
        "SUBSCRIPTION_EXPIRED" | "SUBSCRIPTION_REVOKED" => BillingChange {
            plan: Some(FREE.into()),
            status: Some("expired".into()),
            ..BillingChange::default()
        },
        _ => return Ok(None),
    };
    let token = text(notification, "/purchaseToken").ok_or("no purchaseToken")?;
    let user_id = events
        .users
        .customer_user("google", token)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no user linked to this purchase token")?;
    Ok(Some(Change {
        user_id,
        billing,
        event_at: event.created,
    }))
}
