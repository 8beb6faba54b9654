//! Properties of the frame parser on arbitrary input: any text is a frame or the `error`
//! event naming what is wrong with it, never a panic; and every well-formed frame parses
//! to what it says.
//!
//! `PROPTEST_CASES` sets the cases per property: proptest's 256 by default (`make unit`),
//! 10,000 in `make properties`.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Channel names, well-formed or not: known and unknown kinds, ids empty, long, with
/// whitespace or colons.
fn channel_name() -> impl Strategy<Value = String> {
    let kind = "user|tenant|project|room|User|[a-z]{0,8}";
    let id = prop_oneof![
        "[!-~]{1,20}",
        "\\PC{0,20}",
        "[a-z0-9]{120,140}",
        "[a-z]{0,4}[ \t\n\u{a0}\u{3000}][a-z]{0,4}",
    ];
    prop_oneof![
        (kind, ":|::|", id).prop_map(|(k, sep, id)| format!("{k}{sep}{id}")),
        any::<String>(),
    ]
}

/// Frames as clients send them, each field possibly missing or of another type; or any
/// text.
fn frame_text() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        "subscribe|unsubscribe|message|ping|Subscribe|".prop_map(Value::from),
        any_json(),
    ];
    let channel = prop_oneof![channel_name().prop_map(Value::from), any_json()];
    let frame = (
        prop::option::of(kind),
        prop::option::of(channel),
        prop::option::of(any_json()),
    )
        .prop_map(|(kind, channel, data)| {
            let mut frame = json!({});
            for (field, value) in [("type", kind), ("channel", channel), ("data", data)] {
                if let Some(value) = value {
                    frame[field] = value;
                }
            }
            frame.to_string()
        });
    prop_oneof![
        3 => frame,
        1 => any_json().prop_map(|v| v.to_string()),
        1 => any::<String>(),
    ]
}

/// The error code `text` must be answered with, in the order the checks are made; `None`
/// for a frame that parses.
fn expected_code(text: &str) -> Option<&'static str> {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return Some("INVALID_JSON");
    };
    if !matches!(
        frame["type"].as_str(),
        Some("subscribe" | "unsubscribe" | "message")
    ) {
        return Some("UNKNOWN_TYPE");
    }
    let well_formed = frame["channel"]
        .as_str()
        .and_then(|c| c.split_once(':'))
        .is_some_and(|(kind, id)| {
            ["user", "tenant", "project"].contains(&kind)
                && (1..=128).contains(&id.len())
                && !id.chars().any(char::is_whitespace)
        });
    (!well_formed).then_some("INVALID_CHANNEL")
}

#[test]
fn any_text_is_a_frame_or_the_error_event_naming_what_is_wrong() {
    proptest!(|(text in frame_text())| {
        let parsed = Frame::parse(&text);

        match (parsed, expected_code(&text)) {
            (Ok(_), None) => {}
            (Err(error), Some(code)) => {
                prop_assert_eq!(&error["type"], "error");
                prop_assert_eq!(&error["code"], code);
                prop_assert!(error["message"].is_string());
            }
            (parsed, expected) => {
                prop_assert!(false, "{text:?}: {parsed:?}, expected {expected:?}");
            }
        }
    });
}

fn action() -> impl Strategy<Value = (Action, &'static str)> {
    prop_oneof![
        Just((Action::Subscribe, "subscribe")),
        Just((Action::Unsubscribe, "unsubscribe")),
        Just((Action::Message, "message")),
    ]
}

fn kind() -> impl Strategy<Value = (ChannelKind, &'static str)> {
    prop_oneof![
        Just((ChannelKind::User, "user")),
        Just((ChannelKind::Tenant, "tenant")),
        Just((ChannelKind::Project, "project")),
    ]
}

#[test]
fn a_well_formed_frame_parses_to_what_it_says() {
    let id = "[^\\s]{1,32}|[!-~]{128}";
    let data = prop::option::of(any_json());
    proptest!(|(
        (action, type_) in action(),
        (kind, prefix) in kind(),
        id in id,
        data in data,
        extra in any_json(),
    )| {
        prop_assume!(id.len() <= 128);
        let channel = format!("{prefix}:{id}");
        let mut frame = json!({"type": type_, "channel": channel, "extra": extra});
        if let Some(data) = &data {
            frame["data"] = data.clone();
        }

        let parsed = Frame::parse(&frame.to_string()).unwrap();

        prop_assert_eq!(parsed.action, action);
        prop_assert_eq!(&parsed.channel.name, &channel);
        prop_assert_eq!((parsed.channel.kind, parsed.channel.id()), (kind, id.as_str()));
        prop_assert_eq!(parsed.data, data.unwrap_or(Value::Null));
    });
}
