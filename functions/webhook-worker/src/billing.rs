//! Subscription state from Stripe, the App Store and Google Play.

use aloft_inbound::{Provider, VerifiedEvent};
use aloft_queue::Event;
use aloft_store::{Applied, BillingChange, Payer, StoreError, TenantId, is_paid_status};
use serde_json::{Value, json};

use crate::{Outcome, ProviderEvents, outcome};

const FREE: &str = "free";

/// A change for one payer (a user, or an organization), or `None` for events we do not
/// act on.
struct Change {
    payer: Payer,
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
    let (billing, event_at) = (&change.billing, change.event_at);
    let applied = match &change.payer {
        Payer::User(id) => {
            events
                .users
                .apply_billing(id, billing, event_at, &now)
                .await
        }
        Payer::Organization(tenant) => {
            (events.organizations)
                .apply_billing(tenant, billing, event_at, &now)
                .await
        }
    }
    .map_err(|e| e.to_string())?;
    if applied == Applied::Applied {
        publish(events, &change.payer).await?;
    }
    outcome(applied, change.payer.id())
}

/// `subscription.updated` with the payer's subscription as it now stands, to its
/// tenant's webhooks and its channel (`user:<id>`, or an organization's `tenant:<id>`).
/// A failure fails the event, whose retry applies it again (a no-op) and publishes again.
async fn publish(events: &ProviderEvents, payer: &Payer) -> Result<(), String> {
    let stored = match payer {
        Payer::User(id) => events.users.get(id).await.map(|user| {
            user.map(|user| {
                let data = json!({
                    "user_id": user.id,
                    "plan": user.subscription_plan,
                    "status": user.subscription_status,
                    "current_period_end": user.subscription_period_end,
                    "cancel_at_period_end": user.cancel_at_period_end,
                });
                (
                    TenantId::new(user.tenant_id),
                    data,
                    format!("user:{}", user.id),
                )
            })
        }),
        Payer::Organization(tenant) => events.organizations.get(tenant).await.map(|org| {
            org.map(|org| {
                let data = json!({
                    "organization_id": org.id,
                    "plan": org.subscription_plan,
                    "status": org.subscription_status,
                    "current_period_end": org.subscription_period_end,
                    "cancel_at_period_end": org.cancel_at_period_end,
                });
                (tenant.clone(), data, format!("tenant:{}", org.id))
            })
        }),
    };
    let Some((tenant, data, channel)) = stored.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    events
        .publisher
        .publish(
            Event::SubscriptionUpdated,
            Some(tenant),
            data,
            vec![channel],
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

/// Stripe: the checkout links the customer to its payer (`metadata.organization_id` for
/// an organization's checkout, else `client_reference_id` or `metadata.user_id`); later
/// events find the payer through that link.
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
            let payer = named_payer(object)
                .ok_or("checkout session names no payer (client_reference_id)")?;
            if let Some(customer) = customer {
                events
                    .users
                    .link_customer("stripe", customer, &payer)
                    .await
                    .map_err(|e| match e {
                        // The link is written only with its payer: not there (yet).
                        StoreError::ConditionFailed => {
                            format!("no user or organization {}", payer.id())
                        }
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
                payer,
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
            .customer_payer("stripe", customer)
            .await
            .map_err(|e| e.to_string())?,
        None => None,
    };
    let payer = linked.or_else(|| named_payer(object)).ok_or_else(|| {
        format!(
            "no payer linked to Stripe customer {}",
            customer.unwrap_or("?")
        )
    })?;
    Ok(Some(Change {
        payer,
        billing,
        event_at: event.created,
    }))
}

/// The payer a Stripe object's metadata names (the billing function writes it on the
/// checkout session and the subscription): an organization, else a user.
fn named_payer(object: &Value) -> Option<Payer> {
    if let Some(tenant) = text(object, "/metadata/organization_id") {
        return Some(Payer::Organization(TenantId::new(tenant)));
    }
    text(object, "/client_reference_id")
        .or_else(|| text(object, "/metadata/user_id"))
        .map(|user| Payer::User(user.to_owned()))
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
        payer: Payer::User(user_id.to_owned()),
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
        payer: Payer::User(user_id),
        billing,
        event_at: event.created,
    }))
}
