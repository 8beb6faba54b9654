//! Properties of the SSE parser and writers: any bytes, cut into chunks anywhere, parse
//! without a panic into the same events however they were cut; and whatever our writers
//! frame parses back to what they were given.
//!
//! `PROPTEST_CASES` sets the cases per property: proptest's 256 by default (`make unit`),
//! 10,000 in `make properties`.

use proptest::{prelude::*, sample::Index};

use super::*;

/// Bytes that look like an event stream (field names, colons, every line end, comments,
/// multi-byte characters to cut in half) mixed with any bytes at all.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data:".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"event: ".to_vec()),
        Just(b"id: 1".to_vec()),
        Just(b":".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just("é✓𝄞".as_bytes().to_vec()),
        prop::collection::vec(b' '..=b'~', 0..8),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

/// Where to cut a stream: any positions, in any order, repeated or not.
fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..20)
}

/// `bytes` cut at `cuts`.
fn chunks<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    at.extend([0, bytes.len()]);
    at.sort_unstable();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

fn parse(chunks: &[impl AsRef<[u8]>]) -> Vec<Event> {
    let mut parser = Parser::default();
    chunks
        .iter()
        .flat_map(|chunk| parser.push(chunk.as_ref()).unwrap())
        .collect()
}

#[test]
fn any_stream_parses_to_the_same_events_however_it_is_cut() {
    proptest!(|(bytes in stream(), cuts in cuts())| {
        let whole = parse(&[&bytes]);

        prop_assert_eq!(parse(&chunks(&bytes, &cuts)), whole.clone());
        let byte_by_byte: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(parse(&byte_by_byte), whole);
    });
}

#[test]
fn an_event_holds_only_what_its_data_lines_carried() {
    proptest!(|(bytes in stream())| {
        let data_lines = bytes
            .split(|b| *b == b'\n' || *b == b'\r')
            .filter(|line| line.starts_with(b"data"))
            .count();
        let events = parse(&[bytes]);

        // Every event has at least one data line; a line ends inside one event at most.
        let lines_in_events: usize = events.iter().map(|e| e.data.split('\n').count()).sum();
        prop_assert!(lines_in_events <= data_lines, "{events:?}");
    });
}

/// What our writers produce, and the event each must parse back to.
#[derive(Debug, Clone)]
enum Written {
    Text(String),
    Named(String, serde_json::Value),
    Done,
}

impl Written {
    fn frame(&self) -> String {
        match self {
            Written::Text(text) => text_event(text),
            Written::Named(name, json) => named_event(name, json),
            Written::Done => DONE.to_owned(),
        }
    }

    fn event(&self) -> Event {
        match self {
            // SSE has one line end when joining lines: `\n`.
            Written::Text(text) => Event {
                name: None,
                data: text.replace("\r\n", "\n").replace('\r', "\n"),
            },
            Written::Named(name, json) => Event {
                name: Some(name.clone()),
                data: json.to_string(),
            },
            Written::Done => Event {
                name: None,
                data: "[DONE]".into(),
            },
        }
    }
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
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

/// A string strategy whose pattern is parsed once (a `&str` strategy parses it anew for
/// every value).
fn regex(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(pattern).unwrap()
}

fn written() -> impl Strategy<Value = Written> {
    let text = prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop_oneof![regex("\\PC{0,6}"), regex("\r|\n|\r\n|\n\n|:| ")],
            0..10
        )
        .prop_map(|p| p.concat()),
    ];
    // Names are ours (`usage`, `error`): any text without a line end.
    let name = "[^\r\n]{0,16}";
    prop_oneof![
        4 => text.prop_map(Written::Text),
        2 => (name, json()).prop_map(|(n, j)| Written::Named(n, j)),
        1 => Just(Written::Done),
    ]
}

#[test]
fn what_we_write_parses_back_to_what_we_wrote_however_it_is_cut() {
    let written = prop::collection::vec(written(), 0..8);
    proptest!(|(written in written, cuts in cuts())| {
        let stream: String = written.iter().map(Written::frame).collect();
        let expected: Vec<Event> = written.iter().map(Written::event).collect();

        prop_assert_eq!(parse(&chunks(stream.as_bytes(), &cuts)), expected);
    });
}
