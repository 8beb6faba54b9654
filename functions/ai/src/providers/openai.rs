//! OpenAI Chat Completions (`POST {base}/chat/completions`), as OpenAI, Ollama, vLLM,
//! OpenRouter and Perplexity speak it. Streams ask for `stream_options.include_usage`,
//! so the last chunk before `[DONE]` carries the usage.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer as Whole, Chunk, Prompt, Usage};
use crate::{config::Model, sse};

pub(super) fn body(model: &Model, prompt: &Prompt, stream: bool) -> Value {
    let mut body = json!({
        "model": model.name,
        "messages": prompt.messages,
        "temperature": prompt.temperature,
        "max_tokens": prompt.max_tokens,
    });
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<Content>,
    #[serde(default)]
    delta: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

pub(super) fn completion(body: &[u8]) -> Result<Whole, String> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let choice = answer.choices.into_iter().next().ok_or("no choices")?;
    Ok(Whole {
        content: choice.message.and_then(|m| m.content).unwrap_or_default(),
        finish_reason: choice.finish_reason.unwrap_or_else(|| "stop".into()),
        usage: answer
            .usage
            .map(|u| Usage::new(u.prompt_tokens, u.completion_tokens)),
    })
}

pub(super) fn chunks(event: &sse::Event) -> Vec<Chunk> {
    if event.data.trim() == "[DONE]" {
        return vec![Chunk::End];
    }
    if let Some(message) = super::error_message(event.data.as_bytes()) {
        return vec![Chunk::Failed(message)];
    }
    let Ok(answer) = serde_json::from_str::<Answer>(&event.data) else {
        return vec![Chunk::Failed("unreadable stream event".into())];
    };
    let mut chunks = Vec::new();
    for choice in answer.choices {
        if let Some(text) = choice
            .delta
            .and_then(|d| d.content)
            .filter(|t| !t.is_empty())
        {
            chunks.push(Chunk::Text(text));
        }
        if let Some(reason) = choice.finish_reason {
            chunks.push(Chunk::Finish(reason));
        }
    }
    if let Some(usage) = answer.usage {
        chunks.push(Chunk::Usage {
            prompt: Some(usage.prompt_tokens),
            completion: Some(usage.completion_tokens),
        });
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(data: &str) -> Vec<Chunk> {
        chunks(&sse::Event {
            name: None,
            data: data.into(),
        })
    }

    #[test]
    fn a_json_answer_gives_content_reason_and_usage() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#;
        let answer = completion(body).unwrap();
        assert_eq!(answer.content, "Hi!");
        assert_eq!(answer.finish_reason, "stop");
        assert_eq!(answer.usage, Some(Usage::new(9, 2)));
    }

    #[test]
    fn stream_chunks_give_text_finish_usage_and_end() {
        assert_eq!(
            data(
                r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#
            ),
            vec![]
        );
        assert_eq!(
            data(
                r#"{"choices":[{"index":0,"delta":{"content":"a\nb"},"finish_reason":null}],"usage":null}"#
            ),
            vec![Chunk::Text("a\nb".into())]
        );
        assert_eq!(
            data(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#),
            vec![Chunk::Finish("length".into())]
        );
        assert_eq!(
            data(
                r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#
            ),
            vec![Chunk::Usage {
                prompt: Some(5),
                completion: Some(7)
            }]
        );
        assert_eq!(data("[DONE]"), vec![Chunk::End]);
        assert_eq!(
            data(r#"{"error":{"message":"server overloaded"}}"#),
            vec![Chunk::Failed("server overloaded".into())]
        );
    }
}
