//! The HTTP API's payload format 2.0: the event API Gateway builds from a request, and
//! the response it builds from the function's answer.

use base64::{Engine, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use super::routes::Matched;
use crate::wire::{now_millis, percent_decode};

/// What API Gateway knows about a request besides its route.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a Method,
    /// As sent: percent-encoded.
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The TCP peer: API Gateway's `sourceIp`, never a header the client wrote.
    pub source_ip: &'a str,
    pub request_id: &'a str,
}

/// The event for `request` on `route`. Header names are lower case and repeated headers
/// joined with commas; cookies move to `cookies`; a body that is not UTF-8 is sent
/// base64-encoded with `isBase64Encoded`, as API Gateway sends binary payloads.
pub fn http_event(request: &Request<'_>, route: &Matched<'_>) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in request.headers.keys() {
        let values = request
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if name == header::COOKIE {
            cookies.extend(values.flat_map(|v| {
                v.split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty())
                    .collect::<Vec<_>>()
            }));
        } else {
            headers.insert(
                name.as_str().to_owned(),
                json!(values.collect::<Vec<_>>().join(",")),
            );
        }
    }
    // API Gateway appends the peer it saw to whatever chain the client sent.
    let forwarded = match headers.get("x-forwarded-for").and_then(Value::as_str) {
        Some(chain) => format!("{chain}, {}", request.source_ip),
        None => request.source_ip.to_owned(),
    };
    headers.insert("x-forwarded-for".into(), json!(forwarded));
    headers.insert("x-forwarded-proto".into(), json!("http"));

    let mut query = Map::new();
    for pair in request.query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (form_decode(name), form_decode(value));
        match query.get_mut(&name) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                query.insert(name, json!(value));
            }
        }
    }

    let user_agent = request
        .headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let now = now_millis();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": request.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": request.method.as_str(),
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": user_agent,
            },
            "requestId": request.request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "timeEpoch": now,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !route.path_parameters.is_empty() {
        event["pathParameters"] = json!(route.path_parameters);
    }
    if !request.body.is_empty() {
        match std::str::from_utf8(request.body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(STANDARD.encode(request.body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// A query component decoded as a form field (`+` is a space), as API Gateway does.
fn form_decode(raw: &str) -> String {
    percent_decode(&raw.replace('+', " "))
}

/// Why a function's answer is not a payload 2.0 response. API Gateway answers those
/// with 500 `{"message":"Internal Server Error"}`.
#[derive(Debug, thiserror::Error)]
#[error("the function's answer is not an HTTP response: {0}")]
pub struct BadAnswer(String);

/// The response for a function's answer: `statusCode`, `headers` and
/// `multiValueHeaders`, `cookies` (as `Set-Cookie`), and `body` (base64 when
/// `isBase64Encoded`).
pub fn http_response(answer: &Value) -> Result<Response<Bytes>, BadAnswer> {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| BadAnswer(format!("statusCode {}", answer["statusCode"])))?;
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let single = answer["headers"].as_object().into_iter().flatten();
    let multi = answer["multiValueHeaders"]
        .as_object()
        .into_iter()
        .flatten();
    for (name, values) in single.chain(multi) {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| BadAnswer(format!("header name {name:?}")))?;
        headers.remove(&name);
        for value in values
            .as_array()
            .map_or_else(|| vec![values], |all| all.iter().collect())
        {
            headers.append(&name, header_value(value)?);
        }
    }
    for cookie in answer["cookies"].as_array().into_iter().flatten() {
        headers.append(header::SET_COOKIE, header_value(cookie)?);
    }
    let body = answer["body"].as_str().unwrap_or_default();
    *response.body_mut() = if answer["isBase64Encoded"].as_bool() == Some(true) {
        Bytes::from(
            STANDARD
                .decode(body)
                .map_err(|e| BadAnswer(format!("base64 body: {e}")))?,
        )
    } else {
        Bytes::from(body.to_owned())
    };
    Ok(response)
}

fn header_value(value: &Value) -> Result<HeaderValue, BadAnswer> {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    HeaderValue::from_str(&text).map_err(|_| BadAnswer(format!("header value {text:?}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn route() -> Matched<'static> {
        Matched {
            route_key: "POST /api/{version}/public/contact",
            function: "contact",
            path_parameters: BTreeMap::from([("version".to_owned(), "v1".to_owned())]),
        }
    }

    fn event(headers: &HeaderMap, query: &str, body: &[u8]) -> Value {
        http_event(
            &Request {
                method: &Method::POST,
                path: "/api/v1/public/contact",
                query,
                headers,
                body,
                source_ip: "127.0.0.2",
                request_id: "r1",
            },
            &route(),
        )
    }

    #[test]
    fn the_source_ip_is_the_peer_and_a_client_forwarded_for_is_only_prefixed() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static("curl/8"));
        let event = event(&headers, "", b"");
        assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.2");
        assert_eq!(event["requestContext"]["http"]["userAgent"], "curl/8");
        assert_eq!(event["headers"]["x-forwarded-for"], "6.6.6.6, 127.0.0.2");
        assert_eq!(event["pathParameters"]["version"], "v1");
        assert!(event.get("body").is_none());
    }

    #[test]
    fn a_body_that_is_not_utf8_is_base64_encoded() {
        let binary = event(&HeaderMap::new(), "", &[0xff, 0xfe, b'{']);
        assert_eq!(binary["isBase64Encoded"], true);
        assert_eq!(binary["body"], STANDARD.encode([0xff, 0xfe, b'{']));
        let text = event(&HeaderMap::new(), "", "é{}".as_bytes());
        assert_eq!(text["isBase64Encoded"], false);
        assert_eq!(text["body"], "é{}");
    }

    #[test]
    fn cookies_move_out_of_headers_and_repeated_query_values_are_joined() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(header::ACCEPT, HeaderValue::from_static("text/plain"));
        headers.append(header::ACCEPT, HeaderValue::from_static("application/json"));
        let event = event(&headers, "tag=a&tag=b+c&q=%C3%A9", b"");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(event["headers"]["accept"], "text/plain,application/json");
        assert_eq!(
            event["queryStringParameters"],
            json!({"tag": "a,b c", "q": "é"})
        );
        assert_eq!(event["rawQueryString"], "tag=a&tag=b+c&q=%C3%A9");
    }

    #[test]
    fn an_answer_becomes_a_response_with_its_cookies_and_decoded_body() {
        let answer = json!({
            "statusCode": 201,
            "headers": {"content-type": "application/json", "x-n": 3},
            "multiValueHeaders": {"vary": ["origin", "accept"]},
            "cookies": ["refresh=x; HttpOnly", "b=2"],
            "body": STANDARD.encode(b"\x00\x01"),
            "isBase64Encoded": true,
        });
        let response = http_response(&answer).unwrap_or_default();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["x-n"], "3");
        assert_eq!(response.headers().get_all("vary").iter().count(), 2);
        assert_eq!(response.headers().get_all("set-cookie").iter().count(), 2);
        assert_eq!(response.body().as_ref(), b"\x00\x01");
    }

    #[test]
    fn an_answer_without_a_status_is_bad() {
        assert!(http_response(&json!({"body": "x"})).is_err());
        assert!(http_response(&json!({"statusCode": 99})).is_err());
        assert!(http_response(&json!({"statusCode": 200, "headers": {"a b": "x"}})).is_err());
    }
}
