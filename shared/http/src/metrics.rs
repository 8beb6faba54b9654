//! CloudWatch metrics in the Embedded Metric Format (EMF): each document is one JSON line
//! on stdout, and CloudWatch Logs turns it into metrics in the `Aloft` namespace. No API
//! call, no permission beyond the log group's, nothing on the request's critical path but
//! building one short line.
//!
//! A document is written straight to stdout, not through `tracing`: with
//! `LogFormat: JSON` Lambda keeps a line that is already a JSON object as it is, while the
//! tracing formatter would nest our keys under `fields`, where CloudWatch does not look
//! for `_aws`. Adding a metric is one line:
//!
//! ```
//! aloft_http::metrics::count("WebhooksVerified", ("Provider", "stripe"), 1);
//! ```

use std::{
    cell::RefCell,
    io::Write,
    rc::Rc,
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

/// The CloudWatch namespace of every Aloft metric.
pub const NAMESPACE: &str = "Aloft";

/// The units our metrics use (CloudWatch's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One value of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric<'a> {
    pub name: &'a str,
    pub unit: Unit,
    pub value: f64,
}

impl<'a> Metric<'a> {
    pub fn count(name: &'a str, value: f64) -> Self {
        Self {
            name,
            unit: Unit::Count,
            value,
        }
    }

    pub fn milliseconds(name: &'a str, value: f64) -> Self {
        Self {
            name,
            unit: Unit::Milliseconds,
            value,
        }
    }
}

/// Metrics reported under one set of dimensions (`(name, value)` pairs).
#[derive(Debug, Clone, Copy)]
pub struct MetricSet<'a> {
    pub dimensions: &'a [(&'a str, &'a str)],
    pub metrics: &'a [Metric<'a>],
}

/// Adds `value` to the metric `name` (unit `Count`) under one dimension.
pub fn count(name: &str, dimension: (&str, &str), value: u64) {
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts stay far below 2^53, where f64 is exact"
    )]
    let value = value as f64;
    emit(&[MetricSet {
        dimensions: &[dimension],
        metrics: &[Metric::count(name, value)],
    }]);
}

/// Writes one EMF document holding every set. Sets may share a dimension only with the
/// same value (it is one top-level key); metric names must differ across sets.
pub fn emit(sets: &[MetricSet<'_>]) {
    write_line(&document(sets, unix_millis()));
}

/// The EMF document of `sets` at `timestamp` (unix milliseconds), newline-terminated.
fn document(sets: &[MetricSet<'_>], timestamp: u128) -> Vec<u8> {
    let mut line = Vec::with_capacity(512);
    line.extend_from_slice(b"{\"_aws\":{\"Timestamp\":");
    line.extend_from_slice(timestamp.to_string().as_bytes());
    line.extend_from_slice(b",\"CloudWatchMetrics\":[");
    for (i, set) in sets.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        line.extend_from_slice(b"{\"Namespace\":");
        json_string(&mut line, NAMESPACE);
        line.extend_from_slice(b",\"Dimensions\":[[");
        for (j, (name, _)) in set.dimensions.iter().enumerate() {
            if j > 0 {
                line.push(b',');
            }
            json_string(&mut line, name);
        }
        line.extend_from_slice(b"]],\"Metrics\":[");
        for (j, metric) in reportable(set).enumerate() {
            if j > 0 {
                line.push(b',');
            }
            line.extend_from_slice(b"{\"Name\":");
            json_string(&mut line, metric.name);
            line.extend_from_slice(b",\"Unit\":");
            json_string(&mut line, metric.unit.as_str());
            line.push(b'}');
        }
        line.extend_from_slice(b"]}");
    }
    line.extend_from_slice(b"]}");
    for (i, set) in sets.iter().enumerate() {
        for &(name, value) in set.dimensions {
            let seen = sets[..i]
                .iter()
                .any(|s| s.dimensions.iter().any(|d| d.0 == name));
            if !seen {
                line.push(b',');
                json_string(&mut line, name);
                line.push(b':');
                json_string(&mut line, value);
            }
        }
        for metric in reportable(set) {
            line.push(b',');
            json_string(&mut line, metric.name);
            line.push(b':');
            // A finite f64 always serializes.
            let _ = serde_json::to_writer(&mut line, &metric.value);
        }
    }
    line.extend_from_slice(b"}\n");
    line
}

/// CloudWatch accepts only numbers: NaN and infinities are left out.
fn reportable<'s>(set: &'s MetricSet<'_>) -> impl Iterator<Item = &'s Metric<'s>> {
    set.metrics.iter().filter(|m| m.value.is_finite())
}

fn json_string(line: &mut Vec<u8>, text: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *line, text);
}

fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

thread_local! {
    /// Where this thread's documents go instead of stdout while a [`Capture`] lives.
    static CAPTURE: RefCell<Option<Rc<RefCell<Vec<String>>>>> = const { RefCell::new(None) };
}

fn write_line(line: &[u8]) {
    let captured = CAPTURE.with(|capture| {
        let capture = capture.borrow();
        let lines = capture.as_ref()?;
        lines
            .borrow_mut()
            .push(String::from_utf8_lossy(line).trim_end().to_owned());
        Some(())
    });
    if captured.is_none() && in_lambda() {
        // One write of the whole line, under the lock, so concurrent documents and log
        // lines never interleave. A closed stdout loses metrics; nothing to do about it.
        let _ = std::io::stdout().lock().write_all(line);
    }
}

/// Under a Lambda runtime (deployed, `cargo lambda watch`, the benchmark), whose log
/// stream turns the documents into metrics; elsewhere (a test driving a router) they
/// would only be noise on stdout.
fn in_lambda() -> bool {
    static IN_LAMBDA: OnceLock<bool> = OnceLock::new();
    *IN_LAMBDA.get_or_init(|| std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some())
}

/// For tests: the documents written on this thread, instead of stdout, until it is
/// dropped. Under tokio's current-thread runtime (`#[tokio::test]`'s default) every task
/// of the test runs on its thread, spawned ones included.
#[derive(Debug)]
pub struct Capture {
    lines: Rc<RefCell<Vec<String>>>,
    previous: Option<Rc<RefCell<Vec<String>>>>,
}

impl Capture {
    pub fn start() -> Self {
        let lines = Rc::new(RefCell::new(Vec::new()));
        let previous = CAPTURE.with(|capture| capture.replace(Some(Rc::clone(&lines))));
        Self { lines, previous }
    }

    /// The documents written so far, parsed.
    pub fn documents(&self) -> Vec<serde_json::Value> {
        self.lines
            .borrow()
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The documents written so far, as written.
    pub fn lines(&self) -> Vec<String> {
        self.lines.borrow().clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.replace(self.previous.take()));
    }
}

/// The function's name for the `Function` dimension and the logs:
/// `AWS_LAMBDA_FUNCTION_NAME`, else the binary's name. Read once per process.
pub fn function_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|name| !name.is_empty())
            .or_else(|| {
                let exe = std::env::current_exe().ok()?;
                Some(exe.file_stem()?.to_str()?.to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned())
    })
}

/// `true` the first time it is called in this process: the invocation that paid for the
/// cold start.
pub fn cold_start() -> bool {
    static WARM: AtomicBool = AtomicBool::new(false);
    !WARM.swap(true, Ordering::Relaxed)
}

/// Reports `ColdStarts` (`[Function]`) when this is the process's first invocation; for
/// functions whose invocations do not go through the edge (workers).
pub fn count_cold_start() {
    if cold_start() {
        count("ColdStarts", ("Function", function_name()), 1);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parsed(sets: &[MetricSet<'_>]) -> Value {
        let line = document(sets, 1_700_000_000_123);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        serde_json::from_slice(&line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&line)))
    }

    #[test]
    fn a_document_declares_each_set_and_puts_values_and_dimensions_at_the_top() {
        let doc = parsed(&[
            MetricSet {
                dimensions: &[("Function", "projects"), ("Route", "/api/{version}/x")],
                metrics: &[
                    Metric::count("Requests", 1.0),
                    Metric::milliseconds("Latency", 12.5),
                ],
            },
            MetricSet {
                dimensions: &[("Function", "projects")],
                metrics: &[Metric::count("AuthFailures", 0.0)],
            },
        ]);
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_123_u64,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "Aloft",
                            "Dimensions": [["Function", "Route"]],
                            "Metrics": [
                                {"Name": "Requests", "Unit": "Count"},
                                {"Name": "Latency", "Unit": "Milliseconds"}
                            ]
                        },
                        {
                            "Namespace": "Aloft",
                            "Dimensions": [["Function"]],
                            "Metrics": [{"Name": "AuthFailures", "Unit": "Count"}]
                        }
                    ]
                },
                "Function": "projects",
                "Route": "/api/{version}/x",
                "Requests": 1.0,
                "Latency": 12.5,
                "AuthFailures": 0.0
            })
        );
    }

    #[test]
    fn values_are_escaped_and_non_numbers_left_out() {
        let doc = parsed(&[MetricSet {
            dimensions: &[("Model", "gpt \"4\"\n")],
            metrics: &[
                Metric::count("AiTokens", 3.0),
                Metric::count("Bad", f64::NAN),
            ],
        }]);
        assert_eq!(doc["Model"], "gpt \"4\"\n");
        assert_eq!(doc["AiTokens"], 3.0);
        assert!(doc.get("Bad").is_none());
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "AiTokens", "Unit": "Count"}])
        );
    }

    #[test]
    fn a_capture_takes_this_threads_documents_until_dropped() {
        let outer = Capture::start();
        {
            let inner = Capture::start();
            count("JobsDead", ("Kind", "email.send"), 1);
            assert_eq!(inner.documents()[0]["JobsDead"], 1.0);
        }
        count("JobsSucceeded", ("Kind", "email.send"), 1);
        let documents = outer.documents();
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0]["Kind"], "email.send");
        assert_eq!(documents[0]["JobsSucceeded"], 1.0);
    }
}
