//! The template's CORS policy, as deployed: the HTTP API, the streaming function URL and
//! the files bucket allow exactly `CorsAllowOrigins`, with credentials, and nothing else.
//! The local API front applies these same blocks (`tests/tests/browser_policy.rs` asks
//! the running stack).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_local::api_front::Cors;
use aloft_provision::{AllowedOrigins, Template};
use http::{HeaderMap, HeaderValue, header};
use serde_norway::Value;

const TEMPLATE: &str = include_str!("../../../template.yaml");
const WEB_CLIENT: &str = "http://localhost:5173";
const UNLISTED: &str = "https://evil.example";

fn preflight_from(origin: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
    headers.insert(
        header::ACCESS_CONTROL_REQUEST_METHOD,
        HeaderValue::from_static("POST"),
    );
    headers
}

/// The browser-facing CORS blocks of the template, by resource.
fn cors_blocks(template: &Value) -> Vec<(String, &Value)> {
    let mut blocks = Vec::new();
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        let id = id.as_str().unwrap().to_owned();
        let properties = &resource["Properties"];
        for block in [
            &properties["CorsConfiguration"],
            &properties["FunctionUrlConfig"]["Cors"],
        ] {
            if block.is_mapping() {
                blocks.push((id.clone(), block));
            }
        }
    }
    blocks
}

#[test]
fn every_cors_block_allows_the_one_configured_list() {
    let template: Value = serde_norway::from_str(TEMPLATE).unwrap();
    let blocks = cors_blocks(&template);
    let ids: Vec<_> = blocks.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["HttpApi", "AiStreamFunction", "FilesBucket"]);
    let reference: Value = serde_norway::from_str("!Ref CorsAllowOrigins").unwrap();
    for (id, block) in blocks {
        if id == "FilesBucket" {
            for rule in block["CorsRules"].as_sequence().unwrap() {
                assert_eq!(rule["AllowedOrigins"], reference, "{id}");
            }
        } else {
            assert_eq!(block["AllowOrigins"], reference, "{id}");
            assert_eq!(block["AllowCredentials"].as_bool(), Some(true), "{id}");
        }
    }
}

#[test]
fn the_api_and_the_stream_url_answer_a_listed_origin_with_credentials_and_no_other() {
    let template: Value = serde_norway::from_str(TEMPLATE).unwrap();
    let origins = AllowedOrigins::resolve(&template, None).unwrap();
    let stream = Cors::function_urls(&template, &origins)
        .remove("ai-stream")
        .unwrap();
    for (what, cors) in [
        ("HTTP API", Cors::http_api(&template, &origins)),
        ("stream URL", stream),
    ] {
        let request = preflight_from(WEB_CLIENT);
        assert!(
            cors.is_preflight(&http::Method::OPTIONS, &request),
            "{what}"
        );
        let answer = cors.preflight(&request);
        assert_eq!(
            answer[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            WEB_CLIENT,
            "{what}"
        );
        assert_eq!(
            answer[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
            "true",
            "{what}"
        );

        let answer = cors.preflight(&preflight_from(UNLISTED));
        assert!(answer.is_empty(), "{what}: {answer:?}");
    }
}

#[test]
fn cors_allow_origins_replaces_the_list_everywhere() {
    let template: Value = serde_norway::from_str(TEMPLATE).unwrap();
    let origins = AllowedOrigins::resolve(&template, Some("https://app.example.com")).unwrap();
    let api = Cors::http_api(&template, &origins);
    assert!(api.preflight(&preflight_from(WEB_CLIENT)).is_empty());
    let answer = api.preflight(&preflight_from("https://app.example.com"));
    assert_eq!(
        answer[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );

    let bucket = Template::bundled()
        .unwrap()
        .allowing(Some("https://app.example.com"))
        .unwrap();
    let rule = &bucket.buckets[0]
        .cors_configuration
        .as_ref()
        .unwrap()
        .cors_rules[0];
    assert_eq!(
        bucket.allowed_origins.expand(&rule.allowed_origins),
        ["https://app.example.com"]
    );
    assert!(AllowedOrigins::resolve(&template, Some("*")).is_err());
}
