//! The measurements of one function: binary size, cold starts, warm latency and memory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Bytes;

use crate::BoxError;
use crate::backend::Backend;
use crate::cli::Options;
use crate::{otel::Collector, secrets::ParameterStore, variant::Variant};

/// The stand-ins the variant rows need: the parameter store of `+secrets` rows, the
/// collector of `+otel` rows.
#[derive(Debug, Default)]
pub struct Extras {
    pub store: Option<ParameterStore>,
    pub collector: Option<Collector>,
}
use crate::session::{ColdStart, FunctionSpec, Memory, Session, function_env};

/// Everything measured for one function.
#[derive(Debug)]
pub struct FunctionResult {
    pub name: String,
    pub binary_bytes: u64,
    pub cold: Summary,
    /// Spawn → first `next` poll of the same processes.
    pub init: Summary,
    /// The floor's cold starts, spawned alternately with the function's.
    pub floor: Summary,
    /// The median over the pairs of the function's init (spawn → first poll) over the
    /// floor's whole cold start: what the function's own start-up adds to the runtime's,
    /// without its first request's work (its AWS calls, say).
    pub floor_ratio: f64,
    /// AWS calls the first request made.
    pub aws_calls: usize,
    pub warm: Summary,
    /// After the timed warm invocations.
    pub memory_baseline: Memory,
    /// After the last warm invocation.
    pub memory_end: Memory,
    /// Invocations between the two.
    pub leak_check: usize,
}

impl FunctionResult {
    /// `VmRSS` growth over the leak check, in bytes per invocation.
    pub fn rss_growth_per_invocation(&self) -> f64 {
        let grown_kb =
            self.memory_end.rss_kb.cast_signed() - self.memory_baseline.rss_kb.cast_signed();
        grown_kb as f64 * 1024.0 / self.leak_check.max(1) as f64
    }
}

/// Order statistics of a set of timings (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub min: Duration,
    pub median: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    pub fn of(mut samples: Vec<Duration>) -> Result<Self, BoxError> {
        samples.sort_unstable();
        let (Some(&min), Some(&max)) = (samples.first(), samples.last()) else {
            return Err("no samples".into());
        };
        let at = |percent| percentile(&samples, percent);
        Ok(Self {
            min,
            median: at(50),
            p90: at(90),
            p99: at(99),
            max,
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty `samples`.
fn percentile(samples: &[Duration], percent: usize) -> Duration {
    let rank = (percent * samples.len()).div_ceil(100).max(1);
    samples.get(rank - 1).copied().unwrap_or_default()
}

/// The hello-world `lambda_http` binary every cold start is compared with.
pub const FLOOR: &str = "bench-floor";

/// Measures the row `name` (a function, or `<function>+secrets`) as `options` say;
/// `backend` answers its AWS calls, `extras` serve the variant rows.
pub async fn function(
    name: &str,
    options: &Options,
    backend: &Backend,
    extras: &Extras,
) -> Result<FunctionResult, BoxError> {
    let spec = spec(name, options, backend, extras)?;
    let floor = floor_spec(options)?;
    let binary_bytes = std::fs::metadata(&spec.binary)?.len();
    let calls_before = extras.store.as_ref().map_or(0, ParameterStore::calls);
    let exports_before = extras.collector.as_ref().map_or(0, Collector::exports);
    let aws_calls = record(&spec, backend).await?;
    let pairs = cold_start_pairs(&spec, &floor, options.spawns).await?;
    let warm = warm_run(&spec, options.warm, options.leak_check).await?;
    match (Variant::split(name).1, &extras.store, &extras.collector) {
        (Variant::Secrets, Some(store), _) => {
            store.ensure_called(name, calls_before, options.spawns + 2)?;
        }
        (Variant::Otel, _, Some(collector)) => {
            collector.ensure_exported(name, exports_before, options.spawns + options.warm)?;
        }
        _ => {}
    }
    Ok(FunctionResult {
        name: name.to_owned(),
        binary_bytes,
        cold: Summary::of(pairs.function.iter().map(|c| c.total).collect())?,
        init: Summary::of(pairs.function.iter().map(|c| c.init).collect())?,
        floor: Summary::of(pairs.floor)?,
        floor_ratio: median(pairs.ratios),
        aws_calls,
        warm: warm.latency,
        memory_baseline: warm.baseline,
        memory_end: warm.end,
        leak_check: options.leak_check,
    })
}

/// Starts row `name` once and checks its first answer (the status its event expects):
/// the proof that a packaged binary starts and serves. Returns its cold start.
pub async fn first_answer(
    name: &str,
    options: &Options,
    backend: &Backend,
) -> Result<ColdStart, BoxError> {
    let spec = spec(name, options, backend, &Extras::default())?;
    let (session, cold_start) = Session::launch(&spec).await?;
    session.stop().await?;
    Ok(cold_start)
}

/// One process answering its first invocation through the recording stand-in; the
/// invocations measured after it get the recorded answers (a refresh token, say, can be
/// used only once, but its answer can be replayed). Returns the AWS calls it made.
async fn record(spec: &FunctionSpec, backend: &Backend) -> Result<usize, BoxError> {
    backend.stand_in.record();
    let (session, _cold_start) = Session::launch(spec).await?;
    session.stop().await?;
    backend.stand_in.replay();
    Ok(backend.stand_in.calls())
}

#[derive(Debug, Default)]
struct Pairs {
    function: Vec<ColdStart>,
    floor: Vec<Duration>,
    /// Each pair's function init over its floor's whole cold start.
    ratios: Vec<f64>,
}

/// `pairs` cold starts of the function and as many of the floor, spawned alternately
/// (the floor first in every other pair), so drifts in the machine's speed hit both.
async fn cold_start_pairs(
    spec: &FunctionSpec,
    floor: &FunctionSpec,
    pairs: usize,
) -> Result<Pairs, BoxError> {
    let mut measured = Pairs::default();
    for pair in 0..pairs {
        let (function, floor) = if pair % 2 == 0 {
            let floor = cold_start(floor).await?;
            (cold_start(spec).await?, floor)
        } else {
            let function = cold_start(spec).await?;
            (function, cold_start(floor).await?)
        };
        measured.function.push(function);
        measured.floor.push(floor.total);
        measured
            .ratios
            .push(function.init.as_secs_f64() / floor.total.as_secs_f64().max(f64::EPSILON));
    }
    Ok(measured)
}

/// One fresh process, timed from spawn to its first response.
async fn cold_start(spec: &FunctionSpec) -> Result<ColdStart, BoxError> {
    let (session, cold_start) = Session::launch(spec).await?;
    session.stop().await?;
    Ok(cold_start)
}

/// The median of `values` (the lower middle one of an even count, as nearest-rank).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    let rank = values.len().div_ceil(2).max(1);
    values.get(rank - 1).copied().unwrap_or(f64::NAN)
}

#[derive(Debug)]
struct WarmRun {
    latency: Summary,
    baseline: Memory,
    end: Memory,
}

/// One process: a first (untimed) invocation, `count` timed ones back to back, then the
/// leak check.
async fn warm_run(
    spec: &FunctionSpec,
    count: usize,
    leak_check: usize,
) -> Result<WarmRun, BoxError> {
    let (mut session, _cold_start) = Session::launch(spec).await?;
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        samples.push(session.invoke().await?);
    }
    for _ in 0..leak_check {
        session.invoke().await?;
    }
    let baseline = session.memory()?;
    for _ in 0..leak_check {
        session.invoke().await?;
    }
    let end = session.memory()?;
    session.stop().await?;
    Ok(WarmRun {
        latency: Summary::of(samples)?,
        baseline,
        end,
    })
}

/// Resolves the binary, the environment, the event and the log file of row `name`.
fn spec(
    name: &str,
    options: &Options,
    backend: &Backend,
    extras: &Extras,
) -> Result<FunctionSpec, BoxError> {
    let (function, variant) = Variant::split(name);
    let binary = binary(options, function)?;
    let env = backend.function_env(&function_env());
    let env = match (variant, &extras.store, &extras.collector) {
        (Variant::Plain, _, _) => env,
        (Variant::Secrets, Some(store), _) => store.function_env(&env),
        (Variant::Otel, _, Some(collector)) => collector.function_env(&env),
        _ => return Err(format!("{name}: its stand-in is not running").into()),
    };
    let (event, expected_status) = read_event(&event_path(&options.events_dir, function)?)?;
    Ok(FunctionSpec {
        name: name.to_owned(),
        binary,
        launcher: options.launcher.clone(),
        env,
        event,
        expected_status,
        log: log_file(options, name)?,
    })
}

/// The floor, answering the health check's event.
fn floor_spec(options: &Options) -> Result<FunctionSpec, BoxError> {
    let (event, expected_status) = read_event(&event_path(&options.events_dir, "health")?)?;
    Ok(FunctionSpec {
        name: FLOOR.to_owned(),
        binary: binary(options, FLOOR)?,
        launcher: options.launcher.clone(),
        env: Vec::new(),
        event,
        expected_status,
        log: log_file(options, FLOOR)?,
    })
}

fn binary(options: &Options, name: &str) -> Result<PathBuf, BoxError> {
    let binary = options.bin_dir.join(name);
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "{} not found: build it first (cargo build --release --bin {name})",
            binary.display()
        )
        .into())
    }
}

/// `<events>/<name>-bench.json`: every registered function has one (the registry test).
fn event_path(events_dir: &Path, name: &str) -> Result<PathBuf, BoxError> {
    let bench = events_dir.join(format!("{name}-bench.json"));
    if bench.is_file() {
        return Ok(bench);
    }
    Err(format!("no benchmark event for {name}: add {}", bench.display()).into())
}

/// The event with its placeholders filled ([`Backend::fill`]), and the status code its
/// answer must have: 200, or the event's `benchExpectedStatus` (removed before sending).
fn read_event(path: &Path) -> Result<(Bytes, u16), BoxError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut event = serde_json::from_str::<serde_json::Value>(&Backend::fill(&text))
        .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let expected = event
        .as_object_mut()
        .and_then(|e| e.remove("benchExpectedStatus"))
        .map_or(Ok(200), |v| {
            v.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| {
                    format!(
                        "{}: benchExpectedStatus must be a status code",
                        path.display()
                    )
                })
        })?;
    Ok((Bytes::from(serde_json::to_vec(&event)?), expected))
}

/// `<target>/bench/<name>.log` next to the binaries' directory, emptied for this run.
fn log_file(options: &Options, name: &str) -> Result<PathBuf, BoxError> {
    let dir = options
        .bin_dir
        .parent()
        .unwrap_or(Path::new("."))
        .join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let log = dir.join(format!("{name}.log"));
    File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let summary = Summary::of(ms(&[5, 1, 4, 2, 3, 10, 9, 8, 7, 6])).ok();
        let expected = Summary {
            min: Duration::from_millis(1),
            median: Duration::from_millis(5),
            p90: Duration::from_millis(9),
            p99: Duration::from_millis(10),
            max: Duration::from_millis(10),
        };
        assert_eq!(summary, Some(expected));
        assert!(Summary::of(Vec::new()).is_err());
    }

    #[test]
    fn single_sample_is_every_percentile() {
        let seven = Duration::from_millis(7);
        let summary = Summary::of(vec![seven]).ok();
        assert_eq!(
            summary.map(|s| (s.min, s.median, s.p99)),
            Some((seven, seven, seven))
        );
    }
}
