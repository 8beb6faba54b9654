//! A fake Stripe API on 127.0.0.1 that speaks its wire format: form bodies with
//! bracketed keys in (`line_items[0][price]`, `metadata[user_id]`), JSON objects
//! (`customer`, `checkout.session`, `subscription`, `list` of `invoice`,
//! `billing_portal.session`) and Stripe error objects out, the secret key as a bearer
//! token, and idempotent requests as Stripe documents them:
//! - the same `Idempotency-Key` with the same parameters gets the first answer again,
//!   with `Idempotent-Replayed: true`;
//! - the same key with other parameters is a 400 `idempotency_error`;
//! - the same key while its first request is still running is a 409
//!   `idempotency_key_in_use`.
//!
//! Tests steer it in-process: [`FakeStripe::fail_next`] (and the shorthands for a
//! declined card, a refused request, a server error and a slow answer) make the next
//! call fail; a fault happens before the call runs, so no answer is saved for its key.
//! [`FakeStripe::complete_checkout`] pays a checkout session as a customer would,
//! creating its subscription and a paid invoice. The end-to-end stack runs the fake as
//! a process (the `fake-stripe` binary) and pays a session with
//! `POST /_fake/checkout/sessions/{id}/complete`.

mod account;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use http::HeaderMap;
use serde_json::{Map, Value, json};
use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::receiver::{FakeServer, read_request, serve_on};
use account::Account;

/// The secret key the fake expects as `Authorization: Bearer …`.
pub const FAKE_STRIPE_KEY: &str = "sk_test_fake_0123456789";

/// One API request as the fake understood it.
#[derive(Debug, Clone)]
pub struct StripeRequest {
    pub method: String,
    /// Without the query string.
    pub path: String,
    /// The form body (POST) or the query (GET, DELETE), nested as Stripe reads it.
    pub params: Value,
    pub headers: HeaderMap,
}

impl StripeRequest {
    pub fn idempotency_key(&self) -> Option<&str> {
        self.headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
    }
}

/// An answer: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    body: Value,
    replayed: bool,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Self {
            status: 200,
            body,
            replayed: false,
        }
    }

    /// Stripe's error object.
    fn error(
        status: u16,
        kind: &str,
        code: Option<&str>,
        message: &str,
        param: Option<&str>,
    ) -> Self {
        let mut error = json!({"type": kind, "message": message});
        if let Some(code) = code {
            error["code"] = json!(code);
        }
        if let Some(param) = param {
            error["param"] = json!(param);
        }
        Self {
            status,
            body: json!({ "error": error }),
            replayed: false,
        }
    }
}

/// What the next call does instead of its work.
#[derive(Debug, Clone)]
enum Fault {
    Fail(Answer),
    /// Answers normally, this much later.
    Delay(Duration),
}

/// Where a key's first request is.
#[derive(Debug, Clone)]
enum Idempotent {
    /// Whatever its parameters, a repeat now is `idempotency_key_in_use`.
    Running,
    Done {
        request: String,
        answer: Answer,
    },
}

#[derive(Debug, Default)]
struct State {
    account: Account,
    keys: HashMap<String, Idempotent>,
    faults: VecDeque<Fault>,
    received: Vec<StripeRequest>,
}

/// A running fake; stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct FakeStripe {
    /// `http://127.0.0.1:<port>`: `STRIPE_API_BASE`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeServer for FakeStripe {
    fn serve(&self, stream: TcpStream) -> impl std::future::Future<Output = ()> + Send {
        self.handle(stream)
    }
}

impl FakeStripe {
    /// On a free port.
    pub async fn start() -> Self {
        Self::bind("127.0.0.1:0").await.expect("a free local port")
    }

    /// On `address` (the `fake-stripe` binary's fixed port).
    pub async fn bind(address: &str) -> std::io::Result<Self> {
        serve_on(address, |url| Self {
            url,
            state: Arc::default(),
        })
        .await
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake lock")
    }

    /// Every API request so far, in arrival order.
    pub fn requests(&self) -> Vec<StripeRequest> {
        self.state().received.clone()
    }

    /// The requests of `method` to `path`.
    pub fn calls(&self, method: &str, path: &str) -> Vec<StripeRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Every customer created.
    pub fn customers(&self) -> Vec<Value> {
        self.state().account.customers()
    }

    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.state().account.subscription(id)
    }

    /// Pays checkout session `id` as its customer would: creates the subscription
    /// (active for 30 days, the session's price and `subscription_data[metadata]`) and a
    /// paid invoice, and returns the completed session (a `checkout.session.completed`
    /// event's object). `None` for an unknown session.
    pub fn complete_checkout(&self, id: &str) -> Option<Value> {
        self.state().account.complete_checkout(id)
    }

    /// Adds an invoice of `amount` cents in `status` (`draft` has no number or links).
    pub fn add_invoice(&self, customer: &str, status: &str, amount: i64) -> Value {
        self.state().account.add_invoice(customer, status, amount)
    }

    /// The next call fails with `status` and this error object.
    pub fn fail_next(&self, status: u16, kind: &str, code: Option<&str>, message: &str) {
        let answer = Answer::error(status, kind, code, message, None);
        self.state().faults.push_back(Fault::Fail(answer));
    }

    /// The next call is a 402 `card_error` (`card_declined`).
    pub fn decline_next(&self) {
        self.fail_next(
            402,
            "card_error",
            Some("card_declined"),
            "Your card was declined.",
        );
    }

    /// The next call is a 400 `invalid_request_error` with `message`.
    pub fn refuse_next(&self, message: &str) {
        self.fail_next(400, "invalid_request_error", None, message);
    }

    /// The next call is a 500 `api_error`.
    pub fn break_next(&self) {
        self.fail_next(
            500,
            "api_error",
            None,
            "Something went wrong on Stripe's end.",
        );
    }

    /// The next call answers after `delay`.
    pub fn delay_next(&self, delay: Duration) {
        self.state().faults.push_back(Fault::Delay(delay));
    }

    async fn handle(&self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let (path, query) = request
            .path
            .split_once('?')
            .unwrap_or((request.path.as_str(), ""));
        let form = if request.method == "POST" {
            request.body.as_str()
        } else {
            query
        };
        let call = StripeRequest {
            method: request.method.clone(),
            path: path.to_owned(),
            params: parse_form(form),
            headers: request.headers.clone(),
        };
        let answer = match call.path.strip_prefix("/_fake/checkout/sessions/") {
            Some(rest) => self.control(rest),
            None => {
                self.state().received.push(call.clone());
                self.answer(&call, form).await
            }
        };
        let _ = respond(&mut stream, &answer).await;
        let _ = stream.shutdown().await;
    }

    /// `POST /_fake/checkout/sessions/{id}/complete`, for the end-to-end tests.
    fn control(&self, rest: &str) -> Answer {
        let paid = rest
            .strip_suffix("/complete")
            .and_then(|id| self.complete_checkout(id));
        paid.map_or_else(
            || {
                Answer::error(
                    404,
                    "invalid_request_error",
                    Some("resource_missing"),
                    "No such checkout session",
                    None,
                )
            },
            Answer::ok,
        )
    }

    async fn answer(&self, call: &StripeRequest, form: &str) -> Answer {
        if let Some(refused) = authentication(&call.headers) {
            return refused;
        }
        let key = call
            .idempotency_key()
            .filter(|_| call.method == "POST")
            .map(str::to_owned);
        // What a repeat must match: the endpoint and the same parameters.
        let fingerprint = format!("{} {} {}", call.method, call.path, sorted(form));
        if let Some(key) = &key
            && let Some(early) = self.claim(key, &fingerprint)
        {
            return early;
        }
        let fault = self.state().faults.pop_front();
        match fault {
            Some(Fault::Fail(answer)) => {
                if let Some(key) = &key {
                    self.state().keys.remove(key);
                }
                return answer;
            }
            Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
            None => {}
        }
        let mut state = self.state();
        let answer = state
            .account
            .execute(&call.method, &call.path, &call.params);
        if let Some(key) = key {
            let done = Idempotent::Done {
                request: fingerprint,
                answer: answer.clone(),
            };
            state.keys.insert(key, done);
        }
        answer
    }

    /// Registers `key` as running, or answers for it: a replay, a key in use, or a key
    /// used with other parameters.
    fn claim(&self, key: &str, fingerprint: &str) -> Option<Answer> {
        let mut state = self.state();
        match state.keys.get(key) {
            None => {
                state.keys.insert(key.to_owned(), Idempotent::Running);
                None
            }
            Some(Idempotent::Running) => Some(Answer::error(
                409,
                "invalid_request_error",
                Some("idempotency_key_in_use"),
                "There is currently another in-progress request using this Idempotency-Key (that probably means you submitted twice, and the other request is still going through). Please try again later.",
                None,
            )),
            Some(Idempotent::Done { request, answer }) if request == fingerprint => Some(Answer {
                replayed: true,
                ..answer.clone()
            }),
            Some(Idempotent::Done { .. }) => Some(Answer::error(
                400,
                "idempotency_error",
                None,
                &format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                ),
                None,
            )),
        }
    }
}

/// Stripe's 401s: no key, or not the fake's key (shown masked, as Stripe does).
fn authentication(headers: &HeaderMap) -> Option<Answer> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let message = match bearer {
        Some(FAKE_STRIPE_KEY) => return None,
        Some(other) => {
            let tail: String = other.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            format!("Invalid API Key provided: sk_test_****{tail}")
        }
        None => "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth.".into(),
    };
    Some(Answer::error(
        401,
        "invalid_request_error",
        None,
        &message,
        None,
    ))
}

/// The pairs of a form, sorted, so parameter order does not change a request.
fn sorted(form: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    format!("{pairs:?}")
}

/// A form with bracketed keys as nested JSON: `a[b]=1&c[0][d]=2` is
/// `{"a": {"b": "1"}, "c": [{"d": "2"}]}`. Values stay strings, as Stripe receives them.
pub fn parse_form(form: &str) -> Value {
    let mut root = Map::new();
    for (key, value) in form_urlencoded::parse(form.as_bytes()) {
        let mut segments = key.split('[').map(|s| s.trim_end_matches(']'));
        let Some(first) = segments.next() else {
            continue;
        };
        let mut node = root.entry(first.to_owned()).or_insert(Value::Null);
        for segment in segments {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            let Value::Object(map) = node else {
                break;
            };
            node = map.entry(segment.to_owned()).or_insert(Value::Null);
        }
        *node = Value::String(value.into_owned());
    }
    let mut value = Value::Object(root);
    arrays(&mut value);
    value
}

/// Objects whose keys are all indexes (`0`, `1`, …) become arrays, recursively.
fn arrays(value: &mut Value) {
    let Value::Object(map) = value else {
        return;
    };
    for child in map.values_mut() {
        arrays(child);
    }
    let indexed = !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok());
    if indexed {
        let mut items: Vec<(usize, Value)> = std::mem::take(map)
            .into_iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
            .collect();
        items.sort_by_key(|(index, _)| *index);
        *value = Value::Array(items.into_iter().map(|(_, v)| v).collect());
    }
}

async fn respond(stream: &mut TcpStream, answer: &Answer) -> std::io::Result<()> {
    let body = answer.body.to_string();
    let mut head = format!(
        "HTTP/1.1 {} Fake\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nrequest-id: req_fake\r\n",
        answer.status,
        body.len()
    );
    if answer.replayed {
        head.push_str("idempotent-replayed: true\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_keys_nest_and_indexes_make_arrays() {
        let form = "mode=subscription&line_items%5B0%5D%5Bprice%5D=price_1&line_items[0][quantity]=1\
                    &metadata[user_id]=u1&subscription_data[metadata][user_id]=u1";
        assert_eq!(
            parse_form(form),
            json!({
                "mode": "subscription",
                "line_items": [{"price": "price_1", "quantity": "1"}],
                "metadata": {"user_id": "u1"},
                "subscription_data": {"metadata": {"user_id": "u1"}},
            })
        );
    }

    #[test]
    fn parameter_order_does_not_change_a_request() {
        assert_eq!(sorted("a=1&b=2"), sorted("b=2&a=1"));
        assert_ne!(sorted("a=1&b=2"), sorted("a=1&b=3"));
    }
}
