//! The fake's one Stripe account: customers, checkout sessions, subscriptions and
//! invoices, and the endpoints that read and change them. Ids count up per account
//! (`cus_fake1`, `sub_fake2`, …); times are the real clock, so a subscription's period
//! ends in the future.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Answer;

const MONTH_SECONDS: i64 = 30 * 24 * 3600;

#[derive(Debug, Default)]
pub(super) struct Account {
    next_id: u64,
    customers: BTreeMap<String, Value>,
    sessions: BTreeMap<String, Value>,
    subscriptions: BTreeMap<String, Value>,
    invoices: Vec<Value>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn missing(kind: &str, id: &str, param: Option<&str>) -> Answer {
    let message = format!("No such {kind}: '{id}'");
    // Stripe answers 404 for an object in the path, 400 for one named in a parameter.
    let status = if param.is_some() { 400 } else { 404 };
    Answer::error(
        status,
        "invalid_request_error",
        Some("resource_missing"),
        &message,
        param,
    )
}

fn required(param: &str) -> Answer {
    let message = format!("Missing required param: {param}.");
    Answer::error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        &message,
        Some(param),
    )
}

fn text<'a>(params: &'a Value, pointer: &str) -> Option<&'a str> {
    params.pointer(pointer).and_then(Value::as_str)
}

impl Account {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_fake{}", self.next_id)
    }

    pub(super) fn customers(&self) -> Vec<Value> {
        self.customers.values().cloned().collect()
    }

    pub(super) fn subscription(&self, id: &str) -> Option<Value> {
        self.subscriptions.get(id).cloned()
    }

    /// One API call; the caller is authenticated and past the idempotency check.
    pub(super) fn execute(&mut self, method: &str, path: &str, params: &Value) -> Answer {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            ("POST", ["v1", "customers"]) => self.create_customer(params),
            ("GET", ["v1", "customers"]) => self.list_customers(params),
            ("POST", ["v1", "checkout", "sessions"]) => self.create_session(params),
            ("GET", ["v1", "checkout", "sessions", id]) => self
                .sessions
                .get(*id)
                .cloned()
                .map_or_else(|| missing("checkout.session", id, None), Answer::ok),
            ("GET", ["v1", "subscriptions", id]) => self
                .subscription(id)
                .map_or_else(|| missing("subscription", id, None), Answer::ok),
            ("POST", ["v1", "subscriptions", id]) => self.update_subscription(id, params),
            ("DELETE", ["v1", "subscriptions", id]) => self.cancel_subscription(id),
            ("GET", ["v1", "invoices"]) => self.list_invoices(params),
            ("POST", ["v1", "billing_portal", "sessions"]) => self.create_portal_session(params),
            _ => Answer::error(
                404,
                "invalid_request_error",
                None,
                &format!("Unrecognized request URL ({method}: {path})."),
                None,
            ),
        }
    }

    fn create_customer(&mut self, params: &Value) -> Answer {
        let id = self.id("cus");
        let customer = json!({
            "id": id, "object": "customer", "created": now(),
            "email": text(params, "/email"), "name": text(params, "/name"),
            "metadata": params.get("metadata").cloned().unwrap_or_else(|| json!({})),
        });
        self.customers.insert(id, customer.clone());
        Answer::ok(customer)
    }

    /// `?email=` filters, as Stripe's list does.
    fn list_customers(&self, params: &Value) -> Answer {
        let email = text(params, "/email");
        let data: Vec<Value> = self
            .customers
            .values()
            .filter(|c| email.is_none_or(|e| c["email"] == e))
            .cloned()
            .collect();
        Answer::ok(
            json!({"object": "list", "url": "/v1/customers", "has_more": false, "data": data}),
        )
    }

    fn create_session(&mut self, params: &Value) -> Answer {
        let Some(mode) = text(params, "/mode") else {
            return required("mode");
        };
        if !matches!(mode, "payment" | "setup" | "subscription") {
            let message = format!(
                "Invalid mode: must be one of payment, setup, or subscription (got {mode})"
            );
            return Answer::error(400, "invalid_request_error", None, &message, Some("mode"));
        }
        if let Some(customer) = text(params, "/customer")
            && !self.customers.contains_key(customer)
        {
            return missing("customer", customer, Some("customer"));
        }
        let Some(price) = text(params, "/line_items/0/price") else {
            return required("line_items[0][price]");
        };
        if !price.starts_with("price_") {
            return missing("price", price, Some("line_items[0][price]"));
        }
        if text(params, "/success_url").is_none() {
            return required("success_url");
        }
        let id = self.id("cs_test");
        let session = json!({
            "id": id, "object": "checkout.session", "created": now(), "mode": mode,
            "status": "open", "payment_status": "unpaid",
            "customer": text(params, "/customer"),
            "client_reference_id": text(params, "/client_reference_id"),
            "metadata": params.get("metadata").cloned().unwrap_or_else(|| json!({})),
            "success_url": text(params, "/success_url"), "cancel_url": text(params, "/cancel_url"),
            "subscription": null,
            "url": format!("https://checkout.stripe.com/c/pay/{id}"),
            // Kept to make the subscription when paid; Stripe keeps them as line items.
            "line_items": params.get("line_items").cloned(),
            "subscription_data": params.get("subscription_data").cloned(),
        });
        self.sessions.insert(id, session.clone());
        Answer::ok(session)
    }

    pub(super) fn complete_checkout(&mut self, id: &str) -> Option<Value> {
        let session = self.sessions.get(id)?.clone();
        let customer = session["customer"].as_str().unwrap_or_default().to_owned();
        let price = text(&session, "/line_items/0/price")
            .unwrap_or_default()
            .to_owned();
        let metadata = session
            .pointer("/subscription_data/metadata")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let subscription = self.subscribe(&customer, &price, metadata);
        self.add_invoice(&customer, "paid", 1999);
        let session = self.sessions.get_mut(id)?;
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        session["url"] = Value::Null;
        session["subscription"] = subscription["id"].clone();
        Some(session.clone())
    }

    fn subscribe(&mut self, customer: &str, price: &str, metadata: Value) -> Value {
        let id = self.id("sub");
        let (start, end) = (now(), now() + MONTH_SECONDS);
        let subscription = json!({
            "id": id, "object": "subscription", "customer": customer, "status": "active",
            "created": start, "cancel_at_period_end": false, "canceled_at": null, "ended_at": null,
            "current_period_start": start, "current_period_end": end,
            "items": {"object": "list", "data": [{
                "object": "subscription_item", "price": {"id": price, "object": "price"},
                "quantity": 1, "current_period_start": start, "current_period_end": end,
            }]},
            "metadata": metadata,
        });
        self.subscriptions.insert(id, subscription.clone());
        subscription
    }

    fn update_subscription(&mut self, id: &str, params: &Value) -> Answer {
        let Some(subscription) = self.subscriptions.get_mut(id) else {
            return missing("subscription", id, None);
        };
        if subscription["status"] == "canceled" {
            return Answer::error(
                400,
                "invalid_request_error",
                None,
                "A canceled subscription can only update its cancellation_details and metadata.",
                None,
            );
        }
        match text(params, "/cancel_at_period_end") {
            Some("true") => subscription["cancel_at_period_end"] = json!(true),
            Some("false") => subscription["cancel_at_period_end"] = json!(false),
            Some(other) => {
                let message = format!("Invalid boolean: {other}");
                return Answer::error(
                    400,
                    "invalid_request_error",
                    None,
                    &message,
                    Some("cancel_at_period_end"),
                );
            }
            None => {}
        }
        Answer::ok(subscription.clone())
    }

    fn cancel_subscription(&mut self, id: &str) -> Answer {
        let Some(subscription) = self.subscriptions.get_mut(id) else {
            return missing("subscription", id, None);
        };
        subscription["status"] = json!("canceled");
        subscription["cancel_at_period_end"] = json!(false);
        subscription["canceled_at"] = json!(now());
        subscription["ended_at"] = json!(now());
        Answer::ok(subscription.clone())
    }

    pub(super) fn add_invoice(&mut self, customer: &str, status: &str, amount: i64) -> Value {
        let id = self.id("in");
        let finalized = status != "draft";
        let number = finalized.then(|| format!("FAKE-{:04}", self.invoices.len() + 1));
        let invoice = json!({
            "id": id, "object": "invoice", "customer": customer, "status": status,
            "number": number, "amount_due": amount,
            "amount_paid": if status == "paid" { amount } else { 0 },
            "currency": "usd", "created": now(),
            "hosted_invoice_url": finalized.then(|| format!("https://invoice.stripe.com/i/{id}")),
            "invoice_pdf": finalized.then(|| format!("https://pay.stripe.com/invoice/{id}/pdf")),
        });
        self.invoices.push(invoice.clone());
        invoice
    }

    /// Newest first; `limit` 1–100 (default 10), as Stripe's list.
    fn list_invoices(&self, params: &Value) -> Answer {
        let limit = match text(params, "/limit").map(str::parse::<usize>) {
            None => 10,
            Some(Ok(limit)) if (1..=100).contains(&limit) => limit,
            Some(_) => {
                let message =
                    "This value must be greater than or equal to 1 and less than or equal to 100.";
                return Answer::error(400, "invalid_request_error", None, message, Some("limit"));
            }
        };
        let customer = text(params, "/customer");
        let mine: Vec<&Value> = self
            .invoices
            .iter()
            .rev()
            .filter(|i| customer.is_none_or(|c| i["customer"] == c))
            .collect();
        let data: Vec<Value> = mine.iter().take(limit).map(|i| (*i).clone()).collect();
        Answer::ok(json!({
            "object": "list", "url": "/v1/invoices", "has_more": mine.len() > limit, "data": data,
        }))
    }

    fn create_portal_session(&mut self, params: &Value) -> Answer {
        let Some(customer) = text(params, "/customer") else {
            return required("customer");
        };
        if !self.customers.contains_key(customer) {
            return missing("customer", customer, Some("customer"));
        }
        let id = self.id("bps");
        Answer::ok(json!({
            "id": id, "object": "billing_portal.session", "created": now(),
            "customer": customer, "return_url": text(params, "/return_url"),
            "url": format!("https://billing.stripe.com/p/session/{id}"),
        }))
    }
}
