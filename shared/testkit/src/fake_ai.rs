//! A fake AI provider on 127.0.0.1 that speaks the documented wire formats of OpenAI
//! Chat Completions (`POST /v1/chat/completions`) and Anthropic Messages
//! (`POST /v1/messages`): JSON answers and SSE streams (OpenAI's `include_usage` chunk
//! and `[DONE]`; Anthropic's `message_start` … `ping` … `message_delta` …
//! `message_stop`), their error bodies and authentication, 429 with `Retry-After`, 5xx,
//! a slow first byte, slow streams and streams cut mid-way.
//!
//! Behaviour is chosen by directives inside the prompt, so tests running in parallel
//! (and the end-to-end stack, where the fake is another process: the `fake-ai` binary)
//! never share state. A directive is a word `fake:<model or *>:<key>=<value>`:
//! - `status=<code>` answers with that error (and `retry-after=<s>` adds the header);
//! - `delay=<ms>` waits before the status line (a slow first byte);
//! - `gap=<ms>` waits between stream events;
//! - `cut=<n>` closes a stream after `n` text deltas, without finishing it.
//!
//! Every answer is [`answer_text`]`(model)`, sent in deltas of [`DELTA_CHARS`]
//! characters; token counts are [`tokens`] of the prompt's and the answer's characters.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::receiver::{FakeServer, Received, read_request, serve_on};

/// The key the fake expects as `Authorization: Bearer …` on the OpenAI wire.
pub const FAKE_OPENAI_KEY: &str = "sk-fake-openai-0123456789";
/// The key the fake expects as `x-api-key` on the Anthropic wire.
pub const FAKE_ANTHROPIC_KEY: &str = "sk-ant-fake-0123456789";
/// Characters per streamed delta.
pub const DELTA_CHARS: usize = 8;

/// What every model answers: two lines, a blank line, and a last line, so deltas carry
/// newlines.
pub fn answer_text(model: &str) -> String {
    format!("Hello from {model}.\nThis answer has\n\ntwo parts.")
}

/// The fake's token count of `chars` characters (4 to a token, rounded up).
pub fn tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

/// A running fake; stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct FakeAi {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeServer for FakeAi {
    fn serve(&self, stream: TcpStream) -> impl std::future::Future<Output = ()> + Send {
        self.handle(stream)
    }
}

impl FakeAi {
    /// On a free port.
    pub async fn start() -> Self {
        Self::bind("127.0.0.1:0").await.expect("a free local port")
    }

    /// On `address` (the `fake-ai` binary's fixed port).
    pub async fn bind(address: &str) -> std::io::Result<Self> {
        serve_on(address, |url| Self {
            url,
            received: Arc::default(),
        })
        .await
    }

    /// `OPENAI_BASE_URL` for this fake.
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.url)
    }

    /// `ANTHROPIC_BASE_URL` for this fake.
    pub fn anthropic_base_url(&self) -> String {
        self.url.clone()
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("fake lock").clone()
    }

    async fn handle(&self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        self.received
            .lock()
            .expect("fake lock")
            .push(request.clone());
        let wire = match request.path.as_str() {
            "/v1/chat/completions" => Wire::OpenAi,
            "/v1/messages" => Wire::Anthropic,
            _ => {
                let body = json!({"error": {"message": "Unknown path", "type": "not_found_error"}});
                let _ = respond(&mut stream, 404, &[], &body.to_string()).await;
                return;
            }
        };
        let _ = wire.answer(&request, &mut stream).await;
        let _ = stream.shutdown().await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    OpenAi,
    Anthropic,
}

/// What the prompt's directives ask of one model.
#[derive(Debug, Default)]
struct Script {
    status: Option<u16>,
    retry_after: Option<u64>,
    delay: Duration,
    gap: Duration,
    cut: Option<usize>,
}

impl Script {
    fn of(body: &Value, model: &str) -> Self {
        let mut script = Script::default();
        let texts = body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["content"].as_str())
            .chain(body["system"].as_str());
        for word in texts.flat_map(str::split_whitespace) {
            let Some(rest) = word.strip_prefix("fake:") else {
                continue;
            };
            let Some((scope, setting)) = rest.rsplit_once(':') else {
                continue;
            };
            let Some((key, value)) = setting.split_once('=') else {
                continue;
            };
            if scope != "*" && scope != model {
                continue;
            }
            let number = value.parse::<u64>().ok();
            match (key, number) {
                ("status", Some(n)) => script.status = u16::try_from(n).ok(),
                ("retry-after", n) => script.retry_after = n,
                ("delay", Some(ms)) => script.delay = Duration::from_millis(ms),
                ("gap", Some(ms)) => script.gap = Duration::from_millis(ms),
                ("cut", Some(n)) => script.cut = usize::try_from(n).ok(),
                _ => {}
            }
        }
        script
    }
}

impl Wire {
    async fn answer(self, request: &Received, stream: &mut TcpStream) -> std::io::Result<()> {
        let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
            return self
                .error(
                    stream,
                    400,
                    "invalid_request_error",
                    "Could not parse the JSON body",
                    None,
                )
                .await;
        };
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        let script = Script::of(&body, &model);
        tokio::time::sleep(script.delay).await;
        if let Some((status, kind, message)) = self.refusal(request, &body) {
            return self.error(stream, status, kind, &message, None).await;
        }
        if let Some(status) = script.status {
            let kind = match (self, status) {
                (_, 429) => "rate_limit_error",
                (Wire::Anthropic, 529) => "overloaded_error",
                (_, 400..=499) => "invalid_request_error",
                _ => "api_error",
            };
            let message = format!("fake {status} for {model}");
            return self
                .error(stream, status, kind, &message, script.retry_after)
                .await;
        }
        let prompt_chars = body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["content"].as_str())
            .chain(body["system"].as_str())
            .map(|text| text.chars().count())
            .sum::<usize>();
        let answer = answer_text(&model);
        let (prompt_tokens, completion_tokens) =
            (tokens(prompt_chars), tokens(answer.chars().count()));
        if body["stream"] != json!(true) {
            let json = match self {
                Wire::OpenAi => json!({
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "logprobs": null, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
                }),
                Wire::Anthropic => json!({
                    "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": answer}],
                    "stop_reason": "end_turn", "stop_sequence": null,
                    "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
                }),
            };
            return respond(stream, 200, &[], &json.to_string()).await;
        }
        let deltas = deltas(&answer);
        let include_usage = body["stream_options"]["include_usage"] == json!(true);
        let events = match self {
            Wire::OpenAi => openai_events(
                &model,
                &deltas,
                include_usage,
                prompt_tokens,
                completion_tokens,
            ),
            Wire::Anthropic => anthropic_events(&model, &deltas, prompt_tokens, completion_tokens),
        };
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n")
            .await?;
        let mut sent_text = 0;
        for (event, is_text) in events {
            if is_text {
                if script.cut == Some(sent_text) {
                    // Closed without the last zero-length chunk: the stream is broken.
                    return Ok(());
                }
                sent_text += 1;
            }
            stream
                .write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes())
                .await?;
            stream.flush().await?;
            tokio::time::sleep(script.gap).await;
        }
        stream.write_all(b"0\r\n\r\n").await
    }

    /// What the real API refuses before generating anything: bad credentials, a
    /// missing version header, a missing `max_tokens`, a system role in `messages`.
    fn refusal(self, request: &Received, body: &Value) -> Option<(u16, &'static str, String)> {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        if body["messages"].as_array().is_none_or(|m| m.is_empty()) {
            return Some((
                400,
                "invalid_request_error",
                "messages: at least one message is required".into(),
            ));
        }
        match self {
            Wire::OpenAi => match header("authorization").and_then(|v| v.strip_prefix("Bearer ")) {
                Some(FAKE_OPENAI_KEY) => None,
                Some(other) => Some((
                    401,
                    "invalid_request_error",
                    format!(
                        "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                        other
                    ),
                )),
                None => Some((
                    401,
                    "invalid_request_error",
                    "You didn't provide an API key.".into(),
                )),
            },
            Wire::Anthropic => {
                if header("x-api-key") != Some(FAKE_ANTHROPIC_KEY) {
                    return Some((401, "authentication_error", "invalid x-api-key".into()));
                }
                if header("anthropic-version").is_none() {
                    return Some((
                        400,
                        "invalid_request_error",
                        "anthropic-version: header is required".into(),
                    ));
                }
                if !body["max_tokens"].is_u64() {
                    return Some((
                        400,
                        "invalid_request_error",
                        "max_tokens: Field required".into(),
                    ));
                }
                if body["temperature"]
                    .as_f64()
                    .is_some_and(|t| !(0.0..=1.0).contains(&t))
                {
                    return Some((
                        400,
                        "invalid_request_error",
                        "temperature: range: 0..1".into(),
                    ));
                }
                let system_role = body["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| m["role"] == "system");
                system_role.then(|| (400, "invalid_request_error", "messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role.".into()))
            }
        }
    }

    async fn error(
        self,
        stream: &mut TcpStream,
        status: u16,
        kind: &str,
        message: &str,
        retry_after: Option<u64>,
    ) -> std::io::Result<()> {
        let body = match self {
            Wire::OpenAi => {
                json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
            }
            Wire::Anthropic => {
                json!({"type": "error", "error": {"type": kind, "message": message}})
            }
        };
        let retry_after = retry_after.map(|s| ("retry-after", s.to_string()));
        respond(stream, status, retry_after.as_slice(), &body.to_string()).await
    }
}

fn deltas(answer: &str) -> Vec<String> {
    let chars: Vec<char> = answer.chars().collect();
    chars
        .chunks(DELTA_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

/// OpenAI's chunks: a role chunk, one per delta, a finish chunk, the usage chunk when
/// asked for, `[DONE]`. The flag marks text events.
fn openai_events(
    model: &str,
    deltas: &[String],
    include_usage: bool,
    prompt: u64,
    completion: u64,
) -> Vec<(String, bool)> {
    let usage_null = if include_usage {
        json!({"usage": null})
    } else {
        json!({})
    };
    let chunk = |delta: Value, finish: Value| {
        let mut chunk = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        if let (Some(chunk), Some(extra)) = (chunk.as_object_mut(), usage_null.as_object()) {
            chunk.extend(extra.clone());
        }
        format!("data: {chunk}\n\n")
    };
    let mut events = vec![(
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        false,
    )];
    events.extend(
        deltas
            .iter()
            .map(|d| (chunk(json!({"content": d}), Value::Null), true)),
    );
    events.push((chunk(json!({}), json!("stop")), false));
    if include_usage {
        let usage = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model, "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}});
        events.push((format!("data: {usage}\n\n"), false));
    }
    events.push(("data: [DONE]\n\n".into(), false));
    events
}

/// Anthropic's event sequence, with a `ping` after the content block starts.
fn anthropic_events(
    model: &str,
    deltas: &[String],
    prompt: u64,
    completion: u64,
) -> Vec<(String, bool)> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut events = vec![
        (
            event(
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant", "content": [], "model": model, "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": prompt, "output_tokens": 1}}}),
            ),
            false,
        ),
        (
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            false,
        ),
        (event("ping", json!({"type": "ping"})), false),
    ];
    events.extend(deltas.iter().map(|d| {
        (event("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}})), true)
    }));
    events.push((
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        false,
    ));
    events.push((event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": completion}})), false));
    events.push((
        event("message_stop", json!({"type": "message_stop"})),
        false,
    ));
    events
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} Fake\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await
}
