//! The trace a request or message runs in, and the spans it records for export.
//!
//! One trace id has two spellings: X-Ray's root (`1-5759e988-bd862e3fe1be46a994272793`)
//! and W3C Trace Context's (`5759e988bd862e3fe1be46a994272793`), the same 32 hex digits.
//! So a trace continued from a `traceparent` is also an X-Ray trace, and one X-Ray
//! started is also a W3C one: [`TraceHeader`] carries both, plus the id of the span the
//! current work is (new for each request, message and outgoing call) and the caller's
//! `tracestate`.
//!
//! Spans ([`SpanRecord`]) are kept only inside [`collect`], which the edge and the worker
//! run when an OTLP endpoint is configured; elsewhere [`record`] is a no-op, so a stack
//! without one pays a task-local lookup per call and nothing else.

use std::{
    fmt::Write,
    future::Future,
    sync::{Arc, Mutex},
    time::SystemTime,
};

/// The trace of one unit of work (a request, a message, an outgoing call), checked to be
/// well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    /// The X-Ray header as received or built: logged, and kept for what reads it whole.
    header: String,
    /// Where the `Root=` value starts in `header`; it is [`ROOT_LEN`] long.
    root_at: usize,
    /// This unit of work's span.
    span: SpanId,
    /// The span it continues: the caller's (`traceparent`, X-Ray's `Parent`).
    parent: Option<SpanId>,
    sampled: bool,
    /// The caller's vendor data (`tracestate`), passed on unread.
    tracestate: Option<String>,
}

/// 8 random bytes, written as 16 lowercase hex digits in both spellings.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SpanId([u8; 8]);

impl SpanId {
    fn generate() -> Self {
        let random = uuid::Uuid::new_v4().into_bytes();
        // A v4 UUID's bytes 6 and 8 hold its version and variant: take others.
        let mut id = [0; 8];
        id[..6].copy_from_slice(&random[..6]);
        id[6..].copy_from_slice(&random[9..11]);
        Self(id)
    }

    fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 16 || !is_lower_hex(hex) || hex.bytes().all(|b| b == b'0') {
            return None;
        }
        let mut id = [0; 8];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(id))
    }
}

impl std::fmt::Display for SpanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for SpanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// `1-` + 8 hex digits of epoch seconds + `-` + 24 hex digits.
const ROOT_LEN: usize = 35;
/// The longest `tracestate` passed on (the W3C's 32 members of up to 256 bytes are more
/// than any caller of this API needs; a longer one is dropped whole).
const TRACESTATE_MAX: usize = 512;

tokio::task_local! {
    static CURRENT_TRACE: TraceHeader;
    static SPANS: Arc<Mutex<Vec<SpanRecord>>>;
}

impl TraceHeader {
    /// `None` unless `raw` is an X-Ray trace header of at most 256 characters of
    /// `[A-Za-z0-9=;:-]` with a valid `Root`. Its `Parent`, if any, is the span this
    /// work continues; this work gets a span of its own.
    pub fn parse(raw: &str) -> Option<Self> {
        let sane = raw.len() <= 256
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b';' | b':' | b'-'));
        if !sane {
            return None;
        }
        let mut root_at = None;
        let (mut parent, mut sampled) = (None, true);
        let mut offset = 0;
        for part in raw.split(';') {
            if let Some(root) = part.strip_prefix("Root=")
                && is_root(root)
                && root_at.is_none()
            {
                root_at = Some(offset + "Root=".len());
            } else if let Some(id) = part.strip_prefix("Parent=") {
                parent = SpanId::parse(id);
            } else if let Some(flag) = part.strip_prefix("Sampled=") {
                sampled = flag != "0";
            }
            offset += part.len() + 1;
        }
        Some(Self {
            header: raw.to_owned(),
            root_at: root_at?,
            span: SpanId::generate(),
            parent,
            sampled,
            tracestate: None,
        })
    }

    /// The trace a W3C `traceparent` names (`00-<trace id>-<parent id>-<flags>`), with its
    /// `tracestate`; `None` for a malformed one (a new trace starts instead: never an
    /// error). Versions above `00` are read as `00`, as the W3C asks.
    pub fn from_traceparent(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let value = traceparent.trim();
        let fields = value.get(..55)?;
        let rest = &value[55..];
        let mut parts = fields.split('-');
        let (version, trace_id, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let well_formed = version.len() == 2
            && is_lower_hex(version)
            && version != "ff"
            && (rest.is_empty() || (version != "00" && rest.starts_with('-')))
            && trace_id.len() == 32
            && is_lower_hex(trace_id)
            && trace_id.bytes().any(|b| b != b'0')
            && flags.len() == 2
            && is_lower_hex(flags);
        if !well_formed {
            return None;
        }
        let parent = SpanId::parse(parent)?;
        let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
        let header = format!(
            "Root=1-{}-{};Parent={parent};Sampled={}",
            &trace_id[..8],
            &trace_id[8..],
            u8::from(sampled)
        );
        let tracestate = tracestate
            .map(str::trim)
            .filter(|s| is_tracestate(s))
            .map(str::to_owned);
        Some(Self {
            header,
            root_at: "Root=".len(),
            span: SpanId::generate(),
            parent: Some(parent),
            sampled,
            tracestate,
        })
    }

    /// A new trace, for work that arrives without one (the local stack has no X-Ray):
    /// `Root=1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>`.
    pub fn generate() -> Self {
        let random = uuid::Uuid::new_v4().into_bytes();
        // A v4 UUID's bytes 6 and 8 hold its version and variant: take the others.
        let mut hex = String::with_capacity(24);
        for byte in random[..6].iter().chain(&random[10..]) {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        let epoch = crate::timestamp::unix_now() & 0xffff_ffff;
        Self {
            header: format!("Root=1-{epoch:08x}-{hex}"),
            root_at: "Root=".len(),
            span: SpanId::generate(),
            parent: None,
            sampled: true,
            tracestate: None,
        }
    }

    /// The trace id in X-Ray's spelling: `1-5759e988-bd862e3fe1be46a994272793`.
    pub fn trace_id(&self) -> &str {
        &self.header[self.root_at..self.root_at + ROOT_LEN]
    }

    /// The trace id in W3C's spelling: `5759e988bd862e3fe1be46a994272793`.
    pub fn w3c_trace_id(&self) -> String {
        let root = self.trace_id();
        format!("{}{}", &root[2..10], &root[11..])
    }

    /// The span of the work this trace was given to.
    pub fn span_id(&self) -> SpanId {
        self.span
    }

    /// The span that work continues, if the caller named one.
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent
    }

    /// The header as received or built.
    pub fn as_str(&self) -> &str {
        &self.header
    }

    /// The same trace for a piece of this work (an outgoing call, a queued message): a
    /// new span whose parent is this one.
    pub fn child(&self) -> Self {
        Self {
            span: SpanId::generate(),
            parent: Some(self.span),
            ..self.clone()
        }
    }

    /// What to send downstream to continue the trace from this span, W3C's way:
    /// `00-<trace id>-<this span>-<flags>`.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.w3c_trace_id(),
            self.span,
            u8::from(self.sampled)
        )
    }

    /// The caller's `tracestate`, to pass on with [`Self::traceparent`].
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The same, X-Ray's way (SQS's `AWSTraceHeader`): `Root=…;Parent=<this span>;
    /// Sampled=…`.
    pub fn xray_header(&self) -> String {
        format!(
            "Root={};Parent={};Sampled={}",
            self.trace_id(),
            self.span,
            u8::from(self.sampled)
        )
    }

    /// The trace of the request or message being served, inside [`Self::scope`]. A
    /// `tokio::spawn`ed task does not inherit it.
    pub fn current() -> Option<Self> {
        CURRENT_TRACE.try_with(Clone::clone).ok()
    }

    /// Runs `work` with this as the [`Self::current`] trace.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT_TRACE.scope(self, work).await
    }

    /// This work's span, finished now.
    pub fn finish(
        &self,
        name: impl Into<String>,
        kind: SpanKind,
        start: SystemTime,
        attributes: Vec<(&'static str, Attribute)>,
        failed: bool,
    ) -> SpanRecord {
        SpanRecord {
            name: name.into(),
            kind,
            trace_id: self.w3c_trace_id(),
            span_id: self.span,
            parent: self.parent,
            start,
            end: SystemTime::now(),
            attributes,
            failed,
        }
    }
}

fn is_root(root: &str) -> bool {
    let bytes = root.as_bytes();
    bytes.len() == ROOT_LEN
        && bytes.starts_with(b"1-")
        && bytes[10] == b'-'
        && is_lower_hex(&root[2..10])
        && is_lower_hex(&root[11..])
}

/// A W3C `tracestate` list: at most 32 `key=value` members, keys of
/// `[a-z0-9_*/@-]` (a tenant's `@`), values printable ASCII without `,` or `=`; the whole
/// at most [`TRACESTATE_MAX`]. Anything else is dropped whole, never forwarded.
fn is_tracestate(list: &str) -> bool {
    let members: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    let member = |m: &str| {
        let Some((key, value)) = m.split_once('=') else {
            return false;
        };
        let key_ok = (1..=256).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b));
        let value_ok = (1..=256).contains(&value.len())
            && value
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b',' && b != b'=')
            && !value.ends_with(' ');
        key_ok && value_ok
    };
    !members.is_empty()
        && members.len() <= 32
        && list.len() <= TRACESTATE_MAX
        && members.into_iter().all(member)
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A finished span, as OTLP exports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub name: String,
    pub kind: SpanKind,
    /// W3C spelling.
    pub trace_id: String,
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, Attribute)>,
    pub failed: bool,
}

/// OTLP's span kinds, with their wire numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Server = 2,
    Client = 3,
    Consumer = 5,
}

/// A span attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    Text(String),
    Int(i64),
}

impl From<&str> for Attribute {
    fn from(text: &str) -> Self {
        Attribute::Text(text.to_owned())
    }
}

impl From<String> for Attribute {
    fn from(text: String) -> Self {
        Attribute::Text(text)
    }
}

impl From<u16> for Attribute {
    fn from(number: u16) -> Self {
        Attribute::Int(i64::from(number))
    }
}

/// Runs `work`, keeping the spans recorded while it runs (in this task, as
/// [`crate::aws_usage::measure`] counts).
pub async fn collect<F: Future>(work: F) -> (F::Output, Vec<SpanRecord>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let output = SPANS.scope(Arc::clone(&spans), work).await;
    let spans = std::mem::take(&mut *spans.lock().unwrap_or_else(|p| p.into_inner()));
    (output, spans)
}

/// Whether spans recorded now are kept: skip building one when not.
pub fn collecting() -> bool {
    SPANS.try_with(|_| ()).is_ok()
}

/// Keeps `span` for export; does nothing outside [`collect`].
pub fn record(span: SpanRecord) {
    let _ = SPANS.try_with(|spans| {
        spans.lock().unwrap_or_else(|p| p.into_inner()).push(span);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_traceparent_is_continued_in_both_spellings() {
        let trace = TraceHeader::from_traceparent(PARENT, Some("congo=t61rcWkgMzE")).unwrap();
        assert_eq!(trace.w3c_trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(trace.trace_id(), "1-0af76519-16cd43dd8448eb211c80319c");
        assert_eq!(
            trace.parent_id().map(|p| p.to_string()).as_deref(),
            Some("b7ad6b7169203331")
        );
        assert_ne!(trace.span_id(), trace.parent_id().unwrap());
        assert_eq!(trace.tracestate(), Some("congo=t61rcWkgMzE"));
        let downstream = trace.traceparent();
        assert_eq!(
            downstream,
            format!("00-0af7651916cd43dd8448eb211c80319c-{}-01", trace.span_id())
        );
        // What SQS carries reads back as the same trace, continuing this span.
        let carried = TraceHeader::parse(&trace.xray_header()).unwrap();
        assert_eq!(carried.trace_id(), trace.trace_id());
        assert_eq!(carried.parent_id(), Some(trace.span_id()));
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-001",
            "00-0af7651916cd43dd8448eb211c8031é-b7ad6b7169203331-01",
        ] {
            assert_eq!(TraceHeader::from_traceparent(bad, None), None, "{bad}");
        }
        // A later version may append fields after a dash.
        assert!(
            TraceHeader::from_traceparent(
                &format!("{}-more", PARENT.replacen("00", "01", 1)),
                None
            )
            .is_some()
        );
    }

    #[test]
    fn an_unsampled_traceparent_stays_unsampled_and_a_bad_tracestate_is_dropped() {
        let trace = TraceHeader::from_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
            Some("a=\u{7}"),
        )
        .unwrap();
        assert!(trace.traceparent().ends_with("-00"));
        assert!(trace.xray_header().ends_with(";Sampled=0"));
        assert_eq!(trace.tracestate(), None);
        let of = |state| {
            TraceHeader::from_traceparent(
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                Some(state),
            )
            .unwrap()
            .tracestate()
            .map(str::to_owned)
        };
        assert_eq!(
            of("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE").as_deref(),
            Some("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")
        );
        for bad in [
            "not a list",
            "Rojo=1",
            "a=b=c",
            "a=",
            "=b",
            &"k=v,".repeat(33),
        ] {
            assert_eq!(of(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_x_ray_header_gives_its_parent_and_a_child_gets_a_span_of_its_own() {
        let trace = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )
        .unwrap();
        assert_eq!(trace.w3c_trace_id(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(
            trace.parent_id().map(|p| p.to_string()).as_deref(),
            Some("53995c3f42cd8ad8")
        );
        let child = trace.child();
        assert_eq!(child.trace_id(), trace.trace_id());
        assert_eq!(child.parent_id(), Some(trace.span_id()));
        assert_ne!(child.span_id(), trace.span_id());
        assert_eq!(TraceHeader::parse("Root=1-5759e988"), None);
        assert_eq!(TraceHeader::parse("Parent=53995c3f42cd8ad8"), None);
    }

    #[tokio::test]
    async fn spans_are_kept_only_inside_collect() {
        let trace = TraceHeader::generate();
        record(trace.finish(
            "outside",
            SpanKind::Client,
            SystemTime::now(),
            vec![],
            false,
        ));
        assert!(!collecting());
        let ((), spans) = collect(async {
            assert!(collecting());
            record(trace.finish(
                "inside",
                SpanKind::Client,
                SystemTime::now(),
                vec![("http.response.status_code", 200u16.into())],
                false,
            ));
        })
        .await;
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "inside");
        assert_eq!(spans[0].trace_id, trace.w3c_trace_id());
    }
}
