//! Server-Sent Events, both ways: [`Parser`] reads a provider's stream in whatever
//! chunks the network delivers, and the writers frame our own events so that text
//! with newlines survives (each line its own `data:` line, as the SSE spec joins them).

/// One event of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field; `None` for the default `message` type.
    pub name: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Most bytes one event may hold (an event is a delta or a usage line: a few KB); past
/// it the stream is refused rather than buffered without end.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// An incremental SSE parser (the WHATWG event-stream grammar: `\n`, `\r\n` or `\r`
/// line ends, `:` comments, one optional space after the colon).
#[derive(Debug, Default)]
pub struct Parser {
    pending: Vec<u8>,
    /// How much of `pending` was searched for a line end already: a line that arrives a
    /// byte at a time is searched once, not once per byte.
    scanned: usize,
    name: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Feeds `bytes`; returns the events they complete, or why the stream is unusable.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Event>, String> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        let mut at = self.scanned;
        while at < self.pending.len() {
            let end = match self.pending[at] {
                b'\n' => at + 1,
                // A `\r` at the end may be the first half of `\r\n`: wait for more.
                b'\r' if at + 1 == self.pending.len() => break,
                b'\r' if self.pending[at + 1] == b'\n' => at + 2,
                b'\r' => at + 1,
                _ => {
                    at += 1;
                    continue;
                }
            };
            let line = String::from_utf8_lossy(&self.pending[start..at]).into_owned();
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
            start = end;
            at = end;
        }
        self.pending.drain(..start);
        self.scanned = at - start;
        let held = self.pending.len() + self.data.as_ref().map_or(0, String::len);
        if held > MAX_EVENT_BYTES {
            return Err(format!("an event longer than {MAX_EVENT_BYTES} bytes"));
        }
        Ok(events)
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            let data = self.data.take();
            let name = self.name.take();
            return data.map(|data| Event { name, data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }
}

/// A text delta as one event: every line of `text` is its own `data:` line.
pub fn text_event(text: &str) -> String {
    let mut frame = String::with_capacity(text.len() + 16);
    for line in lines(text) {
        frame.push_str("data: ");
        frame.push_str(line);
        frame.push('\n');
    }
    frame.push('\n');
    frame
}

/// A named event carrying one line of JSON.
pub fn named_event(name: &str, json: &serde_json::Value) -> String {
    format!("event: {name}\ndata: {json}\n\n")
}

/// The stream's last event.
pub const DONE: &str = "data: [DONE]\n\n";

/// The lines of `text` split on every line end SSE knows; a trailing line end gives a
/// trailing empty line, so the text comes back exactly.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(i) => {
                let skip = if current[i..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[i + skip..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(stream: &str, chunk: usize) -> Vec<Event> {
        let mut parser = Parser::default();
        stream
            .as_bytes()
            .chunks(chunk)
            .flat_map(|c| parser.push(c).unwrap())
            .collect()
    }

    #[test]
    fn events_survive_any_chunking() {
        let stream = "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\nevent: ping\rdata: {}\r\rdata: x\ndata:  y\n\n";
        let expected = vec![
            Event {
                name: Some("message_start".into()),
                data: "{\"a\":1}".into(),
            },
            Event {
                name: Some("ping".into()),
                data: "{}".into(),
            },
            Event {
                name: None,
                data: "x\n y".into(),
            },
        ];
        for chunk in 1..=stream.len() {
            assert_eq!(
                parse_in_chunks(stream, chunk),
                expected,
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn multibyte_text_split_across_chunks_is_kept() {
        let stream = "data: héllo wörld ✓\n\n";
        for chunk in 1..=stream.len() {
            assert_eq!(parse_in_chunks(stream, chunk)[0].data, "héllo wörld ✓");
        }
    }

    #[test]
    fn an_endless_event_is_refused_instead_of_buffered() {
        let mut parser = Parser::default();
        let line = format!("data: {}\n", "x".repeat(1000));
        let mut outcome = Ok(vec![]);
        for _ in 0..2000 {
            outcome = parser.push(line.as_bytes());
            if outcome.is_err() {
                break;
            }
        }
        assert!(outcome.is_err());
    }

    #[test]
    fn an_event_without_its_blank_line_is_not_dispatched() {
        assert!(parse_in_chunks("data: cut", 4).is_empty());
    }

    #[test]
    fn text_with_newlines_round_trips_through_our_framing() {
        for text in [
            "plain",
            "two\nlines",
            "ends with newline\n",
            "\n\nleading",
            " spaced",
            "crlf\r\nand\rcr",
            "",
        ] {
            let events = parse_in_chunks(&text_event(text), 3);
            let expected = text.replace("\r\n", "\n").replace('\r', "\n");
            assert_eq!(
                events,
                vec![Event {
                    name: None,
                    data: expected
                }],
                "{text:?}"
            );
        }
    }
}
