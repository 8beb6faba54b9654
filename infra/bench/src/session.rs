//! One function process with its own Runtime API: spawn, invoke, read memory, stop.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::process::{Child, Command};

use crate::BoxError;
use crate::runtime_api::{Outcome, Pending, RuntimeApi};

/// How long one invocation (or one wait for a `next` poll) may take before the run fails.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The function's configuration: `[workspace.metadata.lambda.watch.env]` with the docs
/// enabled and logging at `warn`, so log output stays off the measured path. The AWS
/// resources and the token keys are the bench backend's (`Backend::function_env`).
const FUNCTION_ENV: [(&str, &str); 14] = [
    ("ALOFT_STAGE", "local"),
    ("AWS_ACCESS_KEY_ID", "local"),
    ("AWS_SECRET_ACCESS_KEY", "local"),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:5100"),
    ("TABLE_NAME", "aloft-local-app-table"),
    ("BUCKET_NAME", "aloft-local-files-bucket"),
    (
        "JOBS_QUEUE_URL",
        "http://127.0.0.1:5100/123456789012/aloft-local-jobs-queue",
    ),
    (
        "WEBHOOKS_QUEUE_URL",
        "http://127.0.0.1:5100/123456789012/aloft-local-webhooks-queue",
    ),
    (
        "JWT_SECRET",
        "local-development-secret-change-me-0123456789",
    ),
    ("JWT_ISSUER", "aloft-local"),
    ("JWT_AUDIENCE", "aloft"),
    ("DOCS_ENABLED", "true"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_local_stripe_signing_secret"),
    ("RUST_LOG", "warn"),
];

/// The function's configuration, as owned pairs; `RUST_LOG` from the harness's own
/// environment replaces `warn` (`RUST_LOG=aloft::cold_start=debug` logs where each cold
/// start's time goes, into `target/bench/<function>.log`).
pub fn function_env() -> Vec<(String, String)> {
    let log = std::env::var("RUST_LOG").ok();
    FUNCTION_ENV
        .iter()
        .map(|(name, value)| match (*name, &log) {
            ("RUST_LOG", Some(log)) => ((*name).to_owned(), log.clone()),
            _ => ((*name).to_owned(), (*value).to_owned()),
        })
        .collect()
}

/// What to run and with which event.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    /// A command the binary is run through (empty: run it directly).
    pub launcher: Vec<String>,
    /// The function's configuration ([`function_env`], or a variant of it).
    pub env: Vec<(String, String)>,
    pub event: Bytes,
    /// The `statusCode` an HTTP function must answer with (a worker's answer is checked
    /// for an empty `batchItemFailures` instead).
    pub expected_status: u16,
    /// The process's stdout and stderr are appended here.
    pub log: PathBuf,
}

/// A process's first invocation, timed from its spawn.
#[derive(Debug, Clone, Copy)]
pub struct ColdStart {
    /// Until the response is received.
    pub total: Duration,
    /// Until the first `next` poll: the function's init, before it sees the event.
    pub init: Duration,
}

/// `VmHWM` and `VmRSS` of a process, in KB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub peak_kb: u64,
    pub rss_kb: u64,
}

/// A running function process and the Runtime API it polls.
#[derive(Debug)]
pub struct Session {
    api: RuntimeApi,
    process: Process,
    event: Bytes,
    expected_status: u16,
}

impl Session {
    /// Starts a Runtime API, queues one event, spawns the function and waits for its
    /// answer. Returns the session and its cold start.
    pub async fn launch(spec: &FunctionSpec) -> Result<(Self, ColdStart), BoxError> {
        let mut api = RuntimeApi::start(&spec.name).await?;
        let pending = api.enqueue(spec.event.clone()).await?;
        let mut command = command(spec, api.addr())?;
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", spec.binary.display()))?;
        let process = Process {
            child,
            name: spec.name.clone(),
            log: spec.log.clone(),
        };
        let mut session = Self {
            api,
            process,
            event: spec.event.clone(),
            expected_status: spec.expected_status,
        };
        let answered_at = session.finish(pending).await?;
        let polled_at = session.api.first_poll().unwrap_or(answered_at);
        let cold_start = ColdStart {
            total: answered_at.saturating_duration_since(spawned_at),
            init: polled_at.saturating_duration_since(spawned_at),
        };
        Ok((session, cold_start))
    }

    /// One warm invocation: waits for the `next` poll, queues the event, and returns the
    /// time from queueing to the response's arrival.
    pub async fn invoke(&mut self) -> Result<Duration, BoxError> {
        self.process.supervise(self.api.until_polled()).await?;
        let pending = self.api.enqueue(self.event.clone()).await?;
        let queued_at = pending.queued_at;
        let answered_at = self.finish(pending).await?;
        Ok(answered_at.saturating_duration_since(queued_at))
    }

    /// Reads the process's memory from `/proc/<pid>/status`.
    pub fn memory(&self) -> Result<Memory, BoxError> {
        let pid = self
            .process
            .child
            .id()
            .ok_or("the process has already exited")?;
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
        let field = |name: &str| status_kb(&status, name).ok_or(format!("{path} has no {name}"));
        Ok(Memory {
            peak_kb: field("VmHWM")?,
            rss_kb: field("VmRSS")?,
        })
    }

    /// Kills the process and waits for it; fails if it had already exited on its own.
    pub async fn stop(mut self) -> Result<(), BoxError> {
        let child = &mut self.process.child;
        if let Some(status) = child.try_wait()? {
            return Err(self.process.exited(status));
        }
        child.start_kill()?;
        child.wait().await?;
        Ok(())
    }

    /// Waits for the answer to `pending`; it must be the expected answer.
    async fn finish(&mut self, pending: Pending) -> Result<Instant, BoxError> {
        let id = pending.id.clone();
        match self.process.supervise(self.api.outcome(pending)).await? {
            Outcome::Response { body, at } => {
                ensure_ok(&body, self.expected_status)
                    .map_err(|e| format!("{}: invocation {id}: {e}", self.process.name))?;
                Ok(at)
            }
            Outcome::Error { body } => Err(format!(
                "{}: invocation {id} reported an error: {}",
                self.process.name,
                String::from_utf8_lossy(&body)
            )
            .into()),
        }
    }
}

/// The child process, watched while the harness waits on it.
#[derive(Debug)]
struct Process {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Process {
    /// Runs `work` unless the process exits or [`TIMEOUT`] passes first.
    async fn supervise<T>(
        &mut self,
        work: impl Future<Output = Result<T, BoxError>>,
    ) -> Result<T, BoxError> {
        tokio::select! {
            biased;
            result = work => result,
            status = self.child.wait() => Err(match status {
                Ok(status) => self.exited(status),
                Err(e) => format!("{}: waiting for the process: {e}", self.name).into(),
            }),
            () = tokio::time::sleep(TIMEOUT) => Err(format!(
                "{}: no answer within {} s (log: {})", self.name, TIMEOUT.as_secs(), self.log.display()
            ).into()),
        }
    }

    fn exited(&self, status: ExitStatus) -> BoxError {
        format!(
            "{}: the process exited ({status}); log: {}",
            self.name,
            self.log.display()
        )
        .into()
    }
}

fn command(spec: &FunctionSpec, api: SocketAddr) -> Result<Command, BoxError> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(|e| format!("opening {}: {e}", spec.log.display()))?;
    let mut command = match spec.launcher.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(&spec.binary);
            command
        }
        None => Command::new(&spec.binary),
    };
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
        .envs(lambda_env(&spec.name, api))
        .envs(spec.env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    Ok(command)
}

/// The variables the Lambda service sets for every function.
fn lambda_env(name: &str, api: SocketAddr) -> [(&'static str, String); 8] {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
    ]
}

/// Checks the answer: a lambda_http response envelope with the `expected` status code, or
/// a worker's `SqsBatchResponse` with no failed messages. A streamed answer
/// (`RESPONSE_STREAM`) is a JSON prelude with the status, eight NUL bytes, then the body.
fn ensure_ok(body: &[u8], expected: u16) -> Result<(), String> {
    let head = body
        .windows(8)
        .position(|w| w == [0; 8])
        .map_or(body, |prelude_end| &body[..prelude_end]);
    let answer = serde_json::from_slice::<serde_json::Value>(head).ok();
    let status = answer.as_ref().and_then(|v| v.get("statusCode")?.as_u64());
    let failures = answer
        .as_ref()
        .and_then(|v| v.get("batchItemFailures")?.as_array().map(Vec::len));
    match (status, failures) {
        (Some(status), _) if status == u64::from(expected) => Ok(()),
        (None, Some(0)) => Ok(()),
        _ => Err(format!(
            "expected statusCode {expected} or no batchItemFailures; body: {}",
            String::from_utf8_lossy(body)
        )),
    }
}

/// The value in KB of a `/proc/<pid>/status` line such as `VmRSS: 5120 kB`.
fn status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_status_fields() {
        let status = "Name:\thealth\nVmHWM:\t    6144 kB\nVmRSS:\t    5120 kB\n";
        assert_eq!(status_kb(status, "VmHWM"), Some(6144));
        assert_eq!(status_kb(status, "VmRSS"), Some(5120));
        assert_eq!(status_kb(status, "VmSwap"), None);
    }

    #[test]
    fn only_status_200_passes() {
        assert!(ensure_ok(br#"{"statusCode":200,"body":"{}"}"#, 200).is_ok());
        assert!(ensure_ok(br#"{"statusCode":404,"body":"{}"}"#, 200).is_err());
        assert!(ensure_ok(br#"{"statusCode":404,"body":"{}"}"#, 404).is_ok());
        assert!(ensure_ok(br#"{"batchItemFailures":[]}"#, 200).is_ok());
        let failed = br#"{"batchItemFailures":[{"itemIdentifier":"m1"}]}"#;
        assert!(ensure_ok(failed, 200).is_err());
        assert!(ensure_ok(b"not json", 200).is_err());
        let streamed = b"{\"statusCode\":401,\"headers\":{}}\0\0\0\0\0\0\0\0{\"error\":{}}";
        assert!(ensure_ok(streamed, 401).is_ok());
        assert!(ensure_ok(streamed, 200).is_err());
    }
}
