//! Properties of the edge's parsers on arbitrary input, driven through a real router:
//! any body, content type or query string is answered in the envelope with a 4xx (never a
//! panic, which the edge would turn into a 500, and never a 5xx); valid JSON comes back
//! as it was sent; `If-Match` reads back the ETags the crate writes; and the request id
//! and version headers never let a hostile value through.
//!
//! `PROPTEST_CASES` sets the cases per property: proptest's 256 by default (`make unit`),
//! 10,000 in `make properties`.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_config::Env;
use aloft_core::{ApiError, ErrorCode, PageParams};
use aloft_http::{HttpConfig, Json, Query, Reply, edge, etag};
use axum::{
    Router,
    body::Body,
    routing::{get, post},
};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const MAX_BODY_BYTES: usize = 512;

/// A body shaped like the project's requests: required and optional fields, numbers with
/// a range, an enum, a list.
#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "fields exist to be deserialized")]
struct Create {
    name: String,
    size: u32,
    public: Option<bool>,
    kind: Option<Kind>,
    #[serde(default)]
    tags: Vec<String>,
}

/// A list filter shaped like the admin's: optional typed filters beside `skip`/`limit`.
#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "fields exist to be deserialized")]
struct Filter {
    is_active: Option<bool>,
    kind: Option<Kind>,
    search: Option<String>,
    #[serde(default)]
    skip: u32,
    #[serde(default = "PageParams::default_limit")]
    limit: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Small,
    Large,
}

struct Fixture {
    rt: Runtime,
    app: Router,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Fixture {
    fn new() -> Self {
        let routes = Router::new()
            .route(
                "/api/v1/echo",
                post(|Json(body): Json<Value>| async move { Reply::created(body) }),
            )
            .route(
                "/api/v1/create",
                post(|Json(_): Json<Create>| async { Reply::created(json!({})) }),
            )
            .route(
                "/api/v1/items",
                get(|Query(page): Query<PageParams>| async move {
                    page.validate()?;
                    Ok::<_, ApiError>(Reply::ok(json!({"skip": page.skip, "limit": page.limit})))
                }),
            )
            .route(
                "/api/v1/filtered",
                get(|Query(_): Query<Filter>| async { Reply::ok(json!({})) }),
            );
        let limit = MAX_BODY_BYTES.to_string();
        let config = HttpConfig::from_env(&Env::from_pairs([("MAX_BODY_BYTES", limit.as_str())]));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        Self {
            rt,
            app: edge(routes, &config.unwrap()),
        }
    }

    fn send(&self, request: Request<Body>) -> Answer {
        self.rt.block_on(async {
            let response = self.app.clone().oneshot(request).await.unwrap();
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            Answer {
                status: parts.status,
                headers: parts.headers,
                body: serde_json::from_slice(&bytes)
                    .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes))),
            }
        })
    }

    fn post(&self, path: &str, content_type: Option<HeaderValue>, body: Vec<u8>) -> Answer {
        let mut request = Request::post(path).body(Body::from(body)).unwrap();
        if let Some(content_type) = content_type {
            request
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
        }
        self.send(request)
    }
}

/// The envelope of `code`, with its status.
fn assert_error(answer: &Answer, code: ErrorCode) -> Result<(), TestCaseError> {
    prop_assert_eq!(answer.status, code.status(), "{}", answer.body);
    prop_assert_eq!(&answer.body["error"]["code"], code.as_str());
    prop_assert!(answer.body["error"]["message"].is_string());
    prop_assert!(answer.body["error"]["details"].is_object());
    Ok(())
}

fn json_type() -> Option<HeaderValue> {
    Some(HeaderValue::from_static("application/json"))
}

/// Any bytes, JSON-looking text (most of it broken), and bodies over the limit.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"".to_owned()),
        Just("\\u".to_owned()),
        "\"(name|size|public|kind|tags)\"",
        "-?[0-9]{1,12}(\\.[0-9]{1,3})?(e-?[0-9]{1,3})?",
        "true|false|null|small|large",
        "[ -~]{0,6}",
        "\\PC{0,4}",
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(token, 0..40).prop_map(|t| t.concat().into_bytes()),
        prop::collection::vec(any::<u8>(), MAX_BODY_BYTES + 1..MAX_BODY_BYTES * 3),
    ]
}

/// Any JSON value (numbers are integers: floats need not come back to the same bits).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map("name|size|public|kind|tags|\\PC{0,8}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// UTF-8 text the JSON grammar accepts (numbers of any size, escapes of any code unit).
fn is_json_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes)
        .is_ok_and(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok())
}

/// Equal JSON, floats within a few units in the last place: serde_json (without its
/// `float_roundtrip` feature) may read a decimal as a neighbouring float.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= x.abs().max(y.abs()) * 4.0 * f64::EPSILON
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn any_json_body_is_created_or_a_4xx_envelope() {
    let f = Fixture::new();
    proptest!(|(body in body_bytes())| {
        let parsed = serde_json::from_slice::<Value>(&body);
        let answer = f.post("/api/v1/echo", json_type(), body.clone());

        if body.len() > MAX_BODY_BYTES {
            assert_error(&answer, ErrorCode::PayloadTooLarge)?;
        } else if let Ok(value) = parsed {
            prop_assert_eq!(answer.status, StatusCode::CREATED);
            prop_assert!(same_json(&answer.body, &value), "{} != {}", answer.body, value);
        } else {
            // `1e999` is JSON a `Value` cannot hold: malformed all the same.
            assert_error(&answer, ErrorCode::BadRequest)?;
        }
    });
}

#[test]
fn valid_json_comes_back_as_it_was_sent() {
    let f = Fixture::new();
    proptest!(|(value in any_json())| {
        let body = value.to_string().into_bytes();
        prop_assume!(body.len() <= MAX_BODY_BYTES);

        let answer = f.post("/api/v1/echo", json_type(), body);

        prop_assert_eq!(answer.status, StatusCode::CREATED);
        prop_assert_eq!(answer.body, value);
    });
}

#[test]
fn typed_body_is_broken_syntax_400_or_broken_field_422_naming_it() {
    let f = Fixture::new();
    let bodies = prop_oneof![
        body_bytes(),
        any_json().prop_map(|v| v.to_string().into_bytes()),
    ];
    proptest!(|(body in bodies)| {
        let syntax_ok = serde_json::from_slice::<Value>(&body).is_ok();
        let answer = f.post("/api/v1/create", json_type(), body.clone());

        match answer.status {
            // Fields the type ignores are skipped, not read: JSON to the grammar is enough.
            StatusCode::CREATED => prop_assert!(is_json_text(&body), "{:?}", body),
            StatusCode::PAYLOAD_TOO_LARGE => prop_assert!(body.len() > MAX_BODY_BYTES),
            StatusCode::UNPROCESSABLE_ENTITY => {
                prop_assert!(syntax_ok, "422 for broken syntax: {}", answer.body);
                assert_error(&answer, ErrorCode::ValidationError)?;
                prop_assert!(answer.body["error"]["details"]["field"].is_string());
            }
            _ => {
                prop_assert!(!syntax_ok, "valid JSON answered {}: {}", answer.status, answer.body);
                assert_error(&answer, ErrorCode::BadRequest)?;
            }
        }
    });
}

#[test]
fn any_content_type_but_json_is_400() {
    let f = Fixture::new();
    let byte = prop_oneof![Just(b'\t'), 0x20_u8..=0x7e, 0x80_u8..=0xff];
    let content_types = prop_oneof![
        prop::collection::vec(byte, 0..60).prop_map(|b| Some(HeaderValue::from_bytes(&b).unwrap())),
        "(?i)(application|text)/([a-z+-]{0,12})(json)?( ?; ?charset=[a-z0-9-]{0,8})?"
            .prop_map(|t| Some(HeaderValue::from_str(&t).unwrap())),
        Just(None),
    ];
    proptest!(|(content_type in content_types)| {
        let is_json = content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .is_some_and(|e| {
                e == "application/json" || (e.starts_with("application/") && e.ends_with("+json"))
            });

        let answer = f.post("/api/v1/echo", content_type, b"{\"a\":1}".to_vec());

        if is_json {
            prop_assert_eq!(answer.status, StatusCode::CREATED);
        } else {
            assert_error(&answer, ErrorCode::BadRequest)?;
        }
    });
}

/// A query string of `skip`, `limit` and other pairs, each value a number or anything,
/// properly encoded; the pairs come back for the oracle.
fn page_query() -> impl Strategy<Value = (String, Vec<(String, String)>)> {
    let key = prop_oneof![
        Just("skip".to_owned()),
        Just("limit".to_owned()),
        "\\PC{0,6}"
    ];
    let value = prop_oneof![
        (0_u64..200).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "\\PC{0,8}",
        "\\+?[0-9]{1,3}",
    ];
    prop::collection::vec((key, value), 0..5).prop_map(|pairs| {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        (query, pairs)
    })
}

#[test]
fn page_query_is_200_or_422_naming_the_parameter() {
    let f = Fixture::new();
    proptest!(|((query, pairs) in page_query())| {
        let values = |name: &str| {
            let values = pairs.iter().filter(|(k, _)| k == name);
            values.map(|(_, v)| v.as_str()).collect::<Vec<_>>()
        };
        // The oracle: each at most once and a u32; `limit` also 1–100.
        let read = |name: &str, default: u32| match values(name).as_slice() {
            [] => Some(default),
            [one] => one.parse::<u32>().ok(),
            _ => None,
        };
        let expected = match (read("skip", 0), read("limit", 20)) {
            (Some(skip), Some(limit)) if (1..=100).contains(&limit) => Some((skip, limit)),
            _ => None,
        };

        let request = Request::get(format!("/api/v1/items?{query}"));

        let answer = f.send(request.body(Body::empty()).unwrap());

        match expected {
            Some((skip, limit)) => {
                prop_assert_eq!(answer.status, StatusCode::OK, "{}: {}", query, answer.body);
                prop_assert_eq!(answer.body, json!({"skip": skip, "limit": limit}));
            }
            None => {
                assert_error(&answer, ErrorCode::ValidationError)?;
                prop_assert!(answer.body["error"]["details"]["field"].is_string());
            }
        }
    });
}

/// Raw query strings: any characters a URI may carry there, percent escapes of any byte
/// (so decoded values need not be UTF-8), `+`, `&` and `=` in any order.
fn raw_query() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("&".to_owned()),
        Just("=".to_owned()),
        Just("+".to_owned()),
        "skip|limit|is_active|kind|search",
        "true|false|small|large|[0-9]{1,11}|-[0-9]{1,3}",
        any::<u8>().prop_map(|b| format!("%{b:02X}")),
        "%[0-9A-Za-z]{0,2}",
        "[A-Za-z0-9._~!$'()*,;:@/?-]{0,6}",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|p| p.concat())
}

#[test]
fn any_query_string_is_200_or_a_422_envelope() {
    let f = Fixture::new();
    let paths = prop_oneof![Just("/api/v1/items"), Just("/api/v1/filtered")];
    proptest!(|(query in raw_query(), path in paths)| {
        let request = Request::get(format!("{path}?{query}")).body(Body::empty()).unwrap();

        let answer = f.send(request);

        if answer.status != StatusCode::OK {
            assert_error(&answer, ErrorCode::ValidationError)?;
        }
    });
}

#[test]
fn any_if_match_is_no_condition_a_version_or_412() {
    let byte = prop_oneof![Just(b'\t'), 0x20_u8..=0x7e, 0x80_u8..=0xff];
    let values = prop_oneof![
        prop::collection::vec(byte, 0..40).prop_map(|b| HeaderValue::from_bytes(&b).unwrap()),
        "(W/)?\"?[0-9]{0,22}\"?( *, *\"[0-9]{1,3}\")?"
            .prop_map(|t| HeaderValue::from_str(&t).unwrap()),
    ];
    proptest!(|(value in values)| {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, value);

        match etag::if_match(&headers, "project") {
            Ok(_) => {}
            Err(error) => prop_assert_eq!(error.code(), ErrorCode::PreconditionFailed),
        }
    });
}

#[test]
fn etag_the_crate_writes_is_read_back_by_if_match() {
    proptest!(|(version in any::<u64>(), weak in any::<bool>())| {
        let response = etag::with_etag(StatusCode::OK, version, json!({}));
        let etag = response.headers()[header::ETAG].to_str().unwrap();
        let mut headers = HeaderMap::new();
        let sent = if weak { format!("W/{etag}") } else { etag.to_owned() };
        headers.insert(header::IF_MATCH, HeaderValue::from_str(&sent).unwrap());

        prop_assert_eq!(etag::if_match(&headers, "project").unwrap(), Some(version));
    });
}

#[test]
fn request_id_is_echoed_only_when_harmless_and_version_is_always_one_we_serve() {
    let f = Fixture::new();
    let byte = prop_oneof![Just(b'\t'), 0x20_u8..=0x7e, 0x80_u8..=0xff];
    let header = || {
        prop_oneof![
            prop::collection::vec(byte.clone(), 0..140)
                .prop_map(|b| HeaderValue::from_bytes(&b).unwrap()),
            "[A-Za-z0-9._:-]{0,130}|(?i) ?v?[0-9] ?"
                .prop_map(|t| HeaderValue::from_str(&t).unwrap()),
        ]
    };
    let (id, version) = (prop::option::of(header()), prop::option::of(header()));
    proptest!(|(id in id, version in version, v2 in any::<bool>())| {
        let path = if v2 { "/api/v2/items" } else { "/api/v1/items" };
        let mut request = Request::get(path).body(Body::empty()).unwrap();
        if let Some(id) = &id {
            request.headers_mut().insert("x-request-id", id.clone());
        }
        if let Some(version) = version {
            request.headers_mut().insert("accept-version", version);
        }

        let answer = f.send(request);

        let echoed = &answer.headers["x-request-id"];
        let harmless = id.as_ref().is_some_and(|id| {
            (1..=128).contains(&id.len())
                && id.as_bytes().iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
        });
        if harmless {
            prop_assert_eq!(Some(echoed), id.as_ref());
        } else {
            prop_assert!(uuid::Uuid::parse_str(echoed.to_str().unwrap()).is_ok(), "{echoed:?}");
        }
        // The path names the version; a header cannot override it.
        prop_assert_eq!(&answer.headers["x-api-version"], if v2 { "v2" } else { "v1" });
    });
}
