//! Anthropic Messages (`POST {base}/v1/messages`): system prompts go in the top-level
//! `system` field, `max_tokens` is required, temperature is 0–1, and a stream reports
//! input tokens in `message_start` and output tokens in `message_delta`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, Chunk, Prompt, Role, Usage};
use crate::{config::Model, sse};

/// The API version we speak (`anthropic-version`).
pub(super) const VERSION: &str = "2023-06-01";

pub(super) fn body(model: &Model, prompt: &Prompt, stream: bool) -> Value {
    let system: Vec<&str> = prompt
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let messages: Vec<&super::Message> = prompt
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .collect();
    let mut body = json!({
        "model": model.name,
        "messages": messages,
        "max_tokens": prompt.max_tokens,
        "temperature": prompt.temperature.min(1.0),
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if stream {
        body["stream"] = json!(true);
    }
    body
}

/// Anthropic's stop reasons in OpenAI's vocabulary, so clients see one set.
fn finish_reason(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" | "stop_sequence" | "pause_turn" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        other => other,
    }
    .to_owned()
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Cached input is still input: count it as prompt tokens. The counts come from the
    /// provider: their sum saturates rather than overflow.
    fn prompt(&self) -> Option<u64> {
        self.input_tokens.map(|input| {
            input
                .saturating_add(self.cache_creation_input_tokens.unwrap_or(0))
                .saturating_add(self.cache_read_input_tokens.unwrap_or(0))
        })
    }
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

pub(super) fn completion(body: &[u8]) -> Result<Answer, String> {
    let message: Message = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let content = message
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect::<String>();
    let usage = match (message.usage.prompt(), message.usage.output_tokens) {
        (Some(prompt), Some(completion)) => Some(Usage::new(prompt, completion)),
        _ => None,
    };
    Ok(Answer {
        content,
        finish_reason: finish_reason(message.stop_reason.as_deref().unwrap_or("end_turn")),
        usage,
    })
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    MessageStart {
        message: Message,
    },
    ContentBlockDelta {
        delta: Delta,
    },
    MessageDelta {
        delta: StopDelta,
        #[serde(default)]
        usage: WireUsage,
    },
    MessageStop,
    Error {
        error: ErrorBody,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct StopDelta {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

pub(super) fn chunks(event: &sse::Event) -> Vec<Chunk> {
    let Ok(parsed) = serde_json::from_str::<StreamEvent>(&event.data) else {
        return vec![Chunk::Failed("unreadable stream event".into())];
    };
    match parsed {
        StreamEvent::MessageStart { message } => vec![Chunk::Usage {
            prompt: message.usage.prompt(),
            completion: message.usage.output_tokens,
        }],
        StreamEvent::ContentBlockDelta { delta } => delta
            .text
            .filter(|t| !t.is_empty())
            .map(Chunk::Text)
            .into_iter()
            .collect(),
        StreamEvent::MessageDelta { delta, usage } => {
            let mut chunks: Vec<Chunk> = delta
                .stop_reason
                .map(|r| Chunk::Finish(finish_reason(&r)))
                .into_iter()
                .collect();
            chunks.push(Chunk::Usage {
                prompt: usage.prompt(),
                completion: usage.output_tokens,
            });
            chunks
        }
        StreamEvent::MessageStop => vec![Chunk::End],
        StreamEvent::Error { error } => vec![Chunk::Failed(error.message)],
        StreamEvent::Other => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Message as Said;

    fn event(name: &str, data: &str) -> Vec<Chunk> {
        chunks(&sse::Event {
            name: Some(name.into()),
            data: data.into(),
        })
    }

    #[test]
    fn system_messages_move_to_the_system_field() {
        let prompt = Prompt {
            messages: vec![
                Said {
                    role: Role::System,
                    content: "Be brief.".into(),
                },
                Said {
                    role: Role::User,
                    content: "Hi".into(),
                },
            ],
            temperature: 1.6,
            max_tokens: 50,
        };
        let model = Model {
            name: "claude-haiku-4-5".into(),
            provider: "anthropic".into(),
            max_output_tokens: 64_000,
        };
        let body = body(&model, &prompt, true);
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(
            body["messages"],
            json!([{ "role": "user", "content": "Hi" }])
        );
        assert_eq!(body["temperature"], 1.0);
        assert_eq!(body["stream"], true);
    }

    #[test]
    fn a_json_answer_joins_text_blocks_and_maps_the_stop_reason() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hel"},{"type":"text","text":"lo"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":12,"cache_read_input_tokens":3,"output_tokens":4}}"#;
        let answer = completion(body).unwrap();
        assert_eq!(answer.content, "Hello");
        assert_eq!(answer.finish_reason, "length");
        assert_eq!(answer.usage, Some(Usage::new(15, 4)));
    }

    #[test]
    fn the_event_sequence_gives_usage_text_finish_and_end() {
        assert_eq!(
            event(
                "message_start",
                r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#
            ),
            vec![Chunk::Usage {
                prompt: Some(25),
                completion: Some(1)
            }]
        );
        assert_eq!(event("ping", r#"{"type":"ping"}"#), vec![]);
        assert_eq!(
            event(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi\nthere"}}"#
            ),
            vec![Chunk::Text("Hi\nthere".into())]
        );
        assert_eq!(
            event(
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#
            ),
            vec![
                Chunk::Finish("stop".into()),
                Chunk::Usage {
                    prompt: None,
                    completion: Some(15)
                }
            ]
        );
        assert_eq!(
            event("message_stop", r#"{"type":"message_stop"}"#),
            vec![Chunk::End]
        );
        assert_eq!(
            event(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            vec![Chunk::Failed("Overloaded".into())]
        );
    }
}
