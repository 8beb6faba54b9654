//! Properties of reading the providers' answers, which we do not control: any body or
//! stream event gives an answer, chunks or an error, never a panic; token counts of any
//! size add up without overflowing; and the text a provider streams comes through as sent.
//!
//! `PROPTEST_CASES` sets the cases per property: proptest's 256 by default (`make unit`),
//! 10,000 in `make properties`.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn wire() -> impl Strategy<Value = Wire> {
    prop_oneof![Just(Wire::OpenAi), Just(Wire::Anthropic)]
}

/// Token counts as a provider might report them: small, huge, negative, not a number.
fn count() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0_u64..10_000).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
        "[0-9]{1,4}".prop_map(Value::from),
    ]
}

/// Both providers' usage fields.
fn usage() -> impl Strategy<Value = Value> {
    (count(), count(), count(), count()).prop_map(|(a, b, c, d)| {
        json!({
            "prompt_tokens": a, "completion_tokens": b, "input_tokens": a, "output_tokens": b,
            "cache_creation_input_tokens": c, "cache_read_input_tokens": d,
        })
    })
}

/// Text fields, or something else where the text should be.
fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::from),
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
    ]
}

/// An OpenAI answer, stream chunk or error, fields possibly of another type.
fn openai() -> impl Strategy<Value = Value> {
    (text(), text(), usage(), any::<bool>()).prop_map(|(content, reason, usage, error)| {
        if error {
            return json!({"error": {"message": content}});
        }
        let choice = json!({
            "delta": {"content": content}, "message": {"content": content},
            "finish_reason": reason,
        });
        json!({"choices": [choice], "usage": usage})
    })
}

/// An Anthropic message or stream event of any type, fields possibly of another type.
fn anthropic() -> impl Strategy<Value = Value> {
    let kind = "message_start|content_block_delta|message_delta|message_stop|error|ping|\\w{0,9}";
    (kind, text(), text(), usage()).prop_map(|(kind, text, reason, usage)| {
        let content = json!([{"type": "text", "text": text}]);
        json!({
            "type": kind, "content": content, "stop_reason": reason, "usage": usage,
            "message": {"content": content, "usage": usage, "stop_reason": reason},
            "delta": {"text": text, "stop_reason": reason},
            "error": {"message": text},
        })
    })
}

/// What a provider may send: its answers and events, `[DONE]`, or any text.
fn provider_text() -> impl Strategy<Value = String> {
    prop_oneof![
        openai().prop_map(|v| v.to_string()),
        anthropic().prop_map(|v| v.to_string()),
        "[ \t]*\\[DONE\\][ \t]*",
        any::<String>(),
    ]
}

#[test]
fn any_stream_event_gives_chunks_without_a_panic() {
    let name = prop::option::of("[a-z_]{0,12}");
    proptest!(|(wire in wire(), name in name, data in provider_text())| {
        let event = sse::Event { name, data: data.clone() };

        let chunks = chunks(wire, &event);

        if serde_json::from_str::<Value>(&data).is_err() && data.trim() != "[DONE]" {
            let unreadable = Chunk::Failed("unreadable stream event".into());
            prop_assert_eq!(chunks, vec![unreadable]);
        } else {
            let empty_text = Chunk::Text(String::new());
            prop_assert!(!chunks.contains(&empty_text), "{chunks:?}");
        }
    });
}

#[test]
fn any_answer_body_is_an_answer_or_an_error() {
    let bodies = prop_oneof![
        provider_text().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..200),
    ];
    proptest!(|(wire in wire(), body in bodies)| {
        if let Ok(answer) = completion(wire, &body)
            && let Some(usage) = answer.usage
        {
            prop_assert!(usage.total_tokens >= usage.prompt_tokens.max(usage.completion_tokens));
        }
        if let Some(message) = error_message(&body) {
            prop_assert!(!message.trim().is_empty());
        }
    });
}

#[test]
fn streamed_text_comes_through_as_the_provider_sent_it() {
    proptest!(|(text in "\\PC{1,40}|[\\s\\S]{1,40}")| {
        let openai = json!({"choices": [{"index": 0, "delta": {"content": text}}]});
        let anthropic = json!({"type": "content_block_delta", "delta": {"text": text}});
        for (wire, data) in [(Wire::OpenAi, openai), (Wire::Anthropic, anthropic)] {
            let event = sse::Event { name: None, data: data.to_string() };
            prop_assert_eq!(chunks(wire, &event), vec![Chunk::Text(text.clone())]);
        }
    });
}

#[test]
fn reported_token_counts_of_any_size_add_up_without_overflow() {
    let counts = (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>());
    proptest!(|((input, created, read, output) in counts)| {
        let usage = json!({
            "input_tokens": input, "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read, "output_tokens": output,
        });
        let start = json!({"type": "message_start", "message": {"usage": usage}});
        let event = sse::Event { name: None, data: start.to_string() };
        let prompt = input.saturating_add(created).saturating_add(read);

        let usage = Chunk::Usage { prompt: Some(prompt), completion: Some(output) };
        prop_assert_eq!(chunks(Wire::Anthropic, &event), vec![usage]);
        let total = Usage::new(prompt, output).total_tokens;
        prop_assert_eq!(total, prompt.saturating_add(output));
    });
}
