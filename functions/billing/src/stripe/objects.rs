//! The parts of Stripe's objects the billing routes read. Fields Stripe may leave out
//! or set to `null` are optional; everything else is ignored.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `customer`.
#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    pub id: String,
}

/// `checkout.session`.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// Absent once the session is complete or expired.
    pub url: Option<String>,
}

/// `billing_portal.session`.
#[derive(Debug, Clone, Deserialize)]
pub struct PortalSession {
    pub url: String,
}

/// `list` of some object.
#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
}

/// `subscription`.
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub id: String,
    /// `active`, `trialing`, `past_due`, `canceled`, `unpaid`, `incomplete`, …
    pub status: String,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    /// On the subscription in API versions before 2025-03-31, on its items after.
    pub current_period_end: Option<i64>,
    #[serde(default)]
    pub items: Option<List<SubscriptionItem>>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionItem {
    pub price: Option<Price>,
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Price {
    pub id: String,
}

impl Subscription {
    fn first_item(&self) -> Option<&SubscriptionItem> {
        self.items.as_ref()?.data.first()
    }

    pub fn price(&self) -> Option<&str> {
        Some(self.first_item()?.price.as_ref()?.id.as_str())
    }

    /// Unix seconds when the paid period ends, wherever the API version puts it.
    pub fn period_end(&self) -> Option<i64> {
        self.current_period_end
            .or_else(|| self.first_item()?.current_period_end)
    }
}

/// `invoice`, read from Stripe and answered as the reference shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct Invoice {
    /// `in_…`.
    pub id: String,
    /// `null` while a draft.
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: Option<String>,
    /// In the currency's smallest unit (cents).
    pub amount_due: i64,
    pub amount_paid: i64,
    /// Lower-case ISO 4217, e.g. `usd`.
    pub currency: String,
    /// Unix seconds.
    pub created: i64,
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_end_is_read_from_either_api_version() {
        let old: Subscription = serde_json::from_str(
            r#"{"id":"sub_1","object":"subscription","status":"active","current_period_end":100,
                "items":{"object":"list","data":[{"price":{"id":"price_m"}}]}}"#,
        )
        .unwrap();
        assert_eq!(
            (old.period_end(), old.price()),
            (Some(100), Some("price_m"))
        );
        let new: Subscription = serde_json::from_str(
            r#"{"id":"sub_1","object":"subscription","status":"active",
                "items":{"object":"list","data":[{"price":{"id":"price_y"},"current_period_end":200}]}}"#,
        )
        .unwrap();
        assert_eq!(
            (new.period_end(), new.price()),
            (Some(200), Some("price_y"))
        );
    }

    #[test]
    fn a_draft_invoice_has_no_number_and_no_links() {
        let invoice: Invoice = serde_json::from_str(
            r#"{"id":"in_1","object":"invoice","number":null,"status":"draft","amount_due":1999,
                "amount_paid":0,"currency":"usd","created":1704067200,"hosted_invoice_url":null,
                "invoice_pdf":null,"customer":"cus_1"}"#,
        )
        .unwrap();
        assert_eq!(invoice.number, None);
        assert_eq!(invoice.amount_due, 1999);
    }
}
