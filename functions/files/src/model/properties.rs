//! Properties of the upload request's parsing on arbitrary input: a file name becomes one
//! harmless path component (and sanitising twice changes nothing), and any body sent to
//! `upload-url` is accepted with its fields normalised or refused with a 4xx naming the
//! field at fault, never a panic or a 5xx.
//!
//! `PROPTEST_CASES` sets the cases per property: proptest's 256 by default (`make unit`),
//! 10,000 in `make properties`.

use std::sync::Arc;

use aloft_config::Env;
use aloft_http::{HttpConfig, Json, Reply, edge};
use aloft_testkit::oneshot;
use axum::{Router, body::Body, routing::post};
use http::{Request, StatusCode, header};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const MAX_BYTES: u64 = 1000;

fn rules() -> FileRules {
    FileRules {
        allowed_types: Arc::from(["text/plain".to_owned(), "image/png".to_owned()]),
        max_bytes: MAX_BYTES,
        url_ttl: std::time::Duration::from_secs(60),
        quotas: [aloft_store::StorageQuota { files: 0, bytes: 0 }; 3],
    }
}

/// Names as clients and attackers send them: path-like runs of separators, dots, control
/// and non-ASCII characters, or any text at all.
fn file_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_owned()),
        Just("\\".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        "[A-Za-z0-9_-]{1,8}",
        "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}]",
        "[ -~]{0,4}",
        "\\PC{0,3}",
    ];
    prop_oneof![
        prop::collection::vec(piece, 0..12).prop_map(|p| p.concat()),
        any::<String>(),
        "[ -~]{90,400}",
    ]
}

#[test]
fn a_file_name_becomes_one_harmless_path_component() {
    proptest!(|(name in file_name())| {
        let safe = safe_file_name(&name);

        prop_assert!(!safe.is_empty() && safe.chars().count() <= 100, "{safe:?}");
        prop_assert!(
            safe.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "{safe:?}"
        );
        // No separator, so `..` could only traverse as the whole name; no leading dot rules
        // that out (and hidden files).
        prop_assert!(!safe.starts_with('.'), "{safe:?}");
    });
}

#[test]
fn sanitising_a_file_name_twice_changes_nothing() {
    proptest!(|(name in file_name())| {
        let once = safe_file_name(&name);
        prop_assert_eq!(safe_file_name(&once), once);
    });
}

#[test]
fn only_the_last_component_of_a_path_counts_and_a_safe_one_is_kept() {
    let safe_name = "[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}";
    proptest!(|(directory in file_name(), separator in "[/\\\\]", name in safe_name)| {
        prop_assert_eq!(safe_file_name(&name), name.clone());
        prop_assert_eq!(safe_file_name(&format!("{directory}{separator}{name}")), name);
    });
}

/// The field an upload request is refused for, checked in the order the rules are.
fn refused_field(filename: &str, content_type: &str, size: u64) -> Option<&'static str> {
    let filename = filename.trim();
    if filename.is_empty() || filename.chars().count() > 255 {
        Some("filename")
    } else if !rules()
        .allowed_types
        .contains(&content_type.trim().to_lowercase())
    {
        Some("content_type")
    } else if size == 0 || size > MAX_BYTES {
        Some("size")
    } else {
        None
    }
}

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?i) ?(text/plain|image/png|image/gif|application/json) ?",
        any::<String>(),
    ]
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![0..=MAX_BYTES + 1, any::<u64>()]
}

#[test]
fn an_upload_request_is_accepted_normalised_or_refused_naming_its_field() {
    let name = prop_oneof![file_name(), "\\PC{250,260}", "[ \\t\\n]{0,3}"];
    proptest!(|(filename in name, content_type in content_type(), size in size())| {
        let expected = refused_field(&filename, &content_type, size);
        let request = UploadUrlRequest {
            filename: filename.clone(),
            content_type: content_type.clone(),
            size,
        };

        match request.parse(&rules()) {
            Ok(upload) => {
                prop_assert_eq!(expected, None);
                prop_assert_eq!(upload.filename, filename.trim());
                prop_assert_eq!(upload.content_type, content_type.trim().to_lowercase());
                prop_assert_eq!(upload.size, size);
            }
            Err(ApiError::Validation { field, .. }) => {
                prop_assert_eq!(Some(field.as_ref()), expected);
            }
            Err(other) => prop_assert!(false, "not a validation error: {other:?}"),
        }
    });
}

/// `upload-url`'s body parsing and rules behind the shared edge, without the store.
fn app() -> Router {
    let routes = Router::new().route(
        "/upload-url",
        post(|Json(body): Json<UploadUrlRequest>| async move {
            body.parse(&rules())
                .map(|upload| Reply::ok(json!({"filename": upload.filename})))
        }),
    );
    edge(routes, &HttpConfig::from_env(&Env::from_pairs([])).unwrap())
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let request = (file_name(), content_type(), size(), any::<bool>()).prop_map(
        |(filename, content_type, size, negative)| {
            let size = if negative { json!(-1) } else { json!(size) };
            json!({"filename": filename, "content_type": content_type, "size": size})
        },
    );
    let fields = prop::collection::btree_map(
        "filename|content_type|size|\\PC{0,6}",
        prop_oneof![
            any::<String>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
        ],
        0..5,
    )
    .prop_map(|map| Value::Object(map.into_iter().collect()));
    prop_oneof![
        request.prop_map(|v| v.to_string().into_bytes()),
        fields.prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

#[test]
fn any_upload_url_body_is_200_or_a_4xx_envelope_naming_the_field() {
    let (app, rt) = (
        app(),
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
    );
    proptest!(|(body in body())| {
        let request = Request::post("/upload-url")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.clone()))
            .unwrap();

        let answer = rt.block_on(oneshot::send(&app, request));

        let parsed = serde_json::from_slice::<UploadUrlRequest>(&body).ok();
        let expected = parsed.as_ref().map(|r| refused_field(&r.filename, &r.content_type, r.size));
        match answer.status {
            StatusCode::OK => prop_assert_eq!(expected, Some(None)),
            StatusCode::UNPROCESSABLE_ENTITY => {
                let error = &answer.json()["error"];
                prop_assert_eq!(&error["code"], "VALIDATION_ERROR");
                let field = error["details"]["field"].as_str().unwrap_or_default().to_owned();
                match expected {
                    Some(expected) => prop_assert_eq!(Some(field.as_str()), expected),
                    None => {
                        let fields = ["filename", "content_type", "size", "body"];
                        prop_assert!(fields.contains(&field.as_str()), "{field}");
                    }
                }
            }
            StatusCode::BAD_REQUEST => {
                prop_assert!(serde_json::from_slice::<Value>(&body).is_err(), "{}", answer.text);
                prop_assert_eq!(&answer.json()["error"]["code"], "BAD_REQUEST");
            }
            other => prop_assert!(false, "{other}: {}", answer.text),
        }
    });
}
